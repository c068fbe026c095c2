/**
 * `xsconsole-dr backup`: the stock xe-backup-metadata options in long form.
 * Exit codes: 0 done; 3 no backup VDI and creation off (as stock); 4 done but some VM
 * exports failed; 1 any other failure.
 */
import type { Command } from 'commander';
import type { GlobalOptions } from '../connect.js';
import { runWithConnection } from './connection.js';
import { backupProgressText, runBackup, type BackupProgress, type BackupReport } from '../dr/backup.js';
import { forecastText } from '../dr/backup-record.js';
import { NoBackupVdiError } from '../dr/backup-vdi.js';
import { formatBytes } from '../dr/overview.js';
import { cleanedText } from '../dr/leftovers.js';
import { describeDuration } from '../dr/master-clock.js';
import { vappsRecordedText } from '../dr/vapps.js';
import { parseIntOption } from './options.js';
import { ExitCode, printJson, stdio, type Io } from './output.js';
import { scheduledBackupAction } from './schedule.js';
import { neutralise, oneLine } from '../safe-text.js';
import { errorText } from '../text-sinks.js';
import { usageError } from '../failure/index.js';

interface BackupCommandOptions {
  sr?: string;
  create: boolean;
  keep?: number;
  force?: boolean;
  json?: boolean;
  access: 'auto' | 'attach' | 'remote';
  concurrency?: number;
  scheduled?: boolean;
  stateDir?: string;
  poolConf?: string;
  wait?: number;
}

export const EXIT_NO_VDI = 3;
/** The progress on stderr: where the backup goes, its space, and whom it waits for (cleaning is in the summary). */
const PROGRESS_SHOWN = new Set<BackupProgress['kind']>(['sr', 'vdi-found', 'vdi-created', 'space', 'lock-wait']);
export const EXIT_PARTIAL = 4;

/** The report as text: every name and value from the pool neutralised where it enters a line. */
export function backupText(r: BackupReport): string {
  const lines = [
    `Using SR: ${neutralise(r.sr.name)} (${neutralise(r.sr.uuid)})`,
    r.vdi.created ? `Created new backup VDI: ${neutralise(r.vdi.uuid)}` : `Backup VDI: ${neutralise(r.vdi.uuid)}`,
  ];
  if (!r.vdi.deterministicUuid) {
    lines.push('Warning: this host did not give the backup VDI its deterministic uuid (XAPI before 2024); restores will need the legacy scan.');
  }
  if (r.repaired) lines.push('The backup filesystem was repaired by e2fsck before use.');
  for (const w of r.warnings) lines.push(`Warning: ${oneLine(w)}`);
  if (r.waited) lines.push(`Waited ${describeDuration(r.waited.ms)} for ${oneLine(r.waited.for)}.`);
  for (const c of r.cleaned) lines.push(cleanedText(c));
  lines.push(
    `Backup VDI space usage: ${r.spaceBefore.usedPercent}% before, ${r.spaceAfter.usedPercent}% after`,
    `Backup ${neutralise(r.date)}: ${r.vmsExported} VM(s) and ${r.templatesExported} template(s) exported, ${formatBytes(r.bytesWritten)} written`,
    vappsRecordedText(r.vapps),
  );
  for (const f of r.failures) {
    lines.push(`  FAILED ${f.template ? 'template' : 'VM'} "${neutralise(f.name)}" (${neutralise(f.uuid)}): ${errorText(f.code)} ${errorText(f.message)}`);
  }
  const forecast = forecastText(r.forecast);
  lines.push(forecast.line);
  if (forecast.warning) lines.push(`Warning: ${forecast.warning}`);
  lines.push(
    `Backups kept: ${r.backupsKept.length}${r.backupsRemoved.length ? `, removed: ${r.backupsRemoved.map(neutralise).join(', ')}` : ''}; database dumps kept: ${r.databaseHistory + 1}`,
  );
  if (r.access === 'remote') {
    lines.push(`Remote access: fetched ${formatBytes(r.transfer.downloadedBytes)}, sent back ${formatBytes(r.transfer.uploadedBytes)}`);
  }
  lines.push(
    r.failures.length ? `Backup completed with ${r.failures.length} error(s) in ${(r.durationMs / 1000).toFixed(1)} s` : `Backup completed in ${(r.durationMs / 1000).toFixed(1)} s`,
  );
  return lines.join('\n');
}

export async function backupAction(global: GlobalOptions, opts: BackupCommandOptions, io: Io = stdio): Promise<number> {
  const failureCode = (err: unknown) => (err instanceof NoBackupVdiError ? EXIT_NO_VDI : 1);
  return runWithConnection(global, { json: opts.json ?? false, io, failureCode }, async (conn, signal) => {
    let lastWait = '';
    const report = await runBackup(conn.session, {
      ...(opts.sr && { srUuid: opts.sr }),
      create: opts.create,
      ...(opts.keep !== undefined && { history: opts.keep }),
      force: opts.force ?? false,
      access: opts.access,
      ...(opts.concurrency !== undefined && { concurrency: opts.concurrency }),
      ...(opts.wait !== undefined && { lockWaitMs: opts.wait * 1000 }),
      signal,
      ...(!opts.json && {
        onProgress: (e) => {
          if (!PROGRESS_SHOWN.has(e.kind)) return;
          const line = backupProgressText(e);
          if (line === null) return;
          // A wait is reported at every look: said once per holder.
          if (e.kind === 'lock-wait') {
            if (line === lastWait) return;
            lastWait = line;
          }
          io.err(line);
        },
      }),
    });
    if (opts.json) printJson(io, report);
    else io.out(backupText(report));
    return report.failures.length ? EXIT_PARTIAL : 0;
  });
}

export function registerBackupCommand(program: Command): void {
  program
    .command('backup')
    .description('back up VM metadata to the backup VDI of an SR (stock xe-backup-metadata format)')
    .option('--sr <uuid>', "SR to back up to (default: the pool's default SR)")
    .option('--no-create', 'do not create the backup VDI when it is missing (exit 3 then)')
    .option('--keep <n>', 'backups to keep (stock -k)', parseIntOption('--keep', 1, 10000))
    .option('--force', 'back up even when the backup VDI is more than 90% full')
    .option('--json', 'print the backup report as JSON')
    .option('--access <mode>', 'how to reach the VDI: auto, attach (on the master) or remote', 'auto')
    .option('--concurrency <n>', 'VM exports in flight at once (default 8)', parseIntOption('--concurrency', 1, 32))
    .option('--wait <seconds>', 'how long to wait for another run using the backup VDI before refusing (default 300)', parseIntOption('--wait', 0, 86400))
    .option('--scheduled', 'run as the scheduled runner (see schedule): only on the pool master, failures to syslog, result recorded, exit 0')
    .option('--state-dir <dir>', 'with --scheduled: where the result is recorded (default /var/lib/xsconsole-dr)')
    .option('--pool-conf <file>', 'with --scheduled: the file saying whether this host is the pool master (default /etc/xensource/pool.conf)')
    .action(async (opts: BackupCommandOptions, cmd: Command) => {
      if (!['auto', 'attach', 'remote'].includes(opts.access)) throw usageError('--access takes auto, attach or remote');
      const global = cmd.optsWithGlobals() as GlobalOptions;
      const code = opts.scheduled ? await scheduledBackupAction(global, opts) : await backupAction(global, opts);
      if (code !== 0) throw new ExitCode(code);
    });
}
