/** Physical block devices: which hosts an SR is plugged into. */
import { bool, classReader, ref, type RecordOf } from './fields.js';

const FIELDS = { host: ref, SR: ref, currently_attached: bool };
export type PbdRecord = RecordOf<typeof FIELDS>;

export const { getRecord, getAllRecords, getAllRecordsWhere } = classReader('PBD', FIELDS);
