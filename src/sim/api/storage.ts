/**
 * SR, PBD and VDI methods (xen-api ocaml/xapi/xapi_vdi.ml, create): VDI.create with the
 * deterministic backup uuid rule, SR_FULL and SR_NO_PBDS, sparse image files; VDI.destroy;
 * SR.scan / SR.introduce / SR.forget and PBD.create / plug / unplug / destroy, so a second
 * simulated pool can attach an SR folder that another pool wrote.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ApiFailure } from '../api-error.js';
import type { XmlRpcValue } from '../codec.js';
import type { Ref } from '../db.js';
import { structToFields } from '../record-wire.js';
import type { MethodRegistry } from '../rpc-dispatch.js';
import type { RecordOf } from '../schema.js';
import type { SimContext } from '../context.js';
import {
  createSparseFile,
  refreshSrUsage,
  removeFileIfPresent,
  scanSr,
  srIsPlugged,
  srVirtualAllocation,
  vdiFilePath,
} from '../storage.js';
import { backupVdiUuid, uuidV4 } from '../uuid.js';

/** Label that, on a user VDI, triggers the deterministic uuid. */
export const BACKUP_VDI_LABEL = 'Pool Metadata Backup';

/** What a plugged, writable SR allows (as XAPI lists it for a file or LVM SR). */
export const PLUGGED_SR_OPERATIONS = ['scan', 'vdi_create', 'vdi_destroy', 'vdi_snapshot', 'vdi_clone', 'vdi_resize', 'plug', 'unplug', 'forget', 'update'] as const;

const VDI_CREATE_REQUIRED = ['name_label', 'name_description', 'SR', 'virtual_size', 'type', 'sharable', 'read_only', 'other_config'];
const VDI_CREATE_FIELDS = [...VDI_CREATE_REQUIRED, 'xenstore_data', 'sm_config', 'tags'];

/** VDI.create as XAPI does it; used by the API method and available to in-process callers. */
export async function createVdi(sim: SimContext, record: XmlRpcValue): Promise<Ref> {
  const f = structToFields('VDI', record, 'args', { required: VDI_CREATE_REQUIRED, only: VDI_CREATE_FIELDS }) as Partial<RecordOf<'VDI'>>;
  const db = sim.db;
  const sr = f.SR as string;
  const srRec = db.get('SR', sr);
  const size = f.virtual_size ?? 0;
  if (size < 0) throw new ApiFailure('INVALID_VALUE', ['virtual_size', String(size)]);
  if (f.type === 'cbt_metadata') throw new ApiFailure('VDI_INCOMPATIBLE_TYPE', ['', 'cbt_metadata']);
  if (!srIsPlugged(db, sr)) throw new ApiFailure('SR_NO_PBDS', [sr]);
  if (srRec.physical_size > 0) {
    const free = srRec.physical_size - srVirtualAllocation(db, sr);
    if (size > free) throw new ApiFailure('SR_FULL', [String(size), String(Math.max(0, free))]);
  }
  const uuid =
    sim.profile.deterministicBackupVdiUuid && f.type === 'user' && f.name_label === BACKUP_VDI_LABEL ? backupVdiUuid(srRec.uuid) : uuidV4();
  if (db.findRefByUuid('VDI', uuid) !== undefined) {
    // What XAPI does here is unverified (it is up to the storage backend); ours would refuse.
    throw new ApiFailure('SR_BACKEND_FAILURE', ['', '', `VDI ${uuid} already exists`]);
  }
  const ref = db.create('VDI', { ...f, uuid, location: uuid, physical_utilisation: 0, managed: true, missing: false });
  try {
    const file = vdiFilePath(db, sim.stateDir, ref);
    await mkdir(dirname(file), { recursive: true });
    await createSparseFile(file, size);
  } catch (err) {
    db.destroy('VDI', ref);
    if (err instanceof ApiFailure) throw err;
    throw new ApiFailure('SR_BACKEND_FAILURE', ['', '', `cannot create the VDI file: ${(err as NodeJS.ErrnoException).code ?? 'error'}`]);
  }
  refreshSrUsage(db, sr);
  return ref;
}

export async function destroyVdi(sim: SimContext, vdi: Ref): Promise<void> {
  const db = sim.db;
  const rec = db.get('VDI', vdi);
  if (rec.VBDs.some((b) => db.tryGet('VBD', b)?.currently_attached)) throw new ApiFailure('VDI_IN_USE', [vdi, 'destroy']);
  const file = vdiFilePath(db, sim.stateDir, vdi);
  for (const vbd of rec.VBDs) if (db.exists('VBD', vbd)) db.destroy('VBD', vbd);
  db.destroy('VDI', vdi);
  await removeFileIfPresent(file);
  if (db.exists('SR', rec.SR)) refreshSrUsage(db, rec.SR);
}

export function registerStorageMethods(reg: MethodRegistry): void {
  const self = { name: 'self', type: 'ref' as const };
  const sr = { name: 'sr', type: 'ref' as const };

  reg.add({
    name: 'VDI.create',
    params: [{ name: 'args', type: 'struct' }],
    async: true,
    impl: ({ sim }, a) => createVdi(sim, a.args as XmlRpcValue),
  });
  reg.add({
    name: 'VDI.destroy',
    params: [self],
    async: true,
    impl: async ({ sim }, a) => {
      await destroyVdi(sim, a.self as string);
      return '';
    },
  });
  // VDI.forget drops the record and keeps the data (what SR.scan would find again).
  reg.add({
    name: 'VDI.forget',
    params: [{ name: 'vdi', type: 'ref' }],
    async: true,
    impl: ({ sim }, a) => {
      const rec = sim.db.get('VDI', a.vdi as string);
      if (rec.VBDs.some((b) => sim.db.tryGet('VBD', b)?.currently_attached)) throw new ApiFailure('VDI_IN_USE', [a.vdi as string, 'forget']);
      sim.db.destroy('VDI', a.vdi as string);
      return '';
    },
  });

  reg.add({
    name: 'SR.scan',
    params: [sr],
    async: true,
    impl: async ({ sim }, a) => {
      const ref = a.sr as string;
      if (!srIsPlugged(sim.db, ref)) throw new ApiFailure('SR_NO_PBDS', [ref]);
      await scanSr(sim.db, sim.stateDir, ref);
      return '';
    },
  });
  reg.add({
    name: 'SR.introduce',
    params: [
      { name: 'uuid', type: 'string' },
      { name: 'name_label', type: 'string' },
      { name: 'name_description', type: 'string' },
      { name: 'type', type: 'string' },
      { name: 'content_type', type: 'string' },
      { name: 'shared', type: 'bool', default: false },
      { name: 'sm_config', type: 'struct', default: Object.create(null) as XmlRpcValue },
    ],
    async: true,
    impl: ({ sim }, a) => {
      const uuid = a.uuid as string;
      if (sim.db.findRefByUuid('SR', uuid) !== undefined) throw new ApiFailure('SR_UUID_EXISTS', [uuid]);
      const fields = structToFields('SR', { sm_config: a.sm_config as XmlRpcValue }, 'sm_config');
      return sim.db.create('SR', {
        uuid: uuid === '' ? uuidV4() : uuid,
        name_label: a.name_label as string,
        name_description: a.name_description as string,
        type: a.type as string,
        content_type: a.content_type as string,
        shared: a.shared as boolean,
        sm_config: (fields.sm_config ?? {}) as Record<string, string>,
      });
    },
  });
  reg.add({
    name: 'SR.forget',
    params: [sr],
    async: true,
    impl: ({ sim }, a) => {
      const ref = a.sr as string;
      const rec = sim.db.get('SR', ref);
      if (rec.PBDs.some((p) => sim.db.tryGet('PBD', p)?.currently_attached)) throw new ApiFailure('SR_HAS_PBD', [ref]);
      for (const p of rec.PBDs) if (sim.db.exists('PBD', p)) sim.db.destroy('PBD', p);
      for (const v of rec.VDIs) if (sim.db.exists('VDI', v)) sim.db.destroy('VDI', v);
      sim.db.destroy('SR', ref);
      return '';
    },
  });

  reg.add({
    name: 'PBD.create',
    params: [{ name: 'args', type: 'struct' }],
    async: true,
    impl: ({ sim }, a) => {
      const f = structToFields('PBD', a.args as XmlRpcValue, 'args', { required: ['host', 'SR', 'device_config'], only: ['host', 'SR', 'device_config', 'other_config'] }) as Partial<RecordOf<'PBD'>>;
      sim.db.get('host', f.host as string);
      sim.db.get('SR', f.SR as string);
      const path = f.device_config?.path;
      if (path !== undefined && !path.startsWith('/')) throw new ApiFailure('INVALID_VALUE', ['device_config:path', path]);
      return sim.db.create('PBD', { ...f, currently_attached: false });
    },
  });
  reg.add({
    name: 'PBD.plug',
    params: [self],
    async: true,
    impl: async ({ sim }, a) => {
      const ref = a.self as string;
      const rec = sim.db.get('PBD', ref);
      if (rec.currently_attached) return '';
      sim.db.set('PBD', ref, 'currently_attached', true);
      // XAPI derives an SR's allowed operations from its plugged PBDs: an introduced SR
      // becomes usable (vdi_create …) once plugged.
      if (sim.db.get('SR', rec.SR).allowed_operations.length === 0) sim.db.set('SR', rec.SR, 'allowed_operations', [...PLUGGED_SR_OPERATIONS]);
      await scanSr(sim.db, sim.stateDir, rec.SR);
      return '';
    },
  });
  reg.add({
    name: 'PBD.unplug',
    params: [self],
    async: true,
    impl: ({ sim }, a) => {
      const ref = a.self as string;
      const rec = sim.db.get('PBD', ref);
      if (!rec.currently_attached) return '';
      const busy = sim.db.get('SR', rec.SR).VDIs.find((v) => sim.db.tryGet('VDI', v)?.VBDs.some((b) => sim.db.tryGet('VBD', b)?.currently_attached));
      if (busy !== undefined) throw new ApiFailure('VDI_IN_USE', [busy, 'unplug']);
      sim.db.set('PBD', ref, 'currently_attached', false);
      return '';
    },
  });
  reg.add({
    name: 'PBD.destroy',
    params: [self],
    async: true,
    impl: ({ sim }, a) => {
      const ref = a.self as string;
      if (sim.db.get('PBD', ref).currently_attached) throw new ApiFailure('OPERATION_NOT_ALLOWED', ['PBD is currently attached']);
      sim.db.destroy('PBD', ref);
      return '';
    },
  });
}
