/**
 * VDI.snapshot, VDI.clone, VDI.copy, VDI.introduce, SR.create and SR.probe against the
 * simulator over XML-RPC: the records XAPI makes (xen-api ocaml/xapi/xapi_vdi.ml,
 * xapi_sr.ml), disk content read back through /export_raw_vdi, SR space, the errors of
 * XAPI and of the SM drivers (xapi-project/sm), events, and the parameters each profile's
 * release has.
 */
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { XmlRpcStruct } from '../../src/sim/codec.js';
import { transferRoutes } from '../../src/sim/handlers/index.js';
import type { SimHandle } from '../../src/sim/server.js';
import { finishedTask, login, rpc, rpcFail, startTempSim, tempDir } from './sim-helpers.js';
import { pattern, vdiBytes } from './sim-vdi-bytes.js';

const MiB = 1024 * 1024;
const NULL = 'OpaqueRef:NULL';
let sim: SimHandle;
let cleanup: () => Promise<void>;
let s: string;
let host: string;
let nfs: string;
let other: string;
let iso: string;
let scratch: string;

function newSr(label: string, type: string, opts: { size?: number; content?: string; plugged?: boolean; path?: string } = {}): string {
  const sr = sim.db.create('SR', { name_label: label, type, content_type: opts.content ?? '', physical_size: opts.size ?? 2 ** 40, shared: true });
  sim.db.create('PBD', { host, SR: sr, currently_attached: opts.plugged ?? true, device_config: opts.path !== undefined ? { path: opts.path } : {} });
  return sr;
}

async function newVdi(sr: string, size: number, extra: Record<string, string | boolean> = {}): Promise<string> {
  return (await rpc(sim.url, 'VDI.create', s, {
    name_label: 'disk', name_description: 'a disk', SR: sr, virtual_size: String(size), type: 'user', sharable: false, read_only: false,
    other_config: { k: 'v' }, ...extra,
  })) as string;
}

const uuidOf = (vdi: string): string => sim.db.getField('VDI', vdi, 'uuid');

const { put, content } = vdiBytes(() => sim, () => s);

const rec = async (cls: string, ref: string): Promise<XmlRpcStruct> => (await rpc(sim.url, `${cls}.get_record`, s, ref)) as XmlRpcStruct;

beforeAll(async () => {
  ({ sim, cleanup } = await startTempSim({ routes: transferRoutes }));
  s = await login(sim.url);
  host = (await rpc(sim.url, 'session.get_this_host', s, s)) as string;
  nfs = newSr('nfs', 'nfs');
  other = newSr('other', 'lvm', { size: 64 * MiB });
  iso = newSr('isos', 'iso', { content: 'iso' });
  scratch = await tempDir('sim-sr-create-');
});
afterAll(async () => {
  await cleanup();
  await rm(scratch, { recursive: true, force: true });
});

describe('VDI.snapshot and VDI.clone', () => {
  test('a snapshot holds the content at the time, in the same SR, with XAPI\'s fields', async () => {
    const vdi = await newVdi(nfs, 4 * MiB, { sharable: false });
    const before = pattern(4 * MiB, 1);
    await put(vdi, before);
    const allocated = Number((await rec('SR', nfs)).virtual_allocation);
    const snap = (await rpc(sim.url, 'VDI.snapshot', s, vdi, {})) as string;
    const r = await rec('VDI', snap);
    expect(r.is_a_snapshot).toBe(true);
    expect(r.snapshot_of).toBe(vdi);
    expect(r.snapshot_time).not.toBe('19700101T00:00:00Z');
    expect(r.SR).toBe(nfs);
    expect([r.name_label, r.name_description, r.type, r.other_config]).toEqual(['disk', 'a disk', 'user', { k: 'v' }]);
    expect(Number(r.virtual_size)).toBe(4 * MiB);
    expect(r.uuid).not.toBe(uuidOf(vdi));
    expect((await rec('VDI', vdi)).snapshots).toEqual([snap]);
    expect((await rec('VDI', vdi)).current_operations).toEqual({});
    expect(Number((await rec('SR', nfs)).virtual_allocation)).toBe(allocated + 4 * MiB);
    expect((await content(snap)).equals(before)).toBe(true);
    // The original moves on; the snapshot keeps what it had.
    await put(vdi, pattern(4 * MiB, 2));
    expect((await content(snap)).equals(before)).toBe(true);
    expect((await content(vdi)).equals(pattern(4 * MiB, 2))).toBe(true);
    expect(Number(r.physical_utilisation)).toBeGreaterThan(0);
  });

  test('a clone is an independent disk, not a snapshot; driver_params may be left out', async () => {
    const vdi = await newVdi(nfs, MiB);
    await put(vdi, pattern(MiB, 3));
    const clone = (await rpc(sim.url, 'VDI.clone', s, vdi)) as string;
    const r = await rec('VDI', clone);
    expect(r.is_a_snapshot).toBe(false);
    expect(r.snapshot_of).toBe(NULL);
    expect((await content(clone)).equals(pattern(MiB, 3))).toBe(true);
    expect((await rec('VDI', vdi)).snapshots).toEqual([]);
  });

  test('refusals: an SR whose driver cannot, a sharable disk, an unplugged SR, a full SR, a bad handle', async () => {
    const onIso = await newVdi(iso, MiB);
    expect(await rpcFail(sim.url, 'VDI.snapshot', s, onIso, {})).toEqual(['SR_OPERATION_NOT_SUPPORTED', iso]);
    expect(await rpcFail(sim.url, 'VDI.clone', s, onIso, {})).toEqual(['SR_OPERATION_NOT_SUPPORTED', iso]);
    const shared = await newVdi(nfs, MiB, { sharable: true });
    expect(await rpcFail(sim.url, 'VDI.snapshot', s, shared, {})).toEqual(['VDI_IS_SHARABLE', shared]);
    const unplugged = newSr('away', 'nfs', { plugged: false });
    const lost = sim.db.create('VDI', { SR: unplugged, virtual_size: MiB, location: 'lost' });
    expect(await rpcFail(sim.url, 'VDI.snapshot', s, lost, {})).toEqual(['SR_NO_PBDS', unplugged]);
    const small = newSr('small', 'nfs', { size: 3 * MiB });
    const big = await newVdi(small, 2 * MiB);
    expect(await rpcFail(sim.url, 'VDI.clone', s, big, {})).toEqual(['SR_FULL', String(2 * MiB), String(MiB)]);
    expect(sim.db.getField('SR', small, 'VDIs')).toEqual([big]);
    expect(await rpcFail(sim.url, 'VDI.snapshot', s, 'OpaqueRef:nope', {})).toEqual(['HANDLE_INVALID', 'VDI', 'OpaqueRef:nope']);
  });

  test('Async.VDI.snapshot answers the new VDI as the task result; events report it', async () => {
    const vdi = await newVdi(nfs, MiB);
    const token = ((await rpc(sim.url, 'event.from', s, ['vdi'], '', { dbl: 0 })) as XmlRpcStruct).token as string;
    const task = (await rpc(sim.url, 'Async.VDI.snapshot', s, vdi, {})) as string;
    const t = await finishedTask(sim.url, s, task);
    expect(t.status).toBe('success');
    const snap = /<value>(OpaqueRef:[^<]+)<\/value>/.exec(t.result as string)?.[1] as string;
    expect(sim.db.getField('VDI', snap, 'snapshot_of')).toBe(vdi);
    const evs = ((await rpc(sim.url, 'event.from', s, ['vdi'], token, { dbl: 0 })) as XmlRpcStruct).events as XmlRpcStruct[];
    expect(evs.filter((e) => e.ref === snap).map((e) => e.operation)).toEqual(['add']);
  });
});

describe('VDI.copy', () => {
  test('to another SR: the bytes arrive, the SR accounts for them', async () => {
    const vdi = await newVdi(nfs, 8 * MiB);
    const data = Buffer.concat([pattern(2 * MiB, 4), Buffer.alloc(4 * MiB), pattern(2 * MiB, 5)]);
    await put(vdi, data);
    const used = Number((await rec('SR', other)).physical_utilisation);
    const copy = (await rpc(sim.url, 'VDI.copy', s, vdi, other, NULL, NULL)) as string;
    const r = await rec('VDI', copy);
    expect(r.SR).toBe(other);
    expect([r.name_label, r.read_only, r.is_a_snapshot, r.snapshot_of]).toEqual(['disk', false, false, NULL]);
    expect((await content(copy)).equals(data)).toBe(true);
    // Zero blocks stay holes in the new disk.
    expect(Number(r.physical_utilisation)).toBeGreaterThanOrEqual(4 * MiB);
    expect(Number(r.physical_utilisation)).toBeLessThan(8 * MiB);
    const sr = await rec('SR', other);
    expect(Number(sr.physical_utilisation)).toBe(used + Number(r.physical_utilisation));
    expect(sr.VDIs).toContain(copy);
    expect((await rec('VDI', vdi)).current_operations).toEqual({});
  });

  test('into an existing VDI: every byte replaced; with a base, only the blocks that differ from it', async () => {
    const src = await newVdi(nfs, 4 * MiB);
    const base = await newVdi(nfs, 4 * MiB);
    const into = await newVdi(nfs, 4 * MiB);
    const srcData = Buffer.concat([pattern(2 * MiB, 6), pattern(2 * MiB, 7)]);
    await put(src, srcData);
    await put(into, pattern(4 * MiB, 8));
    expect(await rpc(sim.url, 'VDI.copy', s, src, NULL, NULL, into)).toBe(into);
    expect((await content(into)).equals(srcData)).toBe(true);
    // The base shares the first half with src: that half of `into` is left as it was.
    await put(base, Buffer.concat([pattern(2 * MiB, 6), Buffer.alloc(2 * MiB)]));
    await put(into, pattern(4 * MiB, 9));
    expect(await rpc(sim.url, 'VDI.copy', s, src, NULL, base, into)).toBe(into);
    const got = await content(into);
    expect(got.subarray(0, 2 * MiB).equals(pattern(4 * MiB, 9).subarray(0, 2 * MiB))).toBe(true);
    expect(got.subarray(2 * MiB).equals(srcData.subarray(2 * MiB))).toBe(true);
  });

  test('refusals: too small, read-only, attached read-write, full SR; a failed copy leaves no VDI', async () => {
    const src = await newVdi(nfs, 4 * MiB);
    const small = await newVdi(nfs, MiB);
    expect(await rpcFail(sim.url, 'VDI.copy', s, src, NULL, NULL, small)).toEqual(['VDI_TOO_SMALL', small, String(4 * MiB)]);
    const ro = await newVdi(nfs, 4 * MiB, { read_only: true });
    expect(await rpcFail(sim.url, 'VDI.copy', s, src, NULL, NULL, ro)).toEqual(['VDI_READONLY', ro]);
    // A read-only source is fine: the copy is read-write.
    const copied = (await rpc(sim.url, 'VDI.copy', s, ro, nfs, NULL, NULL)) as string;
    expect(sim.db.getField('VDI', copied, 'read_only')).toBe(false);
    const dom0 = sim.db.findRef('VM', (v) => v.is_control_domain) as string;
    const vbd = (await rpc(sim.url, 'VBD.create', s, {
      VM: dom0, VDI: src, userdevice: 'autodetect', bootable: false, mode: 'RW', type: 'Disk', empty: false, other_config: {},
      qos_algorithm_type: '', qos_algorithm_params: {},
    })) as string;
    await rpc(sim.url, 'VBD.plug', s, vbd);
    expect(await rpcFail(sim.url, 'VDI.copy', s, src, nfs, NULL, NULL)).toEqual(['VDI_IN_USE', src, 'copy']);
    await rpc(sim.url, 'VBD.unplug', s, vbd);
    await rpc(sim.url, 'VBD.destroy', s, vbd);
    const tiny = newSr('tiny', 'nfs', { size: 2 * MiB });
    const count = sim.db.count('VDI');
    expect(await rpcFail(sim.url, 'VDI.copy', s, src, tiny, NULL, NULL)).toEqual(['SR_FULL', String(4 * MiB), String(2 * MiB)]);
    expect(sim.db.count('VDI')).toBe(count);
    expect(await rpcFail(sim.url, 'VDI.copy', s, src, NULL, NULL, NULL)).toEqual(['HANDLE_INVALID', 'SR', NULL]);
  });
});

describe('VDI.introduce', () => {
  let udev: string;
  let folder: string;
  beforeAll(async () => {
    folder = join(scratch, 'udev');
    await mkdir(folder, { recursive: true });
    udev = newSr('removable', 'udev', { path: folder });
  });
  const introduce = (uuid: string, sr: string, location: string) =>
    ['VDI.introduce', s, uuid, 'stick', 'usb', sr, 'user', false, false, { a: 'b' }, location, {}, {}] as const;

  test('records a disk the backend has, keyed by its location; again returns the same record', async () => {
    await writeFile(join(folder, 'sdb.img'), Buffer.alloc(2 * MiB, 1));
    const uuid = '0b6f7c5e-1f0c-4a51-9a55-5d2b3a1c0001';
    const vdi = (await rpc(sim.url, ...introduce(uuid, udev, 'sdb'))) as string;
    const r = await rec('VDI', vdi);
    expect([r.uuid, r.name_label, r.name_description, r.SR, r.location, r.type, r.other_config]).toEqual([uuid, 'stick', 'usb', udev, 'sdb', 'user', { a: 'b' }]);
    expect(Number(r.virtual_size)).toBe(2 * MiB);
    expect(await rpc(sim.url, ...introduce(uuid, udev, 'sdb'))).toBe(vdi);
    expect((await content(vdi)).equals(Buffer.alloc(2 * MiB, 1))).toBe(true);
  });

  test('refusals in XAPI\'s order', async () => {
    await writeFile(join(folder, 'sdc.img'), Buffer.alloc(MiB));
    expect(await rpcFail(sim.url, ...introduce('0b6f7c5e-1f0c-4a51-9a55-5d2b3a1c0002', nfs, 'x'))).toEqual(['SR_OPERATION_NOT_SUPPORTED', nfs]);
    expect(await rpcFail(sim.url, ...introduce('0b6f7c5e-1f0c-4a51-9a55-5d2b3a1c0003', udev, 'sdb'))).toEqual(['LOCATION_NOT_UNIQUE', udev, 'sdb']);
    const missing = await rpcFail(sim.url, ...introduce('0b6f7c5e-1f0c-4a51-9a55-5d2b3a1c0004', udev, 'sdz'));
    expect(missing[0]).toBe('INTERNAL_ERROR');
    expect(missing[1]).toContain('Vdi_does_not_exist');
    const taken = uuidOf(await newVdi(nfs, MiB));
    expect(await rpcFail(sim.url, ...introduce(taken, udev, 'sdc'))).toEqual(['INTERNAL_ERROR', `Db_exn.Uniqueness_constraint_violation("VDI", "uuid", "${taken}")`]);
    const offline = newSr('offline', 'udev', { plugged: false, path: folder });
    expect(await rpcFail(sim.url, ...introduce('0b6f7c5e-1f0c-4a51-9a55-5d2b3a1c0005', offline, 'sdc'))).toEqual(['SR_NO_PBDS', offline]);
    expect(await rpcFail(sim.url, 'VDI.introduce', s, 'u', 'n', 'd', udev, 'disk', false, false, {}, 'sdc', {}, {})).toEqual(['ENUM_VALUE_INVALID', 'enum vdi_type', 'disk']);
  });
});

describe('SR.create and SR.probe', () => {
  test('a file SR: the folder, a plugged PBD with the device_config, its size; disks land in it; events show it', async () => {
    const location = join(scratch, 'file-sr');
    const token = ((await rpc(sim.url, 'event.from', s, ['sr', 'pbd'], '', { dbl: 0 })) as XmlRpcStruct).token as string;
    const sr = (await rpc(sim.url, 'SR.create', s, host, { location }, '0', 'Local files', 'made by test', 'File', 'user', false, {})) as string;
    const r = await rec('SR', sr);
    expect([r.name_label, r.name_description, r.type, r.content_type, r.shared]).toEqual(['Local files', 'made by test', 'file', 'user', false]);
    expect(Number(r.physical_size)).toBeGreaterThan(0);
    expect(r.allowed_operations).toContain('vdi_create');
    const pbds = r.PBDs as string[];
    expect(pbds).toHaveLength(1);
    const pbd = await rec('PBD', pbds[0] as string);
    expect([pbd.host, pbd.device_config, pbd.currently_attached]).toEqual([host, { location }, true]);
    expect((await stat(location)).isDirectory()).toBe(true);
    const vdi = await newVdi(sr, MiB);
    expect(await readdir(location)).toEqual([`${sim.db.getField('VDI', vdi, 'location')}.img`]);
    const evs = ((await rpc(sim.url, 'event.from', s, ['sr', 'pbd'], token, { dbl: 0 })) as XmlRpcStruct).events as XmlRpcStruct[];
    expect(evs.filter((e) => e.operation === 'add').map((e) => [e.class, e.ref])).toEqual(expect.arrayContaining([['sr', sr], ['pbd', pbds[0]]]));
  });

  test('shared: a PBD on every host, the master\'s first; a one-host pool is no refusal', async () => {
    const alone = (await rpc(sim.url, 'SR.create', s, host, { location: join(scratch, 'alone-sr') }, '0', 'alone', '', 'file', '', true)) as string;
    expect(sim.db.getField('SR', alone, 'PBDs').map((p) => sim.db.getField('PBD', p, 'host'))).toEqual([host]);
    const second = sim.db.create('host', { name_label: 'second' });
    try {
      const sr = (await rpc(sim.url, 'SR.create', s, second, { location: join(scratch, 'shared-sr') }, '0', 'shared files', '', 'file', '', true)) as string;
      const hosts = (sim.db.getField('SR', sr, 'PBDs')).map((p) => sim.db.getField('PBD', p, 'host'));
      expect(hosts).toEqual([host, second]);
    } finally {
      for (const { ref } of sim.db.where('PBD', (p) => p.host === second)) sim.db.destroy('PBD', ref);
      sim.db.destroy('host', second);
    }
  });

  test('refusals: no driver for the type, the SM driver\'s own errors; nothing is left behind', async () => {
    const srs = sim.db.count('SR');
    expect(await rpcFail(sim.url, 'SR.create', s, host, { server: 'nas', serverpath: '/x' }, '0', 'n', '', 'nfs', '', true, {})).toEqual(['SR_UNKNOWN_DRIVER', 'nfs']);
    expect(await rpcFail(sim.url, 'SR.create', s, host, {}, '0', 'n', '', 'file', '', false, {})).toEqual([
      'SR_BACKEND_FAILURE_94', '', 'The request is missing the location parameter', '',
    ]);
    const busy = join(scratch, 'busy');
    await mkdir(busy, { recursive: true });
    await writeFile(join(busy, 'something'), 'x');
    expect(await rpcFail(sim.url, 'SR.create', s, host, { location: busy }, '0', 'n', '', 'file', '', false, {})).toEqual([
      'SR_BACKEND_FAILURE_61', '', 'File SR creation error', '',
    ]);
    expect(await rpcFail(sim.url, 'SR.create', s, 'OpaqueRef:gone', { location: busy }, '0', 'n', '', 'file', '', false, {})).toEqual(['HANDLE_INVALID', 'host', 'OpaqueRef:gone']);
    expect(sim.db.count('SR')).toBe(srs);
  });

  test('SR.probe answers as the SM driver does: FileSR has no probe', async () => {
    expect(await rpcFail(sim.url, 'SR.probe', s, host, { location: scratch }, 'lvmoiscsi', {})).toEqual(['SR_UNKNOWN_DRIVER', 'lvmoiscsi']);
    expect(await rpcFail(sim.url, 'SR.probe', s, host, {}, 'file', {})).toEqual(['SR_BACKEND_FAILURE_94', '', 'The request is missing the location parameter', '']);
    expect(await rpcFail(sim.url, 'SR.probe', s, host, { location: scratch }, 'file')).toEqual([
      'SR_BACKEND_FAILURE_38', '', 'The requested method is not supported/implemented', '',
    ]);
  });
});

describe('parameters per release', () => {
  test('VDI.copy before API 2.2 takes (vdi, sr) only', async () => {
    const old = await startTempSim({ profile: 'xs41' });
    try {
      const os = await login(old.sim.url);
      // The miami messages are there.
      expect(await rpcFail(old.sim.url, 'SR.probe', os, NULL, {}, 'nfs')).toEqual(['HANDLE_INVALID', 'host', NULL]);
      expect(await rpcFail(old.sim.url, 'VDI.snapshot', os, NULL)).toEqual(['HANDLE_INVALID', 'VDI', NULL]);
      expect(await rpcFail(old.sim.url, 'VDI.copy', os, NULL, NULL, NULL, NULL)).toEqual(['MESSAGE_PARAMETER_COUNT_MISMATCH', 'VDI.copy', '2', '4']);
      expect(await rpcFail(old.sim.url, 'VDI.copy', os, NULL)).toEqual(['MESSAGE_PARAMETER_COUNT_MISMATCH', 'VDI.copy', '2', '1']);
    } finally {
      await old.cleanup();
    }
  });

  test('on xs8 VDI.copy needs only the VDI, and VDI.introduce takes the tampa fields', async () => {
    expect(await rpcFail(sim.url, 'VDI.copy', s, 'OpaqueRef:x')).toEqual(['HANDLE_INVALID', 'VDI', 'OpaqueRef:x']);
    expect(await rpcFail(sim.url, 'VDI.introduce', s, 'u', 'n', 'd', nfs, 'user', false, false, {}, 'l', {}, {}, true, '0', '0', '', false, '19700101T00:00:00Z', '')).toEqual([
      'SR_OPERATION_NOT_SUPPORTED', nfs,
    ]);
  });
});
