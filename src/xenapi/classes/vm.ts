/** VMs, templates, snapshots and control domains. */
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

