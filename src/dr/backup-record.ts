/**
 * What the last successful backup left on its backup VDI: one key in the VDI's other_config,
 * so every console and CLI that can see the pool (not only the machine that ran the backup)
 * can show when the last good backup was and how full the VDI is, without attaching it.
 * The stock scripts ignore keys they do not know; a backup by the stock tools leaves the key
 * as it was (so its date can be older than the newest folder: readers say "recorded by
 * xsconsole-dr"). The value is host data: parsed as untrusted, within bounds.
 */
import { SPACE_GUARD_PERCENT } from './layout.js';

export const LAST_BACKUP_KEY = 'xsconsole-dr:last-backup';

/** Longer values are not ours (or were tampered with): ignored. */
const MAX_RECORD_CHARS = 1024;

export interface LastBackupRecord {
  /** The dated folder, stock `YYYY-MM-DD-HH-MM-SS` (the master's local time). */
  date: string;
  /** When the backup finished, ISO 8601 UTC. */
  finishedAt: string;
  vms: number;
  templates: number;
  /** VMs and templates whose export failed (the backup still succeeded). */
  failures: number;
  /** Bytes this backup wrote (its size on the filesystem, roughly). */
  backupBytes: number;
  /** The backup filesystem after the run. */
  usedBytes: number;
  capacityBytes: number;
  /** How many backups it keeps (retention). */
  keep: number;
}

export function formatLastBackupRecord(r: LastBackupRecord): string {
  return JSON.stringify({ v: 1, ...r });
}

const DATE = /^\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}$/;

function count(v: unknown): number | null {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null;
}

/** The record, or null when the value is absent, too long, or not one this program wrote. */
export function parseLastBackupRecord(raw: string | undefined | null): LastBackupRecord | null {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_RECORD_CHARS) return null;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  if (o['v'] !== 1) return null;
  const date = o['date'];
  const finishedAt = o['finishedAt'];
  if (typeof date !== 'string' || !DATE.test(date)) return null;
  if (typeof finishedAt !== 'string' || finishedAt.length > 40 || Number.isNaN(Date.parse(finishedAt))) return null;
  const nums = ['vms', 'templates', 'failures', 'backupBytes', 'usedBytes', 'capacityBytes', 'keep'] as const;
  const out: Record<string, number> = {};
  for (const k of nums) {
    const n = count(o[k]);
    if (n === null) return null;
    out[k] = n;
  }
  if (out['capacityBytes'] === 0 || out['usedBytes']! > out['capacityBytes']!) return null;
  return { date, finishedAt: new Date(Date.parse(finishedAt)).toISOString(), ...(out as Omit<LastBackupRecord, 'date' | 'finishedAt'>) };
}

export function usedPercentOf(r: Pick<LastBackupRecord, 'usedBytes' | 'capacityBytes'>): number {
  return Math.round((r.usedBytes / r.capacityBytes) * 100);
}

/**
 * How many more backups of the last one's size can start before the space guard
 * (SPACE_GUARD_PERCENT of the filesystem) refuses one. The guard is checked before a backup
 * writes, and retention removes the oldest folder after it, so once `keep` backups are kept
 * each new one replaces one and the use stays level: Infinity. Database dumps and links are
 * small and sizes vary, so this is an estimate. null: the size of a backup is not known.
 */
export function backupsThatFit(r: Pick<LastBackupRecord, 'usedBytes' | 'capacityBytes' | 'backupBytes' | 'keep'>, keptNow: number): number | null {
  const guardBytes = (r.capacityBytes * SPACE_GUARD_PERCENT) / 100;
  if (r.usedBytes > guardBytes) return 0;
  if (keptNow >= r.keep) return Number.POSITIVE_INFINITY;
  if (r.backupBytes <= 0) return null;
  // Closed form, not a loop: the values are host data, and a loop over keep or over the room
  // in backups (both up to 2^53) would hang the screen drawing it. The (keep - keptNow + 1)th
  // backup from now is the first whose oldest folder goes after it; if it still starts under
  // the guard, the use stays level from then on.
  if (r.usedBytes + (r.keep - keptNow) * r.backupBytes <= guardBytes) return Number.POSITIVE_INFINITY;
  return Math.floor((guardBytes - r.usedBytes) / r.backupBytes) + 1;
}

/** The space outlook after a backup, for the summaries (console, CLI text and --json). */
export interface SpaceForecast {
  /**
   * More backups of the last one's size the guard lets start: a count, 'unlimited' when
   * retention keeps the use level, or null when a backup's size is not known.
   */
  backupsThatFit: number | 'unlimited' | null;
  /** The next backup will be refused by the space guard (BACKUP_VDI_FULL) unless forced. */
  nextRefused: boolean;
  /** Only this one more fits: the one after it will be refused. */
  lastThatFits: boolean;
}

export function spaceForecast(r: Pick<LastBackupRecord, 'usedBytes' | 'capacityBytes' | 'backupBytes' | 'keep'>, keptNow: number): SpaceForecast {
  const n = backupsThatFit(r, keptNow);
  const backups = n === null ? null : n === Number.POSITIVE_INFINITY ? 'unlimited' : n;
  return { backupsThatFit: backups, nextRefused: n === 0, lastThatFits: n === 1 };
}

/** "2 more backups fit", for the summaries; the warning when the next one, or the one after, will be refused. */
export function forecastText(f: SpaceForecast): { line: string; warning: string | null } {
  const b = f.backupsThatFit;
  const line =
    b === 'unlimited'
      ? 'All the backups kept fit: once as many are kept as retention allows, the oldest is removed after each new one, so the use stays about level.'
      : b === null
        ? 'How many more backups fit is not known (the size of a backup is not).'
        : `About ${b} more backup${b === 1 ? ' of this size fits' : 's of this size fit'} before the ${SPACE_GUARD_PERCENT}% guard.`;
  const warning = f.nextRefused
    ? `The next backup will be refused: the backup VDI is over ${SPACE_GUARD_PERCENT}% full. Keep fewer backups and back up past the guard, or use a larger backup VDI.`
    : f.lastThatFits
      ? `Only one more backup fits: the one after it will be refused (over ${SPACE_GUARD_PERCENT}% full). Keep fewer backups, or use a larger backup VDI.`
      : null;
  return { line, warning };
}
