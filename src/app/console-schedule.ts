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
  setSchedule,
  type RunnerSettings,
  type ScheduleSetting,
  type ScheduleStatus,
  type SetScheduleReport,
} from '../dr/schedule.js';

/** The schedule as the console manages it (stock cron links under `cronRoot`). */
export interface ConsoleSchedule {
  readonly cronRoot: string;
  /** Why no frequency can be set from this console (null: it can). "Never" always works. */
  readonly cannotSet: string | null;
  status(): Promise<ScheduleStatus>;
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
      return { runner: { ...base, ...(t.user && t.user !== 'root' && { user: t.user }) } };
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

