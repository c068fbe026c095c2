/**
 * vApps (VM_appliance, API 1.9 on) and the VM fields that place a VM in one and sequence its
 * start and shutdown (VM.appliance, order, start_delay, shutdown_delay; xen-api
 * ocaml/idl/datamodel.ml, datamodel_vm.ml). The VM fields are read through their own reader:
 * a host before 1.9 has no such fields, and VM.getRecord must still read its VMs.
 */
import type { CallOptions } from '../rpc.js';
import type { Session } from '../session.js';
import type { Ref } from '../values.js';
import { classReader, int, readRef, ref, string, stringSet, type RecordOf } from './fields.js';

const FIELDS = { uuid: string, name_label: string, name_description: string, VMs: stringSet };
export type VmApplianceRecord = RecordOf<typeof FIELDS>;

export const { getRecord, getAllRecords, getByUuid } = classReader('VM_appliance', FIELDS);

/** VM_appliance.create takes the two names only; XAPI gives the new vApp its own uuid. */
export async function create(session: Session, args: { name_label: string; name_description: string }, opts?: CallOptions): Promise<Ref> {
  const record = { name_label: args.name_label, name_description: args.name_description };
  return readRef(session, 'VM_appliance.create', await session.invoke('VM_appliance.create', [record], opts));
}

const MEMBER_FIELDS = { uuid: string, appliance: ref, order: int, start_delay: int, shutdown_delay: int };
export type VmSequencingRecord = RecordOf<typeof MEMBER_FIELDS>;

const members = classReader('VM', MEMBER_FIELDS);

/** Every VM's vApp and sequencing fields (one VM.get_all_records of these five fields). */
export const getAllSequencing = (session: Session, opts?: CallOptions) => members.getAllRecords(session, undefined, opts);

/** The VMs a where-expression selects, with their vApp and sequencing fields. */
export const getSequencingWhere = (session: Session, expr: string, opts?: CallOptions) => members.getAllRecordsWhere(session, expr, undefined, opts);
