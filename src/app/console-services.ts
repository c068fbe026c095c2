/**
 * What the console gets before anyone logs in (target, login, failure text, saving reports,
 * the schedule), and the live implementation bound to a real or simulated pool.
 */
import { resolve } from 'node:path';
import { Session, type TlsOptions, type TransportChoice } from '../xenapi/index.js';
import { describeFailure } from '../failure/index.js';
import { declareLocalControlDomain, type LocalControlDomain } from '../dr/volume/control-domain.js';
import { LiveSession, coordinatorHostname, poolName, type ConsoleSession } from './console-session.js';
import { createConsoleSchedule, type ConsoleSchedule, type ConsoleScheduleOptions } from './console-schedule.js';
import { saveTextFile } from './saved-report.js';
import { operatorFailure, type FailureText } from './operator-failure.js';

/** What the console gets before anyone logs in. */
export interface ConsoleServices {
  /** "embedded simulated pool at http://…", "pool at https://…", "this host …" */
  targetDescription: string;
  /** The user name the login dialogue offers. */
  user: string;
  /** Host shown on the status line while nobody is logged in. */
  hostLabel: string;
  /** A line for the login dialogue (e.g. where the demo password is documented). Never a password. */
  loginHint?: string;
  /** A warning the console shows all the time (e.g. TLS verification off). */
  securityWarning?: string;
  login(user: string, password: string, signal?: AbortSignal): Promise<ConsoleSession>;
  /** Operator-facing text for anything a service threw. */
  explain(err: unknown): FailureText;
  /** Folder a saved report goes to unless the operator names another (default: the working directory). */
  saveDir: string;
  /**
   * Writes a report the operator asked to keep. Never replaces an existing file unless
   * `overwrite` (the file is created exclusively, so a file appearing meanwhile is not
   * lost either); throws FileExistsError. Returns the absolute path written.
   */
  saveText(path: string, text: string, options?: { overwrite?: boolean }): Promise<string>;
  /** The scheduled backup; absent when this console cannot manage one (the menu hides it). */
  schedule?: ConsoleSchedule;
}


export function isCancellation(err: unknown): boolean {
  return describeFailure(err).kind === 'cancelled';
}

// ---- the live implementation ----------------------------------------------------------

export interface ConsoleTarget {
  url: string;
  tls: TlsOptions;
  socketPath?: string;
  describe: string;
  /** Which control domain this process plays (the simulated pool's); default: a real dom0's. */
  controlDomain?: LocalControlDomain;
}

export interface ConsoleServiceOptions {
  target: ConsoleTarget;
  user: string;
  hostLabel: string;
  loginHint?: string;
  securityWarning?: string;
  originator?: string;
  /** Per-call deadline (ms) for the sessions' XenAPI calls. */
  timeoutMs?: number;
  /** XenAPI wire protocol of the sessions (default: the client's, see xenapi/session.ts). */
  transport?: TransportChoice;
  /** Where saved reports go by default (default: the working directory). */
  saveDir?: string;
  /** The scheduled backup (absent: the console does not offer the Schedule item). */
  schedule?: ConsoleScheduleOptions;
}



export interface LiveConsoleServices extends ConsoleServices {
  /** Logs out every session still open (program exit). */
  close(): Promise<void>;
}



export function createConsoleServices(opts: ConsoleServiceOptions): LiveConsoleServices {
  const open = new Set<LiveSession>();
  return {
    targetDescription: opts.target.describe,
    user: opts.user,
    hostLabel: opts.hostLabel,
    ...(opts.loginHint !== undefined && { loginHint: opts.loginHint }),
    ...(opts.securityWarning !== undefined && { securityWarning: opts.securityWarning }),
    async login(user, password, signal) {
      const session = await Session.login({
        url: opts.target.url,
        user,
        password,
        tls: opts.target.tls,
        ...(opts.originator !== undefined && { originator: opts.originator }),
        ...(opts.target.socketPath !== undefined && { socketPath: opts.target.socketPath }),
        ...(opts.timeoutMs !== undefined && { timeoutMs: opts.timeoutMs }),
        ...(opts.transport && { transport: opts.transport }),
        ...(signal && { signal }),
      });
      if (opts.target.controlDomain) declareLocalControlDomain(session, opts.target.controlDomain);
      try {
        const hostname = await coordinatorHostname(session, signal);
        const live = new LiveSession(session, hostname, await poolName(session, hostname, signal), (s) => open.delete(s));
        open.add(live);
        return live;
      } catch (err) {
        await session.logout().catch(() => undefined);
        throw err;
      }
    },
    explain: (err) => operatorFailure(err),
    saveDir: resolve(opts.saveDir ?? process.cwd()),
    saveText(path, text, options = {}) {
      return saveTextFile(resolve(opts.saveDir ?? process.cwd()), path, text, options.overwrite ?? false);
    },
    ...(opts.schedule && { schedule: createConsoleSchedule(opts.schedule) }),
    async close() {
      const all = [...open];
      open.clear();
      await Promise.all(all.map((s) => s.logout().catch(() => undefined)));
    },
  };
}
