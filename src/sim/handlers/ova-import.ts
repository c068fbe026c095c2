/**
 * The metadata import algorithm (xen-api ocaml/xapi/import.ml), applied to the simulator's
 * database:
 * objects are handled class by class in XAPI's order (host, SR, VDI, VM_guest_metrics,
 * VM_metrics, VM, network, VBD, VIF), each with a precheck that decides what to do and a
 * step that does it — or, in a dry run, only records what would be used. Every object created registers
 * its removal; on an error (without `force`) they are removed again, newest first.
 *
 * Objects of classes the simulator does not model (VGPU, PVS, VTPM, …) are ignored.
 *
 * A field the file lacks gets its default; only fields the datamodel gives no default are
 * required (xen-api's generated rpc readers: e.g. VDI.location and VM/network name_label
 * default to "", while uuid, VDI.SR, VBD.VM… have none and fail with IMPORT_ERROR).
 */
import { randomUUID } from 'node:crypto';
import { ApiFailure } from '../api-error.js';
import type { Ref, SimDb } from '../db.js';
import { NULL_REF, type AnyRecord, type ClassName, type RecordOf } from '../schema.js';
import { freshGenerationId, newRef } from '../uuid.js';
import { macFromSeed, validVifDevice } from '../vif-ops.js';
import { updateAllowedOperations } from '../vm-power.js';
import type { SimProfile } from '../profiles.js';
import type { ExportHeader, ExportObject } from './ova-document.js';
import { rpcToRecord, RecordFormatError } from './record-rpc.js';

export interface ImportConfig {
  /** Full restore: keep uuids, MACs, mac_seed; replace an older halted VM with the same uuid. */
  restore: boolean;
  force: boolean;
  dryRun: boolean;
  /** `vdi:<src>=<dst>` query pairs: exported VDI uuid or SCSIid → local uuid or SCSIid. */
  vdiMap: ReadonlyMap<string, string>;
  /** The import task (other_config.import_task, current_operations key). */
  task: Ref;
}

/** A dangling "Ref:n" inside the file. */
class MissingObject extends Error {
  constructor(readonly id: string) {
    super(`Failed to find object with ID: ${id}`);
  }
}
class AttachedDisksNotFound extends Error {}

// ---------------------------------------------------------------------------------------
// State

interface State {
  /** export id → local ref (dry run: a dummy ref) */
  table: Map<string, Ref>;
  /** VMs created or matched (default templates), in order. */
  createdVms: Ref[];
  /** Lookup tables of the pool's VDIs (the import does not create VDIs). */
  vdiIndex?: { bySrLocation: Map<string, Ref>; byScsi: Map<string, Ref> };
  /** Exported guest metrics by id, created with their VM. */
  guestMetrics: Map<string, RecordOf<'VM_guest_metrics'>>;
  /** Exported VM metrics by id, created with their VM. */
  vmMetrics: Map<string, RecordOf<'VM_metrics'>>;
  /** Undo actions, newest last. */
  cleanup: Array<() => void>;
  objects: ExportObject[];
  byId: Map<string, ExportObject>;
}

function lookup(state: State, id: string): Ref {
  const r = state.table.get(id);
  if (r === undefined) throw new MissingObject(id);
  return r;
}

function findInExport(state: State, id: string): ExportObject {
  const o = state.byId.get(id);
  if (!o) throw new MissingObject(id);
  return o;
}

function record<C extends ClassName>(cls: C, o: ExportObject, required: readonly string[] = ['uuid']): RecordOf<C> {
  return rpcToRecord(cls, o.snapshot, required) as RecordOf<C>;
}

/** Creates an object and registers its removal. */
function createTracked<C extends ClassName>(db: SimDb, state: State, cls: C, fields: Partial<RecordOf<C>>): Ref {
  const ref = db.create(cls, fields);
  state.cleanup.push(() => {
    if (db.exists(cls, ref)) db.destroy(cls, ref);
  });
  return ref;
}

/** XAPI's notion of "will have a device model": an HVM guest. */
function hasQemu(vm: RecordOf<'VM'>): boolean {
  return vm.domain_type === 'hvm' || (vm.domain_type === 'unspecified' && vm.HVM_boot_policy !== '');
}

// ---------------------------------------------------------------------------------------
// Handlers, in XAPI's order

function handleHost(db: SimDb, state: State, o: ExportObject): void {
  const rec = record('host', o);
  state.table.set(o.id, db.findRefByUuid('host', rec.uuid) ?? NULL_REF);
}

function handleSr(db: SimDb, state: State, o: ExportObject): void {
  const rec = record('SR', o);
  const sr = db.findRefByUuid('SR', rec.uuid);
  // Not found: only a warning in XAPI; the VDIs are then looked up one by one.
  if (sr !== undefined) state.table.set(o.id, sr);
}

/**
 * (SR, location) and SCSIid → the first VDI in database order (XAPI's choose_one). The
 * index is kept by the database until a VDI changes (an import creates none).
 */
function vdiIndex(db: SimDb, state: State): NonNullable<State['vdiIndex']> {
  state.vdiIndex ??= db.derived('import:vdi-index', 'VDI', () => {
    const bySrLocation = new Map<string, Ref>();
    const byScsi = new Map<string, Ref>();
    // where() used as an iterator: the predicate sees stored records and nothing is copied.
    db.where('VDI', (v, ref) => {
      const key = `${v.SR}\u0000${v.location}`;
      if (!bySrLocation.has(key)) bySrLocation.set(key, ref);
      const scsi = v.sm_config.SCSIid;
      if (scsi !== undefined && !byScsi.has(scsi)) byScsi.set(scsi, ref);
      return false;
    });
    return { bySrLocation, byScsi };
  });
  return state.vdiIndex;
}

function handleVdi(db: SimDb, cfg: ImportConfig, state: State, o: ExportObject): void {
  const rec = record('VDI', o, ['uuid', 'SR']);
  const originalSr = record('SR', findInExport(state, rec.SR));
  if (originalSr.content_type === 'iso') {
    // Best effort: the same location in any ISO SR that is not a udev (DVD drive) SR.
    const found = db.findRef('VDI', (v) => {
      if (v.location !== rec.location) return false;
      const sr = db.tryGet('SR', v.SR);
      return sr !== undefined && sr.content_type === 'iso' && sr.type !== 'udev';
    });
    if (found !== undefined) state.table.set(o.id, found);
    return; // not found: the CD is ejected
  }
  const scsiOf = (v: { sm_config: Record<string, string> }) => v.sm_config.SCSIid;
  const index = vdiIndex(db, state);
  const byUuid = (uuid: string) => db.findRefByUuid('VDI', uuid);
  const byScsi = (id: string) => index.byScsi.get(id);
  let found: Ref | undefined;
  const exportedScsi = scsiOf(rec);
  const mapKey = cfg.vdiMap.has(rec.uuid) ? rec.uuid : exportedScsi !== undefined && cfg.vdiMap.has(exportedScsi) ? exportedScsi : undefined;
  if (mapKey !== undefined) {
    const dest = cfg.vdiMap.get(mapKey) as string;
    found = byUuid(dest) ?? byScsi(dest);
  } else if (exportedScsi !== undefined) {
    found = byScsi(exportedScsi);
  }
  const localSr = state.table.get(rec.SR);
  if (found === undefined && localSr !== undefined) found = index.bySrLocation.get(`${localSr}\u0000${rec.location}`);
  if (found === undefined) {
    const mapsTo = rec.other_config.maps_to;
    if (mapsTo !== undefined && db.exists('VDI', mapsTo)) found = mapsTo;
  }
  if (found === undefined) {
    if (cfg.force) return; // skipped; a Disk VBD on it is dropped
    if (localSr !== undefined) throw new ApiFailure('VDI_LOCATION_MISSING', [localSr, rec.location]);
    throw new ApiFailure('VDI_CONTENT_ID_MISSING', []);
  }
  state.table.set(o.id, found);
  if (cfg.dryRun) return;
  // XAPI keeps the config-drive flag in step with the export.
  const exported = rec.other_config['config-drive'];
  db.mapRemove('VDI', found, 'other_config', 'config-drive');
  if (exported !== undefined) db.mapAdd('VDI', found, 'other_config', 'config-drive', exported);
}

/**
 * Guest metrics are read here but created only for a VM that is actually imported
 * (XAPI creates them up front and leaves them behind when the VM is skipped).
 */
function handleGuestMetrics(_db: SimDb, _cfg: ImportConfig, state: State, o: ExportObject): void {
  state.guestMetrics.set(o.id, record('VM_guest_metrics', o, []));
}

function createGuestMetrics(db: SimDb, state: State, id: string): Ref {
  const rec = state.guestMetrics.get(id);
  if (rec === undefined) return NULL_REF;
  const { uuid: _uuid, ...fields } = rec;
  return createTracked(db, state, 'VM_guest_metrics', fields);
}

/**
 * Exported VM metrics (xapi ≥ 24.40): a VM that names them gets a copy with a fresh uuid
 * instead of the blank one it would be created with (xen-api import.ml, Metrics and VM
 * handlers). Like guest metrics, read here and created only with an imported VM.
 */
function handleVmMetrics(_db: SimDb, _cfg: ImportConfig, state: State, o: ExportObject): void {
  state.vmMetrics.set(o.id, record('VM_metrics', o, []));
}

function isDefaultTemplateRecord(vm: RecordOf<'VM'>): boolean {
  return vm.is_default_template || (vm.is_a_template && vm.other_config.default_template === 'true');
}

type VmAction =
  | { kind: 'default_template'; ref: Ref }
  | { kind: 'skip' }
  | { kind: 'fail'; error: ApiFailure }
  | { kind: 'replace'; existing: Ref; rec: RecordOf<'VM'> }
  | { kind: 'clean'; rec: RecordOf<'VM'> };

function precheckVm(db: SimDb, cfg: ImportConfig, rec: RecordOf<'VM'>): VmAction {
  if (isDefaultTemplateRecord(rec)) {
    return { kind: 'default_template', ref: db.findRef('VM', (v) => v.name_label === rec.name_label) ?? NULL_REF };
  }
  const existing = db.findRefByUuid('VM', rec.uuid);
  if (!cfg.restore || existing === undefined) return { kind: 'clean', rec };
  const cur = db.get('VM', existing);
  if (cur.power_state !== 'Halted') {
    if (cfg.force) return { kind: 'skip' };
    return { kind: 'fail', error: new ApiFailure('VM_BAD_POWER_STATE', [existing, 'Halted', cur.power_state]) };
  }
  if (cur.version >= rec.version && !cfg.force) {
    return { kind: 'fail', error: new ApiFailure('VM_TO_IMPORT_IS_NOT_NEWER_VERSION', [existing, String(cur.version), String(rec.version)]) };
  }
  return { kind: 'replace', existing, rec };
}

/** Destroys a VM with its VIFs, VBDs and metrics (what XAPI's VM.destroy takes along). */
function destroyVm(db: SimDb, vm: Ref): void {
  const rec = db.get('VM', vm);
  for (const vif of rec.VIFs) if (db.exists('VIF', vif)) db.destroy('VIF', vif);
  for (const vbd of rec.VBDs) if (db.exists('VBD', vbd)) db.destroy('VBD', vbd);
  if (db.exists('VM_metrics', rec.metrics)) db.destroy('VM_metrics', rec.metrics);
  db.destroy('VM', vm);
}

/** Fields VM.create_from_record takes; the rest is set afterwards or left at its default. */
const VM_CREATE_SKIP = new Set([
  'uuid', 'allowed_operations', 'current_operations', 'power_state', 'resident_on', 'scheduled_to_be_resident_on',
  'consoles', 'VIFs', 'VBDs', 'VUSBs', 'crash_dumps', 'VTPMs', 'VGPUs', 'attached_PCIs', 'domid', 'domarch',
  'metrics', 'guest_metrics', 'snapshots', 'children', 'is_default_template', 'blobs', 'memory_overhead',
  'requires_reboot', 'pending_guidances', 'suspend_VDI',
]);

function importVm(db: SimDb, cfg: ImportConfig, state: State, o: ExportObject, rec: RecordOf<'VM'>): void {
  const otherConfig = { ...rec.other_config };
  delete otherConfig.grant_api_access;
  if (!cfg.restore) otherConfig.mac_seed = randomUUID();
  if (!cfg.force) delete otherConfig.default_template;
  otherConfig.import_task = cfg.task;
  const fields: AnyRecord = {};
  for (const [k, v] of Object.entries(rec)) if (!VM_CREATE_SKIP.has(k)) fields[k] = v;
  const suspendVdi = rec.power_state === 'Suspended' ? state.table.get(rec.suspend_VDI) : undefined;
  if (rec.power_state === 'Suspended' && suspendVdi === undefined && !cfg.force) {
    throw new ApiFailure('IMPORT_ERROR', [`Failed to find VM's suspend_VDI: ${rec.suspend_VDI}`]);
  }
  const suspendSrKnown = db.exists('SR', rec.suspend_SR);
  const exportedMetrics = state.vmMetrics.get(rec.metrics);
  const { uuid: _uuid, ...metricsFields } = exportedMetrics ?? { uuid: '', current_domain_type: rec.domain_type };
  const metrics = createTracked(db, state, 'VM_metrics', metricsFields);
  Object.assign(fields, {
    ...(cfg.restore && { uuid: rec.uuid }),
    other_config: otherConfig,
    generation_id: rec.is_a_template ? rec.generation_id : freshGenerationId(rec.generation_id),
    protection_policy: NULL_REF,
    appliance: NULL_REF,
    version: cfg.restore ? rec.version + 1 : 0,
    power_state: suspendVdi !== undefined ? 'Suspended' : 'Halted',
    suspend_VDI: suspendVdi ?? NULL_REF,
    resident_on: state.table.get(rec.resident_on) ?? NULL_REF,
    affinity: state.table.get(rec.affinity) ?? NULL_REF,
    guest_metrics: createGuestMetrics(db, state, rec.guest_metrics),
    suspend_SR: suspendSrKnown ? rec.suspend_SR : NULL_REF,
    // snapshot_of and parent still hold export ids; re-pointed once every VM exists.
    snapshot_of: rec.snapshot_of,
    parent: rec.parent,
    metrics,
    // While importing (without force) the VM is locked by the import.
    current_operations: cfg.force ? {} : { [cfg.task]: 'import' },
  });
  const vm = db.create('VM', fields as Partial<RecordOf<'VM'>>);
  state.cleanup.push(() => {
    if (!db.exists('VM', vm)) return;
    db.update('VM', vm, { current_operations: {}, power_state: 'Halted' });
    destroyVm(db, vm);
  });
  state.table.set(o.id, vm);
  state.createdVms.push(vm);
}

function handleVm(db: SimDb, cfg: ImportConfig, state: State, o: ExportObject): void {
  const rec = record('VM', o, ['uuid']);
  const action = precheckVm(db, cfg, rec);
  switch (action.kind) {
    case 'skip':
      return;
    case 'fail':
      throw action.error;
    case 'default_template':
      state.table.set(o.id, action.ref);
      if (action.ref !== NULL_REF) state.createdVms.push(action.ref);
      return;
    case 'clean':
    case 'replace':
      if (cfg.dryRun) {
        state.table.set(o.id, newRef());
        return;
      }
      // The replaced VM is gone for good, as in XAPI (it is not restored on a later error).
      if (action.kind === 'replace') destroyVm(db, action.existing);
      importVm(db, cfg, state, o, action.rec);
  }
}

function handleNetwork(db: SimDb, cfg: ImportConfig, state: State, o: ExportObject): void {
  const rec = record('network', o, ['uuid']);
  const found =
    db.findRef('network', (n) => n.name_label === rec.name_label) ??
    db.findRef('network', (n) => n.bridge === rec.bridge);
  if (found !== undefined) {
    state.table.set(o.id, found);
    return;
  }
  if (cfg.dryRun) {
    state.table.set(o.id, newRef());
    return;
  }
  let bridge = rec.bridge;
  if (bridge === '') {
    let i = 0;
    while (db.findRef('network', (n) => n.bridge === `xapi${i}`) !== undefined) i++;
    bridge = `xapi${i}`;
  }
  const net = createTracked(db, state, 'network', {
    name_label: rec.name_label,
    name_description: rec.name_description,
    MTU: rec.MTU,
    other_config: { ...rec.other_config, import_task: cfg.task },
    bridge,
    managed: rec.managed,
    tags: rec.tags,
  });
  state.table.set(o.id, net);
}

function handleVbd(db: SimDb, cfg: ImportConfig, state: State, o: ExportObject): void {
  const rec = record('VBD', o, ['uuid', 'VM', 'VDI', 'type']);
  if (cfg.restore) {
    const existing = db.findRefByUuid('VBD', rec.uuid);
    if (existing !== undefined) {
      state.table.set(o.id, existing);
      return;
    }
  }
  const vm = lookup(state, rec.VM);
  const originalVm = record('VM', findInExport(state, rec.VM));
  const qemu = hasQemu(originalVm);
  const vdiKnown = state.table.has(rec.VDI);
  if (rec.currently_attached && !vdiKnown && !(rec.type === 'CD' && qemu)) throw new AttachedDisksNotFound();
  let vdi = vdiKnown ? (state.table.get(rec.VDI) as Ref) : NULL_REF;
  let empty = rec.empty;
  if (!vdiKnown) {
    if (rec.type === 'Disk') return; // cannot have an empty disk: skipped
    if (qemu || originalVm.power_state !== 'Suspended') {
      vdi = NULL_REF;
      empty = true; // ejected
    }
  }
  if (cfg.dryRun) {
    state.table.set(o.id, newRef());
    return;
  }
  const vbd = createTracked(db, state, 'VBD', {
    ...(cfg.restore && { uuid: rec.uuid }),
    VM: vm,
    VDI: vdi,
    device: '',
    userdevice: rec.userdevice,
    bootable: rec.bootable,
    mode: rec.mode,
    type: rec.type,
    unpluggable: rec.unpluggable,
    empty,
    other_config: rec.other_config,
    qos_algorithm_type: rec.qos_algorithm_type,
    qos_algorithm_params: rec.qos_algorithm_params,
    currently_attached: rec.currently_attached,
  });
  state.table.set(o.id, vbd);
}

function handleVif(db: SimDb, cfg: ImportConfig, state: State, o: ExportObject): void {
  const rec = record('VIF', o, ['uuid', 'VM', 'network', 'device']);
  if (cfg.restore) {
    const existing = db.findRefByUuid('VIF', rec.uuid);
    if (existing !== undefined) {
      state.table.set(o.id, existing);
      return;
    }
  }
  const vm = lookup(state, rec.VM);
  const net = lookup(state, rec.network);
  if (cfg.dryRun) {
    state.table.set(o.id, newRef());
    return;
  }
  // import.ml blanks the MAC unless restoring; Xapi_vif.create then checks the device and
  // derives the MAC from the VM's mac_seed, as a real host does (so clashes match it).
  if (!validVifDevice(rec.device)) throw new ApiFailure('INVALID_DEVICE', [rec.device]);
  const keepMac = cfg.restore && rec.MAC !== '';
  const seed = db.getField('VM', vm, 'other_config').mac_seed ?? randomUUID();
  const vif = createTracked(db, state, 'VIF', {
    ...(cfg.restore && { uuid: rec.uuid }),
    VM: vm,
    network: net,
    device: rec.device,
    MAC: keepMac ? rec.MAC : macFromSeed(seed, Number(rec.device)),
    MAC_autogenerated: !keepMac,
    MTU: rec.MTU,
    other_config: rec.other_config,
    qos_algorithm_type: rec.qos_algorithm_type,
    qos_algorithm_params: rec.qos_algorithm_params,
    locking_mode: rec.locking_mode,
    ipv4_allowed: rec.ipv4_allowed,
    ipv6_allowed: rec.ipv6_allowed,
    // Attached only for a VM that is not halted (imported VMs are halted or suspended).
    currently_attached: db.getField('VM', vm, 'power_state') !== 'Halted' && rec.currently_attached,
  });
  state.table.set(o.id, vif);
}

/** snapshot_of and parent held export ids; now that every VM exists they become refs. */
function updateSnapshotAndParentLinks(db: SimDb, state: State): void {
  for (const vm of state.createdVms) {
    if (!db.exists('VM', vm)) continue;
    const rec = db.get('VM', vm);
    if (rec.is_a_snapshot && rec.snapshot_of !== NULL_REF) db.set('VM', vm, 'snapshot_of', lookup(state, rec.snapshot_of));
    // XAPI leaves an unresolvable parent as it was (so an export-local "Ref:n" id can leak).
    const parent = state.table.get(rec.parent);
    if (parent !== undefined) db.set('VM', vm, 'parent', parent);
  }
}

const HANDLERS: ReadonlyArray<[string, (db: SimDb, cfg: ImportConfig, state: State, o: ExportObject) => void]> = [
  ['host', (db, _c, s, o) => handleHost(db, s, o)],
  ['SR', (db, _c, s, o) => handleSr(db, s, o)],
  ['VDI', handleVdi],
  ['VM_guest_metrics', handleGuestMetrics],
  ['VM_metrics', handleVmMetrics],
  ['VM', handleVm],
  ['network', handleNetwork],
  ['VBD', handleVbd],
  ['VIF', handleVif],
];

/** XAPI's with_error_handling: import failures as API errors. */
function asApiFailure(e: unknown): ApiFailure {
  if (e instanceof ApiFailure) return e;
  if (e instanceof MissingObject) return new ApiFailure('IMPORT_ERROR_FAILED_TO_FIND_OBJECT', [e.id]);
  if (e instanceof AttachedDisksNotFound) return new ApiFailure('IMPORT_ERROR_ATTACHED_DISKS_NOT_FOUND', []);
  if (e instanceof RecordFormatError) return new ApiFailure('IMPORT_ERROR', [e.message]);
  return new ApiFailure('IMPORT_ERROR', [e instanceof Error ? e.message : String(e)]);
}

/**
 * Refuses a full restore when a VM in the pool already uses the mac_seed of an imported VM
 * and is not "the same VM" (same uuid, or snapshot ↔ VM of the same lineage). Runs before
 * anything is created, dry run included. The error is DUPLICATE_MAC_SEED [seed] from xapi
 * 21.4.0 on (xen-api commit 9eeeda4 "report duplicate mac seeds on import as such"),
 * DUPLICATE_VM [existing vm uuid] before.
 */
export function assertCanRestoreBackup(db: SimDb, header: ExportHeader, profile: Pick<SimProfile, 'xapiMajor' | 'xapiMinor'>): void {
  const namesSeed = profile.xapiMajor > 21 || (profile.xapiMajor === 21 && profile.xapiMinor >= 4);
  const exported = header.objects.filter((o) => o.cls === 'VM');
  const exportedVms = new Map<string, RecordOf<'VM'>>();
  for (const o of exported) {
    try {
      exportedVms.set(o.id, record('VM', o, ['uuid']));
    } catch (e) {
      throw asApiFailure(e);
    }
  }
  const lineage = (vm: RecordOf<'VM'>, exportedSide: boolean): string | undefined => {
    if (!vm.is_a_snapshot) return vm.uuid;
    if (exportedSide) return exportedVms.get(vm.snapshot_of)?.uuid;
    return db.tryGet('VM', vm.snapshot_of)?.uuid;
  };
  const bySeed = new Map<string, RecordOf<'VM'>[]>();
  // Only the pool's VMs sharing a seed with the export are copied out (not every VM per import).
  const seeds = new Set([...exportedVms.values()].map((v) => v.other_config.mac_seed).filter((x) => x !== undefined));
  for (const { rec } of db.where('VM', (v) => v.other_config.mac_seed !== undefined && seeds.has(v.other_config.mac_seed))) {
    const seed = rec.other_config.mac_seed as string;
    const list = bySeed.get(seed) ?? [];
    list.push(rec);
    bySeed.set(seed, list);
  }
  for (const vm of exportedVms.values()) {
    const seed = vm.other_config.mac_seed;
    if (seed === undefined) continue;
    for (const existing of bySeed.get(seed) ?? []) {
      const a = lineage(vm, true);
      const b = lineage(existing, false);
      const compatible = !vm.is_a_snapshot && !existing.is_a_snapshot ? vm.uuid === existing.uuid : a !== undefined && a === b;
      if (!compatible) throw namesSeed ? new ApiFailure('DUPLICATE_MAC_SEED', [seed]) : new ApiFailure('DUPLICATE_VM', [existing.uuid]);
    }
  }
}

/**
 * Runs the import. Returns the VM refs for the task result: created VMs and matched
 * default templates, snapshots left out, newest first (XAPI's order). Throws ApiFailure;
 * without `force` everything created is removed first.
 */
export function importObjects(db: SimDb, cfg: ImportConfig, header: ExportHeader): Ref[] {
  const state: State = {
    table: new Map(),
    createdVms: [],
    guestMetrics: new Map(),
    vmMetrics: new Map(),
    cleanup: [],
    objects: header.objects,
    byId: new Map(header.objects.map((o) => [o.id, o])),
  };
  try {
    for (const [cls, handler] of HANDLERS) {
      for (const o of header.objects) if (o.cls === cls) handler(db, cfg, state, o);
    }
    if (!cfg.dryRun) updateSnapshotAndParentLinks(db, state);
    const result: Ref[] = [];
    for (const vm of [...state.createdVms].reverse()) {
      if (result.includes(vm) || !db.exists('VM', vm)) continue;
      if (!cfg.dryRun) db.mapRemove('VM', vm, 'current_operations', cfg.task);
      // import.ml complete_import: the lock goes and allowed_operations are recomputed.
      if (!cfg.dryRun) updateAllowedOperations(db, vm);
      if (db.getField('VM', vm, 'is_a_snapshot')) continue;
      result.push(vm);
    }
    return result;
  } catch (e) {
    if (!cfg.force) {
      for (const undo of [...state.cleanup].reverse()) {
        try {
          undo();
        } catch {
          // Best effort, as XAPI's cleanup (log and continue).
        }
      }
    }
    throw asApiFailure(e);
  }
}
