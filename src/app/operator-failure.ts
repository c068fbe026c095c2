/** Operator text for any failure the console meets (code, meaning, next step, step). */
import { explainError } from '../xenapi/index.js';
import { BackupStepError, backupStepText, SpaceGuardError } from '../dr/backup.js';
import { BackupTargetError, NoBackupVdiError } from '../dr/backup-vdi.js';
import { BackupSourceError } from '../dr/backup-source.js';
import { ScheduleError } from '../dr/schedule.js';
import { errorText } from '../text-sinks.js';
import { FileExistsError } from './saved-report.js';

/** A failure as screens show it: code, meaning, next step, and the step that failed. */
export interface FailureText {
  code: string;
  meaning: string;
  nextStep: string;
  /** e.g. "Attaching the backup VDI" when the failure happened inside a backup step. */
  step?: string;
}


// ---- errors -------------------------------------------------------------------------

/** A failure as the screens show it: each part one line, whatever host text it holds. */
export function explainConsoleError(err: unknown): FailureText {
  const f = describeConsoleError(err);
  return {
    code: errorText(f.code),
    meaning: errorText(f.meaning),
    nextStep: errorText(f.nextStep),
    ...(f.step !== undefined && { step: errorText(f.step) }),
  };
}

function describeConsoleError(err: unknown): FailureText {
  if (err instanceof BackupStepError) {
    return { ...explainError(err.cause), step: backupStepText(err.step) };
  }
  if (err instanceof SpaceGuardError) {
    return {
      code: 'BACKUP_VDI_FULL',
      meaning: `The backup VDI is ${err.usedPercent}% full; backups stop above 90% so the last good ones are not overwritten.`,
      nextStep: 'Keep fewer backups, or back up anyway from the command line with "backup --force".',
    };
  }
  if (err instanceof NoBackupVdiError) {
    return { code: 'NO_BACKUP_VDI', meaning: err.message, nextStep: 'Run a backup to this SR first; it creates the backup VDI.' };
  }
  if (err instanceof BackupTargetError) {
    return { code: 'BACKUP_TARGET', meaning: err.message, nextStep: 'Choose another SR, or refresh (F5) the list.' };
  }
  if (err instanceof BackupSourceError) {
    return { code: err.code === 'NO_VDI' ? 'NO_BACKUP_VDI' : err.code, meaning: err.message, nextStep: BACKUP_SOURCE_NEXT_STEP[err.code] };
  }
  if (err instanceof ScheduleError) {
    return { code: err.code, meaning: err.message, nextStep: SCHEDULE_NEXT_STEP[err.code] };
  }
  if (err instanceof FileExistsError) {
    return { code: 'FILE_EXISTS', meaning: err.message, nextStep: 'Choose another file name, or agree to replace it.' };
  }
  const errno = err as NodeJS.ErrnoException;
  if (err instanceof Error && typeof errno.code === 'string' && typeof errno.syscall === 'string') {
    return { code: errno.code, meaning: err.message, nextStep: 'Choose another file or folder.' };
  }
  return explainError(err);
}

const BACKUP_SOURCE_NEXT_STEP: Record<BackupSourceError['code'], string> = {
  NO_VDI: 'Choose the SR the backup was written to; a backup made before 2024 needs the scan for older backup VDIs.',
  NOT_A_BACKUP: 'Choose another VDI or SR.',
  NOT_PERMITTED: 'Only the SR\'s own backup VDI is used unless you agree to the scan for older backup VDIs.',
  NO_METADATA: 'Back up to this SR first, or choose the SR holding the backup.',
  NO_SUCH_DATE: 'Choose the backup again from the list.',
  NO_ENTRIES: 'Choose "All VM Metadata", or another backup.',
  MULTIPLE: 'Choose one of the VDIs found.',
};

const SCHEDULE_NEXT_STEP: Record<ScheduleError['code'], string> = {
  FOREIGN_ENTRY: 'Replace it only if it is no longer wanted.',
  NO_CRON_DIR: 'Install cron (or anacron) on this host, or run the console with the right cron folder.',
  BAD_SETTING: 'Choose Daily, Weekly, Monthly or Never.',
  LINK_FAILED: 'Check the permissions of the cron folders (the console must run as root on the host).',
};

