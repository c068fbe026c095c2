/**
 * A pool-side lock on a backup VDI, held in the VDI's other_config, so that two clients
 * (two workstations, a workstation and a cron job) never read-modify-write the same VDI at
 * once: in remote access each downloads the VDI, changes it and uploads it, and the second
 * upload silently removed the first one's backup.
 *
 * XAPI has one atomic test-and-set here: `VDI.add_to_other_config` refuses a key that is
 * already there (MAP_DUPLICATE_KEY [table, field, ref, key]; ocaml/database
 * db_cache_impl.ml) under the database lock. Removing a key is unconditional, so the lock
 * never depends on removing the current key. It is a sequence of numbered entries
 *
 *     xsconsole-dr:lock.<n> = {"v":1,"run":…,"op":"backup","host":…,"pid":…,"since":…,"expires":…}
 *
 * and the entry with the highest <n> is the lock's state. Every change of state — taking,
 * renewing, handing back ("op":"free"), taking over an expired one — is the claim of entry
 * n+1 by `add_to_other_config`, which exactly one client can win. Entries are removed only
 * below a higher one (by whoever claimed it), so the highest number never goes down and a
 * number is never claimed twice while it is the highest.
 *
 * Why a takeover is safe: two clients that both see entry n expired both try to add n+1;
 * XAPI lets one of them have it and refuses the other (MAP_DUPLICATE_KEY), which then sees
 * n+1 as live and waits. A client whose claim was based on an old view (n+1 already exists
 * and was cleaned up below n+2) makes a new entry that is not the highest, sees so when it
 * checks, and withdraws. The holder renews well before its expiry (master time) and counts
 * its lock as lost — stopping its run before it writes more — a margin before others would
 * take it over; a renewal that finds n+1 taken means it was taken over, and it stops too.
 *
 * The last entry stays on the VDI after a run (op "free", who and when): the lock's whole
 * footprint is that one key.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { VDI, XenApiError, throwIfAborted, type Ref, type Session } from '../xenapi/index.js';
import { ExpectedFailure } from '../failure/index.js';
import type { MasterClock } from './master-clock.js';
import { describeDuration } from './master-clock.js';
import { neutralise } from '../safe-text.js';

export const LOCK_KEY_PREFIX = 'xsconsole-dr:lock.';
/** A lock is good for this long (master time) from its last renewal. */
export const DEFAULT_LOCK_TTL_MS = 10 * 60_000;
/** How long a run waits for another one to finish before it refuses. */
export const DEFAULT_LOCK_WAIT_MS = 5 * 60_000;
const DEFAULT_POLL_MS = 2_000;
/** Lock values are small; anything larger is not one of ours. */
const MAX_VALUE_CHARS = 1024;

export type LockOp = 'backup' | 'restore' | 'read';

export interface LockHolder {
  run: string;
  op: LockOp;
  host: string;
  pid: number;
  /** Master time the holder took the lock. */
  since: Date;
  /** Master time after which it may be taken over. */
  expires: Date;
  /** The holder's machine and boot (absent in entries of older versions or other machines without them). */
  machine?: string;
  boot?: string;
}

interface Entry {
  n: number;
  key: string;
  raw: string;
  /** null: a value that is not a lock of ours (unreadable); treated as expired. */
  holder: LockHolder | null;
  free: boolean;
}

export interface LockWait {
  /** Who holds the lock, as a sentence ("the backup started by ws1 (pid 42) at …"). */
  holderText: string;
  holder: LockHolder;
  waitedMs: number;
}

export interface LockIdentity {
  host: string;
  pid: number;
  /** This machine's /etc/machine-id and boot id: a holder that died on this very machine need not be waited out. */
  machine?: string;
  boot?: string;
}

const ID = /^[0-9a-f-]{16,64}$/;

function readId(path: string): string | undefined {
  try {
    const v = readFileSync(path, 'utf8').trim().toLowerCase();
    return ID.test(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

let localIds: { machine?: string; boot?: string } | undefined;
function thisMachine(): { machine?: string; boot?: string } {
  if (!localIds) {
    const machine = readId('/etc/machine-id');
    const boot = readId('/proc/sys/kernel/random/boot_id');
    localIds = { ...(machine && { machine }), ...(boot && { boot }) };
  }
  return localIds;
}

/**
 * A holder that ran on this machine and is gone — its boot is over, or its process no
 * longer exists — cannot be running: its lock is stale now, not only at its expiry, so an
 * operator who killed a run does not wait out the lock's lifetime. A live process with
 * the same pid (reused) keeps it held: waiting is the safe mistake.
 */
export function diedOnThisMachine(h: LockHolder, me: LockIdentity): boolean {
  if (!h.machine || !me.machine || h.machine !== me.machine || !me.boot) return false;
  if (h.boot !== me.boot) return h.boot !== undefined;
  if (h.pid === me.pid) return false;
  try {
    process.kill(h.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export interface AcquireOptions {
  op: LockOp;
  clock: MasterClock;
  /** How long to wait for a live lock of another client (default 5 min). */
  waitMs?: number;
  /** Between looks at a held lock (default 2 s). */
  pollMs?: number;
  ttlMs?: number;
  /** Who we are (default: this host name and pid). */
  identity?: LockIdentity;
  signal?: AbortSignal;
  onWait?: (w: LockWait) => void;
}

/** What the operator may want to know about getting the lock. */
export interface LockHistory {
  /** Time spent waiting for another run, and for whom (null: none). */
  waited: { ms: number; holderText: string } | null;
  /** An expired lock this run took over (a killed or cut-off client's). */
  tookOver: string | null;
}

const OP_TEXT: Record<LockOp, string> = { backup: 'backup', restore: 'restore', read: 'reading of the backups' };

function holderText(h: LockHolder, clock: MasterClock): string {
  return `the ${OP_TEXT[h.op]} started by ${neutralise(h.host)} (pid ${neutralise(String(h.pid))}) at ${clock.wallClockText(h.since)}`;
}

export class VdiBusyError extends ExpectedFailure {
  constructor(
    readonly holder: LockHolder,
    text: string,
    waitedMs: number,
    expiresText: string,
  ) {
    super(
      'BACKUP_VDI_BUSY',
      `The backup VDI is in use by ${text}; waited ${describeDuration(waitedMs)}.`,
      `Run again once it has finished. If that run was killed or lost its connection, its lock expires at ${expiresText} (pool master's time) and is then taken over by the next run.`,
    );
    this.name = 'VdiBusyError';
  }
}

export class VdiLockLostError extends ExpectedFailure {
  constructor(reason: string) {
    super(
      'BACKUP_VDI_LOCK_LOST',
      `This run lost its lock on the backup VDI (${reason}) and stopped before writing more.`,
      'Check the connection to the pool and run again; the backups made before are intact.',
    );
    this.name = 'VdiLockLostError';
  }
}

function parseDate(v: unknown): Date | null {
  if (typeof v !== 'string' || v.length > 40) return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** A lock value as read from the pool: untrusted, checked field by field. */
export function parseLockValue(raw: string): { holder: LockHolder; free: boolean } | null {
  if (raw.length > MAX_VALUE_CHARS) return null;
  let o: unknown;
  try {
    o = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return null;
  const r = o as Record<string, unknown>;
  const op = r['op'];
  const since = parseDate(r['since']);
  const expires = parseDate(r['expires']);
  if (r['v'] !== 1 || typeof r['run'] !== 'string' || typeof r['host'] !== 'string' || !Number.isSafeInteger(r['pid']) || !since || !expires) return null;
  if (op !== 'free' && op !== 'backup' && op !== 'restore' && op !== 'read') return null;
  const id = (v: unknown) => (typeof v === 'string' && ID.test(v) ? v : undefined);
  const machine = id(r['machine']);
  const boot = id(r['boot']);
  return {
    free: op === 'free',
    holder: { run: r['run'], op: op === 'free' ? 'read' : op, host: r['host'].slice(0, 255), pid: r['pid'] as number, since, expires, ...(machine && { machine }), ...(boot && { boot }) },
  };
}

function entriesOf(otherConfig: Record<string, string>): Entry[] {
  const out: Entry[] = [];
  for (const [key, raw] of Object.entries(otherConfig)) {
    if (!key.startsWith(LOCK_KEY_PREFIX)) continue;
    const num = key.slice(LOCK_KEY_PREFIX.length);
    if (!/^[1-9]\d{0,15}$/.test(num) || !Number.isSafeInteger(Number(num))) continue;
    const parsed = parseLockValue(raw);
    out.push({ n: Number(num), key, raw, holder: parsed?.holder ?? null, free: parsed?.free ?? false });
  }
  return out.sort((a, b) => b.n - a.n);
}

async function readEntries(session: Session, vdi: Ref): Promise<Entry[]> {
  return entriesOf(await VDI.getOtherConfig(session, vdi));
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * Adds entry `n` with `value`. True when it is ours now — also when the answer was lost but
 * the add got through (the entry holds our exact value: values are unique per run and
 * change); false when another client's claim got there first.
 */
async function claim(session: Session, vdi: Ref, n: number, value: string, retry = true): Promise<boolean> {
  const key = `${LOCK_KEY_PREFIX}${n}`;
  try {
    await VDI.addToOtherConfig(session, vdi, key, value);
    return true;
  } catch (err) {
    const lostAnswer = !(err instanceof XenApiError);
    if (!lostAnswer && err.code !== 'MAP_DUPLICATE_KEY') throw err;
    const now = await VDI.getOtherConfig(session, vdi);
    if (now[key] === value) return true;
    if (now[key] !== undefined) return false;
    // Not there: the request never arrived. Once more.
    if (lostAnswer && retry) return claim(session, vdi, n, value, false);
    if (lostAnswer) throw err;
    return false;
  }
}

/** Removes the entries below `n` (superseded); failures only leave a stale key behind. */
async function pruneBelow(session: Session, vdi: Ref, n: number, known?: Entry[]): Promise<void> {
  const entries = known ?? (await readEntries(session, vdi).catch(() => []));
  await Promise.all(entries.filter((e) => e.n < n).map((e) => VDI.removeFromOtherConfig(session, vdi, e.key).catch(() => undefined)));
}

export class VdiLock {
  #n: number;
  readonly #lost = new AbortController();
  #lostError: VdiLockLostError | null = null;
  #timer: NodeJS.Timeout | undefined;
  /** This machine's time (ms) by which the lock must have been renewed, or be given up. */
  #deadline: number;
  #released: Promise<void> | null = null;
  #renewing: Promise<void> | null = null;
  /** The renewal being claimed: its entry, value, and when its expiry was computed. */
  #pending: { n: number; value: string; started: number } | null = null;

  /** @internal use acquireVdiLock */
  constructor(
    private readonly session: Session,
    readonly vdiRef: Ref,
    readonly run: string,
    n: number,
    private readonly make: (op: LockOp | 'free') => string,
    private readonly op: LockOp,
    private readonly ttlMs: number,
    claimStarted: number,
    readonly history: LockHistory,
  ) {
    this.#n = n;
    this.#deadline = claimStarted + this.#safeMs();
    this.#schedule(this.ttlMs / 3);
  }

  /** Aborted (with a VdiLockLostError as reason) when the lock is lost. */
  get lostSignal(): AbortSignal {
    return this.#lost.signal;
  }

  get lostError(): VdiLockLostError | null {
    return this.#lostError;
  }

  /** The lock entry's number (tests, diagnostics). */
  get entry(): number {
    return this.#n;
  }

  /** The holder stops this long before others may take over (clock estimates differ). */
  #safeMs(): number {
    return Math.floor((this.ttlMs * 2) / 3);
  }

  /** The next renewal in `inMs`, and never after the deadline. */
  #schedule(inMs: number): void {
    clearTimeout(this.#timer);
    if (this.#released || this.#lostError) return;
    const wait = Math.max(0, Math.min(inMs, this.#deadline - Date.now()));
    this.#timer = setTimeout(() => void this.renew().catch(() => undefined), wait);
    this.#timer.unref();
  }

  #lose(reason: string): void {
    if (this.#lostError) return;
    this.#lostError = new VdiLockLostError(reason);
    clearTimeout(this.#timer);
    this.#lost.abort(this.#lostError);
  }

  /** Moves the expiry on (claims the next entry); a failure is retried until the deadline. */
  renew(): Promise<void> {
    this.#renewing ??= (async () => {
      // After a failed attempt (a dropped connection), try again soon.
      let next = this.ttlMs / 3;
      try {
        if (this.#released || this.#lostError) return;
        if (Date.now() >= this.#deadline) return this.#lose('it could not be renewed in time');
        const n = this.#n + 1;
        // A retry sends the same value: if the lost answer was a success, the entry is ours.
        this.#pending = this.#pending?.n === n ? this.#pending : { n, value: this.make(this.op), started: Date.now() };
        const { value, started } = this.#pending;
        let won: boolean;
        try {
          won = await claim(this.session, this.vdiRef, n, value);
        } catch {
          if (Date.now() >= this.#deadline) this.#lose('it could not be renewed in time');
          next = Math.min(10_000, this.ttlMs / 30);
          return;
        }
        if (!won) return this.#lose('another client took it over');
        const old = this.#n;
        this.#n = n;
        this.#pending = null;
        this.#deadline = started + this.#safeMs();
        await VDI.removeFromOtherConfig(this.session, this.vdiRef, `${LOCK_KEY_PREFIX}${old}`).catch(() => undefined);
      } finally {
        this.#renewing = null;
        this.#schedule(next);
      }
    })();
    return this.#renewing;
  }

  /** Throws unless this run still holds the lock (the highest entry is ours, in time). */
  async verify(): Promise<void> {
    await this.#renewing?.catch(() => undefined);
    if (this.#lostError) throw this.#lostError;
    if (Date.now() >= this.#deadline) {
      this.#lose('it could not be renewed in time');
      throw this.#lostError!;
    }
    const top = (await readEntries(this.session, this.vdiRef))[0];
    if (!top || top.holder?.run !== this.run || top.free) {
      this.#lose('another client took it over');
      throw this.#lostError!;
    }
    if (top.n !== this.#n) {
      // A renewal whose answer was lost got through after all: it is ours.
      const p = this.#pending;
      if (p?.n !== top.n || top.raw !== p.value) {
        this.#lose('another client took it over');
        throw this.#lostError!;
      }
      this.#n = p.n;
      this.#deadline = p.started + this.#safeMs();
      this.#pending = null;
    }
  }

  /**
   * Hands the lock back (an entry "free" above ours) and removes the older entries. Idempotent;
   * tried twice (a dropped connection), then left to expire.
   */
  release(): Promise<void> {
    this.#released ??= (async () => {
      clearTimeout(this.#timer);
      await this.#renewing?.catch(() => undefined);
      if (this.#lostError) return;
      const free = this.make('free');
      const attempt = async () => {
        // The highest entry, if still ours (also a renewal whose answer was lost), is handed back.
        const entries = await readEntries(this.session, this.vdiRef);
        const top = entries[0];
        if (!top || top.holder?.run !== this.run) return;
        const next = top.free ? top.n : top.n + 1;
        if (top.free || (await claim(this.session, this.vdiRef, next, free))) await pruneBelow(this.session, this.vdiRef, next);
      };
      try {
        await attempt();
      } catch {
        await attempt().catch(() => undefined);
      }
    })();
    return this.#released;
  }
}

/**
 * Takes the lock of `vdi` for `op`: at once when it is free, after waiting (bounded) while
 * another client holds it, by takeover when the holder's lock has expired.
 */
/** This run's lock values: who, what, since when, and an expiry in master time. */
function valueMaker(opts: Pick<AcquireOptions, 'clock' | 'identity'>, ttlMs: number): { run: string; make: (op: LockOp | 'free') => string } {
  const who = opts.identity ?? { host: hostname(), pid: process.pid, ...thisMachine() };
  const run = randomUUID();
  const since = opts.clock.now();
  const make = (op: LockOp | 'free') =>
    JSON.stringify({
      v: 1,
      run,
      op,
      host: who.host.slice(0, 255),
      pid: who.pid,
      ...(who.machine && { machine: who.machine }),
      ...(who.boot && { boot: who.boot }),
      since: since.toISOString(),
      expires: new Date(opts.clock.now().getTime() + (op === 'free' ? 0 : ttlMs)).toISOString(),
    });
  return { run, make };
}

/**
 * The lock of a VDI about to be created, to be put in VDI.create's other_config: the VDI
 * is born locked, so no other client can open it before its filesystem exists.
 */
export function prepareNewVdiLock(opts: Pick<AcquireOptions, 'op' | 'clock' | 'identity' | 'ttlMs'>): {
  otherConfig: Record<string, string>;
  adopt(session: Session, vdi: Ref): VdiLock;
} {
  const ttlMs = opts.ttlMs ?? DEFAULT_LOCK_TTL_MS;
  const { run, make } = valueMaker(opts, ttlMs);
  const claimStarted = Date.now();
  return {
    otherConfig: { [`${LOCK_KEY_PREFIX}1`]: make(opts.op) },
    adopt: (session, vdi) => new VdiLock(session, vdi, run, 1, make, opts.op, ttlMs, claimStarted, { waited: null, tookOver: null }),
  };
}

export async function acquireVdiLock(session: Session, vdi: Ref, opts: AcquireOptions): Promise<VdiLock> {
  const { clock } = opts;
  const ttlMs = opts.ttlMs ?? DEFAULT_LOCK_TTL_MS;
  const waitMs = opts.waitMs ?? DEFAULT_LOCK_WAIT_MS;
  const pollMs = opts.pollMs ?? DEFAULT_POLL_MS;
  const { run, make } = valueMaker(opts, ttlMs);
  const started = Date.now();
  let waited: LockHistory['waited'] = null;
  let lastHolder: { holder: LockHolder; text: string } | null = null;
  const giveUp = () => {
    const waitedMs = Date.now() - started;
    if (lastHolder) return new VdiBusyError(lastHolder.holder, lastHolder.text, waitedMs, clock.wallClockText(lastHolder.holder.expires));
    // Only lost claims, never a holder: the pool keeps refusing our entry.
    return new VdiLockLostError('the pool refused every attempt to take it');
  };
  for (;;) {
    throwIfAborted(opts.signal);
    const entries = await readEntries(session, vdi);
    const top = entries[0];
    const me = opts.identity ?? { host: hostname(), pid: process.pid, ...thisMachine() };
    const expired = !top || top.free || !top.holder || top.holder.expires.getTime() <= clock.now().getTime() || diedOnThisMachine(top.holder, me);
    if (expired) {
      const n = (top?.n ?? 0) + 1;
      if (!Number.isSafeInteger(n)) throw new VdiLockLostError(`its entry number ${top?.n} leaves no room; remove the ${LOCK_KEY_PREFIX}* keys from the VDI's other-config`);
      const claimStarted = Date.now();
      if (await claim(session, vdi, n, make(opts.op))) {
        // A claim made from an old view is not the highest: withdraw it and look again.
        const after = await readEntries(session, vdi);
        if (after[0]?.n === n) {
          const gone = top?.holder && top.holder.expires.getTime() > clock.now().getTime();
          const tookOver =
            top && !top.free
              ? top.holder
                ? `${holderText(top.holder, clock)}, ${gone ? 'whose process on this machine is gone' : `expired at ${clock.wallClockText(top.holder.expires)}`}`
                : 'an unreadable lock entry'
              : null;
          await pruneBelow(session, vdi, n, after);
          return new VdiLock(session, vdi, run, n, make, opts.op, ttlMs, claimStarted, { waited, tookOver });
        }
        await VDI.removeFromOtherConfig(session, vdi, `${LOCK_KEY_PREFIX}${n}`).catch(() => undefined);
      }
      // Another client's claim got there first: look again, after a moment that differs
      // between clients (so two of them do not keep colliding).
      if (Date.now() - started >= waitMs) throw giveUp();
      await sleep(Math.min(pollMs, 20 + Math.floor(Math.random() * 100)), opts.signal);
      continue;
    }
    const holder = top.holder!;
    const text = holderText(holder, clock);
    lastHolder = { holder, text };
    const waitedMs = Date.now() - started;
    if (waitedMs >= waitMs) throw giveUp();
    waited = { ms: waitedMs, holderText: text };
    opts.onWait?.({ holderText: text, holder, waitedMs });
    await sleep(Math.min(pollMs, waitMs - waitedMs), opts.signal);
  }
}
