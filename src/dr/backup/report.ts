/** What a backup run reports: what was written where, the space, what was cleaned and waited for. */
import type { CleanedItem } from '../leftovers.js';
import type { ClockFacts } from '../master-clock.js';
import type { CommitPlan } from '../volume/commit-plan.js';
import type { AccessMode } from '../volume/workspace.js';
import type { SpaceForecast } from '../backup-record.js';
import type { VappsRecorded } from '../vapps.js';

export interface BackupFailure {
  uuid: string;
  name: string;
  template: boolean;
  code: string;
  message: string;
}

export interface SpaceUse {
  usedPercent: number;
  usedBytes: number;
  availableBytes: number;
}

export interface BackupReport {
  sr: { uuid: string; name: string };
  vdi: { uuid: string; created: boolean; deterministicUuid: boolean };
  pool: { uuid: string; name: string };
  date: string;
  access: AccessMode;
  vmsExported: number;
  templatesExported: number;
  failures: BackupFailure[];
  /** Bytes of files written into the backup filesystem. */
  bytesWritten: number;
  spaceBefore: SpaceUse;
  spaceAfter: SpaceUse;
  /** Dated backups present after the run, newest first. */
  backupsKept: string[];
  backupsRemoved: string[];
  /** Older database dumps kept (.db.1 …). */
  databaseHistory: number;
  /** vApps recorded beside the stock files (vapps.ts); none where the pool has no vApps. */
  vapps: VappsRecorded;
  /** The filesystem needed (and got) an e2fsck repair, or a cut commit completed, before use. */
  repaired: boolean;
  /** How the backup reached the VDI: blocks written in place, blocks through the journal. */
  commit: CommitPlan['summary'];
  transfer: { downloadedBytes: number; uploadedBytes: number };
  durationMs: number;
  /** Where the date came from and how far this machine's clock is from the master's. */
  clock: ClockFacts;
  /** For the operator: clock skew over a minute, a clock fallback, a lock taken over. */
  warnings: string[];
  /** Leftovers of interrupted runs removed before this backup (VBDs, partial files). */
  cleaned: CleanedItem[];
  /** Time spent waiting for another run holding the VDI (null: none). */
  waited: { ms: number; for: string } | null;
  /** Backups this run keeps (retention, stock -k). */
  keep: number;
  /** How many more backups of this size fit, and whether the next one will be refused. */
  forecast: SpaceForecast;
  /** The record of this backup was written on the backup VDI (status panes read it); a warning says why not. */
  recordWritten: boolean;
}

/** Space use as it is once `bytes` more are free (the partial files removed at start). */
export function freed(space: SpaceUse, bytes: number): SpaceUse {
  if (bytes <= 0) return space;
  const usedBytes = Math.max(0, space.usedBytes - bytes);
  const availableBytes = space.availableBytes + (space.usedBytes - usedBytes);
  const total = usedBytes + availableBytes;
  return { usedBytes, availableBytes, usedPercent: total > 0 ? Math.ceil((usedBytes * 100) / total) : 0 };
}

export function spaceOf(sb: { usedPercent: number; usedBytes: number; availableBytes: number }): SpaceUse {
  return { usedPercent: sb.usedPercent, usedBytes: sb.usedBytes, availableBytes: sb.availableBytes };
}
