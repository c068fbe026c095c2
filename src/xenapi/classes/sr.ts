/** Storage repositories. */
import type { CallOptions } from '../rpc.js';
import type { Session } from '../session.js';
import type { Ref } from '../values.js';
import { bool, classReader, int, string, stringSet, type RecordOf } from './fields.js';

const FIELDS = {
  uuid: string,
  name_label: string,
  name_description: string,
  type: string,
  content_type: string,
  shared: bool,
  physical_size: int,
  physical_utilisation: int,
  allowed_operations: stringSet,
  VDIs: stringSet,
  PBDs: stringSet,
};
export type SrRecord = RecordOf<typeof FIELDS>;

const reader = classReader('SR', FIELDS);
export const { getRecord, getAllRecords, getAllRecordsWhere, getByUuid } = reader;

export async function setNameLabel(session: Session, sr: Ref, value: string, opts?: CallOptions): Promise<void> {
  await session.invoke('SR.set_name_label', [sr, value], opts);
}

export async function setNameDescription(session: Session, sr: Ref, value: string, opts?: CallOptions): Promise<void> {
  await session.invoke('SR.set_name_description', [sr, value], opts);
}
