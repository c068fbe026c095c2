/**
 * VDI / VBD / SR behaviour of the simulator over real sockets: deterministic backup VDI
 * uuid (UUIDv5 test vectors), SR_FULL, sparse image files, VBD autodetect and dom0 plug
 * with device symlinks, SR.scan, and two simulated pools sharing one SR folder.
 */
import { lstat, readlink, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { XmlRpcStruct } from '../../src/sim/codec.js';
import type { SimHandle } from '../../src/sim/server.js';
import { backupVdiUuid, uuidV5 } from '../../src/sim/uuid.js';
import { login, rpc, rpcFail, startTempSim, tempDir } from './sim-helpers.js';
import { startDemoSimulator } from '../../src/sim/index.js';
import { createVbd, plugVbd } from '../../src/sim/api/vbd-vm.js';

const GiB = 1024 ** 3;

/** An SR (+ attached PBD on the master) made directly in the database, as the demo does. */
function makeSr(sim: SimHandle, opts: { uuid?: string; physical_size?: number; path?: string; plugged?: boolean } = {}): string {
  const db = sim.db;
  const host = db.get('pool', db.refs('pool')[0] as string).master;
  const sr = db.create('SR', {
    ...(opts.uuid && { uuid: opts.uuid }),
    name_label: 'Local storage',
    type: 'ext',
    physical_size: opts.physical_size ?? 100 * GiB,
  });
  db.create('PBD', { host, SR: sr, currently_attached: opts.plugged ?? true, device_config: opts.path ? { path: opts.path } : {} });
  return sr;
}

function vdiArgs(sr: string, over: Record<string, unknown> = {}) {
  return {
    name_label: 'Pool Metadata Backup',
    name_description: '',
    SR: sr,
    virtual_size: '1073741824',
    type: 'user',
    sharable: false,
    read_only: false,
    other_config: {},
    xenstore_data: {},
    sm_config: {},
    tags: [],
    ...over,
  } as Parameters<typeof rpc>[2];
}

function vbdArgs(vm: string, vdi: string, over: Record<string, unknown> = {}) {
  return {
    VM: vm,
    VDI: vdi,
    userdevice: 'autodetect',
    bootable: false,
    mode: 'RW',
    type: 'Disk',
    unpluggable: true,
    empty: false,
    other_config: {},
    qos_algorithm_type: '',
    qos_algorithm_params: {},
    ...over,
  } as Parameters<typeof rpc>[2];
}

let sim: SimHandle;
let cleanup: () => Promise<void>;
let s: string;
let dom0: string;

beforeAll(async () => {
  ({ sim, cleanup } = await startTempSim());
  s = await login(sim.url);
  const host = (await rpc(sim.url, 'session.get_this_host', s, s)) as string;
  dom0 = (await rpc(sim.url, 'host.get_control_domain', s, host)) as string;
});
afterAll(async () => cleanup());

describe('uuid v5', () => {
  test('UUIDv5 vectors, case-sensitive name', () => {
    expect(backupVdiUuid('00000000-0000-0000-0000-000000000000')).toBe('581017e4-81dd-5c81-adf6-59e789731929');
    expect(backupVdiUuid('3f6e4b2c-1a2b-4c3d-8e9f-0123456789ab')).toBe('4da1b1aa-da5f-59c7-bb58-f99e577d3753');
    expect(backupVdiUuid('3F6E4B2C-1A2B-4C3D-8E9F-0123456789AB')).toBe('8af25a97-2a53-5535-a1b5-2a1036ff5263');
    // RFC 4122 appendix-style check: DNS namespace, "python.org" (Python's documented example)
    expect(uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'python.org')).toBe('886313e1-3b8a-5372-9b90-0c9aee199e5d');
  });
});

describe('VDI.create', () => {
  test('Pool Metadata Backup gets the deterministic uuid; location = uuid; sparse file of virtual_size', async () => {
    const sr = makeSr(sim, { uuid: '3f6e4b2c-1a2b-4c3d-8e9f-0123456789ab' });
    const vdi = (await rpc(sim.url, 'VDI.create', s, vdiArgs(sr))) as string;
    const rec = (await rpc(sim.url, 'VDI.get_record', s, vdi)) as XmlRpcStruct;
    expect(rec.uuid).toBe('4da1b1aa-da5f-59c7-bb58-f99e577d3753');
    expect(rec.location).toBe(rec.uuid);
    expect(rec.virtual_size).toBe('1073741824');
    expect(rec.SR).toBe(sr);
    expect(await rpc(sim.url, 'SR.get_VDIs', s, sr)).toEqual([vdi]);
    const file = join(sim.stateDir, 'srs', '3f6e4b2c-1a2b-4c3d-8e9f-0123456789ab', `${rec.uuid as string}.img`);
    const st = await stat(file);
    expect(st.size).toBe(GiB);
    expect(st.blocks * 512).toBeLessThan(1024 * 1024); // sparse
    // any other label, or another type, gets a random uuid; <int>/<i8> sizes are accepted
    const other = (await rpc(sim.url, 'VDI.create', s, vdiArgs(sr, { name_label: 'pool metadata backup', virtual_size: 1048576 }))) as string;
    expect(await rpc(sim.url, 'VDI.get_uuid', s, other)).not.toBe('4da1b1aa-da5f-59c7-bb58-f99e577d3753');
    const sys = (await rpc(sim.url, 'VDI.create', s, vdiArgs(sr, { type: 'system', virtual_size: { i8: '2097152' } }))) as string;
    expect(await rpc(sim.url, 'VDI.get_virtual_size', s, sys)).toBe('2097152');
    // a second backup VDI on the same SR cannot get the same uuid
    expect((await rpcFail(sim.url, 'VDI.create', s, vdiArgs(sr)))[0]).toBe('SR_BACKEND_FAILURE');
  });

  test('profiles without the rule (xs71) give a random uuid', async () => {
    const old = await startTempSim({ profile: 'xs71' });
    try {
      const sr = makeSr(old.sim, { uuid: '00000000-0000-0000-0000-000000000000' });
      const os = await login(old.sim.url);
      const vdi = (await rpc(old.sim.url, 'VDI.create', os, vdiArgs(sr))) as string;
      expect(await rpc(old.sim.url, 'VDI.get_uuid', os, vdi)).not.toBe('581017e4-81dd-5c81-adf6-59e789731929');
    } finally {
      await old.cleanup();
    }
    const sr = makeSr(sim, { uuid: '00000000-0000-0000-0000-000000000000' });
    const vdi = (await rpc(sim.url, 'VDI.create', s, vdiArgs(sr))) as string;
    expect(await rpc(sim.url, 'VDI.get_uuid', s, vdi)).toBe('581017e4-81dd-5c81-adf6-59e789731929');
  });

  test('SR_FULL [requested, free], SR_NO_PBDS, missing record fields, bad handles', async () => {
    const small = makeSr(sim, { physical_size: 3 * GiB });
    await rpc(sim.url, 'VDI.create', s, vdiArgs(small, { name_label: 'a', virtual_size: String(2 * GiB) }));
    expect(await rpcFail(sim.url, 'VDI.create', s, vdiArgs(small, { name_label: 'b', virtual_size: String(2 * GiB) }))).toEqual([
      'SR_FULL',
      String(2 * GiB),
      String(GiB),
    ]);
    const unplugged = makeSr(sim, { plugged: false });
    expect(await rpcFail(sim.url, 'VDI.create', s, vdiArgs(unplugged))).toEqual(['SR_NO_PBDS', unplugged]);
    const args = vdiArgs(small) as Record<string, unknown>;
    delete args.virtual_size;
    expect(await rpcFail(sim.url, 'VDI.create', s, args as Parameters<typeof rpc>[2])).toEqual(['INTERNAL_ERROR', 'Field virtual_size not present in rpc']);
    expect(await rpcFail(sim.url, 'VDI.create', s, vdiArgs('OpaqueRef:nope'))).toEqual(['HANDLE_INVALID', 'SR', 'OpaqueRef:nope']);
    expect(await rpcFail(sim.url, 'VDI.create', s, vdiArgs(small, { sharable: 'no' }))).toEqual(['FIELD_TYPE_ERROR', 'sharable']);
  });
});

describe('VBDs on the control domain', () => {
  test('autodetect, plug → xvdb symlink, xvdc, errors, unplug removes the link, destroy', async () => {
    const sr = makeSr(sim);
    const vdi1 = (await rpc(sim.url, 'VDI.create', s, vdiArgs(sr, { name_label: 'd1', virtual_size: '4194304' }))) as string;
    const vdi2 = (await rpc(sim.url, 'VDI.create', s, vdiArgs(sr, { name_label: 'd2', virtual_size: '4194304' }))) as string;
    const vbd1 = (await rpc(sim.url, 'VBD.create', s, vbdArgs(dom0, vdi1))) as string;
    const vbd2 = (await rpc(sim.url, 'VBD.create', s, vbdArgs(dom0, vdi2))) as string;
    expect(await rpc(sim.url, 'VBD.get_userdevice', s, vbd1)).toBe('0');
    expect(await rpc(sim.url, 'VBD.get_userdevice', s, vbd2)).toBe('1');
    expect(await rpcFail(sim.url, 'VBD.create', s, vbdArgs(dom0, vdi2, { userdevice: '1' }))).toEqual(['DEVICE_ALREADY_EXISTS', '1']);
    expect(await rpc(sim.url, 'VM.get_VBDs', s, dom0)).toEqual([vbd1, vbd2]);
    expect(await rpc(sim.url, 'VDI.get_VBDs', s, vdi1)).toEqual([vbd1]);

    await rpc(sim.url, 'VBD.plug', s, vbd1);
    expect(await rpc(sim.url, 'VBD.get_device', s, vbd1)).toBe('xvdb');
    expect(await rpc(sim.url, 'VBD.get_currently_attached', s, vbd1)).toBe(true);
    const link = join(sim.deviceDir, 'xvdb');
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    const vdi1Uuid = (await rpc(sim.url, 'VDI.get_uuid', s, vdi1)) as string;
    expect(await readlink(link)).toBe(join(sim.stateDir, 'srs', sim.db.get('SR', sr).uuid, `${vdi1Uuid}.img`));
    expect((await stat(link)).size).toBe(4194304);
    await rpc(sim.url, 'VBD.plug', s, vbd2);
    expect(await rpc(sim.url, 'VBD.get_device', s, vbd2)).toBe('xvdc');

    expect(await rpcFail(sim.url, 'VBD.plug', s, vbd1)).toEqual(['DEVICE_ALREADY_ATTACHED', vbd1]);
    expect(await rpcFail(sim.url, 'VDI.destroy', s, vdi1)).toEqual(['VDI_IN_USE', vdi1, 'destroy']);
    const vbdUuid = (await rpc(sim.url, 'VBD.get_uuid', s, vbd1)) as string;
    const dom0Uuid = (await rpc(sim.url, 'VM.get_uuid', s, dom0)) as string;
    expect(await rpcFail(sim.url, 'VBD.destroy', s, vbd1)).toEqual(['OPERATION_NOT_ALLOWED', `VBD '${vbdUuid}' still attached to '${dom0Uuid}'`]);

    await rpc(sim.url, 'VBD.unplug', s, vbd1);
    await expect(lstat(link)).rejects.toThrow(/ENOENT/);
    expect(await rpcFail(sim.url, 'VBD.unplug', s, vbd1)).toEqual(['DEVICE_ALREADY_DETACHED', vbd1]);
    await rpc(sim.url, 'VBD.destroy', s, vbd1);
    expect(await rpc(sim.url, 'VM.get_VBDs', s, dom0)).toEqual([vbd2]);
    // the freed letter is reused
    const vbd3 = (await rpc(sim.url, 'VBD.create', s, vbdArgs(dom0, vdi1, { mode: 'RO' }))) as string;
    expect(await rpc(sim.url, 'VBD.get_userdevice', s, vbd3)).toBe('0');
    await rpc(sim.url, 'VBD.plug', s, vbd3);
    expect(await rpc(sim.url, 'VBD.get_device', s, vbd3)).toBe('xvdb');
    await rpc(sim.url, 'VBD.unplug_force', s, vbd3);
    await rpc(sim.url, 'VBD.unplug', s, vbd2);
    await rpc(sim.url, 'VBD.destroy', s, vbd2);
    await rpc(sim.url, 'VBD.destroy', s, vbd3);

    const file = join(sim.stateDir, 'srs', sim.db.get('SR', sr).uuid, `${sim.db.get('VDI', vdi1).location}.img`);
    await rpc(sim.url, 'VDI.destroy', s, vdi1);
    await expect(stat(file)).rejects.toThrow(/ENOENT/);
    expect(await rpcFail(sim.url, 'VDI.get_record', s, vdi1)).toEqual(['HANDLE_INVALID', 'VDI', vdi1]);
  });

  test('VDI_READONLY, VM_BAD_POWER_STATE on a halted VM, VM.destroy', async () => {
    const sr = makeSr(sim);
    const ro = (await rpc(sim.url, 'VDI.create', s, vdiArgs(sr, { name_label: 'ro', read_only: true, virtual_size: '1024' }))) as string;
    expect(await rpcFail(sim.url, 'VBD.create', s, vbdArgs(dom0, ro))).toEqual(['VDI_READONLY', ro]);
    const vm = sim.db.create('VM', { name_label: 'guest', power_state: 'Halted' });
    const vbd = (await rpc(sim.url, 'VBD.create', s, vbdArgs(vm, ro, { mode: 'RO' }))) as string;
    expect(await rpcFail(sim.url, 'VBD.plug', s, vbd)).toEqual(['VM_BAD_POWER_STATE', vm, 'running', 'halted']);
    sim.db.set('VM', vm, 'power_state', 'Running');
    expect(await rpcFail(sim.url, 'VM.destroy', s, vm)).toEqual(['VM_BAD_POWER_STATE', vm, 'halted', 'running']);
    sim.db.set('VM', vm, 'power_state', 'Halted');
    await rpc(sim.url, 'VM.destroy', s, vm);
    expect(await rpcFail(sim.url, 'VBD.get_record', s, vbd)).toEqual(['HANDLE_INVALID', 'VBD', vbd]);
    expect(await rpc(sim.url, 'VDI.get_VBDs', s, ro)).toEqual([]);
  });

  test('old profiles (xapi < 1.257) require VBD device and currently_attached', async () => {
    const old = await startTempSim({ profile: 'ch82' });
    try {
      const os = await login(old.sim.url);
      const host = (await rpc(old.sim.url, 'session.get_this_host', os, os)) as string;
      const d0 = (await rpc(old.sim.url, 'host.get_control_domain', os, host)) as string;
      const sr = makeSr(old.sim);
      const vdi = (await rpc(old.sim.url, 'VDI.create', os, vdiArgs(sr))) as string;
      expect(await rpcFail(old.sim.url, 'VBD.create', os, vbdArgs(d0, vdi))).toEqual(['INTERNAL_ERROR', 'Field device not present in rpc']);
      const vbd = await rpc(old.sim.url, 'VBD.create', os, vbdArgs(d0, vdi, { device: '', currently_attached: false }));
      expect(vbd).toMatch(/^OpaqueRef:/);
    } finally {
      await old.cleanup();
    }
  });
});

describe('SR folders', () => {
  test('SR.scan adds records for new image files and drops records whose file is gone', async () => {
    const sr = makeSr(sim);
    const dir = join(sim.stateDir, 'srs', sim.db.get('SR', sr).uuid);
    await mkdir(dir, { recursive: true });
    const uuid = '11111111-2222-4333-8444-555555555555';
    await writeFile(join(dir, `${uuid}.img`), Buffer.alloc(8192));
    await writeFile(join(dir, 'notes.txt'), 'ignored');
    await writeFile(join(dir, '..img'), 'ignored: not a safe location');
    await rpc(sim.url, 'SR.scan', s, sr);
    const vdis = (await rpc(sim.url, 'SR.get_VDIs', s, sr)) as string[];
    expect(vdis).toHaveLength(1);
    const rec = (await rpc(sim.url, 'VDI.get_record', s, vdis[0] as string)) as XmlRpcStruct;
    expect(rec.uuid).toBe(uuid);
    expect(rec.location).toBe(uuid);
    expect(rec.name_label).toBe('');
    expect(rec.virtual_size).toBe('8192');
    await rm(join(dir, `${uuid}.img`));
    await rpc(sim.url, 'SR.scan', s, sr);
    expect(await rpc(sim.url, 'SR.get_VDIs', s, sr)).toEqual([]);
  });

  test('a second pool attaches the SR folder the first wrote (SR.introduce + PBD.create + PBD.plug)', async () => {
    const shared = await tempDir('sim-shared-sr-');
    const srUuid = 'c3a90000-0000-4000-8000-00000000c3a9';
    const b = await startTempSim();
    try {
      const srA = makeSr(sim, { uuid: srUuid, path: shared });
      const vdiA = (await rpc(sim.url, 'VDI.create', s, vdiArgs(srA))) as string;
      const vdiUuid = (await rpc(sim.url, 'VDI.get_uuid', s, vdiA)) as string;
      expect(vdiUuid).toBe(backupVdiUuid(srUuid));
      expect((await stat(join(shared, `${vdiUuid}.img`))).size).toBe(GiB);

      const sb = await login(b.sim.url);
      const hostB = (await rpc(b.sim.url, 'session.get_this_host', sb, sb)) as string;
      const srB = (await rpc(b.sim.url, 'SR.introduce', sb, srUuid, 'NFS storage', '', 'nfs', '', true, {})) as string;
      const pbd = (await rpc(b.sim.url, 'PBD.create', sb, { host: hostB, SR: srB, device_config: { path: shared }, other_config: {} })) as string;
      expect(await rpc(b.sim.url, 'SR.get_VDIs', sb, srB)).toEqual([]);
      await rpc(b.sim.url, 'PBD.plug', sb, pbd);
      const vdisB = (await rpc(b.sim.url, 'SR.get_VDIs', sb, srB)) as string[];
      expect(vdisB).toHaveLength(1);
      expect(await rpc(b.sim.url, 'VDI.get_uuid', sb, vdisB[0] as string)).toBe(vdiUuid);
      expect(await rpc(b.sim.url, 'VDI.get_location', sb, vdisB[0] as string)).toBe(vdiUuid);
      expect(await rpcFail(b.sim.url, 'SR.forget', sb, srB)).toEqual(['SR_HAS_PBD', srB]);
      await rpc(b.sim.url, 'PBD.unplug', sb, pbd);
      await rpc(b.sim.url, 'SR.forget', sb, srB);
      expect(await rpcFail(b.sim.url, 'SR.get_by_uuid', sb, srUuid)).toEqual(['UUID_INVALID', 'SR', srUuid]);
      // forgetting keeps the data
      expect((await stat(join(shared, `${vdiUuid}.img`))).size).toBe(GiB);
      const srC = (await rpc(b.sim.url, 'SR.introduce', sb, '', 'other', '', 'nfs', '')) as string; // shared, sm_config defaulted
      expect(await rpcFail(b.sim.url, 'PBD.create', sb, { host: hostB, SR: srC, device_config: { path: 'relative/dir' }, other_config: {} })).toEqual([
        'INVALID_VALUE',
        'device_config:path',
        'relative/dir',
      ]);
    } finally {
      await b.cleanup();
      await rm(shared, { recursive: true, force: true });
    }
  });
});

describe('concurrent plugs into the control domain', () => {
  test('give each VBD its own device name', async () => {
    const dir = await tempDir();
    const sim = await startDemoSimulator({ stateDir: dir, vms: 3 });
    try {
      const dom0 = sim.db.where('VM', (v) => v.is_control_domain)[0]!.ref;
      const vdis = sim.db.where('VDI', (v) => v.type === 'user' && !v.is_a_snapshot).slice(0, 4);
      expect(vdis.length).toBe(4);
      const vbds = vdis.map((v) => createVbd(sim.context, { VM: dom0, VDI: v.ref, userdevice: 'autodetect', bootable: false, mode: 'RO', type: 'Disk', unpluggable: true, empty: false, other_config: {}, qos_algorithm_type: '', qos_algorithm_params: {} }));
      await Promise.all(vbds.map((b) => plugVbd(sim.context, b)));
      const devices = vbds.map((b) => sim.db.get('VBD', b).device);
      expect(new Set(devices).size).toBe(4);
      for (const [i, b] of vbds.entries()) expect(await readlink(join(sim.deviceDir, devices[i]!))).toContain(sim.db.get('VDI', sim.db.get('VBD', b).VDI).location);
    } finally {
      await sim.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
