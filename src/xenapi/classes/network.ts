/** Networks, as a metadata import matches them (name_label, bridge). */
import { classReader, string, type RecordOf } from './fields.js';

const FIELDS = { uuid: string, name_label: string, bridge: string };
export type NetworkRecord = RecordOf<typeof FIELDS>;

export const { getRecord, getAllRecords, getAllRecordsWhere, getByUuid } = classReader('network', FIELDS);
