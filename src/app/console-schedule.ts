/**
 * The schedule as the console manages it: the stock cron links (src/dr/schedule.ts) and how
 * the runner cron starts reaches the same pool as this console, or why it cannot.
 */
import { resolve } from 'node:path';
import {
  DEFAULT_CRON_ROOT,
  DEFAULT_POOL_CONF,
  DEFAULT_STATE_DIR,
  ScheduleError,
  getSchedule,
  readRunnerConfig,
  setSchedule,
  type RunnerSettings,
  type ScheduleSetting,
  type ScheduleStatus,
  type SetScheduleReport,
} from '../dr/schedule.js';
import { readLastScheduledResult, type ScheduledResult } from '../dr/scheduled-backup.js';
import { BUG_CODE } from '../failure/index.js';
import type { FailureText } from './operator-failure.js';

/** The schedule as the console manages it (stock cron links under `cronRoot`). */
export interface ConsoleSchedule {
  readonly cronRoot: string;
  /** Why no frequency can be set from this console (null: it can). "Never" always works. */
  readonly cannotSet: string | null;
  status(): Promise<ScheduleStatus>;
  /** What the scheduled runner recorded last, for the status panes (no cron folders read). */
  lastRun(): Promise<LastScheduledRun | null>;
  /** `force` replaces a schedule xsconsole-dr did not write. */
  set(setting: ScheduleSetting, options?: { force?: boolean }): Promise<SetScheduleReport>;
}

/** How the scheduled runner reaches the pool (no password: a file at most). */
export type ScheduleRunnerBase = Omit<RunnerSettings, 'sr' | 'stateDir' | 'poolConf'> & { node: string; cli: string };

export interface ConsoleScheduleOptions {
  /** Folder holding cron.daily, cron.weekly, cron.monthly (default /etc). */
  cronRoot?: string;
  /** Where the runner records its result (default: the runner's own, else /var/lib/xsconsole-dr). */
  stateDir?: string;
  poolConf?: string;
  /** null: this console cannot set a schedule (e.g. a password typed at login cannot be given to cron). */
  runner: ScheduleRunnerBase | null;
  /** Why `runner` is null, for the operator. */
  unavailable?: string;
}

/** What the console was started with, as far as the scheduled runner must repeat it. */
export interface ScheduleTargetInfo
  extends Pick<RunnerSettings, 'host' | 'user' | 'passwordFile' | 'insecure' | 'fingerprint' | 'simState' | 'simDom0'> {
  kind: 'local' | 'remote' | 'embedded';
  /** The program cron will start: this Node and this CLI script. */
  node: string;
  cli: string;
}

/**
 * How the runner reaches the same pool as this console, or why it cannot (the same rules as
 * `schedule set`): a password typed at the login dialogue is never written anywhere, so a
 * pool given by --host needs --password-file; a temporary embedded pool is gone by the time
 * cron runs.
 */
export function scheduleRunnerFor(t: ScheduleTargetInfo): Pick<ConsoleScheduleOptions, 'runner' | 'unavailable'> {
  const base = { node: t.node, cli: t.cli };
  switch (t.kind) {
    case 'local':
      // A simulated host (--sim-dom0 without --host) is reached the same way by the runner.
      return { runner: { ...base, ...(t.user && t.user !== 'root' && { user: t.user }), ...(t.simDom0 && { simDom0: resolve(t.simDom0) }) } };
    case 'embedded':
      return t.simState
        ? { runner: { ...base, simState: resolve(t.simState) } }
        : { runner: null, unavailable: "the embedded pool's state is temporary; start the console with --sim-state DIR to schedule its backups." };
    case 'remote':
      if (!t.host || !t.passwordFile) {
        return { runner: null, unavailable: 'cron cannot type a password: start the console with --password-file FILE to schedule backups of a pool given by --host.' };
      }
      return {
        runner: {
          ...base,
          host: t.host,
          ...(t.user && { user: t.user }),
          passwordFile: resolve(t.passwordFile),
          ...(t.insecure && { insecure: true }),
          ...(t.fingerprint && { fingerprint: t.fingerprint }),
          ...(t.simDom0 && { simDom0: resolve(t.simDom0) }),
        },
      };
  }
}

export function createConsoleSchedule(opts: ConsoleScheduleOptions): ConsoleSchedule {
  const cronRoot = resolve(opts.cronRoot ?? DEFAULT_CRON_ROOT);
  const cannotSet = opts.runner ? null : (opts.unavailable ?? 'This console cannot tell cron how to reach the pool.');
  return {
    cronRoot,
    cannotSet,
    status: () => getSchedule({ cronRoot, ...(opts.stateDir !== undefined && { stateDir: resolve(opts.stateDir) }) }),
    async lastRun() {
      // The same state folder getSchedule reads: ours, else the installed runner's, else the default.
      const stateDir = opts.stateDir !== undefined ? resolve(opts.stateDir) : ((await readRunnerConfig(cronRoot))?.stateDir ?? DEFAULT_STATE_DIR);
      const r = await readLastScheduledResult(stateDir);
      return r ? lastScheduledRun(r) : null;
    },
    async set(setting, options = {}) {
      if (setting !== 'never' && !opts.runner) throw new ScheduleError('BAD_SETTING', cannotSet ?? '');
      const current = await getSchedule({ cronRoot });
      // Changing the frequency keeps the SR an earlier schedule was given (stock: the default SR).
      const sr = current.sr ?? undefined;
      return setSchedule({
        cronRoot,
        setting,
        force: options.force ?? false,
        ...(opts.runner && {
          runner: {
            ...opts.runner,
            ...(sr && { sr }),
            stateDir: opts.stateDir ?? current.config?.stateDir ?? DEFAULT_STATE_DIR,
            poolConf: opts.poolConf ?? current.config?.poolConf ?? DEFAULT_POOL_CONF,
          },
        }),
      });
    },
  };
}

/** The last scheduled run as the status panes show it. */
export interface LastScheduledRun {
  status: ScheduledResult['status'];
  /** When it ended (else started), ISO; null when the file holds no valid time. */
  at: string | null;
  sr: { uuid: string; name: string } | null;
  /** The backup it made (ok, partial). */
  backupDate: string | null;
  /** VM exports that failed in a partial run. */
  failedExports: number;
  /** Why a failed run failed, in the words every failure is given to the operator. */
  failure: FailureText | null;
  exitCode: number;
}

/** Longest text kept from the file (it is ours, but may be damaged or stale). */
const MAX_FIELD = 2000;

const text = (v: unknown, max = MAX_FIELD): string | null => (typeof v === 'string' && v.length <= max ? v : null);
const count = (v: unknown): number => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0);
const isoOf = (v: unknown): string | null => {
  const s = text(v, 40);
  const t = s === null ? Number.NaN : Date.parse(s);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
};

/** The runner's result file, its fields checked (wrong types are dropped, not shown). */
export function lastScheduledRun(r: ScheduledResult): LastScheduledRun {
  const rec = r as unknown as Record<string, unknown>;
  const srRec = typeof rec['sr'] === 'object' && rec['sr'] !== null ? (rec['sr'] as Record<string, unknown>) : null;
  const uuid = text(srRec?.['uuid'], 64);
  const backup = typeof rec['backup'] === 'object' && rec['backup'] !== null ? (rec['backup'] as Record<string, unknown>) : null;
  const err = typeof rec['error'] === 'object' && rec['error'] !== null ? (rec['error'] as Record<string, unknown>) : null;
  const code = text(err?.['code'], 100);
  let failure: FailureText | null = null;
  if (r.status === 'failed') {
    failure = {
      kind: code === BUG_CODE ? 'bug' : 'expected',
      code: code ?? `EXIT_${count(r.exitCode)}`,
      meaning: text(err?.['meaning']) ?? `The scheduled backup exited with code ${count(r.exitCode)}.`,
      nextStep: text(err?.['nextStep']) ?? 'Run the backup from this console to see the failure, then fix it.',
    };
  }
  return {
    status: r.status,
    at: isoOf(rec['finishedAt']) ?? isoOf(rec['startedAt']),
    sr: uuid !== null ? { uuid, name: text(srRec?.['name'], 500) ?? '' } : null,
    backupDate: text(backup?.['date'], 40),
    failedExports: count(backup?.['failureCount']),
    failure,
    exitCode: count(r.exitCode),
  };
}
