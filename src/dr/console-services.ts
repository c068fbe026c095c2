/**
 * What the console's screens may ask of the pool, as plain async functions bound to a
 * target and (after the login dialogue) to a session. No Ink here, and the screens never
 * see the XenAPI client: they get this object through components/services.tsx, so tests
 * can hand them one bound to an in-process simulator.
 */
import { Session, XenApiError, explainError, isAbortError, toStr, type Ref, type TlsOptions } from '../xenapi/index.js';
import { BackupStepError, backupStepText, SpaceGuardError, runBackup, type BackupProgress, type BackupReport } from './backup.js';
import { BackupTargetError, NoBackupVdiError } from './backup-vdi.js';
import { readPoolOverview, type PoolOverview } from './overview.js';

/** An SR as the SR picker lists it. */
export interface SrChoice {
  ref: string;
  uuid: string;
  nameLabel: string;
  type: string;
  contentType: string;
  shared: boolean;
  physicalSize: number;
  physicalUtilisation: number;
  isDefault: boolean;
}

/**
 * Which SRs a feature can use (xsconsole's SRDialogue 'mode' and 'capabilities'):
 * 'rw' leaves out ISO libraries; `capability` must be in the SR's allowed_operations.
 */
export interface SrFilter {
  mode: 'rw' | 'any';
  capability?: string;
}

export interface BackupRunOptions {
  srUuid: string;
  signal: AbortSignal;
  onProgress?: (event: BackupProgress) => void;
}

/** A failure as screens show it: code, meaning, next step, and the step that failed. */
export interface FailureText {
  code: string;
  meaning: string;
  nextStep: string;
  /** e.g. "Attaching the backup VDI" when the failure happened inside a backup step. */
  step?: string;
}

/** The services that need a logged-in session. */
export interface ConsoleSession {
  readonly user: string;
  /** Host name of the pool coordinator (status line). */
  readonly hostname: string;
  listSrs(filter: SrFilter, signal?: AbortSignal): Promise<SrChoice[]>;
  runBackup(options: BackupRunOptions): Promise<BackupReport>;
  readPoolOverview(): Promise<PoolOverview>;
  /** Ends the session; idempotent. */
  logout(): Promise<void>;
}

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
}

// ---- SR choice (pure) ---------------------------------------------------------------

type Rec = Record<string, unknown>;

const num = (v: unknown): number => {
  const n = typeof v === 'number' ? v : Number(toStr(v));
  return Number.isFinite(n) ? n : 0;
};

export interface SrChoiceInput {
  srs: Record<string, Rec>;
  pbds: Record<string, Rec>;
  /** The host the session runs on; SRs are visible when they have a PBD here or none. */
  thisHost: string;
  defaultSr: string;
}

/** The SRs a feature can use, sorted by name (as xsconsole's SR picker). */
export function selectSrChoices(input: SrChoiceInput, filter: SrFilter): SrChoice[] {
  const hostsOf = new Map<string, string[]>();
  for (const pbd of Object.values(input.pbds)) {
    const sr = toStr(pbd['SR']);
    hostsOf.set(sr, [...(hostsOf.get(sr) ?? []), toStr(pbd['host'])]);
  }
  const out: SrChoice[] = [];
  for (const [ref, sr] of Object.entries(input.srs)) {
    const hosts = hostsOf.get(ref) ?? [];
    if (hosts.length > 0 && !hosts.includes(input.thisHost)) continue;
    const contentType = toStr(sr['content_type']);
    if (filter.mode === 'rw' && contentType === 'iso') continue;
    const ops = Array.isArray(sr['allowed_operations']) ? sr['allowed_operations'].map(toStr) : [];
    if (filter.capability && !ops.includes(filter.capability)) continue;
    out.push({
      ref,
      uuid: toStr(sr['uuid']),
      nameLabel: toStr(sr['name_label']),
      type: toStr(sr['type']),
      contentType,
      shared: sr['shared'] === true,
      physicalSize: num(sr['physical_size']),
      physicalUtilisation: num(sr['physical_utilisation']),
      isDefault: ref === input.defaultSr,
    });
  }
  return out.sort((a, b) => (a.nameLabel < b.nameLabel ? -1 : a.nameLabel > b.nameLabel ? 1 : a.uuid.localeCompare(b.uuid)));
}

// ---- errors -------------------------------------------------------------------------

export function explainConsoleError(err: unknown): FailureText {
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
  return explainError(err);
}

export function isCancellation(err: unknown): boolean {
  return isAbortError(err) || XenApiError.is(err, 'TASK_CANCELLED');
}

// ---- the live implementation ----------------------------------------------------------

export interface ConsoleTarget {
  url: string;
  tls: TlsOptions;
  socketPath?: string;
  describe: string;
}

export interface ConsoleServiceOptions {
  target: ConsoleTarget;
  user: string;
  hostLabel: string;
  loginHint?: string;
  securityWarning?: string;
  originator?: string;
  /** Per-call deadline (ms) for the sessions' XML-RPC calls. */
  timeoutMs?: number;
}

export interface LiveConsoleServices extends ConsoleServices {
  /** Logs out every session still open (program exit). */
  close(): Promise<void>;
}

class LiveSession implements ConsoleSession {
  constructor(
    private readonly session: Session,
    readonly hostname: string,
    private readonly onLogout: (s: LiveSession) => void,
  ) {}

  get user(): string {
    return this.session.user;
  }

  async listSrs(filter: SrFilter, signal?: AbortSignal): Promise<SrChoice[]> {
    const opts = signal ? { signal } : {};
    const [srs, pbds, pools, thisHost] = await Promise.all([
      this.session.invoke<Record<string, Rec>>('SR.get_all_records', [], opts),
      this.session.invoke<Record<string, Rec>>('PBD.get_all_records', [], opts),
      this.session.invoke<Record<string, Rec>>('pool.get_all_records', [], opts),
      this.session.invoke<Ref>('session.get_this_host', [this.session.ref], opts),
    ]);
    const pool = Object.values(pools)[0];
    return selectSrChoices({ srs, pbds, thisHost: toStr(thisHost), defaultSr: toStr(pool?.['default_SR']) }, filter);
  }

  runBackup(options: BackupRunOptions): Promise<BackupReport> {
    return runBackup(this.session, {
      srUuid: options.srUuid,
      create: true, // xsconsole: probe, and create the VDI when the probe says none (exit 3)
      signal: options.signal,
      ...(options.onProgress && { onProgress: options.onProgress }),
    });
  }

  readPoolOverview(): Promise<PoolOverview> {
    return readPoolOverview(this.session);
  }

  async logout(): Promise<void> {
    this.onLogout(this);
    await this.session.logout();
  }
}

async function coordinatorHostname(session: Session, signal?: AbortSignal): Promise<string> {
  const opts = signal ? { signal } : {};
  const master = await session.poolMaster(opts);
  return toStr(await session.invoke('host.get_hostname', [master], opts));
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
        ...(signal && { signal }),
      });
      try {
        const hostname = await coordinatorHostname(session, signal);
        const live = new LiveSession(session, hostname, (s) => open.delete(s));
        open.add(live);
        return live;
      } catch (err) {
        await session.logout().catch(() => undefined);
        throw err;
      }
    },
    explain: explainConsoleError,
    async close() {
      const all = [...open];
      open.clear();
      await Promise.all(all.map((s) => s.logout().catch(() => undefined)));
    },
  };
}
