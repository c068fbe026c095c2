/**
 * The pool object, read once per backup: one pool.get_all_records with the few fields the
 * run needs (its name and uuid for the report and the records, its master for the clock,
 * the master check, the API version and the control domain, its default SR), handed down to
 * every step instead of each step asking for the pool again.
 */
import { isNullRef, toStr, type Ref, type Session } from '../../xenapi/index.js';
import { ExpectedFailure } from '../../failure/index.js';

export interface PoolFacts {
  ref: Ref;
  uuid: string;
  name: string;
  master: Ref;
  /** The pool's default SR (a null ref when it has none). */
  defaultSr: Ref;
}

const FIELDS = new Set(['uuid', 'name_label', 'master', 'default_SR']);

export async function readPoolFacts(session: Session, signal?: AbortSignal): Promise<PoolFacts> {
  const pools = await session.getAllRecords('pool', { recordFields: FIELDS, ...(signal && { signal }) });
  const [ref, pool] = Object.entries(pools)[0] ?? [];
  if (!ref || !pool) throw new ExpectedFailure('NO_POOL_OBJECT', 'The pool has no pool object.', 'Check that the address is a XenServer / XCP-ng pool coordinator (XAPI may still be starting), then run again.');
  return { ref, uuid: toStr(pool['uuid']), name: toStr(pool['name_label']), master: toStr(pool['master']), defaultSr: toStr(pool['default_SR']) };
}

/** Stock refuses to run anywhere but on the master; a session always ends on it. */
export async function assertOnMaster(session: Session, pool: PoolFacts): Promise<void> {
  const thisHost = await session.call<Ref>('session.get_this_host', session.ref);
  if (!isNullRef(thisHost) && toStr(thisHost) !== toStr(pool.master)) {
    throw new ExpectedFailure('NOT_POOL_MASTER', 'This host is not the pool master.', 'Run the backup on the pool master (or connect to the master with --host).');
  }
}
