/**
 * What the status panes and the SR pickers say about backups: the record the last backup
 * left on its VDI (src/dr/backup-record.ts) and the scheduled runner's last result. Pure;
 * every name and host value goes through neutralise() / the failure sink.
 */
import type { RecordedSrBackup, SrBackup, SrBackupEntry } from '../../src/dr/overview.js';
import { failureLines, type FailureText, type LastScheduledRun } from '../../src/app/index.js';
import { neutralise } from '../../src/safe-text.js';

/** A stock folder date "2026-12-07-14-00-00" as "2026-12-07 14:00" (the master's local time, as the restore lists it). */
export function backupWhen(date: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})-(\d{2})-(\d{2})-\d{2}$/.exec(date);
  return m ? `${m[1]} ${m[2]}:${m[3]}` : neutralise(date);
}

/** An ISO time as this console's local "2026-12-07 02:00". */
export function localWhen(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return 'at an unknown time';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** "~3 more fit", "room for every backup kept" (retention), "" when the size of a backup is not known. */
export function fitText(fit: number | null): string {
  if (fit === null) return '';
  if (fit === Number.POSITIVE_INFINITY) return 'room for every backup kept';
  if (fit === 0) return 'no more fit';
  // A count this large only comes from an absurd record; it would not fit the row either.
  if (fit > 999) return 'over 999 more fit';
  return `~${fit} more ${fit === 1 ? 'fits' : 'fit'}`;
}

/** An SR's backup for the picker: "backup 2026-12-07 14:00, 64% full, ~3 more fit"; "" for none. */
export function srBackupText(b: SrBackup): string {
  switch (b.kind) {
    case 'none':
      return '';
    case 'unrecorded':
      return 'backup VDI, no record';
    case 'recorded':
      return [`backup ${backupWhen(b.record.date)}`, `${b.usedPercent}% full`, fitText(b.fit)].filter(Boolean).join(', ');
  }
}

/** The picker's short column: how full the backup VDI is, "VDI" without a record, "" without one. */
export function srBackupCell(b: SrBackup): string {
  return b.kind === 'recorded' ? `${Math.min(b.usedPercent, 999)}%` : b.kind === 'unrecorded' ? 'VDI' : '';
}

export interface PaneLine {
  text: string;
  alert?: boolean;
}

/** What the status pane knows about the last backup. */
export type LastBackupState =
  | { kind: 'logged-out' }
  | { kind: 'reading' }
  | { kind: 'failed'; failure: FailureText }
  | { kind: 'read'; entries: SrBackupEntry[]; newest: (SrBackupEntry & { backup: RecordedSrBackup }) | null };

function srName(sr: { uuid: string; name: string }): string {
  return `SR "${neutralise(sr.name || sr.uuid)}"`;
}

export function lastBackupLines(s: LastBackupState): PaneLine[] {
  switch (s.kind) {
    case 'logged-out':
      return [{ text: 'Last backup: log in to see it.' }];
    case 'reading':
      return [{ text: 'Last backup: reading...' }];
    case 'failed': {
      const [what, next] = failureLines(s.failure);
      return [{ text: `Last backup: could not be read. ${what}`, alert: true }, { text: next }];
    }
    case 'read': {
      if (s.newest) {
        const { record: r, usedPercent, fit } = s.newest.backup;
        const failed = r.failures > 0 ? `, ${r.failures} failed` : '';
        const head = `Last backup: ${backupWhen(r.date)} on ${srName(s.newest.sr)} (${r.vms} VMs, ${r.templates} templates${failed}): ${usedPercent}% full`;
        // The refusal to come is said in the same line, so a short pane cannot drop it.
        if (fit === 0) return [{ text: `${head}; the next backup to this SR will be refused: keep fewer backups, or back up to another SR.`, alert: true }];
        return [{ text: `${head}${fit === null ? '' : `, ${fitText(fit)}`}.` }];
      }
      const unrecorded = s.entries.filter((e) => e.backup.kind === 'unrecorded');
      if (unrecorded.length > 0) {
        const where = unrecorded.length === 1 ? srName(unrecorded[0]!.sr) : `${unrecorded.length} SRs`;
        return [{ text: `Last backup: not recorded (${where} ${unrecorded.length === 1 ? 'holds' : 'hold'} a backup VDI without a record, e.g. made by the stock tools).` }];
      }
      return [{ text: 'Last backup: none (no SR holds a backup VDI).' }];
    }
  }
}

/** The scheduled runner's last result; a failure with its code, meaning and next step. */
export function lastScheduledLines(run: LastScheduledRun | null): PaneLine[] {
  if (!run) return [{ text: 'Last scheduled backup: none recorded.' }];
  const when = [run.at ? localWhen(run.at) : 'time unknown', run.sr ? srName(run.sr) : ''].filter(Boolean).join(', ');
  if (run.status === 'failed') {
    const [what, next] = failureLines(run.failure ?? { kind: 'expected', code: `EXIT_${run.exitCode}`, meaning: '', nextStep: '' });
    // The next step on its own line, as every failure dialogue gives it (no label: rows are few).
    return [{ text: `Scheduled backup FAILED (${when}): ${what}`, alert: true }, { text: next }];
  }
  const made = run.backupDate ? `backup ${backupWhen(run.backupDate)}` : 'done';
  if (run.status === 'partial') {
    return [{ text: `Last scheduled backup (${when}): ${made}, but ${run.failedExports} VM export(s) FAILED.`, alert: true }];
  }
  return [{ text: `Last scheduled backup (${when}): ${made}, succeeded.` }];
}
