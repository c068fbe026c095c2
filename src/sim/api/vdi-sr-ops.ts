/**
 * VDI.snapshot, VDI.clone, VDI.copy, VDI.introduce, SR.probe and SR.create, as XAPI runs
 * them (xen-api ocaml/xapi/message_forwarding.ml VDI.* and SR.*, xapi_vdi.ml
 * `check_operation_error`, `snapshot_and_clone`, `copy`, `introduce`, xapi_sr.ml `create`,
 * `call_probe`, xapi_sr_operations.ml `sm_cap_table`, storage_access.ml
 * `check_queue_exists`) over the storage backends of the xapi-project/sm drivers the
 * simulator models.
 *
 * A VDI's content is a sparse image file (storage.ts): a snapshot or clone starts as a copy
 * of it (a reflink where the file system has them), which is what the guest sees of a
 * copy-on-write child; VDI.copy writes the bytes, skipping what a fresh sparse file already
 * holds (zeros) and, with a base, what the base already has.
 */
import { constants as fsConstants } from 'node:fs';
import { copyFile, mkdir, open, readdir, stat, statfs } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { ApiFailure } from '../api-error.js';
import type { XmlRpcValue } from '../codec.js';
import { masterHost, type SimContext } from '../context.js';
import type { Ref, SimDb } from '../db.js';
import type { SimProfile } from '../profiles.js';
import type { MethodRegistry, ParamSpec } from '../rpc-dispatch.js';
import { NULL_REF, type RecordOf } from '../schema.js';
import {
  isSafeLocation,
  refreshSrUsage,
  removeFileIfPresent,
  scanSr,
  srContentDir,
  srIsPlugged,
  srVirtualAllocation,
  vdiFilePath,
} from '../storage.js';
import { nowStamp } from '../tasks.js';
import { newRef, uuidV4 } from '../uuid.js';
import { apiAtLeast } from '../vm-power.js';
import { PLUGGED_SR_OPERATIONS, createVdi, destroyVdi } from './storage.js';

// ---------------------------------------------------------------------------------------
// Storage drivers and their capabilities

/**
 * The SM capabilities that gate VDI/SR operations, per SR type, from the drivers'
 * CAPABILITIES lists (xapi-project/sm drivers/FileSR.py, NFSSR.py, EXTSR.py, LVHDSR.py,
 * LVHDoISCSISR.py, LVHDoHBASR.py, ISOSR.py, udevSR.py). A type with no driver has none
 * (xapi_sr_operations.ml `features_of_sr_internal` answers [] without an SM record).
 */
const VHD_DRIVER = ['VDI_CREATE', 'VDI_DELETE', 'VDI_CLONE', 'VDI_SNAPSHOT', 'VDI_RESIZE', 'SR_PROBE', 'SR_UPDATE'];
const SM_CAPABILITIES: Readonly<Record<string, readonly string[]>> = {
  file: VHD_DRIVER,
  nfs: VHD_DRIVER,
  ext: VHD_DRIVER,
  lvm: VHD_DRIVER,
  lvmoiscsi: VHD_DRIVER,
  lvmohba: VHD_DRIVER,
  iso: ['VDI_CREATE', 'VDI_DELETE', 'VDI_ATTACH', 'VDI_DETACH', 'SR_SCAN', 'SR_ATTACH', 'SR_DETACH'],
  udev: ['VDI_INTRODUCE', 'VDI_ATTACH', 'VDI_DETACH', 'VDI_UPDATE', 'SR_UPDATE'],
};

function srHasCapability(db: SimDb, sr: Ref, capability: string): boolean {
  const rec = db.get('SR', sr);
  return (SM_CAPABILITIES[rec.type.toLowerCase()] ?? []).includes(capability);
}

/** Drivers whose SR.create / SR.probe the simulator can run truthfully: a local folder is all they need. */
const CREATABLE_TYPES = new Set(['file']);

/**
 * An SM backend error as XAPI passes it on (storage_utils.ml `transform_storage_exn`):
 * SR_BACKEND_FAILURE_<code> ["", description, opterr]; codes and texts from
 * xapi-project/sm drivers/XE_SR_ERRORCODES.xml.
 */
const SM_ERRORS = {
  Unimplemented: [38, 'The requested method is not supported/implemented'],
  FileSRCreate: [61, 'File SR creation error'],
  ConfigLocationMissing: [94, 'The request is missing the location parameter'],
} as const;

function smError(name: keyof typeof SM_ERRORS, opterr = ''): ApiFailure {
  const [code, text] = SM_ERRORS[name];
  return new ApiFailure(`SR_BACKEND_FAILURE_${code}`, ['', text, opterr]);
}

// ---------------------------------------------------------------------------------------
// VDI operation checks (xapi_vdi.ml check_operation_error, the parts the simulator has state for)

type VdiOp = 'snapshot' | 'clone' | 'copy';

function assertVdiOperation(db: SimDb, vdi: Ref, op: VdiOp): void {
  const rec = db.get('VDI', vdi);
  const other = Object.entries(rec.current_operations).find(([, o]) => o !== 'copy');
  if (other) throw new ApiFailure('OTHER_OPERATION_IN_PROGRESS', ['VDI', vdi, other[1], other[0]]);
  // snapshot and clone run on attached disks; copy only refuses a read-write attachment.
  if (op === 'copy') {
    const rw = rec.VBDs.some((b) => {
      const vbd = db.tryGet('VBD', b);
      return vbd?.currently_attached === true && vbd.mode === 'RW';
    });
    if (rw) throw new ApiFailure('VDI_IN_USE', [vdi, op]);
  }
  const capability = op === 'snapshot' ? 'VDI_SNAPSHOT' : op === 'clone' ? 'VDI_CLONE' : undefined;
  if (capability !== undefined && !srHasCapability(db, rec.SR, capability)) throw new ApiFailure('SR_OPERATION_NOT_SUPPORTED', [rec.SR]);
  if (rec.type === 'cbt_metadata') throw new ApiFailure('VDI_INCOMPATIBLE_TYPE', [vdi, 'cbt_metadata']);
  if (op === 'snapshot' && rec.sharable) throw new ApiFailure('VDI_IS_SHARABLE', [vdi]);
  if ((op === 'snapshot' || op === 'copy') && rec.on_boot === 'reset') throw new ApiFailure('VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION', []);
  if (op === 'snapshot' && Object.values(rec.current_operations).includes('copy')) {
    throw new ApiFailure('OPERATION_NOT_ALLOWED', ['Snapshot operation not allowed during copy.']);
  }
  if (op === 'copy' && (rec.type === 'ha_statefile' || rec.type === 'redo_log')) {
    throw new ApiFailure('OPERATION_NOT_ALLOWED', ["VDI containing HA statefile or redo log cannot be copied (check the VDI's allowed operations)."]);
  }
}

/** Runs `fn` with `op` in the VDI's current_operations (message_forwarding.ml `with_sr_andor_vdi`). */
async function withVdiOperation<T>(db: SimDb, vdi: Ref, op: VdiOp, key: Ref, fn: () => Promise<T>): Promise<T> {
  assertVdiOperation(db, vdi, op);
  db.mapAdd('VDI', vdi, 'current_operations', key, op);
  try {
    return await fn();
  } finally {
    if (db.exists('VDI', vdi)) db.mapRemove('VDI', vdi, 'current_operations', key);
  }
}

function assertManaged(db: SimDb, vdi: Ref): void {
  if (!db.getField('VDI', vdi, 'managed')) throw new ApiFailure('VDI_NOT_MANAGED', [vdi]);
}

/** The simulator's space rule for a new VDI (the one VDI.create applies). */
function assertRoom(db: SimDb, sr: Ref, size: number): void {
  const physical = db.getField('SR', sr, 'physical_size');
  if (physical <= 0) return;
  const free = physical - srVirtualAllocation(db, sr);
  if (size > free) throw new ApiFailure('SR_FULL', [String(size), String(Math.max(0, free))]);
}

async function refreshUtilisation(db: SimDb, stateDir: string, vdi: Ref): Promise<void> {
  const st = await stat(vdiFilePath(db, stateDir, vdi));
  db.set('VDI', vdi, 'physical_utilisation', st.blocks * 512);
  refreshSrUsage(db, db.getField('VDI', vdi, 'SR'));
}

// ---------------------------------------------------------------------------------------
// VDI.snapshot / VDI.clone (xapi_vdi.ml snapshot_and_clone)

/** Takes a snapshot (or a clone) of `vdi` in its own SR; the caller's `key` marks the operation. */
export async function snapshotOrCloneVdi(sim: SimContext, vdi: Ref, op: 'snapshot' | 'clone', key: Ref): Promise<Ref> {
  const db = sim.db;
  return withVdiOperation(db, vdi, op, key, async () => {
    const src = db.get('VDI', vdi);
    if (!srIsPlugged(db, src.SR)) throw new ApiFailure('SR_NO_PBDS', [src.SR]);
    assertManaged(db, vdi);
    assertRoom(db, src.SR, src.virtual_size);
    const uuid = uuidV4();
    const isSnapshot = op === 'snapshot';
    const ref = db.create('VDI', {
      uuid,
      location: uuid,
      SR: src.SR,
      virtual_size: src.virtual_size,
      read_only: src.read_only,
      // What snapshot_and_clone copies from the source ("the metadata which we control").
      name_label: src.name_label,
      name_description: src.name_description,
      type: src.type,
      sharable: src.sharable,
      other_config: src.other_config,
      xenstore_data: src.xenstore_data,
      on_boot: src.on_boot,
      allow_caching: src.allow_caching,
      tags: src.tags,
      sm_config: src.sm_config,
      is_a_snapshot: isSnapshot,
      snapshot_of: isSnapshot ? vdi : NULL_REF,
      snapshot_time: isSnapshot ? nowStamp() : undefined,
    });
    try {
      const to = vdiFilePath(db, sim.stateDir, ref);
      await mkdir(dirname(to), { recursive: true });
      // A reflink where the file system has them, else a plain copy of the file.
      await copyFile(vdiFilePath(db, sim.stateDir, vdi), to, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE);
      await refreshUtilisation(db, sim.stateDir, ref);
    } catch (err) {
      await removeFileIfPresent(vdiFilePath(db, sim.stateDir, ref)).catch(() => undefined);
      db.destroy('VDI', ref);
      refreshSrUsage(db, src.SR);
      if (err instanceof ApiFailure) throw err;
      throw new ApiFailure(`SR_BACKEND_FAILURE_${isSnapshot ? 82 : 81}`, ['', isSnapshot ? 'Failed to snapshot VDI' : 'Failed to clone VDI', (err as NodeJS.ErrnoException).code ?? '']);
    }
    return ref;
  });
}

// ---------------------------------------------------------------------------------------
// VDI.copy (xapi_vdi.ml copy, sm_fs_ops.ml copy_vdi)

const COPY_CHUNK = 1024 * 1024;

function allZero(buf: Buffer, n: number): boolean {
  for (let i = 0; i < n; i++) if (buf[i] !== 0) return false;
  return true;
}

/** Writes src's bytes into dst: every block, or only blocks that differ from `base`; a fresh dst skips zero blocks. */
async function copyBytes(srcPath: string, dstPath: string, size: number, basePath: string | undefined, fresh: boolean, signal: AbortSignal): Promise<void> {
  const src = await open(srcPath, 'r');
  const dst = await open(dstPath, 'r+');
  const base = basePath !== undefined ? await open(basePath, 'r') : undefined;
  try {
    const buf = Buffer.alloc(COPY_CHUNK);
    const baseBuf = Buffer.alloc(COPY_CHUNK);
    for (let pos = 0; pos < size; pos += COPY_CHUNK) {
      if (signal.aborted) throw new ApiFailure('TASK_CANCELLED', []);
      const len = Math.min(COPY_CHUNK, size - pos);
      const { bytesRead } = await src.read(buf, 0, len, pos);
      buf.fill(0, bytesRead, len);
      if (base) {
        const r = await base.read(baseBuf, 0, len, pos);
        baseBuf.fill(0, r.bytesRead, len);
        if (buf.subarray(0, len).equals(baseBuf.subarray(0, len))) continue;
      } else if (fresh && allZero(buf, len)) {
        continue;
      }
      await dst.write(buf, 0, len, pos);
    }
  } finally {
    await Promise.all([src.close(), dst.close(), base?.close()]);
  }
}

export async function copyVdi(sim: SimContext, vdi: Ref, sr: Ref, baseVdi: Ref, intoVdi: Ref, key: Ref, signal: AbortSignal): Promise<Ref> {
  const db = sim.db;
  return withVdiOperation(db, vdi, 'copy', key, async () => {
    assertManaged(db, vdi);
    const src = db.get('VDI', vdi);
    let created: Ref | undefined;
    try {
      let dst: Ref;
      if (db.exists('VDI', intoVdi)) {
        dst = intoVdi;
      } else {
        // A fresh VDI made through VDI.create (its SR and space checks), with as much of the
        // source as XAPI clones.
        created = await createVdi(sim, {
          name_label: src.name_label,
          name_description: src.name_description,
          SR: sr,
          virtual_size: BigInt(src.virtual_size),
          type: src.type,
          sharable: src.sharable,
          // Always read-write, so a read-only source can be copied (CA-64962).
          read_only: false,
          other_config: src.other_config,
          xenstore_data: src.xenstore_data,
          sm_config: {},
          tags: src.tags,
        } as unknown as XmlRpcValue);
        if (src.on_boot === 'reset') db.set('VDI', created, 'on_boot', 'reset');
        db.set('VDI', created, 'allow_caching', src.allow_caching);
        dst = created;
      }
      const dstRec = db.get('VDI', dst);
      if (dstRec.read_only) throw new ApiFailure('VDI_READONLY', [dst]);
      if (dstRec.virtual_size < src.virtual_size) throw new ApiFailure('VDI_TOO_SMALL', [dst, String(src.virtual_size)]);
      const base = db.exists('VDI', baseVdi) ? vdiFilePath(db, sim.stateDir, baseVdi) : undefined;
      await copyBytes(vdiFilePath(db, sim.stateDir, vdi), vdiFilePath(db, sim.stateDir, dst), src.virtual_size, base, dst === created, signal);
      await refreshUtilisation(db, sim.stateDir, dst);
      return dst;
    } catch (err) {
      if (created !== undefined && db.exists('VDI', created)) await destroyVdi(sim, created).catch(() => undefined);
      throw err;
    }
  });
}

// ---------------------------------------------------------------------------------------
// VDI.introduce (xapi_vdi.ml introduce; storage_smapiv1.ml VDI.introduce)

interface IntroduceArgs {
  uuid: string;
  name_label: string;
  name_description: string;
  SR: Ref;
  type: string;
  sharable: boolean;
  other_config: Record<string, string>;
  location: string;
  xenstore_data: Record<string, string>;
  sm_config: Record<string, string>;
}

async function introduceVdi(sim: SimContext, a: IntroduceArgs): Promise<Ref> {
  const db = sim.db;
  const sr = a.SR;
  const srRec = db.get('SR', sr);
  // The SR must offer vdi_introduce (xapi_sr_operations.ml sm_cap_table: VDI_INTRODUCE).
  if (!srHasCapability(db, sr, 'VDI_INTRODUCE')) throw new ApiFailure('SR_OPERATION_NOT_SUPPORTED', [sr]);
  if (!srIsPlugged(db, sr)) throw new ApiFailure('SR_NO_PBDS', [sr]);
  const here = srRec.VDIs.map((v) => ({ ref: v, rec: db.tryGet('VDI', v) }));
  if (here.some((v) => v.rec?.location === a.location && v.rec.uuid !== a.uuid)) throw new ApiFailure('LOCATION_NOT_UNIQUE', [sr, a.location]);
  // The backend must find the disk; any failure there reaches the caller as an
  // INTERNAL_ERROR (storage_smapiv1.ml turns it into Vdi_does_not_exist).
  const file = isSafeLocation(a.location) ? await stat(join(srContentDir(db, sim.stateDir, sr), `${a.location}.img`)).catch(() => undefined) : undefined;
  if (!file?.isFile()) throw new ApiFailure('INTERNAL_ERROR', [`Storage_interface.Storage_error(Vdi_does_not_exist(${JSON.stringify(a.location)}))`]);
  // An SR scan keyed by location (xapi_sr.ml update_vdis): an existing record for it is kept.
  const existing = here.find((v) => v.rec?.location === a.location);
  let ref: Ref;
  if (existing) {
    ref = existing.ref;
  } else {
    if (db.findRefByUuid('VDI', a.uuid) !== undefined) {
      throw new ApiFailure('INTERNAL_ERROR', [`Db_exn.Uniqueness_constraint_violation("VDI", "uuid", ${JSON.stringify(a.uuid)})`]);
    }
    ref = db.create('VDI', { uuid: a.uuid === '' ? uuidV4() : a.uuid, SR: sr, location: a.location, virtual_size: file.size, physical_utilisation: file.blocks * 512 });
  }
  db.update('VDI', ref, {
    other_config: a.other_config,
    xenstore_data: a.xenstore_data,
    sharable: a.sharable,
    type: a.type as RecordOf<'VDI'>['type'],
    // A backend that named the disk keeps its name unless the caller gives one.
    ...(a.name_label !== '' && { name_label: a.name_label }),
    ...(a.name_description !== '' && { name_description: a.name_description }),
  });
  refreshSrUsage(db, sr);
  return ref;
}

// ---------------------------------------------------------------------------------------
// SR.create / SR.probe (xapi_sr.ml create, call_probe; FileSR for the "file" type)

function assertDriver(type: string): void {
  // storage_access.ml: no queue for the type's driver.
  if (!CREATABLE_TYPES.has(type)) throw new ApiFailure('SR_UNKNOWN_DRIVER', [type]);
}

/** FileSR.load: the location must be given. */
function fileLocation(deviceConfig: Record<string, string>): string {
  const location = deviceConfig.location;
  if (location === undefined || location === '') throw smError('ConfigLocationMissing');
  return location;
}

/** FileSR.create: the folder must not exist or be empty; every failure is FileSRCreate. */
async function createFileSrFolder(location: string): Promise<void> {
  try {
    if (!isAbsolute(location)) throw new Error('not an absolute path');
    const entries = await readdir(location).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (entries === undefined) await mkdir(location);
    else if (entries.length > 0) throw new Error('SRExists');
  } catch {
    throw smError('FileSRCreate');
  }
}

interface CreateSrArgs {
  host: Ref;
  device_config: Record<string, string>;
  name_label: string;
  name_description: string;
  type: string;
  content_type: string;
  shared: boolean;
  sm_config: Record<string, string>;
}

async function createSr(sim: SimContext, a: CreateSrArgs): Promise<Ref> {
  const db = sim.db;
  db.get('host', a.host);
  const type = a.type.toLowerCase();
  assertDriver(type);
  const location = fileLocation(a.device_config);
  await createFileSrFolder(location);
  const fs = await statfs(location).catch(() => undefined);
  const sr = db.create('SR', {
    name_label: a.name_label,
    name_description: a.name_description,
    type,
    content_type: a.content_type,
    shared: a.shared,
    sm_config: a.sm_config,
    physical_size: fs ? fs.blocks * fs.bsize : 0,
  });
  // A shared SR gets a PBD on every host, the master first; otherwise one on the given host.
  const master = masterHost(db);
  const hosts = a.shared ? [master, ...db.refs('host').filter((h) => h !== master)] : [a.host];
  for (const host of hosts) db.create('PBD', { host, SR: sr, device_config: a.device_config, currently_attached: true });
  db.set('SR', sr, 'allowed_operations', [...PLUGGED_SR_OPERATIONS]);
  await scanSr(db, sim.stateDir, sr);
  return sr;
}

async function probeSr(sim: SimContext, host: Ref, type: string, deviceConfig: Record<string, string>): Promise<string> {
  sim.db.get('host', host);
  const t = type.toLowerCase();
  assertDriver(t);
  fileLocation(deviceConfig);
  // FileSR has no probe: SM's base class answers Unimplemented.
  throw smError('Unimplemented');
}

// ---------------------------------------------------------------------------------------
// Registration

function opKey(task: Ref | undefined): Ref {
  return task ?? newRef();
}

export function registerVdiSrOpsMethods(reg: MethodRegistry, profile: SimProfile): void {
  const ref = (name: string, dflt?: string): ParamSpec => ({ name, type: 'ref', ...(dflt !== undefined && { default: dflt }) });
  const map = (name: string, dflt = false): ParamSpec => ({ name, type: 'struct', ...(dflt && { default: Object.create(null) as XmlRpcValue }) });
  const str = (name: string): ParamSpec => ({ name, type: 'string' });
  const bool = (name: string): ParamSpec => ({ name, type: 'bool' });
  const strMap = (v: unknown): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (typeof x !== 'string') throw new ApiFailure('FIELD_TYPE_ERROR', ['map']);
      out[k] = x;
    }
    return out;
  };

  // driver_params came with miami (API 1.2), defaulted to {}.
  for (const op of ['snapshot', 'clone'] as const) {
    reg.add({
      name: `VDI.${op}`,
      params: [ref('vdi'), map('driver_params', true)],
      async: true,
      impl: (call, a) => snapshotOrCloneVdi(call.sim, a.vdi as string, op, opKey(call.task)),
    });
  }

  // base_vdi and into_vdi came with clearwater-felton (API 2.2); with them `sr` got its default.
  const newCopy = apiAtLeast(profile, 2, 2);
  reg.add({
    name: 'VDI.copy',
    params: newCopy ? [ref('vdi'), ref('sr', NULL_REF), ref('base_vdi', NULL_REF), ref('into_vdi', NULL_REF)] : [ref('vdi'), ref('sr')],
    async: true,
    impl: (call, a) => {
      call.sim.db.get('VDI', a.vdi as string);
      return copyVdi(call.sim, a.vdi as string, a.sr as string, (a.base_vdi as string | undefined) ?? NULL_REF, (a.into_vdi as string | undefined) ?? NULL_REF, opKey(call.task), call.signal);
    },
  });

  // The datamodel's introduce_params: the first ten since miami, the record fields since tampa (API 1.10).
  const introduceParams: ParamSpec[] = [
    str('uuid'), str('name_label'), str('name_description'), ref('SR'), str('type'), bool('sharable'), bool('read_only'),
    map('other_config'), str('location'), map('xenstore_data', true), map('sm_config', true),
  ];
  if (apiAtLeast(profile, 1, 10)) {
    introduceParams.push(
      { name: 'managed', type: 'bool', default: true },
      { name: 'virtual_size', type: 'int', default: 0n },
      { name: 'physical_utilisation', type: 'int', default: 0n },
      ref('metadata_of_pool', ''),
      { name: 'is_a_snapshot', type: 'bool', default: false },
      { name: 'snapshot_time', type: 'datetime', default: '19700101T00:00:00Z' },
      ref('snapshot_of', ''),
    );
  }
  reg.add({
    name: 'VDI.introduce',
    params: introduceParams,
    async: true,
    impl: ({ sim }, a) => {
      const type = (a.type as string).toLowerCase();
      const types: readonly string[] = ['system', 'user', 'ephemeral', 'suspend', 'crashdump', 'ha_statefile', 'metadata', 'redo_log', 'rrd', 'pvs_cache', 'cbt_metadata'];
      if (!types.includes(type)) throw new ApiFailure('ENUM_VALUE_INVALID', ['enum vdi_type', a.type as string]);
      sim.db.get('SR', a.SR as string);
      return introduceVdi(sim, {
        uuid: a.uuid as string,
        name_label: a.name_label as string,
        name_description: a.name_description as string,
        SR: a.SR as string,
        type,
        sharable: a.sharable as boolean,
        other_config: strMap(a.other_config),
        location: a.location as string,
        xenstore_data: strMap(a.xenstore_data),
        sm_config: strMap(a.sm_config),
      });
    },
  });

  reg.add({
    name: 'SR.create',
    params: [
      ref('host'), map('device_config'), { name: 'physical_size', type: 'int' }, str('name_label'), str('name_description'),
      str('type'), str('content_type'), bool('shared'), map('sm_config', true),
    ],
    async: true,
    impl: ({ sim }, a) =>
      createSr(sim, {
        host: a.host as string,
        device_config: strMap(a.device_config),
        name_label: a.name_label as string,
        name_description: a.name_description as string,
        type: a.type as string,
        content_type: a.content_type as string,
        shared: a.shared as boolean,
        sm_config: strMap(a.sm_config),
      }),
  });

  // SR.probe came with miami (API 1.2).
  reg.add({
    name: 'SR.probe',
    params: [ref('host'), map('device_config'), str('type'), map('sm_config', true)],
    async: true,
    impl: ({ sim }, a) => probeSr(sim, a.host as string, a.type as string, strMap(a.device_config)),
  });
}
