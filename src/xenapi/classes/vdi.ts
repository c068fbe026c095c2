/** Virtual disk images: the backup VDI's lookup, creation, marks (other_config) and names. */
import type { CallOptions } from '../rpc.js';
import type { Session } from '../session.js';
import type { Ref } from '../values.js';
import { bool, classReader, enumeration, int, readRef, readValue, ref, string, stringMap, stringSet, type RecordOf } from './fields.js';

const FIELDS = {
  uuid: string,
  name_label: string,
  name_description: string,
  SR: ref,
  virtual_size: int,
  read_only: bool,
  /** Datamodel enum vdi_type: user, system, metadata, … */
  type: enumeration,
  is_a_snapshot: bool,
  other_config: stringMap,
  location: string,
  VBDs: stringSet,
};
export type VdiRecord = RecordOf<typeof FIELDS>;

const reader = classReader('VDI', FIELDS);
export const { getRecord, getAllRecords, getAllRecordsWhere, getByUuid } = reader;

/** The fields VDI.create takes that this program sets (xe vdi-create's defaults for the rest). */
export interface VdiCreate {
  name_label: string;
  name_description: string;
  SR: Ref;
  virtual_size: number;
  type: 'user' | 'system';
  sharable: boolean;
  read_only: boolean;
  other_config: Record<string, string>;
  xenstore_data?: Record<string, string>;
  sm_config?: Record<string, string>;
  tags?: string[];
}

export async function create(session: Session, args: VdiCreate, opts?: CallOptions): Promise<Ref> {
  const record = {
    name_label: args.name_label,
    name_description: args.name_description,
    SR: args.SR,
    virtual_size: String(args.virtual_size),
    type: args.type,
    sharable: args.sharable,
    read_only: args.read_only,
    other_config: args.other_config,
    xenstore_data: args.xenstore_data ?? {},
    sm_config: args.sm_config ?? {},
    tags: args.tags ?? [],
  };
  return readRef(session, 'VDI.create', await session.invoke('VDI.create', [record], opts));
}

export async function destroy(session: Session, vdi: Ref, opts?: CallOptions): Promise<void> {
  await session.invoke('VDI.destroy', [vdi], opts);
}

export async function getOtherConfig(session: Session, vdi: Ref, opts?: CallOptions): Promise<Record<string, string>> {
  return readValue(session, 'VDI.get_other_config', stringMap, await session.invoke('VDI.get_other_config', [vdi], opts));
}

/** Refused with MAP_DUPLICATE_KEY when the key is there: XAPI's one atomic test-and-set. */
export async function addToOtherConfig(session: Session, vdi: Ref, key: string, value: string, opts?: CallOptions): Promise<void> {
  await session.invoke('VDI.add_to_other_config', [vdi, key, value], opts);
}

/** A key that is not there is not an error. */
export async function removeFromOtherConfig(session: Session, vdi: Ref, key: string, opts?: CallOptions): Promise<void> {
  await session.invoke('VDI.remove_from_other_config', [vdi, key], opts);
}

export async function setNameLabel(session: Session, vdi: Ref, value: string, opts?: CallOptions): Promise<void> {
  await session.invoke('VDI.set_name_label', [vdi, value], opts);
}

export async function setNameDescription(session: Session, vdi: Ref, value: string, opts?: CallOptions): Promise<void> {
  await session.invoke('VDI.set_name_description', [vdi, value], opts);
}
