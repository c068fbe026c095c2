/** The texts of the backup's result dialogues (pure, so they are tested without a terminal). */
import { failureLines } from '../services.js';
import type { BackupReport, KeepFewerPlan, SpaceGuardFacts } from '../../src/dr/backup.js';
import { forecastText } from '../../src/dr/backup-record.js';
import { SPACE_GUARD_PERCENT } from '../../src/dr/layout.js';
import { formatBytes } from '../../src/dr/overview.js';
import { cleanedText } from '../../src/dr/leftovers.js';
import { describeDuration } from '../../src/dr/master-clock.js';
import { vappsRecordedText } from '../../src/dr/vapps.js';
import type { FailureText } from '../services.js';
import { neutralise, oneLine } from '../../src/safe-text.js';
import { errorText } from '../../src/text-sinks.js';

export const BACKUP_OK_TITLE = 'Backup Successful';
export const BACKUP_PARTIAL_TITLE = 'Backup Completed With Failures';
export const BACKUP_FAILED_TITLE = 'Metadata Backup Failed';
export const BACKUP_FAILED_PREFIX = 'Metadata Backup failed:';
export const BACKUP_CANCELLED_TITLE = 'Backup Cancelled';
export const BACKUP_FULL_TITLE = 'Backup VDI Full';
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
  lines.push(vappsRecordedText(r.vapps));
  if (r.failures.length === 0) {
    lines.push('Failures: none');
  } else {
    lines.push(`Failures: ${r.failures.length}`);
    for (const f of r.failures) lines.push(`  ${f.template ? 'Template' : 'VM'} "${neutralise(f.name)}": ${errorText(f.code)} ${errorText(f.message)}`);
  }
  const total = r.spaceAfter.usedBytes + r.spaceAfter.availableBytes;
  lines.push(`Space used on the backup VDI: ${r.spaceAfter.usedPercent}% (${formatBytes(r.spaceAfter.usedBytes)} of ${formatBytes(total)}); ${formatBytes(r.bytesWritten)} written.`);
  const forecast = forecastText(r.forecast);
  lines.push(forecast.line);
  if (forecast.warning) lines.push(`Warning: ${forecast.warning}`);
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

/** What a cancelled backup had done and cleaned (the domain's facts), and the next step. */
export function backupCancelledText(f: FailureText): string {
  return `${errorText(f.meaning)}\n\n${errorText(f.nextStep)}`;
}

/** The refusal, its figures, and the two remedies the choices below it offer. */
export function spaceOfferPrompt(f: FailureText, usedPercent: number, facts: SpaceGuardFacts): string {
  const [what] = failureLines(f);
  return (
    `${what}\n${formatBytes(facts.availableBytes)} free of ${formatBytes(facts.usedBytes + facts.availableBytes)} (${usedPercent}% used); ` +
    `${facts.backups.length} backup(s) on the VDI, up to ${facts.keep} kept.`
  );
}

export function keepFewerLabel(p: KeepFewerPlan): string {
  return `Keep ${p.keep}: removes ${p.removed.length} older backup${p.removed.length === 1 ? '' : 's'}`;
}

/** Said before a keep-fewer run: retention comes after the new backup, so it goes past the guard first. */
export function keepFewerQuestion(p: KeepFewerPlan, usedPercent: number, facts: SpaceGuardFacts): string {
  const listed = p.removed.slice(0, 3).map(neutralise).join(', ');
  const more = p.removed.length > 3 ? ` and ${p.removed.length - 3} more` : '';
  return (
    `Keep the newest ${p.keep} backup(s), this one included?\n\n` +
    `The new backup is written first, into the ${formatBytes(facts.availableBytes)} free now, past the ${SPACE_GUARD_PERCENT}% guard (${usedPercent}% used). ` +
    `Only once it is complete are ${p.removed.length} older backup(s) removed: ${listed}${more}. ` +
    'If it does not fit, the backup fails and nothing on the backup VDI changes. Later backups keep the default number again.'
  );
}

export function forceQuestion(usedPercent: number, facts: SpaceGuardFacts): string {
  return (
    `Back up anyway, past the ${SPACE_GUARD_PERCENT}% guard (${usedPercent}% used)?\n\n` +
    `The new backup is written into the ${formatBytes(facts.availableBytes)} free now; if it does not fit, the backup fails and nothing on the backup VDI changes. ` +
    (removedByForce(facts) === 0
      ? `No backup is removed: with this one there are ${facts.backups.length + 1}, within the ${facts.keep} kept.`
      : `Once it is complete, the oldest ${removedByForce(facts)} backup(s) are removed (${facts.keep} are kept).`)
  );
}

const removedByForce = (facts: SpaceGuardFacts) => Math.max(0, facts.backups.length + 1 - facts.keep);
