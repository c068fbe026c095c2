/** VMs, templates, snapshots and control domains. */
import type { CallOptions } from '../rpc.js';
import type { Session } from '../session.js';
import type { Ref } from '../values.js';
import { bool, classReader, enumeration, int, ref, string, stringMap, stringSet, type RecordOf } from './fields.js';

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
