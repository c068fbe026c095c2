/**
 * The pool object, read once per backup: one pool.get_all_records with the few fields the
 * run needs (its name and uuid for the report and the records, its master for the clock,
 * the master check, the API version and the control domain, its default SR), handed down to
 * every step instead of each step asking for the pool again.
 */
import { Host, Pool, isNullRef, type Ref, type Session } from '../../xenapi/index.js';
import { ExpectedFailure } from '../../failure/index.js';
import { noPoolObject } from '../pool-records.js';

export interface PoolFacts {
  ref: Ref;
  uuid: string;
  name: string;
  master: Ref;
  /** The pool's default SR (a null ref when it has none). */
  defaultSr: Ref;
}

export async function readPoolFacts(session: Session, signal?: AbortSignal): Promise<PoolFacts> {
  const [first] = await Pool.getAllRecords(session, ['uuid', 'name_label', 'master', 'default_SR'], signal && { signal });
  if (!first) throw noPoolObject();
  const [ref, pool] = first;
  return { ref, uuid: pool.uuid, name: pool.name_label, master: pool.master, defaultSr: pool.default_SR };
}

/** Stock refuses to run anywhere but on the master; a session always ends on it. */
export async function assertOnMaster(session: Session, pool: PoolFacts): Promise<void> {
  const thisHost = await Host.ofSession(session);
  if (!isNullRef(thisHost) && thisHost !== pool.master) {
    throw new ExpectedFailure('NOT_POOL_MASTER', 'This host is not the pool master.', 'Run the backup on the pool master (or connect to the master with --host).');
  }
}
