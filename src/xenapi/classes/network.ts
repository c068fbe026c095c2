/** Networks, as a metadata import matches them (name_label, bridge), and those it created. */
import type { CallOptions } from '../rpc.js';
import type { Session } from '../session.js';
import type { Ref } from '../values.js';
import { classReader, string, stringMap, stringSet, type RecordOf } from './fields.js';

const FIELDS = { uuid: string, name_label: string, bridge: string, other_config: stringMap, VIFs: stringSet, PIFs: stringSet };
export type NetworkRecord = RecordOf<typeof FIELDS>;

export const { getRecord, getAllRecords, getAllRecordsWhere, getByUuid } = classReader('network', FIELDS);

export async function destroy(session: Session, network: Ref, opts?: CallOptions): Promise<void> {
  await session.invoke('network.destroy', [network], opts);
}
