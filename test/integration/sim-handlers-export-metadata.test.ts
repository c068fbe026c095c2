/**
 * GET /export_metadata against a running simulator with the demo pool: the archive
 * layout (checked with GNU tar), the HTTP head, ova.xml content and reference rewriting,
 * task completion, and the failure paths (bad uuid, a VM busy with another operation, an
 * injected connection drop).
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isStruct, parseValue, type XmlRpcStruct, type XmlRpcValue } from '../../src/sim/codec.js';
import { readOvaXml } from '../../src/sim/handlers/ova-tar.js';
import { Readable } from 'node:stream';
import { httpRequest, newTask, query, startDemoSim, taskRecord, type DemoSim } from './sim-handlers-fixture.js';

const run = promisify(execFile);

interface Obj {
  cls: string;
  id: string;
  snapshot: XmlRpcStruct;
}

function objectsOf(xml: string): { version: XmlRpcStruct; objects: Obj[] } {
  const v = parseValue(xml);
  if (!isStruct(v) || !isStruct(v.version) || !Array.isArray(v.objects)) throw new Error('not an ova.xml');
  return {
    version: v.version,
    objects: v.objects.map((o) => {
      if (!isStruct(o) || !isStruct(o.snapshot)) throw new Error('bad object');
      return { cls: o.class as string, id: o.id as string, snapshot: o.snapshot };
    }),
  };
}

/** Every string inside a value (to look for leaked OpaqueRefs). */
function strings(v: XmlRpcValue, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => strings(x, out));
  else if (isStruct(v)) Object.values(v).forEach((x) => strings(x, out));
  return out;
}

let s: DemoSim;

beforeAll(async () => {
  s = await startDemoSim({ vms: 8, seed: 11 });
});
afterAll(async () => {
  await s?.close();
});

describe('GET /export_metadata', () => {
  test('one VM: HTTP/1.0 head, a tar with exactly ova.xml, XAPI sizes, task success', async () => {
    const vm = s.demo.vmWithIso;
    const task = await newTask(s, 'export');
    const res = await httpRequest('GET', `${s.sim.url}/export_metadata?${query(s, task, { ref: vm, export_snapshots: 'true' })}`);
    expect(res.status).toBe(200);
    expect(res.httpVersion).toBe('1.0');
    expect(res.headers['content-length']).toBe(String(res.body.length));
    expect(res.headers['content-type']).toBe('application/octet-stream');
    expect(res.headers['content-disposition']).toBe('attachment; filename="export.xva"');
    expect(res.headers['task-id']).toBe(task);
    expect(res.headers.connection).toBe('close');
    expect(res.headers['cache-control']).toBe('no-cache, no-store');
    expect(res.headers.server).toBe(`xapi/${s.sim.profile.xapiMajor}.${s.sim.profile.xapiMinor}`);

    const file = join(s.dir, 'export.tar');
    await writeFile(file, res.body);
    const { stdout } = await run('tar', ['-tvf', file]);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^-rw-r--r-- .* ova\.xml$/);

    const xml = await readOvaXml(Readable.from([res.body]));
    const n = Buffer.byteLength(xml);
    expect(res.body.length).toBe(512 + Math.ceil(n / 512) * 512 + 1024);
    expect(res.body.subarray(res.body.length - 1024).every((b) => b === 0)).toBe(true);
    expect(xml.startsWith('<value><struct><member><name>version</name>')).toBe(true);
    expect(xml).not.toMatch(/\n/);

    const t = await taskRecord(s, task);
    expect(t.status).toBe('success');
    expect(t.result).toBe('');
    expect(t.progress).toBe(1);
    // The export lock is released.
    expect(s.sim.db.getField('VM', vm, 'current_operations')).toEqual({});
  });

  test('ova.xml: version per profile, the VM and its devices with Ref ids, refs rewritten', async () => {
    const vm = s.demo.vmWithIso;
    const vmRec = s.sim.db.get('VM', vm);
    const task = await newTask(s, 'export');
    const res = await httpRequest('GET', `${s.sim.url}/export_metadata?${query(s, task, { uuid: vmRec.uuid })}`);
    const { version, objects } = objectsOf(await readOvaXml(Readable.from([res.body])));
    expect(version.hostname).toBe('localhost');
    expect(version.xapi_major).toBe(String(s.sim.profile.xapiMajor));
    expect(version.xapi_minor).toBe(String(s.sim.profile.xapiMinor));
    expect(version.export_vsn).toBe('2');
    expect(version.product_version).toBe(s.sim.profile.productVersion);

    for (const o of objects) expect(o.id).toMatch(/^Ref:\d+$/);
    expect(new Set(objects.map((o) => o.id)).size).toBe(objects.length);
    // XAPI's class order.
    const order = ['host', 'VM', 'VM_metrics', 'VM_guest_metrics', 'VBD', 'VIF', 'network', 'VDI', 'SR'];
    const classes = objects.map((o) => o.cls);
    expect([...classes].sort((a, b) => order.indexOf(a) - order.indexOf(b))).toEqual(classes);

    const vms = objects.filter((o) => o.cls === 'VM');
    const main = vms.find((o) => o.snapshot.uuid === vmRec.uuid);
    expect(main).toBeDefined();
    const snap = main!.snapshot;
    expect(snap.name_label).toBe(vmRec.name_label);
    expect(snap.power_state).toBe(vmRec.power_state);
    // ints are bare on the wire: they parse back as strings
    expect(snap.memory_static_max).toBe(String(vmRec.memory_static_max));
    expect(snap.other_config).toEqual(expect.objectContaining({ mac_seed: vmRec.other_config.mac_seed }));
    expect(snap.current_operations).toEqual({});

    const byId = new Map(objects.map((o) => [o.id, o]));
    // xs8 (xapi 25.27) exports the VM's metrics (XAPI does since v24.40.0).
    const metrics = byId.get(snap.metrics as string);
    expect(metrics?.cls).toBe('VM_metrics');
    const dbMetrics = s.sim.db.get('VM_metrics', vmRec.metrics);
    expect(metrics?.snapshot.uuid).toBe(dbMetrics.uuid);
    expect(metrics?.snapshot.current_domain_type).toBe(dbMetrics.current_domain_type);
    expect(metrics?.snapshot.VCPUs_number).toBe(String(dbMetrics.VCPUs_number));
    const vbds = (snap.VBDs as string[]).map((id) => byId.get(id));
    expect(vbds.length).toBe(vmRec.VBDs.length);
    for (const vbd of vbds) {
      expect(vbd?.cls).toBe('VBD');
      expect(vbd?.snapshot.VM).toBe(main!.id);
      expect(vbd?.snapshot.metrics).toBe('OpaqueRef:NULL');
      if (vbd?.snapshot.empty === false) {
        const vdi = byId.get(vbd.snapshot.VDI as string);
        expect(vdi?.cls).toBe('VDI');
        expect((vdi?.snapshot.VBDs as string[]).includes(vbd.id)).toBe(true);
        const sr = byId.get(vdi?.snapshot.SR as string);
        expect(sr?.cls).toBe('SR');
        expect(sr?.snapshot.PBDs).toEqual([]);
        expect(vdi?.snapshot.location).toBe(s.sim.db.get('VDI', s.sim.db.refByUuid('VDI', vdi?.snapshot.uuid as string)).location);
      }
    }
    // The demo put the tools ISO in this VM's CD drive: the ISO SR comes along.
    expect(objects.some((o) => o.cls === 'SR' && o.snapshot.content_type === 'iso')).toBe(true);
    for (const vifId of snap.VIFs as string[]) {
      const vif = byId.get(vifId);
      expect(vif?.cls).toBe('VIF');
      const net = byId.get(vif?.snapshot.network as string);
      expect(net?.cls).toBe('network');
      expect(net?.snapshot.PIFs).toEqual([]);
      expect((net?.snapshot.VIFs as string[]).every((id) => byId.has(id))).toBe(true);
    }
    // No live reference leaks out: only ids and the null ref.
    for (const str of strings(objects.map((o) => o.snapshot))) {
      if (str.startsWith('OpaqueRef:')) expect(str).toBe('OpaqueRef:NULL');
    }
  });

  test('snapshots travel with export_snapshots (default true) and not without', async () => {
    const vm = s.demo.vms.find((v) => s.sim.db.get('VM', v).snapshots.length > 0);
    expect(vm).toBeDefined();
    const rec = s.sim.db.get('VM', vm!);
    const get = async (extra: Record<string, string>) => {
      const task = await newTask(s, 'export');
      const res = await httpRequest('GET', `${s.sim.url}/export_metadata?${query(s, task, { ref: vm!, ...extra })}`);
      return objectsOf(await readOvaXml(Readable.from([res.body]))).objects;
    };
    const withSnaps = await get({});
    const snapObjs = withSnaps.filter((o) => o.cls === 'VM' && o.snapshot.is_a_snapshot === true);
    expect(snapObjs.length).toBe(rec.snapshots.length);
    const mainId = withSnaps.find((o) => o.cls === 'VM' && o.snapshot.uuid === rec.uuid)!.id;
    for (const sn of snapObjs) expect(sn.snapshot.snapshot_of).toBe(mainId);

    const without = await get({ export_snapshots: 'false' });
    const vmsOnly = without.filter((o) => o.cls === 'VM');
    expect(vmsOnly).toHaveLength(1);
    expect(vmsOnly[0]!.snapshot.snapshots).toEqual([]);
    expect(vmsOnly[0]!.snapshot.is_a_snapshot).toBe(false);
    expect(vmsOnly[0]!.snapshot.parent).toBe('OpaqueRef:NULL');
  });

  test('all=true: every VM but default templates; include_dom0=false leaves dom0 out', async () => {
    const exportAll = async (extra: Record<string, string>) => {
      const task = await newTask(s, 'export');
      const res = await httpRequest('GET', `${s.sim.url}/export_metadata?${query(s, task, { all: 'true', ...extra })}`);
      expect(res.status).toBe(200);
      return objectsOf(await readOvaXml(Readable.from([res.body]))).objects.filter((o) => o.cls === 'VM');
    };
    const db = s.sim.db;
    const expected = db.where('VM', (v) => !v.is_default_template).map((x) => x.rec.uuid).sort();
    const all = await exportAll({});
    expect(all.map((o) => o.snapshot.uuid).sort()).toEqual(expected);
    expect(all.some((o) => o.snapshot.is_control_domain === true)).toBe(true);
    const noDom0 = await exportAll({ include_dom0: 'false' });
    expect(noDom0.some((o) => o.snapshot.is_control_domain === true)).toBe(false);
    expect(noDom0).toHaveLength(all.length - 1);
  });

  test('excluded_device_types=vif,VBD leaves the devices out', async () => {
    const task = await newTask(s, 'export');
    const res = await httpRequest('GET', `${s.sim.url}/export_metadata?${query(s, task, { ref: s.demo.vms[0]!, excluded_device_types: 'vif,VBD' })}`);
    const { objects } = objectsOf(await readOvaXml(Readable.from([res.body])));
    expect(objects.filter((o) => ['VIF', 'VBD', 'VDI', 'network', 'SR'].includes(o.cls))).toEqual([]);
    const vm = objects.find((o) => o.cls === 'VM')!;
    expect(vm.snapshot.VIFs).toEqual([]);
    expect(vm.snapshot.VBDs).toEqual([]);
  });

  test('a bad uuid: task failed with UUID_INVALID, HTTP 500 without body', async () => {
    const task = await newTask(s, 'export');
    const res = await httpRequest('GET', `${s.sim.url}/export_metadata?${query(s, task, { uuid: '00000000-0000-4000-8000-000000000000' })}`);
    expect(res.status).toBe(500);
    expect(res.body.length).toBe(0);
    const t = await taskRecord(s, task);
    expect(t.status).toBe('failure');
    expect(t.error_info).toEqual(['UUID_INVALID', 'VM', '00000000-0000-4000-8000-000000000000']);
  });

  test('a snapshot cannot be exported on its own', async () => {
    const task = await newTask(s, 'export');
    const res = await httpRequest('GET', `${s.sim.url}/export_metadata?${query(s, task, { ref: s.demo.snapshots[0]! })}`);
    expect(res.status).toBe(500);
    expect((await taskRecord(s, task)).error_info[0]).toBe('OPERATION_NOT_ALLOWED');
  });

  test('a VM busy with another operation: OTHER_OPERATION_IN_PROGRESS', async () => {
    const vm = s.demo.vms[2]!;
    const other = await newTask(s, 'VM.clean_shutdown');
    s.sim.db.mapAdd('VM', vm, 'current_operations', other, 'clean_shutdown');
    try {
      const task = await newTask(s, 'export');
      const res = await httpRequest('GET', `${s.sim.url}/export_metadata?${query(s, task, { ref: vm })}`);
      expect(res.status).toBe(500);
      const t = await taskRecord(s, task);
      expect(t.error_info).toEqual(['OTHER_OPERATION_IN_PROGRESS', 'VM', vm, 'clean_shutdown', other]);
      expect(s.sim.db.getField('VM', vm, 'current_operations')).toEqual({ [other]: 'clean_shutdown' });
    } finally {
      s.sim.db.mapRemove('VM', vm, 'current_operations', other);
    }
  });

  test('without credentials: 401 and the task fails', async () => {
    const task = await newTask(s, 'export');
    const res = await httpRequest('GET', `${s.sim.url}/export_metadata?task_id=${encodeURIComponent(task)}&ref=${encodeURIComponent(s.demo.vms[0]!)}&session_id=OpaqueRef:nope`);
    expect(res.status).toBe(401);
    expect((await taskRecord(s, task)).error_info).toEqual(['SESSION_AUTHENTICATION_FAILED']);
  });

  test('a connection cut mid-body (injected) leaves the task failed and the VM unlocked', async () => {
    const vm = s.demo.vms[0]!;
    const id = s.sim.faults.add({ route: '/export_metadata', dropAfterBytes: 700, times: 1 });
    try {
      const task = await newTask(s, 'export');
      const res = await httpRequest('GET', `${s.sim.url}/export_metadata?${query(s, task, { ref: vm })}`);
      expect(res.aborted).toBe(true);
      expect(res.body.length).toBe(700);
      const t = await taskRecord(s, task);
      expect(t.status).toBe('failure');
      expect(s.sim.db.getField('VM', vm, 'current_operations')).toEqual({});
    } finally {
      s.sim.faults.remove(id);
    }
  });
});
