/**
 * Failures of the schedule, classic export/import and inspect commands: their errors carry
 * a code of their own, which --json reports (instead of the generic "ERROR").
 */
import { ClassicError } from '../dr/legacy.js';
import { InspectError } from '../dr/inspect.js';
import { ScheduleError } from '../dr/schedule.js';
import { errorText } from '../text-sinks.js';
import { printFailure, printJson, type Io } from './output.js';

const NEXT_STEP: Record<string, string> = {
  FOREIGN_ENTRY: 'Pass --force to replace it; what it pointed to is reported.',
  NO_CRON_DIR: 'Install cron (or anacron), or give the right --cron-root.',
  BAD_SETTING: 'Use daily, weekly, monthly or never, and an SR uuid for --sr.',
  LINK_FAILED: 'Check the permissions of the cron folder (root is needed for /etc).',
  NO_MATCH: 'Check the VM uuid (xe vm-list); templates and snapshots are not exported this way.',
  FILE_EXISTS: 'Choose another file name, or pass --force to replace the set.',
  NO_FILE: 'Check the file name: give the first file of the set (without a number).',
  NO_DRY_RUN: 'Run without --dry-run only when you mean to import.',
  BAD_SELECTION: 'Give either --vm UUID or --all.',
  NO_IMAGE: 'Give the path of a backup VDI image file (or block device).',
  NOT_A_BACKUP: 'Check that this is the "Pool Metadata Backup" VDI image.',
  NO_SUCH_DATE: 'Run inspect without --date to list the backups.',
  TOO_LARGE: 'Check where the image came from: a genuine backup VDI holds far less. Nothing was written.',
  TOO_SLOW: 'Check where the image came from: a genuine backup VDI is read in seconds. Nothing was written.',
};

export function printDomainFailure(io: Io, err: unknown, json: boolean): void {
  if (err instanceof ScheduleError || err instanceof ClassicError || err instanceof InspectError) {
    if (json) printJson(io, { error: { code: err.code, meaning: err.message, nextStep: NEXT_STEP[err.code] ?? '' } });
    else io.err(`Error: ${errorText(err.message)}${NEXT_STEP[err.code] ? `\n${NEXT_STEP[err.code]}` : ''}`);
    return;
  }
  printFailure(io, err, json);
}
