/** The pool object (one per pool): its coordinator, default SR and name. */
import type { CallOptions } from '../rpc.js';
import type { Session } from '../session.js';
import type { Ref } from '../values.js';
import { classReader, readRef, readValue, ref, string, stringSet, type RecordOf } from './fields.js';

const FIELDS = { uuid: string, name_label: string, master: ref, default_SR: ref };
export type PoolRecord = RecordOf<typeof FIELDS>;

const reader = classReader('pool', FIELDS);
export const { getRecord, getAllRecords } = reader;

/** pool.get_all: every pool object (a pool has exactly one; none while XAPI starts). */
export async function getAll(session: Session, opts?: CallOptions): Promise<Ref[]> {
  return readValue(session, 'pool.get_all', stringSet, await session.invoke('pool.get_all', [], opts));
}

/** The pool's one record with its ref (one pool.get_all_records), or null when there is none. */
export async function get(session: Session, opts?: CallOptions): Promise<(PoolRecord & { ref: Ref }) | null> {
  const [first] = await getAllRecords(session, undefined, opts);
  return first ? { ref: first[0], ...first[1] } : null;
}

/** The pool coordinator's host. */
export async function getMaster(session: Session, pool: Ref, opts?: CallOptions): Promise<Ref> {
  return readRef(session, 'pool.get_master', await session.invoke('pool.get_master', [pool], opts));
}

/** The default SR; the null ref when the pool has none. */
export async function getDefaultSr(session: Session, pool: Ref, opts?: CallOptions): Promise<Ref> {
  return readValue(session, 'pool.get_default_SR', ref, await session.invoke('pool.get_default_SR', [pool], opts));
}

export async function getNameLabel(session: Session, pool: Ref, opts?: CallOptions): Promise<string> {
  return readValue(session, 'pool.get_name_label', string, await session.invoke('pool.get_name_label', [pool], opts));
}
