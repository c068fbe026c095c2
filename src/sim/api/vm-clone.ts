/**
 * VM.clone, VM.copy, VM.snapshot and VM.create as XAPI runs them
 * (xen-api ocaml/xapi/message_forwarding.ml VM.clone/copy/snapshot, xapi_vm.ml clone, copy,
 * snapshot and create, xapi_vm_clone.ml `clone` and `copy_vm_record`,
 * xapi_vbd_helpers.ml `copy`, xapi_vif_helpers.ml `copy` and `gen_mac`).
 *
 * The operation runs inside `withVmOperation`, so the source shows it in
 * current_operations (and VM_BAD_POWER_STATE etc. come from XAPI's checks: a running VM can
 * be snapshotted, not cloned or copied). Each disk is snapshotted, cloned or copied through
 * the VDI operations of vdi-sr-ops.ts; a failure destroys the disks made so far.
 */
import { randomUUID } from 'node:crypto';
import { ApiFailure } from '../api-error.js';
import type { XmlRpcValue } from '../codec.js';
import type { SimContext } from '../context.js';
import type { Ref, SimDb } from '../db.js';
import type { SimProfile } from '../profiles.js';
import { structToFields } from '../record-wire.js';
import type { CallContext, MethodRegistry, ParamSpec } from '../rpc-dispatch.js';
import { NULL_REF, SCHEMA, columnName, fieldNames, type FieldSpec, type RecordOf } from '../schema.js';
import { nowStamp } from '../tasks.js';
import { freshGenerationId, newRef } from '../uuid.js';
import { macFromSeed } from '../vif-ops.js';
import { apiAtLeast, domainGone, updateAllowedOperations, withVmOperation } from '../vm-power.js';
import { destroyVdi } from './storage.js';
import { copyVdi, snapshotOrCloneVdi } from './vdi-sr-ops.js';

type DiskOp = 'clone' | 'copy' | 'snapshot';

// ---------------------------------------------------------------------------------------
// Helpers

/** SExpr string quoting (xen-api ocaml/libs/sexpr/sExpr.ml): backslash and quote escaped. */
function sq(s: string): string {
  return `'${s.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

/** A database value in its stored string form: sets and maps are S-expressions themselves. */
function storedForm(spec: FieldSpec, v: unknown): string {
  const t = spec.type;
  if (t.kind === 'set') return `(${(v as unknown[]).map((x) => sq(String(x))).join(' ')})`;
  if (t.kind === 'map') return `(${Object.entries(v as Record<string, unknown>).map(([k, x]) => `(${sq(k)} ${sq(String(x))})`).join(' ')})`;
  return String(v);
}

/**
 * VM.snapshot_metadata: the source VM's database row as an S-expression of (column value)
 * pairs (helpers.ml vm_to_string), here over the simulator's columns.
 */
function vmToString(rec: RecordOf<'VM'>): string {
  const row = rec as unknown as Record<string, unknown>;
  const pairs = fieldNames('VM').map((f) => `(${sq(columnName('VM', f))} ${sq(storedForm((SCHEMA.VM as Record<string, FieldSpec>)[f] as FieldSpec, row[f]))})`);
  return `(${pairs.join(' ')})`;
}

/** The pool message XAPI raises (message_forwarding.ml create_vm_message; api_messages.ml priority 5). */
function vmMessage(db: SimDb, vm: Ref, name: string, body: string): void {
  db.create('message', { name, priority: 5, cls: 'VM', obj_uuid: db.getField('VM', vm, 'uuid'), timestamp: nowStamp(), body });
}

// ---------------------------------------------------------------------------------------
// The new VM record (xapi_vm_clone.ml copy_vm_record)

function copyVmRecord(db: SimDb, vm: Ref, op: DiskOp, newName: string, opKey: Ref): Ref {
  const all = db.get('VM', vm);
  const isSnapshot = op === 'snapshot';
  const otherConfig = { ...all.other_config };
  // A clone or copy is a new machine: a new MAC seed; a snapshot keeps the original's.
  if (!isSnapshot) otherConfig.mac_seed = randomUUID();
  delete otherConfig.default_template;
  delete otherConfig.xensource_internal;
  if (all.is_a_template && otherConfig.base_template_name === undefined) otherConfig.base_template_name = all.name_label;

  // Copies of the source's metrics (fresh ones when it has none) and guest metrics (xapi_vm_helpers.ml).
  const m = db.tryGet('VM_metrics', all.metrics);
  const metrics = db.create('VM_metrics', m ? { ...m, uuid: undefined } : {});
  const gm = db.tryGet('VM_guest_metrics', all.guest_metrics);
  const guestMetrics = gm ? db.create('VM_guest_metrics', { ...gm, uuid: undefined }) : NULL_REF;

  const ref = db.create('VM', {
    power_state: 'Halted',
    name_label: newName,
    current_operations: { [opKey]: op },
    name_description: all.name_description,
    user_version: all.user_version,
    is_a_template: isSnapshot || all.is_a_template,
    is_default_template: false,
    is_a_snapshot: isSnapshot,
    snapshot_of: isSnapshot ? vm : NULL_REF,
    snapshot_time: isSnapshot ? nowStamp() : undefined,
    // xapi_vm_clone.ml snapshot_info: Record_util's capitalised power state.
    snapshot_info: isSnapshot ? { 'disk-snapshot-type': 'crash_consistent', 'power-state-at-snapshot': all.power_state } : {},
    snapshot_metadata: isSnapshot ? vmToString(all) : '',
    parent: isSnapshot ? all.parent : NULL_REF,
    affinity: all.affinity,
    memory_overhead: all.memory_overhead,
    memory_target: all.memory_target,
    memory_static_max: all.memory_static_max,
    memory_dynamic_max: all.memory_dynamic_max,
    memory_dynamic_min: all.memory_dynamic_min,
    memory_static_min: all.memory_static_min,
    VCPUs_max: all.VCPUs_max,
    VCPUs_at_startup: all.VCPUs_at_startup,
    VCPUs_params: all.VCPUs_params,
    actions_after_softreboot: all.actions_after_softreboot,
    actions_after_shutdown: all.actions_after_shutdown,
    actions_after_reboot: all.actions_after_reboot,
    actions_after_crash: all.actions_after_crash,
    HVM_boot_policy: all.HVM_boot_policy,
    HVM_boot_params: all.HVM_boot_params,
    HVM_shadow_multiplier: all.HVM_shadow_multiplier,
    platform: all.platform,
    PV_kernel: all.PV_kernel,
    PV_ramdisk: all.PV_ramdisk,
    PV_args: all.PV_args,
    PV_bootloader: all.PV_bootloader,
    PV_bootloader_args: all.PV_bootloader_args,
    PV_legacy_args: all.PV_legacy_args,
    PCI_bus: all.PCI_bus,
    other_config: otherConfig,
    domid: -1,
    last_boot_CPU_flags: all.last_boot_CPU_flags,
    is_control_domain: all.is_control_domain,
    metrics,
    guest_metrics: guestMetrics,
    last_booted_record: all.last_booted_record,
    recommendations: all.recommendations,
    xenstore_data: all.xenstore_data,
    ha_restart_priority: all.ha_restart_priority,
    ha_always_run: false,
    tags: all.tags,
    bios_strings: all.bios_strings,
    generation_id: freshGenerationId(all.generation_id),
    hardware_platform_version: all.hardware_platform_version,
    has_vendor_device: all.has_vendor_device,
    reference_label: all.reference_label,
    domain_type: all.domain_type,
    NVRAM: all.NVRAM,
  });
  // The snapshot becomes the source's parent once it exists (so the database keeps `children`).
  if (isSnapshot) db.set('VM', vm, 'parent', ref);
  return ref;
}

// ---------------------------------------------------------------------------------------
// xapi_vm_clone.ml clone

interface NewDisk {
  vbd: Ref;
  vdi: Ref;
  /** Disks this operation made (CDs are shared, not copied): destroyed on failure. */
  made: boolean;
}

async function cloneDisks(call: CallContext, vbds: Ref[], op: DiskOp, sr: Ref | undefined, key: Ref): Promise<NewDisk[]> {
  const { sim } = call;
  const db = sim.db;
  const out: NewDisk[] = [];
  try {
    for (const vbd of vbds) {
      if (call.signal.aborted) throw new ApiFailure('TASK_CANCELLED', [call.task ?? '']);
      const rec = db.get('VBD', vbd);
      if (rec.empty) out.push({ vbd, vdi: NULL_REF, made: false });
      else if (rec.type === 'CD') out.push({ vbd, vdi: rec.VDI, made: false });
      else {
        const vdi =
          op === 'copy'
            ? await copyVdi(sim, rec.VDI, sr ?? db.getField('VDI', rec.VDI, 'SR'), NULL_REF, NULL_REF, key, call.signal)
            : await snapshotOrCloneVdi(sim, rec.VDI, op, key);
        out.push({ vbd, vdi, made: true });
      }
    }
    return out;
  } catch (err) {
    await deleteDisks(sim, out);
    throw err;
  }
}

async function deleteDisks(sim: SimContext, disks: NewDisk[]): Promise<void> {
  for (const d of disks) if (d.made && sim.db.exists('VDI', d.vdi)) await destroyVdi(sim, d.vdi).catch(() => undefined);
}

function copyVbd(db: SimDb, vbd: Ref, vm: Ref, vdi: Ref): void {
  const all = db.get('VBD', vbd);
  const otherConfig = { ...all.other_config };
  // The new VM owns its new disks, so they go with it (xapi_vm_clone.ml).
  if (all.type === 'Disk' && otherConfig.owner === undefined) otherConfig.owner = '';
  db.create('VBD', {
    VM: vm,
    VDI: vdi,
    empty: all.empty || vdi === NULL_REF,
    userdevice: all.userdevice,
    device: all.device,
    bootable: all.bootable,
    mode: all.mode,
    currently_attached: all.currently_attached,
    type: all.type,
    unpluggable: all.unpluggable,
    other_config: otherConfig,
    qos_algorithm_type: all.qos_algorithm_type,
    qos_algorithm_params: all.qos_algorithm_params,
  });
}

function copyVif(db: SimDb, vif: Ref, vm: Ref, preserveMac: boolean): void {
  const all = db.get('VIF', vif);
  const seed = db.getField('VM', vm, 'other_config').mac_seed;
  const generate = !preserveMac && seed !== undefined && /^\d+$/.test(all.device);
  db.create('VIF', {
    device: all.device,
    network: all.network,
    VM: vm,
    MAC: generate ? macFromSeed(seed, Number(all.device)) : all.MAC,
    MAC_autogenerated: generate,
    MTU: all.MTU,
    currently_attached: all.currently_attached,
    other_config: all.other_config,
    qos_algorithm_type: all.qos_algorithm_type,
    qos_algorithm_params: all.qos_algorithm_params,
    locking_mode: all.locking_mode,
    ipv4_allowed: all.ipv4_allowed,
    ipv6_allowed: all.ipv6_allowed,
    ipv4_configuration_mode: all.ipv4_configuration_mode,
    ipv4_addresses: all.ipv4_addresses,
    ipv4_gateway: all.ipv4_gateway,
    ipv6_configuration_mode: all.ipv6_configuration_mode,
    ipv6_addresses: all.ipv6_addresses,
    ipv6_gateway: all.ipv6_gateway,
  });
}

/**
 * Makes the new VM. Every new VM is Halted: a snapshot always is, and clone/copy accept only
 * halted VMs and (suspended) snapshots, whose copies XAPI hard-shuts down at once, dropping
 * the suspend image it had cloned (xapi_vm.ml clone/copy) — so none is cloned here.
 */
async function cloneVm(call: CallContext, vm: Ref, op: DiskOp, newName: string, opts: { sr?: Ref; ignoreVdis?: Ref[] } = {}): Promise<Ref> {
  const { sim } = call;
  const db = sim.db;
  const key = call.task ?? newRef();
  return withVmOperation(db, vm, op, key, async () => {
    let sr: Ref | undefined;
    if (op === 'copy' && opts.sr !== undefined && db.exists('SR', opts.sr)) {
      // xapi_vm.ml copy: an invalid SR means "each disk's own"; an ISO SR is refused.
      if (db.getField('SR', opts.sr, 'content_type') === 'iso') throw new ApiFailure('OPERATION_NOT_ALLOWED', ["Cannot copy a VM's disks to an ISO SR"]);
      sr = opts.sr;
    }
    const source = db.get('VM', vm);
    const ignore = new Set(opts.ignoreVdis ?? []);
    const vbds = source.VBDs.filter((b) => op !== 'snapshot' || !ignore.has(db.tryGet('VBD', b)?.VDI ?? ''));
    const disks = await cloneDisks(call, vbds, op, sr, key);
    let ref: Ref | undefined;
    try {
      ref = copyVmRecord(db, vm, op, newName, key);
      for (const d of disks) copyVbd(db, d.vbd, ref, d.vdi);
      for (const vif of source.VIFs) if (db.exists('VIF', vif)) copyVif(db, vif, ref, op === 'snapshot');
      db.mapRemove('VM', ref, 'current_operations', key);
      // force_state_reset: devices detached, no domain.
      domainGone(sim, ref, 'Halted');
      updateAllowedOperations(db, ref);
      return ref;
    } catch (err) {
      if (ref !== undefined && db.exists('VM', ref)) db.destroy('VM', ref);
      await deleteDisks(sim, disks);
      throw err;
    }
  });
}

// ---------------------------------------------------------------------------------------
// VM.create (xapi_vm.ml create)

/**
 * The constructor's fields in datamodel order; the starred ones of the datamodel's
 * VM.create description are required (XAPI's unmarshaller then fails with
 * "Field <name> not present in rpc").
 */
const VM_CREATE_FIELDS = [
  'name_label', 'name_description', 'power_state', 'user_version*', 'is_a_template*', 'suspend_VDI', 'affinity*',
  'memory_target', 'memory_static_max*', 'memory_dynamic_max*', 'memory_dynamic_min*', 'memory_static_min*',
  'VCPUs_params*', 'VCPUs_max*', 'VCPUs_at_startup*', 'actions_after_softreboot', 'actions_after_shutdown*',
  'actions_after_reboot*', 'actions_after_crash*', 'PV_bootloader*', 'PV_kernel*', 'PV_ramdisk*', 'PV_args*',
  'PV_bootloader_args*', 'PV_legacy_args*', 'HVM_boot_policy*', 'HVM_boot_params*', 'HVM_shadow_multiplier',
  'platform*', 'PCI_bus*', 'other_config*', 'last_boot_CPU_flags', 'last_booted_record', 'recommendations*',
  'xenstore_data', 'ha_always_run', 'ha_restart_priority', 'tags', 'blocked_operations', 'protection_policy',
  'is_snapshot_from_vmpp', 'snapshot_schedule', 'is_vmss_snapshot', 'appliance', 'start_delay', 'shutdown_delay',
  'order', 'suspend_SR', 'version', 'generation_id', 'hardware_platform_version', 'has_vendor_device',
  'reference_label', 'domain_type', 'NVRAM',
];
const VM_CREATE_REQUIRED = VM_CREATE_FIELDS.filter((f) => f.endsWith('*')).map((f) => f.slice(0, -1));
const VM_CREATE_ONLY = VM_CREATE_FIELDS.map((f) => f.replace(/\*$/, ''));
/** Taken and dropped: XAPI's create ignores them. */
const VM_CREATE_IGNORED = ['blocked_operations', 'protection_policy', 'is_snapshot_from_vmpp', 'snapshot_schedule', 'is_vmss_snapshot'];

/** xapi 1.257.0 made VM.create honour a suspended power_state (datamodel VM.create lifecycle). */
function createHonoursSuspended(profile: SimProfile): boolean {
  return profile.xapiMajor > 1 || (profile.xapiMajor === 1 && profile.xapiMinor >= 257);
}

export function createVm(sim: SimContext, record: XmlRpcValue): Ref {
  const db = sim.db;
  const f = structToFields('VM', record, 'args', { required: VM_CREATE_REQUIRED, only: VM_CREATE_ONLY }) as Partial<RecordOf<'VM'>>;
  for (const k of VM_CREATE_IGNORED) delete (f as Record<string, unknown>)[k];
  const otherConfig = { ...(f.other_config ?? {}) };
  if (otherConfig.mac_seed === undefined) otherConfig.mac_seed = randomUUID();
  const suspended = createHonoursSuspended(sim.profile) && f.power_state === 'Suspended';
  const vmRef = newRef();
  if (suspended && ((f.last_boot_CPU_flags === undefined || Object.keys(f.last_boot_CPU_flags).length === 0) || !f.last_booted_record || !f.suspend_VDI || f.suspend_VDI === NULL_REF)) {
    throw new ApiFailure('VM_BAD_POWER_STATE', [vmRef, 'halted', 'suspended']);
  }
  const domainType = f.domain_type ?? 'unspecified';
  const metrics = db.create('VM_metrics', { VCPUs_utilisation: { 0: 0 }, current_domain_type: suspended ? domainType : 'unspecified' });
  db.create(
    'VM',
    {
      ...f,
      other_config: otherConfig,
      power_state: suspended ? 'Suspended' : 'Halted',
      suspend_VDI: suspended ? f.suspend_VDI : NULL_REF,
      last_booted_record: suspended ? f.last_booted_record : '',
      last_boot_CPU_flags: suspended ? f.last_boot_CPU_flags : {},
      domain_type: domainType === 'unspecified' ? (f.HVM_boot_policy ? 'hvm' : 'pv') : domainType,
      metrics,
      memory_overhead: 0,
    },
    { ref: vmRef },
  );
  updateAllowedOperations(db, vmRef);
  return vmRef;
}

// ---------------------------------------------------------------------------------------
// Registration

export function registerVmCloneMethods(reg: MethodRegistry, profile: SimProfile): void {
  const vmParam: ParamSpec = { name: 'vm', type: 'ref' };
  const newName: ParamSpec = { name: 'new_name', type: 'string' };
  const theVm = (sim: SimContext, ref: string): Ref => {
    sim.db.get('VM', ref);
    return ref;
  };

  for (const op of ['clone', 'copy'] as const) {
    reg.add({
      name: `VM.${op}`,
      params: op === 'copy' ? [vmParam, newName, { name: 'sr', type: 'ref' }] : [vmParam, newName],
      async: true,
      impl: (call, a) => cloneVm(call, theVm(call.sim, a.vm as string), op, a.new_name as string, { sr: a.sr as string | undefined }),
    });
  }

  // VM.snapshot came with orlando (API 1.3); ignore_vdis with xapi 21.4.0 (datamodel_vm.ml).
  if (apiAtLeast(profile, 1, 3)) {
    const ignoreVdis = profile.xapiMajor >= 21 && !(profile.xapiMajor === 21 && profile.xapiMinor < 4);
    reg.add({
      name: 'VM.snapshot',
      params: ignoreVdis ? [vmParam, newName, { name: 'ignore_vdis', type: 'stringSet', default: [] }] : [vmParam, newName],
      async: true,
      impl: async (call, a) => {
        const vm = theVm(call.sim, a.vm as string);
        const snap = await cloneVm(call, vm, 'snapshot', a.new_name as string, { ignoreVdis: (a.ignore_vdis as string[] | undefined) ?? [] });
        const rec = call.sim.db.get('VM', vm);
        vmMessage(call.sim.db, vm, 'VM_SNAPSHOTTED', `VM '${rec.name_label}' (uuid: ${rec.uuid}) snapshotted, snapshot name: ${a.new_name as string}`);
        return snap;
      },
    });
  }

  reg.add({
    name: 'VM.create',
    params: [{ name: 'args', type: 'struct' }],
    async: true,
    impl: ({ sim }, a) => createVm(sim, a.args as XmlRpcValue),
  });
}
