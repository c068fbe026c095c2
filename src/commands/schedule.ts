/**
 * `xsconsole-dr schedule get|set` (the console's "Schedule Virtual Machine Metadata") and
 * the runner behind it, `xsconsole-dr backup --scheduled`.
 * Exit codes: schedule get/set 0 done, 1 failure (e.g. a foreign schedule in the way);
 * backup --scheduled always 0 once it has started, like the stock cron script: the outcome
 * goes to syslog (failures) and to the state folder (always).
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { connect, type GlobalOptions } from '../connect.js';
import { isXenServerHost } from '../target.js';
import {
  DEFAULT_CRON_ROOT,
  DEFAULT_POOL_CONF,
  DEFAULT_STATE_DIR,
  FREQUENCIES,
  currentProgram,
  describeEntry,
  getSchedule,
  isScheduleSetting,
  setSchedule,
  type ScheduleSetting,
  type ScheduleStatus,
  type SetScheduleReport,
} from '../dr/schedule.js';
import { runScheduledBackup, type ScheduledOutcome, type ScheduledResult } from '../dr/scheduled-backup.js';
import type { AccessMode } from '../dr/volume/workspace.js';
import { ExitCode, printFailure, printJson, stdio, type Io } from './output.js';
import { neutralise, oneLine } from '../safe-text.js';
import { errorText } from '../text-sinks.js';
import { usageError } from '../failure/index.js';

/** The stock console's wording of a setting. */
export function settingSentence(s: ScheduleSetting): string {
  return s === 'never' ? 'Scheduled Metadata Backups are currently disabled.' : `Scheduled Metadata Backups are currently set to occur ${s}.`;
}

/** The recorded result holds the pool's names as they were: neutralised here, where they enter a line. */
export function lastResultText(r: ScheduledResult | null): string {
  if (!r) return 'Last scheduled backup: none recorded.';
  const when = neutralise(r.finishedAt ?? r.startedAt);
  const where = r.sr ? ` to SR "${neutralise(r.sr.name)}" (${neutralise(r.sr.uuid)})` : '';
  if (r.status === 'failed') {
    const error = r.error ? `${r.error.code === 'ERROR' ? '' : `${errorText(r.error.code)}: `}${errorText(r.error.meaning)}` : 'unknown error';
    return `Last scheduled backup (${when}) FAILED${where} with exit code ${neutralise(r.exitCode)}: ${error}`;
  }
  const b = r.backup;
  const what = b ? `backup ${neutralise(b.date)}, ${neutralise(b.vmsExported)} VM(s) and ${neutralise(b.templatesExported)} template(s)` : 'done';
  const failures = r.status === 'partial' && b ? `; ${neutralise(b.failureCount)} export(s) failed (exit code ${neutralise(r.exitCode)})` : '';
  return `Last scheduled backup (${when})${where}: ${what}${failures}${r.fellBackToDefaultSr ? ' [the scheduled SR was missing: default SR used]' : ''}`;
}

export function scheduleGetText(s: ScheduleStatus): string {
  const lines = [settingSentence(s.setting)];
  if (s.active) lines.push(`Link: ${describeEntry(s.active)}`);
  if (s.active?.kind === 'ours') lines.push(`SR: ${s.sr ? neutralise(s.sr) : "the pool's default SR"}`);
  if (s.config?.host) lines.push(`Pool: ${neutralise(s.config.host)}`);
  lines.push(lastResultText(s.lastResult));
  for (const w of s.warnings) lines.push(`Warning: ${oneLine(w)}`);
  return lines.join('\n');
}

export function scheduleSetText(r: SetScheduleReport): string {
  const lines =
    r.setting === 'never'
      ? ['Metadata Backup Schedule successfully disabled']
      : [
          `Metadata Backup Schedule successfully changed to occur ${r.setting}.`,
          `Link: ${neutralise(r.link)} -> ${neutralise(r.runner)}`,
          `SR: ${r.sr ? neutralise(r.sr) : "the pool's default SR"}`,
        ];
  for (const e of r.removed) if (e.kind !== 'ours') lines.push(`Replaced ${describeEntry(e)}`);
  return lines.join('\n');
}

export function scheduledOutcomeText(o: ScheduledOutcome): string {
  if (!o.acted) return `Nothing to do: ${oneLine(o.reason)}`;
  const lines = [lastResultText(o.result).replace(/^Last scheduled backup/, 'Scheduled backup')];
  for (const w of o.result.warnings) lines.push(`Warning: ${oneLine(w)}`);
  if (o.result.alert) lines.push(o.result.alertLogged ? `Logged to syslog: ${oneLine(o.result.alert)}` : `Not logged (no logger): ${oneLine(o.result.alert)}`);
  lines.push(o.recorded ? `Result recorded in ${neutralise(o.resultFile)}` : `Warning: ${oneLine(o.recordError ?? '')}`);
  return lines.join('\n');
}

interface ScheduleCommonOptions {
  stateDir?: string;
  json?: boolean;
}

export interface ScheduledBackupOptions {
  sr?: string;
  stateDir?: string;
  poolConf?: string;
  create: boolean;
  keep?: number;
  force?: boolean;
  json?: boolean;
  access: AccessMode | 'auto';
  concurrency?: number;
}

/** `backup --scheduled`: see the file comment for the exit code. */
export async function scheduledBackupAction(global: GlobalOptions, opts: ScheduledBackupOptions, io: Io = stdio): Promise<number> {
  const abort = new AbortController();
  const onSignal = () => abort.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const outcome = await runScheduledBackup({
      poolConf: resolve(opts.poolConf ?? DEFAULT_POOL_CONF),
      stateDir: resolve(opts.stateDir ?? DEFAULT_STATE_DIR),
      ...(opts.sr && { srUuid: opts.sr }),
      // Never prompts: under cron there is nobody to answer (stdin is not offered).
      connect: () => connect(global, {}),
      backup: {
        create: opts.create,
        ...(opts.keep !== undefined && { history: opts.keep }),
        force: opts.force ?? false,
        access: opts.access,
        ...(opts.concurrency !== undefined && { concurrency: opts.concurrency }),
      },
      signal: abort.signal,
    });
    if (opts.json) printJson(io, outcome);
    else io.out(scheduledOutcomeText(outcome));
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export function registerScheduleCommands(program: Command, io: Io = stdio): void {
  const schedule = program
    .command('schedule')
    .description('show or set the scheduled metadata backup (cron.daily/weekly/monthly link, stock compatible)');

  schedule
    .command('get')
    .description('show the schedule (as stock xsconsole reads it), its SR and the last scheduled result')
    .option('--state-dir <dir>', `where the scheduled runner records its result (default: the runner's, else ${DEFAULT_STATE_DIR})`)
    .option('--json', 'print JSON')
    .action(async (opts: ScheduleCommonOptions, cmd: Command) => {
      try {
        const { cronRoot } = cmd.optsWithGlobals() as GlobalOptions;
        const s = await getSchedule({ cronRoot: resolve(cronRoot ?? DEFAULT_CRON_ROOT), ...(opts.stateDir && { stateDir: resolve(opts.stateDir) }) });
        if (opts.json) printJson(io, s);
        else io.out(scheduleGetText(s));
      } catch (err) {
        printFailure(io, err, opts.json ?? false);
        throw new ExitCode(1);
      }
    });

  schedule
    .command('set')
    .description('set the schedule: daily, weekly, monthly or never')
    .argument('<frequency>', `${FREQUENCIES.join(', ')} or never`)
    .option('--sr <uuid>', "SR the scheduled backup writes to (default: the pool's default SR, as stock)")
    .option('--state-dir <dir>', 'where the runner records its result', DEFAULT_STATE_DIR)
    .option('--pool-conf <file>', 'the file saying whether this host is the pool master', DEFAULT_POOL_CONF)
    .option('--force', 'replace a schedule xsconsole-dr did not write (e.g. the stock runner)')
    .option('--json', 'print JSON')
    .action(async (frequency: string, opts: ScheduleCommonOptions & { sr?: string; poolConf: string; force?: boolean }, cmd: Command) => {
      try {
        if (!isScheduleSetting(frequency)) throw usageError(`Unknown schedule "${frequency}": use daily, weekly, monthly or never.`);
        const g = cmd.optsWithGlobals() as GlobalOptions;
        if (frequency !== 'never' && g.host && !g.passwordFile) {
          throw usageError('A schedule for a pool given by --host needs --password-file: cron cannot answer a prompt, and the password is never written into the runner.');
        }
        // Without --host the runner uses this host's XAPI; elsewhere it would back up a throwaway simulator.
        if (frequency !== 'never' && !g.host && !g.simState && !(await isXenServerHost(g))) {
          throw usageError('This is not a XenServer host: give the pool to back up with --host URL and --password-file FILE.');
        }
        const r = await setSchedule({
          cronRoot: resolve(g.cronRoot ?? DEFAULT_CRON_ROOT),
          setting: frequency,
          force: opts.force ?? false,
          ...(frequency !== 'never' && {
            runner: {
              ...currentProgram(),
              ...(opts.sr && { sr: opts.sr }),
              ...(g.host && { host: g.host }),
              ...(g.user && { user: g.user }),
              ...(g.passwordFile && { passwordFile: g.passwordFile }),
              ...(g.insecure && { insecure: true }),
              ...(g.fingerprint && { fingerprint: g.fingerprint }),
              ...(g.simState && { simState: g.simState }),
              ...(g.simDom0 && { simDom0: g.simDom0 }),
              stateDir: opts.stateDir ?? DEFAULT_STATE_DIR,
              poolConf: opts.poolConf,
            },
          }),
        });
        if (opts.json) printJson(io, r);
        else io.out(scheduleSetText(r));
      } catch (err) {
        printFailure(io, err, opts.json ?? false);
        throw new ExitCode(1);
      }
    });
}
