/** The texts of the backup's result dialogues (pure, so they are tested without a terminal). */
import { failureLines } from '../services.js';
import type { BackupReport } from '../../src/dr/backup.js';
import { formatBytes } from '../../src/dr/overview.js';
import { cleanedText } from '../../src/dr/leftovers.js';
import { describeDuration } from '../../src/dr/master-clock.js';
import type { FailureText } from '../services.js';
import { neutralise, oneLine } from '../../src/safe-text.js';
import { errorText } from '../../src/text-sinks.js';

export const BACKUP_OK_TITLE = 'Backup Successful';
export const BACKUP_PARTIAL_TITLE = 'Backup Completed With Failures';
export const BACKUP_FAILED_TITLE = 'Metadata Backup Failed';
export const BACKUP_FAILED_PREFIX = 'Metadata Backup failed:';
const LISTED_BACKUPS = 5;

export function backupSummaryTitle(r: BackupReport): string {
  return r.failures.length > 0 ? BACKUP_PARTIAL_TITLE : BACKUP_OK_TITLE;
}

/** Names from the pool neutralised where they enter the text: none can start a line of its own. */
export function backupSummaryText(r: BackupReport): string {
  const lines: string[] = [];
  const pool = r.pool.name ? `pool "${neutralise(r.pool.name)}"` : 'the pool';
  lines.push(`Backup ${neutralise(r.date)} of ${pool} written to SR "${neutralise(r.sr.name || r.sr.uuid)}".`);
  lines.push(`Backup VDI: ${neutralise(r.vdi.uuid)}${r.vdi.created ? ' (created by this backup)' : ''}`);
  if (!r.vdi.deterministicUuid) {
    lines.push('Warning: the pool did not give the backup VDI its standard uuid (XAPI before 2024); restoring will need the scan for older backup VDIs.');
  }
  if (r.repaired) lines.push('The backup filesystem needed a repair (e2fsck) before use.');
  for (const w of r.warnings) lines.push(`Warning: ${oneLine(w)}`);
  if (r.waited) lines.push(`Waited ${describeDuration(r.waited.ms)} for ${oneLine(r.waited.for)}.`);
  for (const c of r.cleaned) lines.push(cleanedText(c));
  lines.push(`VMs exported: ${r.vmsExported}, templates: ${r.templatesExported}`);
  if (r.failures.length === 0) {
    lines.push('Failures: none');
  } else {
    lines.push(`Failures: ${r.failures.length}`);
    for (const f of r.failures) lines.push(`  ${f.template ? 'Template' : 'VM'} "${neutralise(f.name)}": ${errorText(f.code)} ${errorText(f.message)}`);
  }
  const total = r.spaceAfter.usedBytes + r.spaceAfter.availableBytes;
  lines.push(`Space used on the backup VDI: ${r.spaceAfter.usedPercent}% (${formatBytes(r.spaceAfter.usedBytes)} of ${formatBytes(total)}); ${formatBytes(r.bytesWritten)} written.`);
  const shown = r.backupsKept.slice(0, LISTED_BACKUPS).map(neutralise).join(', ');
  const more = r.backupsKept.length > LISTED_BACKUPS ? `, and ${r.backupsKept.length - LISTED_BACKUPS} older` : '';
  lines.push(`Backups kept: ${r.backupsKept.length} (${shown}${more})`);
  if (r.backupsRemoved.length > 0) lines.push(`Removed as too old: ${r.backupsRemoved.map(neutralise).join(', ')}`);
  lines.push(`Database dumps kept: ${r.databaseHistory + 1}`);
  lines.push(`Finished in ${(r.durationMs / 1000).toFixed(1)} s.`);
  return lines.join('\n');
}

/** "Metadata Backup failed: <step>: <CODE>: <meaning>" and the next step. */
export function backupFailureText(f: FailureText): string {
  // The operator text every front end shows (src/app/operator-failure.ts), after this screen's title.
  const [what, next] = failureLines(f);
  return `${BACKUP_FAILED_PREFIX} ${what}\n\n${next}`;
}
