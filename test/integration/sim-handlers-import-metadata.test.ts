/**
 * PUT /import_metadata, the DR story: pool A exports VM metadata; pool B attaches A's SR
 * folder (SR.introduce + PBD.create with device_config path + PBD.plug, which scans) and
 * imports it. Then the flag matrix and the error paths of xen-api's ocaml/xapi/import.ml,
 * each checked for "nothing left behind" where XAPI rolls back.
 */
import { request } from 'node:http';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isStruct, parseValue, serializeValue, structOf, type XmlRpcStruct, type XmlRpcValue } from '../../src/sim/codec.js';
import type { Ref } from '../../src/sim/db.js';
import { packOvaTar, readOvaXml } from '../../src/sim/handlers/ova-tar.js';
import { httpRequest, newTask, query, startDemoSim, taskRecord, taskDone, type DemoSim } from './sim-handlers-fixture.js';
import { expectedMac } from './xapi-mac.js';

let a: DemoSim; // the pool that wrote the backup
let b: DemoSim; // the DR pool

async function exportVm(s: DemoSim, vm: Ref, extra: Record<string, string> = {}): Promise<Buffer> {
  const task = await newTask(s, 'export');
  const res = await httpRequest('GET', `${s.sim.url}/export_metadata?${query(s, task, { ref: vm, ...extra })}`);
  expect(res.status).toBe(200);
  return res.body;
}

interface ImportOutcome {
  status: number;
  task: { status: string; result: string; error_info: string[] };
  vms: Ref[];
  body: Buffer;
}

async function importMeta(s: DemoSim, body: Buffer, params: Record<string, string> = {}, pairs: Array<[string, string]> = []): Promise<ImportOutcome> {
  const task = await newTask(s, 'import');
  const q = new URLSearchParams(query(s, task, params));
  for (const [k, v] of pairs) q.append(k, v);
  const res = await httpRequest('PUT', `${s.sim.url}/import_metadata?${q.toString()}`, { body });
  await taskDone(s, task);
  const t = await taskRecord(s, task);
  const vms = t.status === 'success' ? (parseValue(t.result) as string[]) : [];
  return { status: res.status, task: t, vms, body: res.body };
}

/** Parses the archive, lets `edit` change the document, packs it again. */
async function editOva(archive: Buffer, edit: (doc: XmlRpcStruct) => void): Promise<Buffer> {
  const doc = parseValue(await readOvaXml(Readable.from([archive])));
  if (!isStruct(doc)) throw new Error('not a struct');
  edit(doc);
  return packOvaTar(serializeValue(doc), new Date());
}

function objects(doc: XmlRpcStruct): XmlRpcStruct[] {
  return doc.objects as XmlRpcStruct[];
}

function snapshotsOf(doc: XmlRpcStruct, cls: string): XmlRpcStruct[] {
  return objects(doc).filter((o) => o.class === cls).map((o) => o.snapshot as XmlRpcStruct);
}

/** Object counts that an import may change. */
function counts(s: DemoSim): Record<string, number> {
  const db = s.sim.db;
  return { VM: db.count('VM'), VBD: db.count('VBD'), VIF: db.count('VIF'), network: db.count('network'), VM_metrics: db.count('VM_metrics'), VM_guest_metrics: db.count('VM_guest_metrics'), VDI: db.count('VDI') };
}

/** Attaches pool A's SR (by uuid) to pool B the DR way; returns B's SR ref. */
async function attachForeignSr(srUuid: string): Promise<Ref> {
  const existing = b.sim.db.findRefByUuid('SR', srUuid);
  if (existing) return existing;
  const aSr = a.sim.db.get('SR', a.sim.db.refByUuid('SR', srUuid));
  const sr = (await b.call('SR.introduce', srUuid, aSr.name_label, aSr.name_description, aSr.type, aSr.content_type, aSr.shared, structOf([]))) as string;
  const host = b.sim.db.get('pool', b.sim.db.refs('pool')[0]!).master;
  const pbd = (await b.call('PBD.create', structOf([
    ['host', host],
    ['SR', sr],
    ['device_config', structOf([['path', join(a.dir, 'srs', srUuid)]])],
  ]))) as string;
  await b.call('PBD.plug', pbd);
  return sr;
}

/** A VM of pool A with at least one disk, none on the ISO SR, in the given power state. */
function pickVm(power: string, skip: Ref[] = []): Ref {
  const db = a.sim.db;
  const vm = a.demo.vms.find((v) => {
    if (!db.exists('VM', v)) return false; // replaced by an earlier test
    const r = db.get('VM', v);
    const disks = r.VBDs.map((x) => db.get('VBD', x)).filter((x) => x.type === 'Disk');
    return r.power_state === power && disks.length > 0 && !skip.includes(v) && r.snapshots.length === 0;
  });
  if (!vm) throw new Error(`demo has no ${power} VM with disks`);
  return vm;
}

function diskSrUuids(vm: Ref): string[] {
  const db = a.sim.db;
  const out = new Set<string>();
  for (const vbd of db.get('VM', vm).VBDs) {
    const r = db.get('VBD', vbd);
    if (r.type !== 'Disk') continue;
    out.add(db.get('SR', db.get('VDI', r.VDI).SR).uuid);
  }
  return [...out];
}

beforeAll(async () => {
  a = await startDemoSim({ vms: 24, seed: 3 });
  b = await startDemoSim({ vms: 4, seed: 4 });
});
afterAll(async () => {
  await b?.close();
  await a?.close();
});

describe('PUT /import_metadata: the DR story (two pools sharing an SR folder)', () => {
  test('restore=true: the VM appears halted with the same uuid, disks found by location, MACs kept', async () => {
    const vm = pickVm('Running');
    const src = a.sim.db.get('VM', vm);
    const archive = await exportVm(a, vm);
    for (const sr of diskSrUuids(vm)) await attachForeignSr(sr);

    const out = await importMeta(b, archive, { restore: 'true', sr_id: 'OpaqueRef:ignored' });
    expect(out.status).toBe(200);
    expect(out.task.status).toBe('success');
    expect(out.vms).toHaveLength(1);
    const imported = b.sim.db.get('VM', out.vms[0]!);
    expect(imported.uuid).toBe(src.uuid);
    expect(imported.name_label).toBe(src.name_label);
    expect(imported.power_state).toBe('Halted');
    expect(imported.version).toBe(src.version + 1);
    expect(imported.other_config.mac_seed).toBe(src.other_config.mac_seed);
    expect(imported.other_config.import_task).toBeDefined();
    expect(imported.current_operations).toEqual({});
    // Recomputed at the end of the import, so a client sees the VM can be started.
    expect(imported.allowed_operations).toContain('start');
    expect(imported.resident_on).toBe('OpaqueRef:NULL');
    expect(b.sim.db.exists('VM_metrics', imported.metrics)).toBe(true);

    // Every disk points at B's record of the same image file; VBD uuids kept.
    const srcDisks = src.VBDs.map((x) => a.sim.db.get('VBD', x)).filter((x) => x.type === 'Disk');
    const newDisks = imported.VBDs.map((x) => b.sim.db.get('VBD', x)).filter((x) => x.type === 'Disk');
    expect(newDisks.map((d) => d.uuid).sort()).toEqual(srcDisks.map((d) => d.uuid).sort());
    for (const d of newDisks) {
      const vdi = b.sim.db.get('VDI', d.VDI);
      const srcVbd = srcDisks.find((x) => x.uuid === d.uuid)!;
      expect(vdi.location).toBe(a.sim.db.get('VDI', srcVbd.VDI).location);
      expect(b.sim.db.get('SR', vdi.SR).uuid).toBe(a.sim.db.get('SR', a.sim.db.get('VDI', srcVbd.VDI).SR).uuid);
      expect(d.userdevice).toBe(srcVbd.userdevice);
    }
    // MACs kept with restore; networks matched by name on B.
    const srcMacs = src.VIFs.map((x) => a.sim.db.get('VIF', x).MAC).sort();
    const newVifs = imported.VIFs.map((x) => b.sim.db.get('VIF', x));
    expect(newVifs.map((v) => v.MAC).sort()).toEqual(srcMacs);
    for (const v of newVifs) {
      const srcNet = a.sim.db.get('network', a.sim.db.get('VIF', src.VIFs.find((x) => a.sim.db.get('VIF', x).MAC === v.MAC)!).network);
      expect(b.sim.db.get('network', v.network).name_label).toBe(srcNet.name_label);
    }
  });

  test('restoring the same backup again is refused: the restored VM (version+1) is newer', async () => {
    const vm = pickVm('Running');
    const archive = await exportVm(a, vm);
    const before = counts(b);
    const out = await importMeta(b, archive, { restore: 'true' });
    expect(out.task.status).toBe('failure');
    const existing = b.sim.db.refByUuid('VM', a.sim.db.get('VM', vm).uuid);
    expect(out.task.error_info).toEqual(['VM_TO_IMPORT_IS_NOT_NEWER_VERSION', existing, '1', '0']);
    expect(counts(b)).toEqual(before);
  });

  test('dry_run=true checks everything and creates nothing; the result is empty', async () => {
    const vm = pickVm('Halted');
    const archive = await exportVm(a, vm);
    for (const sr of diskSrUuids(vm)) await attachForeignSr(sr);
    const before = counts(b);
    const out = await importMeta(b, archive, { restore: 'true', dry_run: 'true' });
    expect(out.task.status).toBe('success');
    expect(out.task.result).toBe('<value><array><data></data></array></value>');
    expect(counts(b)).toEqual(before);
    expect(b.sim.db.findRefByUuid('VM', a.sim.db.get('VM', vm).uuid)).toBeUndefined();
  });

  test('a disk whose image is gone: VDI_LOCATION_MISSING [sr, location], everything rolled back', async () => {
    const vm = pickVm('Halted', []);
    const archive = await exportVm(a, vm);
    const srs = [];
    for (const sr of diskSrUuids(vm)) srs.push(await attachForeignSr(sr));
    // B forgets the record of one of the VM's disks (the data is there, the record is not).
    const disk = a.sim.db.get('VM', vm).VBDs.map((x) => a.sim.db.get('VBD', x)).find((x) => x.type === 'Disk')!;
    const location = a.sim.db.get('VDI', disk.VDI).location;
    const bVdi = b.sim.db.findRef('VDI', (v) => v.location === location)!;
    const bSr = b.sim.db.get('VDI', bVdi).SR;
    await b.call('VDI.forget', bVdi);
    const before = counts(b);

    const dry = await importMeta(b, archive, { restore: 'true', dry_run: 'true' });
    expect(dry.task.error_info).toEqual(['VDI_LOCATION_MISSING', bSr, location]);
    const out = await importMeta(b, archive, { restore: 'true' });
    expect(out.status).toBe(200);
    expect(out.task.status).toBe('failure');
    expect(out.task.error_info).toEqual(['VDI_LOCATION_MISSING', bSr, location]);
    expect(counts(b)).toEqual(before);
    // XAPI appends a stray 500 after the 200 when the import fails.
    expect(out.body.toString('latin1')).toMatch(/^HTTP\/1\.1 500 /);

    // force: the disk is skipped and the VM imported without it.
    const forced = await importMeta(b, archive, { restore: 'true', force: 'true' });
    expect(forced.task.status).toBe('success');
    const imported = b.sim.db.get('VM', forced.vms[0]!);
    const diskCount = imported.VBDs.map((x) => b.sim.db.get('VBD', x)).filter((x) => x.type === 'Disk').length;
    const srcDiskCount = a.sim.db.get('VM', vm).VBDs.map((x) => a.sim.db.get('VBD', x)).filter((x) => x.type === 'Disk').length;
    expect(diskCount).toBe(srcDiskCount - 1);
    // Scan the SR again so the record comes back for later tests.
    await b.call('SR.scan', bSr);
  });

  test('an SR that is not attached at all: VDI_CONTENT_ID_MISSING', async () => {
    const fresh = await startDemoSim({ vms: 1, seed: 99 });
    try {
      const archive = await exportVm(a, pickVm('Halted'));
      const before = counts(fresh);
      const out = await importMeta(fresh, archive, { restore: 'true' });
      expect(out.task.error_info).toEqual(['VDI_CONTENT_ID_MISSING']);
      expect(counts(fresh)).toEqual(before);
    } finally {
      await fresh.close();
    }
  });
});

describe('PUT /import_metadata: flags and matching', () => {
  test('a running VM with the same uuid: VM_BAD_POWER_STATE; with force it is skipped', async () => {
    const vm = pickVm('Running');
    const archive = await exportVm(a, vm);
    const before = counts(a);
    const out = await importMeta(a, archive, { restore: 'true' });
    expect(out.task.error_info).toEqual(['VM_BAD_POWER_STATE', vm, 'Halted', 'Running']);
    expect(counts(a)).toEqual(before);
    const forced = await importMeta(a, archive, { restore: 'true', force: 'true' });
    expect(forced.task.status).toBe('success');
    expect(forced.vms).toEqual([]);
    expect(counts(a)).toEqual(before);
  });

  test('a halted VM with the same uuid is replaced only when the import is newer (or forced)', async () => {
    const vm = pickVm('Halted');
    const src = a.sim.db.get('VM', vm);
    const srcMacs = src.VIFs.map((x) => a.sim.db.get('VIF', x).MAC).sort();
    const archive = await exportVm(a, vm);
    const refused = await importMeta(a, archive, { restore: 'true' });
    expect(refused.task.error_info).toEqual(['VM_TO_IMPORT_IS_NOT_NEWER_VERSION', vm, String(src.version), String(src.version)]);
    const newer = await editOva(archive, (doc) => {
      for (const v of snapshotsOf(doc, 'VM')) if (v.uuid === src.uuid) v.version = String(src.version + 5);
    });
    const out = await importMeta(a, newer, { restore: 'true' });
    expect(out.task.status).toBe('success');
    expect(a.sim.db.exists('VM', vm)).toBe(false);
    const replaced = a.sim.db.get('VM', out.vms[0]!);
    expect(replaced.uuid).toBe(src.uuid);
    expect(replaced.version).toBe(src.version + 6);
    expect(replaced.VBDs.length).toBe(src.VBDs.length);
    expect(replaced.VIFs.map((x) => a.sim.db.get('VIF', x).MAC).sort()).toEqual(srcMacs);
  });

  test('without restore: a new VM with new uuid, MACs, mac_seed and version 0 (twice = two copies)', async () => {
    const vm = pickVm('Running');
    const src = a.sim.db.get('VM', vm);
    const archive = await exportVm(a, vm);
    const first = await importMeta(a, archive);
    const second = await importMeta(a, archive);
    expect(first.task.status).toBe('success');
    expect(second.task.status).toBe('success');
    for (const ref of [first.vms[0]!, second.vms[0]!]) {
      const r = a.sim.db.get('VM', ref);
      expect(r.uuid).not.toBe(src.uuid);
      expect(r.name_label).toBe(src.name_label);
      expect(r.version).toBe(0);
      expect(r.power_state).toBe('Halted');
      expect(r.other_config.mac_seed).not.toBe(src.other_config.mac_seed);
      const macs = r.VIFs.map((x) => a.sim.db.get('VIF', x).MAC);
      for (const m of macs) expect(src.VIFs.map((x) => a.sim.db.get('VIF', x).MAC)).not.toContain(m);
      // import.ml blanks the MAC; VIF.create derives it from the new mac_seed and the device.
      for (const x of r.VIFs) {
        const vif = a.sim.db.get('VIF', x);
        expect(vif.MAC).toBe(expectedMac(r.other_config.mac_seed!, Number(vif.device)));
        expect(vif.MAC_autogenerated).toBe(true);
      }
      // Same disks: a metadata import shares the VDIs.
      const disks = r.VBDs.map((x) => a.sim.db.get('VBD', x)).filter((x) => x.type === 'Disk').map((x) => x.VDI).sort();
      expect(disks).toEqual(src.VBDs.map((x) => a.sim.db.get('VBD', x)).filter((x) => x.type === 'Disk').map((x) => x.VDI).sort());
    }
    expect(first.vms[0]).not.toBe(second.vms[0]);
  });

  test('networks: matched by name, else by bridge, else created (tagged with the import task)', async () => {
    const vm = pickVm('Halted');
    const archive = await exportVm(a, vm);
    const netsBefore = a.sim.db.count('network');
    const renamed = await editOva(archive, (doc) => {
      for (const n of snapshotsOf(doc, 'network')) n.name_label = `renamed ${String(n.name_label)}`;
    });
    const byBridge = await importMeta(a, renamed);
    expect(byBridge.task.status).toBe('success');
    expect(a.sim.db.count('network')).toBe(netsBefore);

    const unknown = await editOva(archive, (doc) => {
      for (const n of snapshotsOf(doc, 'network')) {
        n.name_label = `DR network ${String(n.bridge)}`;
        n.bridge = `xenbr-dr-${String(n.bridge)}`;
      }
    });
    const created = await importMeta(a, unknown);
    expect(created.task.status).toBe('success');
    const vif = a.sim.db.get('VIF', a.sim.db.get('VM', created.vms[0]!).VIFs[0]!);
    const net = a.sim.db.get('network', vif.network);
    expect(net.name_label).toMatch(/^DR network /);
    expect(net.other_config.import_task).toBeDefined();
    expect(net.PIFs).toEqual([]);
    expect(a.sim.db.count('network')).toBeGreaterThan(netsBefore);
  });

  test('vdi:<src>=<dst> maps a disk onto another VDI', async () => {
    const vm = pickVm('Halted');
    const src = a.sim.db.get('VM', vm);
    const disk = src.VBDs.map((x) => a.sim.db.get('VBD', x)).find((x) => x.type === 'Disk')!;
    const srcVdi = a.sim.db.get('VDI', disk.VDI);
    const target = a.sim.db.get('VDI', a.demo.vdis.find((v) => v !== disk.VDI && a.sim.db.get('VDI', v).type === 'user' && a.sim.db.get('VDI', v).virtual_size > 0)!);
    const archive = await exportVm(a, vm);
    const out = await importMeta(a, archive, {}, [[`vdi:${srcVdi.uuid}`, target.uuid]]);
    expect(out.task.status).toBe('success');
    const newDisk = a.sim.db.get('VM', out.vms[0]!).VBDs.map((x) => a.sim.db.get('VBD', x)).find((x) => x.userdevice === disk.userdevice)!;
    expect(a.sim.db.get('VDI', newDisk.VDI).uuid).toBe(target.uuid);
  });

  test('default templates are matched by name, never created', async () => {
    const archive = await exportVm(a, pickVm('Halted'));
    const template = a.sim.db.get('VM', a.demo.defaultTemplates[0]!);
    const edited = await editOva(archive, (doc) => {
      const vmObj = objects(doc).find((o) => o.class === 'VM')!;
      const copy = structOf(Object.entries(vmObj.snapshot as XmlRpcStruct).map(([k, v]) => [k, v] as [string, XmlRpcValue]));
      Object.assign(copy, { uuid: '11111111-2222-4333-8444-555555555555', name_label: template.name_label, is_a_template: true, is_default_template: true, VBDs: [], VIFs: [] });
      (doc.objects as XmlRpcValue[]).push(structOf([['class', 'VM'], ['id', 'Ref:900000'], ['snapshot', copy]]));
    });
    const before = a.sim.db.count('VM');
    const out = await importMeta(a, edited);
    expect(out.task.status).toBe('success');
    expect(out.vms).toContain(a.demo.defaultTemplates[0]);
    expect(a.sim.db.count('VM')).toBe(before + 1);
  });

  test('restore with a mac_seed another VM uses: DUPLICATE_MAC_SEED [seed] on xapi ≥ 21.4', async () => {
    const vm = pickVm('Halted');
    const src = a.sim.db.get('VM', vm);
    const archive = await exportVm(a, vm);
    const clash = await editOva(archive, (doc) => {
      for (const v of snapshotsOf(doc, 'VM')) v.uuid = '99999999-8888-4777-8666-555555555555';
    });
    const before = counts(a);
    const out = await importMeta(a, clash, { restore: 'true' });
    expect(out.task.error_info).toEqual(['DUPLICATE_MAC_SEED', src.other_config.mac_seed]);
    expect(counts(a)).toEqual(before);
  });

  test('… and DUPLICATE_VM [that VM uuid] on the 1.249 line (ch82), as before xapi 21.4', async () => {
    const old = await startDemoSim({ vms: 4, seed: 5, profile: 'ch82' });
    try {
      const db = old.sim.db;
      const vm = old.demo.vms.find((v) => db.get('VM', v).power_state === 'Halted' && db.get('VM', v).other_config.mac_seed !== undefined)!;
      const src = db.get('VM', vm);
      const clash = await editOva(await exportVm(old, vm), (doc) => {
        for (const v of snapshotsOf(doc, 'VM')) v.uuid = '99999999-8888-4777-8666-555555555556';
      });
      const out = await importMeta(old, clash, { restore: 'true' });
      expect(out.task.error_info).toEqual(['DUPLICATE_VM', src.uuid]);
    } finally {
      await old.close();
    }
  });
});

describe('PUT /import_metadata: the body', () => {
  test('200 and the task-id header come before the body is read', async () => {
    const archive = await exportVm(a, pickVm('Halted'));
    const task = await newTask(a, 'import');
    const url = `${a.sim.url}/import_metadata?${query(a, task, { dry_run: 'true', force: 'true' })}`;
    const status = await new Promise<{ code: number; taskId: string | undefined; pendingAtHead: boolean }>((resolve, reject) => {
      const req = request(url, { method: 'PUT', headers: { 'content-length': archive.length }, agent: false }, (res) => {
        // Only now is the rest of the body sent.
        const pendingAtHead = a.sim.db.get('task', task).status === 'pending';
        req.end(archive.subarray(100));
        res.resume();
        res.on('end', () => resolve({ code: res.statusCode ?? 0, taskId: res.headers['task-id'] as string | undefined, pendingAtHead }));
      });
      req.on('error', reject);
      req.write(archive.subarray(0, 100));
      req.flushHeaders();
    });
    expect(status.code).toBe(200);
    expect(status.taskId).toBe(task);
    expect(status.pendingAtHead).toBe(true);
    await taskDone(a, task);
    expect((await taskRecord(a, task)).status).toBe('success');
  });

  test('gzip-compressed archives are accepted', async () => {
    const archive = await exportVm(a, pickVm('Halted'));
    const out = await importMeta(a, gzipSync(archive), { dry_run: 'true' });
    expect(out.task.status).toBe('success');
  });

  test('first entry not ova.xml: IMPORT_ERROR_UNEXPECTED_FILE; garbage: a decompression error', async () => {
    const archive = await exportVm(a, pickVm('Halted'));
    const renamed = Buffer.from(archive);
    renamed.write('xva.xml', 0, 'latin1');
    // Fix the header checksum so it is a valid tar header with another name.
    renamed.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += renamed[i]!;
    renamed.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    const out = await importMeta(a, renamed);
    expect(out.task.error_info).toEqual(['IMPORT_ERROR_UNEXPECTED_FILE', 'ova.xml', 'xva.xml']);

    const garbage = await importMeta(a, Buffer.alloc(4096, 0x41));
    expect(garbage.task.status).toBe('failure');
    expect(garbage.task.error_info[0]).toBe('INTERNAL_ERROR');
    const short = await importMeta(a, archive.subarray(0, 600));
    expect(short.task.error_info).toEqual(['IMPORT_ERROR_PREMATURE_EOF']);
  });

  test('an export from a newer XAPI: IMPORT_INCOMPATIBLE_VERSION', async () => {
    const old = await startDemoSim({ vms: 3, seed: 5, profile: 'ch82' });
    try {
      const archive = await exportVm(a, pickVm('Halted'));
      const out = await importMeta(old, archive, { dry_run: 'true' });
      expect(out.task.error_info).toEqual(['IMPORT_INCOMPATIBLE_VERSION']);
      // The other way round works (1.249 → 25.x).
      const halted = old.demo.vms.find((v) => old.sim.db.get('VM', v).power_state === 'Halted') ?? old.demo.vms[0]!;
      const fromOld = await exportVm(old, halted, { excluded_device_types: 'vbd' });
      const back = await importMeta(a, fromOld, { dry_run: 'true' });
      expect(back.task.error_info).toEqual([]);
      expect(back.task.status).toBe('success');
    } finally {
      await old.close();
    }
  });

  test('a dangling Ref:n: IMPORT_ERROR_FAILED_TO_FIND_OBJECT; a malformed record: IMPORT_ERROR', async () => {
    const archive = await exportVm(a, pickVm('Halted'));
    const before = counts(a);
    const dangling = await editOva(archive, (doc) => {
      for (const v of snapshotsOf(doc, 'VIF')) v.network = 'Ref:987654321';
    });
    const out = await importMeta(a, dangling);
    expect(out.task.error_info).toEqual(['IMPORT_ERROR_FAILED_TO_FIND_OBJECT', 'Ref:987654321']);
    expect(counts(a)).toEqual(before);

    const malformed = await editOva(archive, (doc) => {
      for (const v of snapshotsOf(doc, 'VBD')) v.bootable = structOf([['x', 'y']]);
    });
    const bad = await importMeta(a, malformed);
    expect(bad.task.error_info[0]).toBe('IMPORT_ERROR');
    expect(counts(a)).toEqual(before);

    const entity = await importMeta(a, await packOvaTar('<!DOCTYPE x [<!ENTITY a "b">]><value>&a;</value>', new Date()));
    expect(entity.task.error_info[0]).toBe('INTERNAL_ERROR');
  });

  test('a connection cut mid-body (injected): the task fails and nothing is created', async () => {
    const archive = await exportVm(a, pickVm('Halted'));
    const before = counts(a);
    const id = a.sim.faults.add({ route: '/import_metadata', dropAfterBytes: 1000, times: 1 });
    try {
      const task = await newTask(a, 'import');
      const res = await httpRequest('PUT', `${a.sim.url}/import_metadata?${query(a, task)}`, { body: archive }).catch(() => undefined);
      void res;
      await taskDone(a, task);
      const t = await taskRecord(a, task);
      expect(t.status).toBe('failure');
      expect(t.error_info).toEqual(['IMPORT_ERROR_PREMATURE_EOF']);
      expect(counts(a)).toEqual(before);
    } finally {
      a.sim.faults.remove(id);
    }
  });
});

test('the removed-file case is real: deleting an image and rescanning drops the record', async () => {
  // Guards the assumption the DR tests build on (B's SR scan mirrors the shared folder).
  const vm = pickVm('Halted');
  const disk = a.sim.db.get('VM', vm).VBDs.map((x) => a.sim.db.get('VBD', x)).find((x) => x.type === 'Disk')!;
  const vdi = a.sim.db.get('VDI', disk.VDI);
  const srUuid = a.sim.db.get('SR', vdi.SR).uuid;
  const bSr = await attachForeignSr(srUuid);
  expect(b.sim.db.findRef('VDI', (v) => v.location === vdi.location && v.SR === bSr)).toBeDefined();
  await unlink(join(a.dir, 'srs', srUuid, `${vdi.location}.img`));
  await b.call('SR.scan', bSr);
  expect(b.sim.db.findRef('VDI', (v) => v.location === vdi.location && v.SR === bSr)).toBeUndefined();
});
