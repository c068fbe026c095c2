/**
 * What a backup tells its front ends while it runs: typed events, so the CLI and the console
 * choose what to show by kind and figures, never by reading message text. Names and uuids in
 * the events are the pool's: the front ends neutralise them where they print.
 */
import { cleanedText, type CleanedItem } from '../leftovers.js';
import { neutralise, oneLine } from '../../safe-text.js';
import { formatBytes } from '../overview.js';

export type BackupPhase =
  | 'sr'
  | 'vdi'
  | 'lock'
  | 'attach'
  | 'format'
  | 'check'
  | 'database'
  | 'srmeta'
  | 'vms'
  | 'links'
  | 'retention'
  | 'commit'
  | 'release';

export type BackupProgress =
  /** A step begins. */
  | { kind: 'phase'; phase: BackupPhase }
  /** The SR the backup goes to. */
  | { kind: 'sr'; uuid: string; name: string }
  /** The backup VDI already there, or made by this run. */
  | { kind: 'vdi-found'; uuid: string }
  | { kind: 'vdi-created'; uuid: string }
  /** Another run holds the VDI ('lock'), or a program has it plugged ('attached'); sent at every look. */
  | { kind: 'lock-wait'; holder: 'lock' | 'attached'; waitingFor: string; waitedMs: number }
  /** A leftover of an interrupted run removed (a stale VBD, a partial file). */
  | { kind: 'cleaned'; item: CleanedItem }
  /** The backup filesystem's use before this backup writes, and whether the guard lets it. */
  | { kind: 'space'; usedPercent: number; usedBytes: number; availableBytes: number; guardPercent: number; forced: boolean }
  | { kind: 'vm'; done: number; total: number; current: string; failed: number };

/** What a step does, for messages like "<step> failed: …" and the banner of a running step. */
export function backupStepText(step: BackupPhase): string {
  return STEP_TEXT[step];
}

const STEP_TEXT: Record<BackupPhase, string> = {
  sr: 'Finding the SR',
  vdi: 'Finding or creating the backup VDI',
  lock: 'Taking the backup VDI for this run',
  attach: 'Attaching the backup VDI',
  format: 'Formatting the new backup VDI',
  check: 'Checking the backup filesystem',
  database: 'Backing up the pool database',
  srmeta: 'Backing up SR metadata',
  vms: 'Backing up VM metadata',
  links: 'Linking VMs by SR',
  retention: 'Cleaning old VM metadata',
  commit: 'Writing the backup VDI back to the pool',
  release: 'Releasing the backup VDI',
};

/** The running step, as a banner line ("Attaching the backup VDI..."). */
export function backupStepBanner(step: BackupPhase): string {
  return `${STEP_TEXT[step]}...`;
}

/**
 * The line a fact event is told by (the CLI's progress on stderr, the console's banner);
 * null for the events shown otherwise (steps, per-VM counts). Host text is neutralised here.
 */
export function backupProgressText(e: BackupProgress): string | null {
  switch (e.kind) {
    case 'sr':
      return `Using SR: ${neutralise(e.name)}`;
    case 'vdi-found':
      return `Using backup VDI: ${neutralise(e.uuid)}`;
    case 'vdi-created':
      return `Creating new backup VDI: ${neutralise(e.uuid)}`;
    case 'lock-wait':
      return e.holder === 'lock' ? `Waiting for ${oneLine(e.waitingFor)} to finish...` : `Waiting for ${oneLine(e.waitingFor)} to release it...`;
    case 'cleaned':
      return cleanedText(e.item);
    case 'space': {
      const over = e.usedPercent > e.guardPercent;
      const note = over ? (e.forced ? ` (over the ${e.guardPercent}% guard: backing up anyway, as asked)` : ` (over the ${e.guardPercent}% guard)`) : '';
      return `Checking backup VDI space usage: ${e.usedPercent}% (${formatBytes(e.availableBytes)} free of ${formatBytes(e.usedBytes + e.availableBytes)})${note}`;
    }
    case 'phase':
    case 'vm':
      return null;
  }
}
