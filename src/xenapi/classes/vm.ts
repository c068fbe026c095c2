/** VMs, templates, snapshots and control domains. */
import type { CallOptions } from '../rpc.js';
import type { Session } from '../session.js';
import type { Ref } from '../values.js';
import { bool, classReader, enumeration, int, ref, string, stringMap, stringSet, type FieldType, type RecordOf } from './fields.js';

const FIELDS = {
  uuid: string,
  name_label: string,
  name_description: string,
  /** Datamodel enum vm_power_state: Halted, Paused, Running, Suspended. */
  power_state: enumeration,
  is_a_template: bool,
  is_default_template: bool,
  is_a_snapshot: bool,
  is_control_domain: bool,
  other_config: stringMap,
  VBDs: stringSet,
  domid: int,
  resident_on: ref,
};
export type VmRecord = RecordOf<typeof FIELDS>;

const reader = classReader('VM', FIELDS);
export const { getRecord, getAllRecords, getAllRecordsWhere, getByUuid } = reader;


/** vApp membership (API 1.9 on): the null ref takes the VM out of its vApp. */
export async function setAppliance(session: Session, vm: Ref, appliance: Ref, opts?: CallOptions): Promise<void> {
  await session.invoke('VM.set_appliance', [vm, appliance], opts);
}

/** Start/shutdown sequencing (API 1.9 on): `order` within a vApp, delays in seconds. */
export async function setOrder(session: Session, vm: Ref, value: number, opts?: CallOptions): Promise<void> {
  await session.invoke('VM.set_order', [vm, String(value)], opts);
}

export async function setStartDelay(session: Session, vm: Ref, value: number, opts?: CallOptions): Promise<void> {
  await session.invoke('VM.set_start_delay', [vm, String(value)], opts);
}

export async function setShutdownDelay(session: Session, vm: Ref, value: number, opts?: CallOptions): Promise<void> {
  await session.invoke('VM.set_shutdown_delay', [vm, String(value)], opts);
}

// ---- Starting VMs after a restore (src/dr/start-vms.ts) ---------------------------------
// One block, so the readers of other slices merge beside it.

/**
 * order and start_delay came with API 1.9 (XenServer 6.0): an older host sends neither, and
 * its VMs have no start sequencing, which is what 0 means.
 */
const sequencing: FieldType<number> = { name: 'an int', read: (v) => (v === undefined ? 0 : int.read(v)) };

const START_FIELDS = { ...FIELDS, appliance: ref, order: sequencing, start_delay: sequencing };
export type VmStartRecord = RecordOf<typeof START_FIELDS>;

/** VM.get_all_records with what a start plan needs: power state, vApp, order, start_delay. */
export const getAllStartRecords = classReader('VM', START_FIELDS).getAllRecords;

/**
 * VM.start(vm, start_paused, force=false). XAPI returns only after the VM's start_delay
 * (xen-api ocaml/xapi/xapi_vm.ml `start`), so the call's deadline allows for it.
 */
export async function start(session: Session, vm: Ref, paused: boolean, opts?: CallOptions): Promise<void> {
  await session.invoke('VM.start', [vm, paused, false], opts);
}

/** VM.assert_can_boot_here(vm, host): resolves when the host could start the VM, else its reason. */
export async function assertCanBootHere(session: Session, vm: Ref, host: Ref, opts?: CallOptions): Promise<void> {
  await session.invoke('VM.assert_can_boot_here', [vm, host], opts);
}

// ---- A backup beside this pool (src/dr/backup-compare.ts) --------------------------------

/**
 * VM.version counts the VM's recoveries: only a metadata import with restore sets it (the
 * export's + 1, xen-api ocaml/xapi/import.ml); it came after API 1.0, so a host without it
 * reads 0, its datamodel default.
 */
const recoveries: FieldType<number> = { name: 'an int', read: (v) => (v === undefined ? 0 : int.read(v)) };

const COMPARE_FIELDS = { ...FIELDS, version: recoveries, VCPUs_max: int, memory_static_max: int, VIFs: stringSet };
export type VmCompareRecord = RecordOf<typeof COMPARE_FIELDS>;

/** VM.get_all_records with what a comparison with a backup reads. */
export const getAllCompareRecords = classReader('VM', COMPARE_FIELDS).getAllRecords;
