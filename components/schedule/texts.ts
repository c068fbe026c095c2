/**
 * The schedule's texts: stock xsconsole wording (plugins-base/XSFeatureDRSchedule.py), plus
 * the SR and last run. Pure.
 */
import type { ScheduleSetting, ScheduleStatus, SetScheduleReport } from '../../src/dr/schedule.js';
import type { ScheduledResult } from '../../src/dr/scheduled-backup.js';
import type { SrLabel } from '../services.js';
import type { TextLine } from '../dialogues/TextDialogue.js';
import { neutralise } from '../../src/safe-text.js';
import { errorText } from '../../src/text-sinks.js';

export const SCHEDULE_MENU_TITLE = 'Schedule Virtual Machine Metadata';
export const SCHEDULE_STATUS_TITLE = 'Schedule Virtual Machine Metadata Backup';
export const SCHEDULE_STATUS_TEXT = 'Press <Enter> to select how to schedule regular Virtual Machine metadata backups.';
export const SCHEDULE_KEY_HELP = '<Enter> Change Schedule';
export const SCHEDULE_TITLE = 'Schedule Regular Metadata Backup';
export const SCHEDULE_LINK_FAILED = 'Failed to create metadata schedule link';
export const SCHEDULE_CHOICES: ReadonlyArray<{ label: string; value: ScheduleSetting }> = [
  { label: 'Daily', value: 'daily' },
  { label: 'Weekly', value: 'weekly' },
  { label: 'Monthly', value: 'monthly' },
  { label: 'Never', value: 'never' },
];

export function schedulePrompt(setting: ScheduleSetting): string {
  return setting === 'never'
    ? 'Scheduled Metadata Backups are currently disabled.  Please select the desired frequency:'
    : `Scheduled Metadata Backups are currently set to occur ${setting}.  Please select the desired frequency:`;
}

export function scheduleSetMessage(r: SetScheduleReport): string {
  if (r.setting === 'never') return 'Metadata Backup Schedule successfully disabled';
  return `Metadata Backup Schedule successfully changed to occur ${r.setting}.\n\nCron runs ${neutralise(r.link)}, which starts ${neutralise(r.runner)}.`;
}

function srText(label: SrLabel | null): string {
  if (!label) return "the pool's default SR (the pool has none: set one, or the scheduled backup fails)";
  return `SR "${neutralise(label.name || label.uuid)}" (${neutralise(label.uuid)})${label.isDefault ? ", the pool's default SR" : ''}`;
}

/** Which SR the scheduled backup uses (`label`: the SR the status names, resolved in the pool). */
export function srLine(s: ScheduleStatus, label: SrLabel | null): string {
  if (s.active && s.active.kind === 'stock') return `Backs up to: ${srText(label)}, as the stock runner (xe-backup-metadata -c) does.`;
  if (s.active && s.active.kind !== 'ours') return 'Backs up to: unknown (the schedule was not written by xsconsole-dr).';
  if (s.setting === 'never') return `A new schedule backs up to: ${srText(label)}.`;
  if (s.sr && label === null) return `Backs up to: SR ${neutralise(s.sr)}, which is not in this pool: the pool's default SR is used instead.`;
  return `Backs up to: ${srText(label)}.`;
}

function when(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return neutralise(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The last scheduled run's outcome, when the runner recorded one (its names as the pool had them). */
export function lastRunLine(r: ScheduledResult | null): TextLine {
  if (!r) return 'Last scheduled backup: none recorded.';
  const at = when(r.finishedAt || r.startedAt);
  const where = r.sr ? ` to SR "${neutralise(r.sr.name || r.sr.uuid)}"` : '';
  if (r.status === 'failed') {
    const e = r.error ? `${r.error.code === 'ERROR' ? '' : `${errorText(r.error.code)}: `}${errorText(r.error.meaning)}` : `exit code ${neutralise(r.exitCode)}`;
    return { text: `Last scheduled backup (${at})${where} FAILED: ${e}`, alert: true };
  }
  const b = r.backup;
  const what = b ? `backup ${neutralise(b.date)}, ${neutralise(b.vmsExported)} VM(s) and ${neutralise(b.templatesExported)} template(s)` : 'done';
  if (r.status === 'partial') return { text: `Last scheduled backup (${at})${where}: ${what}; ${neutralise(b?.failureCount ?? 0)} export(s) FAILED.`, alert: true };
  return `Last scheduled backup (${at})${where}: ${what}.`;
}
