/**
 * VM.snapshot, VM.clone, VM.copy and VM.create against the simulator over XML-RPC: the new
 * VM and its devices as XAPI makes them (xen-api ocaml/xapi/xapi_vm_clone.ml, xapi_vm.ml),
 * power-state rules, current_operations while the operation runs (seen through
 * event.next's per-change records), disk content read back through /export_raw_vdi, SR
 * space, messages, and what each profile's release has.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { XmlRpcStruct } from '../../src/sim/codec.js';
import { transferRoutes } from '../../src/sim/handlers/index.js';
import type { SimHandle } from '../../src/sim/server.js';
import { finishedTask, login, rpc, rpcFail, startTempSim } from './sim-helpers.js';
import { pattern, vdiBytes } from './sim-vdi-bytes.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const NULL = 'OpaqueRef:NULL';
let sim: SimHandle;
let cleanup: () => Promise<void>;
let s: string;
let host: string;
let sr: string;
let net: string;

function newSr(label: string, opts: { size?: number; content?: string } = {}): string {
  const ref = sim.db.create('SR', { name_label: label, type: 'nfs', content_type: opts.content ?? '', physical_size: opts.size ?? 2 ** 40, shared: true });
  sim.db.create('PBD', { host, SR: ref, currently_attached: true });
  return ref;
}

async function newVdi(srRef: string, size: number, label: string): Promise<string> {
  return (await rpc(sim.url, 'VDI.create', s, {
    name_label: label, name_description: '', SR: srRef, virtual_size: String(size), type: 'user', sharable: false, read_only: false, other_config: {},
  })) as string;
}


const { put, content } = vdiBytes(() => sim, () => s);

/** A halted VM with two disks on `srRef` (the second 1 MiB), an empty CD drive and one VIF. */
async function makeVm(name: string, srRef = sr): Promise<{ vm: string; disk: string; data: string }> {
  const db = sim.db;
  const vm = db.create('VM', {
    name_label: name,
    name_description: `${name} desc`,
    power_state: 'Halted',
    memory_static_max: GiB, memory_dynamic_max: GiB, memory_dynamic_min: GiB, memory_static_min: GiB,
    VCPUs_max: 2, VCPUs_at_startup: 2,
    HVM_boot_policy: 'BIOS order',
    other_config: { mac_seed: '1e3c8a4e-7f58-4b49-9a86-3b6a1b0c5d01', default_template: 'true', keep: 'me' },
    metrics: db.create('VM_metrics', {}),
    generation_id: '1:2',
  });
  const disk = await newVdi(srRef, 2 * MiB, `${name} disk`);
  const data = await newVdi(srRef, MiB, `${name} data`);
  db.create('VBD', { VM: vm, VDI: disk, userdevice: '0', bootable: true, mode: 'RW', type: 'Disk', other_config: { owner: 'true' } });
  db.create('VBD', { VM: vm, VDI: data, userdevice: '1', mode: 'RW', type: 'Disk' });
  db.create('VBD', { VM: vm, VDI: NULL, userdevice: '3', mode: 'RO', type: 'CD', empty: true });
  db.create('VIF', { VM: vm, network: net, device: '0', MAC: '02:00:00:00:00:01' });
  await put(disk, pattern(2 * MiB, 1));
  await put(data, pattern(MiB, 2));
  return { vm, disk, data };
}

const rec = async (cls: string, ref: string): Promise<XmlRpcStruct> => (await rpc(sim.url, `${cls}.get_record`, s, ref)) as XmlRpcStruct;

/** VBD records of a VM by userdevice. */
async function vbds(vm: string): Promise<Map<string, XmlRpcStruct>> {
  const out = new Map<string, XmlRpcStruct>();
  for (const b of (await rec('VM', vm)).VBDs as string[]) {
    const r = await rec('VBD', b);
    out.set(r.userdevice as string, r);
  }
  return out;
}

/** xapi_vif_helpers.ml gen_mac, written here from its description: MD5 chained 2·dev+1 times, then once more. */
function expectedMac(seed: string, dev: number): string {
  let h = Buffer.from(seed);
  for (let i = 0; i <= dev * 2; i++) h = createHash('md5').update(h).digest();
  const h2 = createHash('md5').update(h).digest();
  const b = [h[0]!, h[1]!, h[2]!, h[3]!, h2[1]!, h2[2]!];
  b[0] = (b[0]! | 2) & 0xfe;
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

beforeAll(async () => {
  ({ sim, cleanup } = await startTempSim({ routes: transferRoutes }));
  s = await login(sim.url);
  host = (await rpc(sim.url, 'session.get_this_host', s, s)) as string;
  sr = newSr('nfs');
  net = sim.db.refs('network')[0] as string;
});
afterAll(async () => cleanup());

describe('VM.snapshot', () => {
  test('of a running VM: a halted snapshot template with XAPI\'s fields, disks snapshotted, MAC kept, message raised', async () => {
    const { vm, disk, data } = await makeVm('web');
    await rpc(sim.url, 'VM.start', s, vm, false, false);
    const snap = (await rpc(sim.url, 'VM.snapshot', s, vm, 'web before upgrade')) as string;
    const r = await rec('VM', snap);
    expect([r.name_label, r.name_description, r.power_state, r.is_a_snapshot, r.is_a_template, r.snapshot_of]).toEqual([
      'web before upgrade', 'web desc', 'Halted', true, true, vm,
    ]);
    expect(r.snapshot_time).not.toBe('19700101T00:00:00Z');
    expect(r.snapshot_info).toEqual({ 'disk-snapshot-type': 'crash_consistent', 'power-state-at-snapshot': 'Running' });
    expect(r.snapshot_metadata).toMatch(/^\(\('uuid' '[0-9a-f-]+'\) \('allowed_operations' '\(/);
    expect(r.snapshot_metadata).toContain("('name__label' 'web')");
    // A snapshot keeps the mac_seed; template flags of the source are dropped.
    expect(r.other_config).toEqual({ mac_seed: '1e3c8a4e-7f58-4b49-9a86-3b6a1b0c5d01', keep: 'me' });
    expect([r.resident_on, r.domid, r.current_operations, r.generation_id === '1:2']).toEqual([NULL, '-1', {}, false]);
    expect(r.allowed_operations).toEqual(expect.arrayContaining(['clone', 'copy', 'export', 'destroy', 'revert']));
    expect(r.allowed_operations).not.toContain('start');
    const source = await rec('VM', vm);
    expect([source.power_state, source.snapshots, source.parent, source.current_operations]).toEqual(['Running', [snap], snap, {}]);
    expect((await rec('VM', snap)).children).toEqual([vm]);
    // Devices: the disks are snapshots of the originals, the empty CD stays empty, all detached.
    const devs = await vbds(snap);
    expect([...devs.keys()].sort()).toEqual(['0', '1', '3']);
    const snapDisk = devs.get('0')!.VDI as string;
    expect(sim.db.getField('VDI', snapDisk, 'snapshot_of')).toBe(disk);
    expect(sim.db.getField('VDI', devs.get('1')!.VDI as string, 'snapshot_of')).toBe(data);
    expect([devs.get('3')!.empty, devs.get('3')!.VDI]).toEqual([true, NULL]);
    expect([...devs.values()].map((b) => b.currently_attached)).toEqual([false, false, false]);
    expect([devs.get('0')!.other_config, devs.get('1')!.other_config, devs.get('3')!.other_config]).toEqual([{ owner: 'true' }, { owner: '' }, {}]);
    const vif = await rec('VIF', ((await rec('VM', snap)).VIFs as string[])[0] as string);
    expect([vif.MAC, vif.network, vif.device, vif.currently_attached]).toEqual(['02:00:00:00:00:01', net, '0', false]);
    expect((await content(snapDisk)).equals(pattern(2 * MiB, 1))).toBe(true);
    const messages = sim.db.where('message', (m) => m.obj_uuid === source.uuid && m.name === 'VM_SNAPSHOTTED').map((m) => [m.rec.priority, m.rec.body]);
    expect(messages).toEqual([[5, `VM 'web' (uuid: ${source.uuid as string}) snapshotted, snapshot name: web before upgrade`]]);
    // A second snapshot chains on the first.
    const snap2 = (await rpc(sim.url, 'VM.snapshot', s, vm, 'later')) as string;
    expect([(await rec('VM', snap2)).parent, (await rec('VM', vm)).parent]).toEqual([snap, snap2]);
    expect(((await rec('VM', vm)).snapshots as string[]).sort()).toEqual([snap, snap2].sort());
    await rpc(sim.url, 'VM.hard_shutdown', s, vm);
  });

  test('ignore_vdis leaves those disks out (xs8)', async () => {
    const { vm, data } = await makeVm('db');
    const snap = (await rpc(sim.url, 'VM.snapshot', s, vm, 'no data', [data])) as string;
    const devs = await vbds(snap);
    expect([...devs.keys()].sort()).toEqual(['0', '3']);
  });

  test('refusals: a snapshot of a snapshot, an SR without room (nothing left behind), a bad handle', async () => {
    const { vm } = await makeVm('small');
    const snap = (await rpc(sim.url, 'VM.snapshot', s, vm, 's')) as string;
    expect(await rpcFail(sim.url, 'VM.snapshot', s, snap, 'again')).toEqual(['VM_IS_SNAPSHOT', snap, 'snapshot']);
    const full = newSr('full', { size: 5 * MiB + MiB / 2 });
    const { vm: tight } = await makeVm('tight', full);
    const counts = [sim.db.count('VM'), sim.db.count('VDI'), sim.db.count('VBD'), sim.db.count('VIF')];
    // The first disk's snapshot fits (3 of 5.5 MiB used), the second's does not.
    expect(await rpcFail(sim.url, 'VM.snapshot', s, tight, 'x')).toEqual(['SR_FULL', String(MiB), String(MiB / 2)]);
    expect([sim.db.count('VM'), sim.db.count('VDI'), sim.db.count('VBD'), sim.db.count('VIF')]).toEqual(counts);
    expect((await rec('VM', tight)).current_operations).toEqual({});
    expect(await rpcFail(sim.url, 'VM.snapshot', s, 'OpaqueRef:gone', 'x')).toEqual(['HANDLE_INVALID', 'VM', 'OpaqueRef:gone']);
  });
});

describe('VM.clone and VM.copy', () => {
  test('a running VM can be neither cloned nor copied', async () => {
    const { vm } = await makeVm('busy');
    await rpc(sim.url, 'VM.start', s, vm, false, false);
    expect(await rpcFail(sim.url, 'VM.clone', s, vm, 'c')).toEqual(['VM_BAD_POWER_STATE', vm, 'halted', 'running']);
    expect(await rpcFail(sim.url, 'VM.copy', s, vm, 'c', NULL)).toEqual(['VM_BAD_POWER_STATE', vm, 'halted', 'running']);
    await rpc(sim.url, 'VM.hard_shutdown', s, vm);
  });

  test('clone: a new machine — new mac_seed, MACs from it, cloned disks; current_operations held during it', async () => {
    const { vm, disk } = await makeVm('app');
    const me = await login(sim.url);
    await rpc(sim.url, 'event.register', me, ['vm']);
    const clone = (await rpc(sim.url, 'VM.clone', s, vm, 'app clone')) as string;
    const evs = (await rpc(sim.url, 'event.next', me)) as XmlRpcStruct[];
    const seen = evs.filter((e) => e.ref === vm).map((e) => (e.snapshot as XmlRpcStruct).current_operations as Record<string, string>);
    expect(seen.some((ops) => Object.values(ops).includes('clone'))).toBe(true);
    expect(seen.at(-1)).toEqual({});
    const newEvs = evs.filter((e) => e.ref === clone).map((e) => e.operation);
    expect(newEvs[0]).toBe('add');
    await rpc(sim.url, 'event.unregister', me, ['vm']);

    const r = await rec('VM', clone);
    expect([r.name_label, r.power_state, r.is_a_snapshot, r.is_a_template, r.snapshot_of, r.parent]).toEqual(['app clone', 'Halted', false, false, NULL, NULL]);
    const seed = (r.other_config as Record<string, string>).mac_seed as string;
    expect(seed).toMatch(/^[0-9a-f-]{36}$/);
    expect(seed).not.toBe('1e3c8a4e-7f58-4b49-9a86-3b6a1b0c5d01');
    expect(r.other_config).toEqual({ mac_seed: seed, keep: 'me' });
    expect(r.allowed_operations).toContain('start');
    expect((await rec('VM', vm)).children).toEqual([]);
    const vif = await rec('VIF', (r.VIFs as string[])[0] as string);
    expect([vif.MAC, vif.MAC_autogenerated]).toEqual([expectedMac(seed, 0), true]);
    const cloneDisk = (await vbds(clone)).get('0')!.VDI as string;
    expect(sim.db.getField('VDI', cloneDisk, 'is_a_snapshot')).toBe(false);
    expect(sim.db.getField('VDI', cloneDisk, 'SR')).toBe(sr);
    expect((await content(cloneDisk)).equals(pattern(2 * MiB, 1))).toBe(true);
    // The clone is independent: writing it leaves the source alone.
    await put(cloneDisk, pattern(2 * MiB, 9));
    expect((await content(disk)).equals(pattern(2 * MiB, 1))).toBe(true);
    expect(await rpc(sim.url, 'VM.start', s, clone, false, false)).toBe('');
    await rpc(sim.url, 'VM.hard_shutdown', s, clone);
  });

  test('clone of a template keeps it a template and records base_template_name', async () => {
    const { vm } = await makeVm('Debian 12');
    sim.db.set('VM', vm, 'is_a_template', true);
    const t = (await rpc(sim.url, 'VM.clone', s, vm, 'my debian')) as string;
    const r = await rec('VM', t);
    expect([r.is_a_template, r.is_default_template, (r.other_config as Record<string, string>).base_template_name]).toEqual([true, false, 'Debian 12']);
  });

  test('copy to another SR: the bytes arrive, the SR fills, the source keeps its disks', async () => {
    const { vm, disk, data } = await makeVm('files');
    const target = newSr('target', { size: 16 * MiB });
    const copy = (await rpc(sim.url, 'VM.copy', s, vm, 'files copy', target)) as string;
    const devs = await vbds(copy);
    const newDisk = devs.get('0')!.VDI as string;
    const newData = devs.get('1')!.VDI as string;
    expect([sim.db.getField('VDI', newDisk, 'SR'), sim.db.getField('VDI', newData, 'SR')]).toEqual([target, target]);
    expect((await content(newDisk)).equals(pattern(2 * MiB, 1))).toBe(true);
    expect((await content(newData)).equals(pattern(MiB, 2))).toBe(true);
    const t = await rec('SR', target);
    expect(Number(t.virtual_allocation)).toBe(3 * MiB);
    expect(Number(t.physical_utilisation)).toBeGreaterThanOrEqual(3 * MiB);
    expect(((await rec('VM', vm)).VBDs as string[]).map((b) => sim.db.getField('VBD', b, 'VDI'))).toEqual(expect.arrayContaining([disk, data]));
    // Without a valid SR each disk is copied within its own.
    const inPlace = (await rpc(sim.url, 'VM.copy', s, vm, 'files again', NULL)) as string;
    expect(sim.db.getField('VDI', (await vbds(inPlace)).get('0')!.VDI as string, 'SR')).toBe(sr);
  });

  test('copy refusals: an ISO SR, an SR without room (nothing left behind)', async () => {
    const { vm } = await makeVm('refused');
    const isos = newSr('isos', { content: 'iso' });
    expect(await rpcFail(sim.url, 'VM.copy', s, vm, 'x', isos)).toEqual(['OPERATION_NOT_ALLOWED', "Cannot copy a VM's disks to an ISO SR"]);
    const tiny = newSr('tiny', { size: 2 * MiB + MiB / 2 });
    const counts = [sim.db.count('VM'), sim.db.count('VDI'), sim.db.count('VBD')];
    expect(await rpcFail(sim.url, 'VM.copy', s, vm, 'x', tiny)).toEqual(['SR_FULL', String(MiB), String(MiB / 2)]);
    expect([sim.db.count('VM'), sim.db.count('VDI'), sim.db.count('VBD')]).toEqual(counts);
    expect(sim.db.getField('SR', tiny, 'VDIs')).toEqual([]);
  });

  test('Async.VM.copy: the task answers the new VM', async () => {
    const { vm } = await makeVm('async');
    const task = (await rpc(sim.url, 'Async.VM.copy', s, vm, 'async copy', NULL)) as string;
    const t = await finishedTask(sim.url, s, task);
    expect(t.status).toBe('success');
    const copy = /<value>(OpaqueRef:[^<]+)<\/value>/.exec(t.result as string)?.[1] as string;
    expect(sim.db.getField('VM', copy, 'name_label')).toBe('async copy');
  });
});

describe('VM.create', () => {
  const record = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    name_label: 'built', name_description: '', user_version: '1', is_a_template: false, affinity: NULL,
    memory_static_max: String(GiB), memory_dynamic_max: String(GiB), memory_dynamic_min: String(GiB), memory_static_min: String(GiB),
    VCPUs_params: {}, VCPUs_max: '1', VCPUs_at_startup: '1', actions_after_shutdown: 'destroy', actions_after_reboot: 'restart',
    actions_after_crash: 'restart', PV_bootloader: '', PV_kernel: '', PV_ramdisk: '', PV_args: '', PV_bootloader_args: '',
    PV_legacy_args: '', HVM_boot_policy: 'BIOS order', HVM_boot_params: { order: 'dc' }, platform: {}, PCI_bus: '', other_config: {},
    recommendations: '', ...extra,
  });

  test('a halted VM with a mac_seed, metrics and a derived domain type; fields XAPI ignores are dropped', async () => {
    const vm = (await rpc(sim.url, 'VM.create', s, record({ blocked_operations: { start: 'no' }, power_state: 'Running' }) as never)) as string;
    const r = await rec('VM', vm);
    expect([r.name_label, r.power_state, r.domain_type, r.blocked_operations, r.is_a_snapshot]).toEqual(['built', 'Halted', 'hvm', {}, false]);
    expect((r.other_config as Record<string, string>).mac_seed).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.allowed_operations).toContain('start');
    const m = await rec('VM_metrics', r.metrics as string);
    expect([m.current_domain_type, m.VCPUs_utilisation]).toEqual(['unspecified', { 0: 0 }]);
    const pv = (await rpc(sim.url, 'VM.create', s, record({ HVM_boot_policy: '', other_config: { mac_seed: 'given' } }) as never)) as string;
    expect([sim.db.getField('VM', pv, 'domain_type'), sim.db.getField('VM', pv, 'other_config')]).toEqual(['pv', { mac_seed: 'given' }]);
  });

  test('a required field missing fails as XAPI\'s unmarshaller does; a suspended VM needs its image', async () => {
    const { user_version: _u, ...noVersion } = record();
    expect(await rpcFail(sim.url, 'VM.create', s, noVersion as never)).toEqual(['INTERNAL_ERROR', 'Field user_version not present in rpc']);
    const { recommendations: _r, ...noRecommendations } = record();
    expect(await rpcFail(sim.url, 'VM.create', s, noRecommendations as never)).toEqual(['INTERNAL_ERROR', 'Field recommendations not present in rpc']);
    const bad = await rpcFail(sim.url, 'VM.create', s, record({ power_state: 'Suspended' }) as never);
    expect([bad[0], bad[2], bad[3]]).toEqual(['VM_BAD_POWER_STATE', 'halted', 'suspended']);
    expect(bad[1]).toMatch(/^OpaqueRef:/);
    expect(sim.db.exists('VM', bad[1] as string)).toBe(false);
  });
});

describe('what each release has', () => {
  test('xs41 has no VM.snapshot; ch82 has no ignore_vdis; clone, copy and create are there', async () => {
    const old = await startTempSim({ profile: 'xs41' });
    try {
      const os = await login(old.sim.url);
      expect(await rpcFail(old.sim.url, 'VM.snapshot', os, NULL, 'x')).toEqual(['MESSAGE_METHOD_UNKNOWN', 'VM.snapshot']);
      expect(await rpcFail(old.sim.url, 'VM.clone', os, NULL, 'x')).toEqual(['HANDLE_INVALID', 'VM', NULL]);
      expect(await rpcFail(old.sim.url, 'VM.copy', os, NULL, 'x', NULL)).toEqual(['HANDLE_INVALID', 'VM', NULL]);
    } finally {
      await old.cleanup();
    }
    const ch82 = await startTempSim({ profile: 'ch82' });
    try {
      const cs = await login(ch82.sim.url);
      expect(await rpcFail(ch82.sim.url, 'VM.snapshot', cs, NULL, 'x', [])).toEqual(['MESSAGE_PARAMETER_COUNT_MISMATCH', 'VM.snapshot', '2', '3']);
      expect(await rpcFail(ch82.sim.url, 'VM.snapshot', cs, NULL, 'x')).toEqual(['HANDLE_INVALID', 'VM', NULL]);
    } finally {
      await ch82.cleanup();
    }
  });
});
