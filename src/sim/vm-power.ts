/**
 * The VM power-state machine as XAPI runs it: which operation each power state allows, the
 * checks behind `allowed_operations` and the errors of a refused operation
 * (xen-api ocaml/xapi/xapi_vm_lifecycle.ml `check_operation_error`, `allowed_power_states`,
 * `update_allowed_operations`, `force_state_reset`), operations in flight
 * (xapi_vm_helpers.ml `with_vm_operation`), placement and the host memory model
 * (xapi_vm_helpers.ml `assert_can_boot_here`, `choose_host_for_vm_no_wlb`; memory_check.ml).
 */
import { ApiFailure } from './api-error.js';
import type { SimContext } from './context.js';
import type { Ref, SimDb } from './db.js';
import type { SimProfile } from './profiles.js';
import { NULL_REF, VM_OPERATIONS, type RecordOf } from './schema.js';
import { nowStamp } from './tasks.js';
import { updateVifsOfVm } from './vif-ops.js';

export type VmOperation = (typeof VM_OPERATIONS)[number];
type PowerState = RecordOf<'VM'>['power_state'];
type Failure = [code: string, params: string[]];

const ALL_STATES: readonly PowerState[] = ['Halted', 'Paused', 'Suspended', 'Running'];

/** The power states an operation may start from, in XAPI's order (it is the order of the error text). */
export function allowedPowerStates(vm: RecordOf<'VM'>, op: VmOperation): readonly PowerState[] {
  switch (op) {
    case 'import':
      return [];
    case 'changing_VCPUs':
    case 'changing_static_range':
    case 'changing_memory_limits':
      return vm.is_control_domain ? ['Halted', 'Running'] : ['Halted'];
    case 'changing_shadow_memory':
    case 'changing_NVRAM':
    case 'make_into_template':
    case 'provision':
    case 'start':
    case 'start_on':
    case 'create_vtpm':
      return ['Halted'];
    case 'unpause':
      return ['Paused'];
    case 'csvm':
    case 'resume':
    case 'resume_on':
      return ['Suspended'];
    case 'awaiting_memory_live':
    case 'call_plugin':
    case 'clean_reboot':
    case 'clean_shutdown':
    case 'changing_memory_live':
    case 'changing_shadow_memory_live':
    case 'changing_VCPUs_live':
    case 'data_source_op':
    case 'pause':
    case 'pool_migrate':
    case 'send_sysrq':
    case 'send_trigger':
    case 'snapshot_with_quiesce':
    case 'suspend':
      return ['Running'];
    case 'changing_dynamic_range':
      return ['Halted', 'Running'];
    case 'clone':
    case 'copy':
      // Suspended too for snapshots (cloning suspended VMs is off by default in xapi.conf).
      return vm.is_a_snapshot ? ['Halted', 'Suspended'] : ['Halted'];
    case 'create_template':
    case 'destroy':
    case 'export':
      return ['Halted', 'Suspended'];
    case 'hard_reboot':
      return ['Paused', 'Running'];
    case 'checkpoint':
    case 'get_boot_record':
    case 'shutdown':
    case 'hard_shutdown':
      return ['Paused', 'Suspended', 'Running'];
    case 'migrate_send':
      return ['Halted', 'Suspended', 'Running'];
    case 'assert_operation_valid':
    case 'metadata_export':
    case 'power_state_reset':
    case 'revert':
    case 'reverting':
    case 'snapshot':
    case 'update_allowed_operations':
    case 'query_services':
      return ALL_STATES;
  }
}

const lower = (s: PowerState): string => s.toLowerCase();

/**
 * VM_BAD_POWER_STATE [vm, expected states joined by ", ", actual], lower case as on the
 * lifecycle path. A plain tuple: allowed_operations asks this of every operation after every
 * change, and an Error's stack capture there made a start cost milliseconds.
 */
function badPowerState(ref: Ref, vm: RecordOf<'VM'>, op: VmOperation): Failure {
  return ['VM_BAD_POWER_STATE', [ref, allowedPowerStates(vm, op).map(lower).join(', '), lower(vm.power_state)]];
}

/** Pairs of (operations in flight, new operation) XAPI lets run together. */
function allowedConcurrently(op: VmOperation, current: VmOperation[]): boolean {
  const group = (ops: readonly VmOperation[]): boolean => ops.includes(op) && current.every((o) => ops.includes(o));
  if (group(['clone', 'copy', 'export']) || group(['snapshot', 'checkpoint']) || group(['get_boot_record'])) return true;
  if (op === 'hard_shutdown') return !current.includes('hard_shutdown');
  if (op === 'hard_reboot') return !current.some((o) => o === 'hard_shutdown' || o === 'hard_reboot');
  const pairs: Array<[VmOperation, VmOperation]> = [
    ['snapshot_with_quiesce', 'snapshot'],
    ['migrate_send', 'metadata_export'],
    ['migrate_send', 'clean_shutdown'],
    ['migrate_send', 'clean_reboot'],
  ];
  return pairs.some(([state, next]) => current.length === 1 && current[0] === state && next === op);
}

const TEMPLATE_OPS: readonly VmOperation[] = [
  'changing_dynamic_range', 'changing_static_range', 'changing_memory_limits', 'changing_shadow_memory',
  'changing_VCPUs', 'changing_NVRAM', 'clone', 'copy', 'export', 'metadata_export', 'provision',
];
const SNAPSHOT_OPS: readonly VmOperation[] = ['revert', 'clone', 'copy', 'export', 'destroy', 'hard_shutdown', 'metadata_export'];
const CONTROL_DOMAIN_OPS: readonly VmOperation[] = [
  'data_source_op', 'changing_memory_live', 'awaiting_memory_live', 'metadata_export', 'changing_dynamic_range',
  'changing_memory_limits', 'changing_static_range', 'start', 'start_on', 'changing_VCPUs', 'destroy',
];
const SUSPEND_LIKE: readonly VmOperation[] = ['suspend', 'checkpoint', 'pool_migrate', 'migrate_send'];

function isTrue(v: string | undefined): boolean {
  return v !== undefined && (v === '1' || v.toLowerCase() === 'true');
}

function isLive(vm: RecordOf<'VM'>): boolean {
  return vm.power_state === 'Running' || vm.power_state === 'Paused';
}

/**
 * The first reason `op` is refused on `ref`, or undefined. `strict` asks for the guest
 * features an operation needs (allowed_operations is computed strictly; so is a call).
 */
export function operationError(db: SimDb, ref: Ref, op: VmOperation, strict: boolean): Failure | undefined {
  return operationChecker(db, ref)(op, strict);
}

/** Reads the VM and what the checks need once, then checks any number of operations. */
function operationChecker(db: SimDb, ref: Ref): (op: VmOperation, strict: boolean) => Failure | undefined {
  const vm = db.get('VM', ref);
  const metrics = db.tryGet('VM_metrics', vm.metrics);
  const guest = db.tryGet('VM_guest_metrics', vm.guest_metrics);
  const vdis = vm.VBDs.map((b) => db.tryGet('VBD', b)).map((b) => (b ? db.tryGet('VDI', b.VDI) : undefined));
  const applianceValid = db.exists('VM_appliance', vm.appliance);
  return (op, strict) => checkOperation(ref, vm, metrics, guest, vdis, applianceValid, op, strict);
}

function checkOperation(
  ref: Ref,
  vm: RecordOf<'VM'>,
  metrics: RecordOf<'VM_metrics'> | undefined,
  guest: RecordOf<'VM_guest_metrics'> | undefined,
  vdis: ReadonlyArray<RecordOf<'VDI'> | undefined>,
  applianceValid: boolean,
  op: VmOperation,
  strict: boolean,
): Failure | undefined {
  const blocked = (vm.blocked_operations as Record<string, string>)[op];
  if (blocked !== undefined) return ['OPERATION_BLOCKED', [ref, blocked]];
  if (!allowedPowerStates(vm, op).includes(vm.power_state)) {
    return badPowerState(ref, vm, op);
  }
  const current = Object.entries(vm.current_operations) as Array<[string, VmOperation]>;
  if (current.length > 0 && !allowedConcurrently(op, current.map(([, o]) => o))) {
    const [opRef, cur] = current.length === 1 ? (current[0] as [string, VmOperation]) : [`{${current.map(([r]) => r).join(',')}}`, `{${current.map(([, o]) => o).join(',')}}`];
    return ['OTHER_OPERATION_IN_PROGRESS', ['VM', ref, cur, opRef]];
  }
  if (vm.is_a_template && !vm.is_a_snapshot) {
    const defaultTemplate = vm.is_default_template || isTrue(vm.other_config.default_template);
    if (!TEMPLATE_OPS.includes(op) && !((op === 'destroy' || op === 'migrate_send') && !defaultTemplate)) return ['VM_IS_TEMPLATE', [ref, op]];
  }
  if (vm.is_a_snapshot && !SNAPSHOT_OPS.includes(op)) return ['VM_IS_SNAPSHOT', [ref, op]];
  if (op === 'provision' && !vm.is_a_template) return ['ONLY_PROVISION_TEMPLATE', []];
  if (op === 'revert' && !vm.is_a_snapshot) return ['ONLY_REVERT_SNAPSHOT', []];
  const nomigrate = metrics ? metrics.nomigrate : isTrue(vm.platform.nomigrate);
  const nestedVirt = metrics ? metrics.nested_virt : isTrue(vm.platform['nested-virt']);
  if (SUSPEND_LIKE.includes(op) && strict && (nomigrate || nestedVirt)) return ['VM_IS_IMMOBILE', [ref]];
  if (op === 'changing_dynamic_range' && nestedVirt && strict) return ['VM_IS_USING_NESTED_VIRT', [ref]];
  if (vm.is_control_domain) {
    const dom0 = vm.domid === 0;
    if (dom0 && (op === 'changing_VCPUs' || op === 'destroy')) return ['OPERATION_NOT_ALLOWED', ['This operation is not allowed on dom0']];
    if (!CONTROL_DOMAIN_OPS.includes(op)) return ['OPERATION_NOT_ALLOWED', ['This operation is not allowed on a control domain']];
  }
  const featureError = guestFeatureError(vm, ref, metrics, guest, op, strict);
  if (featureError) return featureError;
  if (op === 'snapshot_with_quiesce') return ['VM_SNAPSHOT_WITH_QUIESCE_NOT_SUPPORTED', [ref]];
  const onBootReset = vdis.some((v) => v?.sm_config.on_boot === 'reset');
  if ((op === 'checkpoint' || op === 'snapshot' || op === 'suspend') && onBootReset) return ['VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION', []];
  if (op === 'pool_migrate' && vdis.some((v) => v?.sm_config.on_boot === 'reset' && isTrue(v.sm_config.caching))) {
    return ['VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION', []];
  }
  if (SUSPEND_LIKE.includes(op) && vm.attached_PCIs.length > 0) return ['VM_HAS_PCI_ATTACHED', [ref]];
  if (vm.VGPUs.length > 0 && SUSPEND_LIKE.includes(op)) {
    // The simulator has no vGPU types, so none counts as suspendable.
    if (!(op === 'migrate_send' && vm.power_state === 'Halted') && !(op === 'checkpoint' && vm.power_state === 'Suspended')) return ['VM_HAS_VGPU', [ref]];
  }
  if (['suspend', 'snapshot', 'checkpoint', 'migrate_send', 'pool_migrate'].includes(op) && vm.VUSBs.length > 0) return ['VM_HAS_VUSBS', [ref]];
  if (op === 'make_into_template' && applianceValid) return ['VM_IS_PART_OF_AN_APPLIANCE', [ref, vm.appliance]];
  if (op === 'create_vtpm' && vm.VTPMs.length > 0) return ['VTPM_MAX_AMOUNT_REACHED', [String(vm.VTPMs.length)]];
  return undefined;
}

/** Operations that need the guest's co-operation (xapi_vm_lifecycle.ml `check_op_for_feature`). */
function guestFeatureError(
  vm: RecordOf<'VM'>,
  ref: Ref,
  metrics: RecordOf<'VM_metrics'> | undefined,
  guest: RecordOf<'VM_guest_metrics'> | undefined,
  op: VmOperation,
  strict: boolean,
): Failure | undefined {
  const live = isLive(vm);
  const bootedPv = metrics !== undefined && ['pv', 'pv_in_pvh', 'pvh'].includes(metrics.current_domain_type);
  const pvDrivers = guest !== undefined && (guest.PV_drivers_detected || guest.PV_drivers_version.major !== undefined);
  const implicit = !live || bootedPv || pvDrivers;
  const lacks = (feature: string): boolean => guest?.other[feature] !== '1';
  if (SUSPEND_LIKE.includes(op) && live) {
    const reason = guest?.other['data-cant-suspend-reason'];
    if (reason !== undefined) return ['VM_NON_SUSPENDABLE', [ref, reason]];
    if (!implicit && strict && lacks('feature-suspend')) return ['VM_LACKS_FEATURE', [ref]];
    return undefined;
  }
  if (implicit) return undefined;
  if (op === 'clean_shutdown' && strict && lacks('feature-shutdown') && lacks('feature-poweroff')) return ['VM_LACKS_FEATURE', [ref]];
  if (op === 'clean_reboot' && strict && lacks('feature-shutdown') && lacks('feature-reboot')) return ['VM_LACKS_FEATURE', [ref]];
  if (op === 'changing_VCPUs_live' && lacks('feature-vcpu-hotplug')) return ['VM_LACKS_FEATURE', [ref]];
  return undefined;
}

export function assertOperationValid(db: SimDb, ref: Ref, op: VmOperation, strict = true): void {
  const err = operationError(db, ref, op, strict);
  if (err) throw new ApiFailure(err[0], err[1]);
}

/** Operations XAPI never lists in allowed_operations (xapi_vm_lifecycle.ml `ignored_ops`). */
const IGNORED_OPS: readonly VmOperation[] = [
  'create_template', 'power_state_reset', 'csvm', 'get_boot_record', 'send_sysrq', 'send_trigger', 'query_services',
  'shutdown', 'call_plugin', 'changing_memory_live', 'awaiting_memory_live', 'changing_memory_limits',
  'changing_shadow_memory_live', 'changing_VCPUs', 'assert_operation_valid', 'data_source_op',
  'update_allowed_operations', 'import', 'reverting',
];

/** Recomputes VM.allowed_operations (and its appliance's), as XAPI does after every change. */
export function updateAllowedOperations(db: SimDb, ref: Ref): void {
  const allowed: VmOperation[] = [];
  const check = operationChecker(db, ref);
  // XAPI folds the operation list onto the front of its result: the list comes out reversed.
  for (const op of VM_OPERATIONS) if (!IGNORED_OPS.includes(op) && !check(op, true)) allowed.unshift(op);
  db.set('VM', ref, 'allowed_operations', allowed);
  const appliance = db.getField('VM', ref, 'appliance');
  if (db.exists('VM_appliance', appliance)) updateApplianceAllowedOperations(db, appliance);
}

// ---------------------------------------------------------------------------------------
// VM_appliance (xapi_vm_appliance_lifecycle.ml)

export type ApplianceOperation = 'start' | 'clean_shutdown' | 'hard_shutdown' | 'shutdown';

export function applianceOperationError(db: SimDb, ref: Ref, op: ApplianceOperation): Failure | undefined {
  const app = db.get('VM_appliance', ref);
  const current = Object.entries(app.current_operations);
  if (current.length > 0) {
    const [opRef, cur] = current[0] as [string, string];
    return ['OTHER_OPERATION_IN_PROGRESS', ['VM_appliance', ref, cur, opRef]];
  }
  if (app.VMs.length === 0) return ['OPERATION_NOT_ALLOWED', ['Appliance has no VMs.']];
  const states = app.VMs.map((vm) => db.getField('VM', vm, 'power_state'));
  const [ok, reason]: [(s: PowerState) => boolean, string] =
    op === 'start'
      ? [(s) => s === 'Halted', 'There are no halted VMs in this appliance.']
      : op === 'clean_shutdown'
        ? [(s) => s === 'Running', 'There are no running VMs in this appliance.']
        : [(s) => s !== 'Halted', 'All VMs in this appliance are halted.'];
  return states.some(ok) ? undefined : ['OPERATION_NOT_ALLOWED', [reason]];
}

export function updateApplianceAllowedOperations(db: SimDb, ref: Ref): void {
  const ops: ApplianceOperation[] = ['start', 'clean_shutdown', 'hard_shutdown', 'shutdown'];
  db.set('VM_appliance', ref, 'allowed_operations', ops.filter((op) => !applianceOperationError(db, ref, op)));
}

/** True when the profile's API version is at least major.minor. */
export function apiAtLeast(profile: SimProfile, major: number, minor: number): boolean {
  return profile.apiMajor > major || (profile.apiMajor === major && profile.apiMinor >= minor);
}

// ---------------------------------------------------------------------------------------
// Licence features (xen-api ocaml/xapi-types/features.ml, pool_features.ml): a pool whose
// restrictions map sets the feature's flag to "true" refuses it; a missing flag allows it.

export function assertFeature(db: SimDb, feature: 'VM_start' | 'VM_appliance_start'): void {
  const flag = feature === 'VM_start' ? 'restrict_vm_start' : 'restrict_vm_appliance_start';
  const pool = db.refs('pool')[0];
  if (pool !== undefined && db.getField('pool', pool, 'restrictions')[flag] === 'true') throw new ApiFailure('LICENCE_RESTRICTION', [feature]);
}

// ---------------------------------------------------------------------------------------
// Operations in flight

/**
 * Runs `fn` with `op` in the VM's current_operations under `opRef` (the task), after checking
 * the operation is valid; allowed_operations are recomputed on entry and exit.
 */
export async function withVmOperation<T>(db: SimDb, ref: Ref, op: VmOperation, opRef: Ref, fn: () => Promise<T>): Promise<T> {
  assertOperationValid(db, ref, op, true);
  db.mapAdd('VM', ref, 'current_operations', opRef, op);
  updateAllowedOperations(db, ref);
  try {
    return await fn();
  } finally {
    if (db.exists('VM', ref)) {
      db.mapRemove('VM', ref, 'current_operations', opRef);
      updateAllowedOperations(db, ref);
      // Whether a VIF can be plugged follows the VM's power state (message_forwarding.ml
      // update_vif_operations after each power operation).
      updateVifsOfVm(db, ref);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Host memory model (memory_check.ml, Dynamic_min policy)
//
// A host's guest memory is host_metrics.memory_total less host.memory_overhead; every VM
// resident on it or scheduled to be takes its memory_dynamic_min plus its memory_overhead.
// XAPI adds a shadow-memory and overhead estimate from the VM's static_max and vCPUs; here
// the VM's memory_overhead field stands for it.

/** Bytes a VM needs to start: dynamic_min (static_max for PV-in-PVH) plus its overhead. */
export function vmStartMemory(vm: RecordOf<'VM'>): number {
  const base = vm.domain_type === 'pv_in_pvh' ? vm.memory_static_max : vm.memory_dynamic_min;
  return base + vm.memory_overhead;
}

/** Free guest memory on a host from the database (not host_metrics.memory_free, as XAPI). */
export function hostFreeMemory(db: SimDb, host: Ref, ignoreScheduled?: Ref): number {
  const metrics = db.tryGet('host_metrics', db.getField('host', host, 'metrics'));
  const total = (metrics?.memory_total ?? 0) - db.getField('host', host, 'memory_overhead');
  return Math.max(0, total - hostMemoryInUse(db, host, ignoreScheduled));
}

/** Memory the VMs resident on (or scheduled to) a host take, by the Dynamic_min policy. */
export function hostMemoryInUse(db: SimDb, host: Ref, ignoreScheduled?: Ref): number {
  return db.reduce('VM', 0, (sum, vm, ref) =>
    vm.resident_on === host || (vm.scheduled_to_be_resident_on === host && ref !== ignoreScheduled) ? sum + vm.memory_dynamic_min + vm.memory_overhead : sum,
  );
}

/** Keeps host_metrics.memory_free in step with the model (XAPI's is reported by the host). */
export function refreshHostMemoryFree(db: SimDb, host: Ref): void {
  const metrics = db.getField('host', host, 'metrics');
  if (db.exists('host_metrics', metrics)) db.update('host_metrics', metrics, { memory_free: hostFreeMemory(db, host), last_updated: nowStamp() });
}

// ---------------------------------------------------------------------------------------
// Placement

function hostLive(db: SimDb, host: Ref): boolean {
  return db.tryGet('host_metrics', db.getField('host', host, 'metrics'))?.live === true;
}

/** The SRs a VM's disks (and its suspend image, when suspended) live on. */
function requiredSrs(db: SimDb, vm: RecordOf<'VM'>): Ref[] {
  const vdis = vm.VBDs.map((b) => db.tryGet('VBD', b)).filter((b) => b !== undefined && !b.empty).map((b) => (b as RecordOf<'VBD'>).VDI);
  if (vm.power_state === 'Suspended' && vm.suspend_VDI !== NULL_REF) vdis.push(vm.suspend_VDI);
  return vdis.map((v) => db.tryGet('VDI', v)?.SR).filter((s): s is Ref => s !== undefined);
}

/** xapi_network_attach_helpers.ml: a network with PIFs must have one on the host; one without is pinned by running VMs. */
export function networkAvailable(db: SimDb, net: Ref, host: Ref): boolean {
  const rec = db.tryGet('network', net);
  if (!rec) return false;
  if (rec.PIFs.length > 0) return rec.PIFs.some((p) => db.tryGet('PIF', p)?.host === host);
  if (rec.other_config.assume_network_is_shared === 'true' || !rec.managed) return true;
  const hosts = rec.VIFs.map((v) => db.tryGet('VIF', v)?.VM)
    .map((vm) => (vm ? db.tryGet('VM', vm) : undefined))
    .filter((vm) => vm?.power_state === 'Running')
    .map((vm) => (vm as RecordOf<'VM'>).resident_on);
  return hosts.length === 0 || hosts.includes(host);
}

/**
 * VM.assert_can_boot_here: the first reason `vm` cannot boot on `host`, in XAPI's order
 * (live, control-domain affinity, enabled, SRs, networks, memory, physical CPUs).
 */
export function assertCanBootHere(db: SimDb, ref: Ref, host: Ref, opts: { memory: boolean } = { memory: true }): void {
  const vm = db.get('VM', ref);
  const hostRec = db.get('host', host);
  if (!hostLive(db, host)) throw new ApiFailure('HOST_NOT_LIVE', []);
  if (vm.is_control_domain && vm.affinity !== NULL_REF && vm.affinity !== host) {
    throw new ApiFailure('OPERATION_NOT_ALLOWED', ['Cannot boot a control domain on a host different from its affinity']);
  }
  const localLiveMigration = vm.power_state === 'Running' && vm.resident_on === host;
  if (!vm.is_control_domain && !localLiveMigration && !hostRec.enabled) throw new ApiFailure('HOST_DISABLED', [host]);
  const seen = new Set(hostRec.PBDs.map((p) => db.tryGet('PBD', p)).filter((p) => p?.currently_attached).map((p) => (p as RecordOf<'PBD'>).SR));
  const missingSr = requiredSrs(db, vm).find((sr) => !seen.has(sr));
  if (missingSr !== undefined) throw new ApiFailure('VM_REQUIRES_SR', [ref, missingSr]);
  const nets = vm.VIFs.map((v) => db.tryGet('VIF', v)?.network).filter((n): n is Ref => n !== undefined);
  const missingNet = nets.find((n) => !networkAvailable(db, n, host));
  if (missingNet !== undefined) throw new ApiFailure('VM_REQUIRES_NETWORK', [ref, missingNet]);
  if (opts.memory) {
    const needed = vmStartMemory(vm);
    const free = hostFreeMemory(db, host, ref);
    if (free < needed) throw new ApiFailure('HOST_NOT_ENOUGH_FREE_MEMORY', [String(needed), String(free)]);
  }
  const pcpus = Number(hostRec.cpu_info.cpu_count ?? '0');
  if (pcpus > 0 && vm.VCPUs_max > pcpus && !isTrue(vm.platform['vcpu-unrestricted'])) {
    throw new ApiFailure('HOST_NOT_ENOUGH_PCPUS', [String(vm.VCPUs_max), String(pcpus)]);
  }
}

function canBoot(db: SimDb, vm: Ref, host: Ref, memory: boolean): boolean {
  const rec = db.get('host', host);
  try {
    if (!db.get('VM', vm).is_control_domain && !rec.enabled) return false;
    assertCanBootHere(db, vm, host, { memory });
    return true;
  } catch (err) {
    if (err instanceof ApiFailure) return false;
    throw err;
  }
}

/**
 * A host for VM.start / VM.resume: one that passes every check (the VM's affinity first),
 * else one that passes all but the memory check (XAPI retries so, and the start then fails
 * when the domain is built), else NO_HOSTS_AVAILABLE [] — the per-host reasons are lost.
 */
export function chooseHost(db: SimDb, vm: Ref): Ref {
  const affinity = db.getField('VM', vm, 'affinity');
  const hosts = db.refs('host');
  const ordered = hosts.includes(affinity) ? [affinity, ...hosts.filter((h) => h !== affinity)] : hosts;
  const host = ordered.find((h) => canBoot(db, vm, h, true)) ?? ordered.find((h) => canBoot(db, vm, h, false));
  if (host === undefined) throw new ApiFailure('NO_HOSTS_AVAILABLE', []);
  return host;
}

// ---------------------------------------------------------------------------------------
// Domain build and tear-down

function nextDomid(db: SimDb, host: Ref): number {
  return db.reduce('VM', 0, (max, vm) => (vm.resident_on === host ? Math.max(max, vm.domid) : max)) + 1;
}

/** Guest metrics as a booted guest's agent reports them (the simulated guests all run one). */
function reportGuestAgent(db: SimDb, ref: Ref): void {
  const vm = db.get('VM', ref);
  if (db.exists('VM_guest_metrics', vm.guest_metrics)) return;
  const gm = db.create('VM_guest_metrics', {
    PV_drivers_version: { major: '9', minor: '4', micro: '0', build: '146' },
    PV_drivers_up_to_date: true,
    PV_drivers_detected: true,
    other: { 'feature-shutdown': '1', 'feature-suspend': '1', 'feature-poweroff': '1', 'feature-reboot': '1' },
    live: true,
    last_updated: nowStamp(),
    can_use_hotplug_vbd: 'yes',
    can_use_hotplug_vif: 'yes',
  });
  db.set('VM', ref, 'guest_metrics', gm);
}

function dropGuestMetrics(db: SimDb, ref: Ref): void {
  const gm = db.getField('VM', ref, 'guest_metrics');
  if (db.exists('VM_guest_metrics', gm)) db.destroy('VM_guest_metrics', gm);
  db.set('VM', ref, 'guest_metrics', NULL_REF);
}

function ensureMetrics(db: SimDb, ref: Ref): Ref {
  const m = db.getField('VM', ref, 'metrics');
  if (db.exists('VM_metrics', m)) return m;
  const created = db.create('VM_metrics', {});
  db.set('VM', ref, 'metrics', created);
  return created;
}

/**
 * Builds the domain on `host` (Running, or Paused when `paused`). Squeezed refuses a domain
 * that does not fit: HOST_NOT_ENOUGH_FREE_MEMORY [needed KiB, free KiB]
 * (ocaml/squeezed/lib/squeeze.ml, passed on by xapi_xenops.ml).
 */
export function buildDomain(sim: SimContext, ref: Ref, host: Ref, paused: boolean, opts: { fresh: boolean }): void {
  const db = sim.db;
  let vm = db.get('VM', ref);
  if (vm.domain_type === 'unspecified') db.set('VM', ref, 'domain_type', vm.HVM_boot_policy === '' ? 'pv' : 'hvm');
  vm = db.get('VM', ref);
  const needed = vmStartMemory(vm);
  const free = hostFreeMemory(db, host, ref);
  if (free < needed) {
    throw new ApiFailure('HOST_NOT_ENOUGH_FREE_MEMORY', [String(Math.ceil(needed / 1024)), String(Math.floor(free / 1024))]);
  }
  // A start clears the guest metrics a previous boot (or a clone) left; the agent reports anew.
  if (opts.fresh) dropGuestMetrics(db, ref);
  db.update('VM', ref, {
    power_state: paused ? 'Paused' : 'Running',
    resident_on: host,
    scheduled_to_be_resident_on: NULL_REF,
    domid: nextDomid(db, host),
    memory_target: vm.memory_dynamic_max,
    ...(vm.ha_restart_priority === 'restart' && { ha_always_run: true }),
  });
  const hvm = db.getField('VM', ref, 'domain_type') !== 'pv';
  const metrics = ensureMetrics(db, ref);
  const now = nowStamp();
  db.update('VM_metrics', metrics, {
    memory_actual: vm.memory_dynamic_max,
    VCPUs_number: vm.VCPUs_at_startup,
    VCPUs_utilisation: Object.fromEntries(Array.from({ length: vm.VCPUs_at_startup }, (_, i) => [String(i), 0])),
    VCPUs_CPU: Object.fromEntries(Array.from({ length: vm.VCPUs_at_startup }, (_, i) => [String(i), i])),
    VCPUs_params: { ...vm.VCPUs_params },
    ...(opts.fresh && { start_time: now }),
    last_updated: now,
    hvm,
    nomigrate: isTrue(vm.platform.nomigrate),
    nested_virt: isTrue(vm.platform['nested-virt']),
    current_domain_type: db.getField('VM', ref, 'domain_type'),
    ...(db.getField('VM_metrics', metrics, 'install_time') === '19700101T00:00:00Z' && { install_time: now }),
  });
  for (const vbd of vm.VBDs) if (db.exists('VBD', vbd)) db.set('VBD', vbd, 'currently_attached', true);
  for (const vif of vm.VIFs) if (db.exists('VIF', vif)) db.set('VIF', vif, 'currently_attached', true);
  if (!paused) reportGuestAgent(db, ref);
  refreshHostMemoryFree(db, host);
}

/** The state XAPI leaves when a domain is gone (force_state_reset to Halted or Suspended). */
export function domainGone(sim: SimContext, ref: Ref, state: 'Halted' | 'Suspended'): void {
  const db = sim.db;
  const vm = db.get('VM', ref);
  db.update('VM', ref, {
    power_state: state,
    resident_on: NULL_REF,
    scheduled_to_be_resident_on: NULL_REF,
    domid: -1,
    ...(state === 'Halted' && { requires_reboot: false }),
  });
  if (state === 'Halted') {
    for (const vbd of vm.VBDs) if (db.exists('VBD', vbd)) db.set('VBD', vbd, 'currently_attached', false);
    for (const vif of vm.VIFs) if (db.exists('VIF', vif)) db.set('VIF', vif, 'currently_attached', false);
  }
  if (db.exists('VM_metrics', vm.metrics)) {
    db.update('VM_metrics', vm.metrics, { memory_actual: 0, VCPUs_number: 0, VCPUs_utilisation: {}, VCPUs_CPU: {}, last_updated: nowStamp() });
  }
  const gm = vm.guest_metrics;
  if (db.exists('VM_guest_metrics', gm)) db.set('VM_guest_metrics', gm, 'live', false);
  if (db.exists('host', vm.resident_on)) refreshHostMemoryFree(db, vm.resident_on);
}

/**
 * A reboot as xenopsd does it: the domain is destroyed and built again on the same host,
 * so it gets a new domid and start time and comes back Running (a paused VM too); memory
 * stays reserved throughout, as the settings cannot change across a reboot.
 */
export function restartDomain(sim: SimContext, ref: Ref): void {
  const db = sim.db;
  const vm = db.get('VM', ref);
  db.update('VM', ref, { power_state: 'Running', domid: nextDomid(db, vm.resident_on) });
  const metrics = ensureMetrics(db, ref);
  const now = nowStamp();
  db.update('VM_metrics', metrics, { start_time: now, last_updated: now });
  reportGuestAgent(db, ref);
}

export function setPaused(sim: SimContext, ref: Ref, paused: boolean): void {
  const db = sim.db;
  db.set('VM', ref, 'power_state', paused ? 'Paused' : 'Running');
  const m = db.getField('VM', ref, 'metrics');
  if (db.exists('VM_metrics', m)) db.set('VM_metrics', m, 'last_updated', nowStamp());
  if (!paused) reportGuestAgent(db, ref);
}
