/**
 * The pool master's clock, as the stock scripts see it: their `date +%F-%H-%M-%S` runs in
 * the master's dom0, in its local time zone. A client elsewhere (another time zone, a clock
 * hours off) must date its folders the same way, or they sort among the stock ones wrongly
 * and retention removes the wrong ones. The lock's times (vdi-lock.ts) are master time too,
 * so clients with different clocks agree on when a lock expires.
 *
 * XAPI tells the time in two calls (ocaml/xapi/xapi_host.ml):
 *  - host.get_servertime (API 1.3 on): the master's clock in UTC ("…T09:01:28Z");
 *  - host.get_server_localtime (API 1.8 on): its local wall clock, zone stripped
 *    ("…T07:01:28"), which the XenAPI client reads into a Date's UTC fields.
 * Their difference is the master's UTC offset. Older hosts lack one or both: then this
 * machine's time zone, or its clock, is used, and the report says so.
 */
import { Host, XenApiError, type Ref, type Session } from '../xenapi/index.js';
import { formatBackupDate, formatBackupDateOfWallClock } from './layout.js';

/** Skew reported to the operator beyond this (the "over a minute"). */
export const SKEW_WARNING_MS = 60_000;
const QUARTER_HOUR_MS = 15 * 60_000;

export type ClockSource =
  /** The master's local time (get_servertime + get_server_localtime). */
  | 'master-local'
  /** The master's clock, in this machine's time zone (no get_server_localtime). */
  | 'master-utc'
  /** This machine's clock (the pool tells no time). */
  | 'client';

export interface ClockFacts {
  source: ClockSource;
  /** Master clock minus this machine's, in ms; null when the pool tells no time. */
  skewMs: number | null;
  /** The master's offset from UTC in minutes (east positive); null when unknown. */
  masterUtcOffsetMinutes: number | null;
  /** For the operator: skew over a minute, or which fallback was used. */
  warnings: string[];
}

export interface MasterClock extends ClockFacts {
  /** The master's estimate of now (this machine's clock corrected by the skew). */
  now(): Date;
  /** A master instant as the master's wall clock ("2025-01-01 12:00:00"), for messages. */
  wallClockText(at: Date): string;
  /**
   * The dated folder name the stock script would use now. Asks the master again where it
   * can, so a time-zone change (DST) during a long run is seen as the master's `date` sees it.
   */
  backupDateName(): Promise<string>;
}

export interface MasterClockOptions {
  /** This machine's clock (tests). */
  clientClock?: () => Date;
}

type Reading = { utc: Date | null; local: Date | null; mid: number };

async function optionalCall(session: Session, read: typeof Host.getServertime, host: Ref): Promise<Date | null> {
  try {
    const v = await read(session, host);
    return !Number.isNaN(v.getTime()) ? v : null;
  } catch (err) {
    // Hosts older than the call's API version do not know it.
    if (XenApiError.is(err, 'MESSAGE_METHOD_UNKNOWN')) return null;
    throw err;
  }
}

async function read(session: Session, host: Ref, clientClock: () => Date): Promise<Reading> {
  const t0 = clientClock().getTime();
  const [utc, local] = await Promise.all([optionalCall(session, Host.getServertime, host), optionalCall(session, Host.getServerLocaltime, host)]);
  const t1 = clientClock().getTime();
  // The answer was taken somewhere in the round trip: its middle is the best guess.
  return { utc, local, mid: (t0 + t1) / 2 };
}

function offsetOf(r: Reading): number | null {
  if (!r.utc || !r.local) return null;
  // The two readings are a moment apart; every zone offset is a whole quarter hour.
  return Math.round((r.local.getTime() - r.utc.getTime()) / QUARTER_HOUR_MS) * QUARTER_HOUR_MS;
}

/** "3 h 5 min", "2 min", "45 s". */
export function describeDuration(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  const days = Math.floor(h / 24);
  if (days > 0) return `${days} d ${h % 24} h`;
  return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
}

export async function readMasterClock(session: Session, master: Ref, opts: MasterClockOptions = {}): Promise<MasterClock> {
  const clientClock = opts.clientClock ?? (() => new Date());
  const first = await read(session, master, clientClock);
  const skewMs = first.utc ? first.utc.getTime() - first.mid : null;
  const offsetMs = offsetOf(first);
  const source: ClockSource = offsetMs !== null ? 'master-local' : skewMs !== null ? 'master-utc' : 'client';
  const warnings: string[] = [];
  if (skewMs !== null && Math.abs(skewMs) > SKEW_WARNING_MS) {
    warnings.push(
      `This machine's clock is ${describeDuration(skewMs)} ${skewMs > 0 ? 'behind' : 'ahead of'} the pool master's; ` +
        "the backup is dated by the master's clock, as the host's own scripts date theirs. Check NTP on both.",
    );
  }
  if (source === 'master-utc') {
    warnings.push("The pool master does not tell its time zone (XAPI before API 1.8): the backup is dated by the master's clock in this machine's time zone.");
  } else if (source === 'client') {
    warnings.push("The pool master does not tell its time (XAPI before API 1.3): the backup is dated by this machine's clock.");
  }
  const now = () => new Date(clientClock().getTime() + (skewMs ?? 0));
  const wall = (at: Date, offset: number | null) => (offset === null ? formatBackupDate(at) : formatBackupDateOfWallClock(new Date(at.getTime() + offset)));
  return {
    source,
    skewMs,
    masterUtcOffsetMinutes: offsetMs === null ? null : offsetMs / 60_000,
    warnings,
    now,
    wallClockText(at) {
      const name = wall(at, offsetMs);
      return `${name.slice(0, 10)} ${name.slice(11).replace(/-/g, ':')}`;
    },
    async backupDateName() {
      if (source !== 'master-local') return wall(now(), null);
      const again = await read(session, master, clientClock);
      const offset = offsetOf(again) ?? offsetMs;
      // The master's own local reading, moved on by the time since it was taken.
      const utc = again.utc ?? now();
      return wall(new Date(utc.getTime() + (clientClock().getTime() - again.mid)), offset);
    },
  };
}
