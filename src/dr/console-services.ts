/**
 * What the console's screens may ask of the pool, as plain async functions bound to a
 * target and (after the login dialogue) to a session. No Ink here, and the screens never
 * see the XenAPI client: they get this object through components/services.tsx, so tests
 * can hand them one bound to an in-process simulator.
 */
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Session, XenApiError, explainError, isAbortError, isNullRef, toStr, type Ref, type TlsOptions } from '../xenapi/index.js';
import { BackupStepError, backupStepText, SpaceGuardError, runBackup, type BackupProgress, type BackupReport } from './backup.js';
import { BackupTargetError, NoBackupVdiError, resolveSr } from './backup-vdi.js';
import { BackupSource, BackupSourceError, probeBackupVdis, type BackupSummary, type RestoreScope } from './backup-source.js';
import { readPoolOverview, type PoolOverview } from './overview.js';
import { declareLocalControlDomain, type LocalControlDomain } from './volume/control-domain.js';
import { preflightRestore, runRestore, type PreflightReport, type RestoreProgress, type RestoreReport } from './restore.js';
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
} from './schedule.js';
import { errorText, savedReportText } from '../text-sinks.js';

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

/** A VDI holding a metadata backup, as the restore's VDI chooser lists it. */
export interface BackupVdiChoice {
  uuid: string;
  nameLabel: string;
  virtualSize: number;
  /** The SR's deterministic backup VDI (the only one trusted without asking). */
  trusted: boolean;
}

export interface BackupVdiSearch {
  sr: { uuid: string; name: string };
  /** VDIs with the backup marker; the trusted one first. */
  found: BackupVdiChoice[];
  /** Disks looked at. */
  examined: number;
}

/** Which backup VDI to read: the trusted one, or (legacy) one found by the scan. */
export interface BackupVdiRef {
  srUuid: string;
  vdiUuid: string;
  /** The VDI came from the scan for pre-2024 backups (the operator agreed to it). */
  legacy: boolean;
}

export interface BackupListing {
  vdi: { uuid: string; trusted: boolean };
  /** Newest first. */
  backups: BackupSummary[];
}

/** One restore as the console asks for it (stock: never forced). */
export interface RestoreRequest extends BackupVdiRef {
  date: string;
  scope: RestoreScope;
  dryRun: boolean;
}

/** An SR named for the operator (schedule: where the scheduled backup goes). */
export interface SrLabel {
  uuid: string;
  name: string;
  isDefault: boolean;
}

/** The services that need a logged-in session. */
export interface ConsoleSession {
  readonly user: string;
  /** Host name of the pool coordinator (status line). */
  readonly hostname: string;
  /** The pool's name_label, or the coordinator's host name when that is empty (status line). */
  readonly poolName: string;
  listSrs(filter: SrFilter, signal?: AbortSignal): Promise<SrChoice[]>;
  runBackup(options: BackupRunOptions): Promise<BackupReport>;
  readPoolOverview(): Promise<PoolOverview>;
  /** The SR's backup VDI; with `legacy`, every disk of the SR that looks like one. */
  findBackupVdis(srUuid: string, options: { legacy: boolean; signal?: AbortSignal }): Promise<BackupVdiSearch>;
  /** The backups on a backup VDI, newest first, with VM counts. */
  listBackups(source: BackupVdiRef, signal?: AbortSignal): Promise<BackupListing>;
  /** What a restore would do, changing nothing. */
  preflightRestore(request: RestoreRequest, signal?: AbortSignal): Promise<PreflightReport>;
  runRestore(request: RestoreRequest, options: { signal: AbortSignal; onProgress?: (e: RestoreProgress) => void }): Promise<RestoreReport>;
  /** An SR by uuid, or the pool's default SR for null; null when there is none. */
  srLabel(srUuid: string | null): Promise<SrLabel | null>;
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

/** The schedule as the console manages it (stock cron links under `cronRoot`). */
export interface ConsoleSchedule {
  readonly cronRoot: string;
  /** Why no frequency can be set from this console (null: it can). "Never" always works. */
  readonly cannotSet: string | null;
  status(): Promise<ScheduleStatus>;
  /** `force` replaces a schedule xsconsole-dr did not write. */
  set(setting: ScheduleSetting, options?: { force?: boolean }): Promise<SetScheduleReport>;
}

export class FileExistsError extends Error {
  constructor(readonly path: string) {
    super(`${path} already exists.`);
    this.name = 'FileExistsError';
  }
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

export function isCancellation(err: unknown): boolean {
  return isAbortError(err) || XenApiError.is(err, 'TASK_CANCELLED');
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
  /** Per-call deadline (ms) for the sessions' XML-RPC calls. */
  timeoutMs?: number;
  /** Where saved reports go by default (default: the working directory). */
  saveDir?: string;
  /** The scheduled backup (absent: the console does not offer the Schedule item). */
  schedule?: ConsoleScheduleOptions;
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
export interface ScheduleTargetInfo {
  kind: 'local' | 'remote' | 'embedded';
  /** The program cron will start: this Node and this CLI script. */
  node: string;
  cli: string;
  host?: string;
  user?: string;
  passwordFile?: string;
  insecure?: boolean;
  fingerprint?: string;
  /** The embedded pool's state folder (absent: a temporary one). */
  simState?: string;
  /** --sim-dom0: the separately run simulated pool whose control domain this process plays. */
  simDom0?: string;
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

/** Writes a saved report: exclusive create unless overwriting; readable by its owner only (it names every VM). */
export async function saveTextFile(dir: string, path: string, text: string, overwrite = false): Promise<string> {
  const abs = resolve(dir, path);
  try {
    const saved = savedReportText(text);
    const fh = await open(abs, overwrite ? 'w' : 'wx', 0o600);
    try {
      // An existing file keeps its mode when overwritten: make it owner-only first.
      await fh.chmod(0o600);
      await fh.writeFile(saved.endsWith('\n') ? saved : `${saved}\n`);
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new FileExistsError(abs);
    throw err;
  }
  return abs;
}

export interface LiveConsoleServices extends ConsoleServices {
  /** Logs out every session still open (program exit). */
  close(): Promise<void>;
}

class LiveSession implements ConsoleSession {
  constructor(
    private readonly session: Session,
    readonly hostname: string,
    readonly poolName: string,
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

  async findBackupVdis(srUuid: string, options: { legacy: boolean; signal?: AbortSignal }): Promise<BackupVdiSearch> {
    const r = await probeBackupVdis(this.session, srUuid, { legacy: options.legacy, ...(options.signal && { signal: options.signal }) });
    return {
      sr: { uuid: r.sr.uuid, name: r.sr.nameLabel },
      found: r.found.map((c) => ({ uuid: c.uuid, nameLabel: c.nameLabel, virtualSize: c.virtualSize, trusted: c.trusted })),
      examined: r.examined,
    };
  }

  async listBackups(source: BackupVdiRef, signal?: AbortSignal): Promise<BackupListing> {
    const src = await BackupSource.open(this.session, { srUuid: source.srUuid, vdiUuid: source.vdiUuid, legacy: source.legacy, ...(signal && { signal }) });
    try {
      return { vdi: { uuid: src.vdi.uuid, trusted: src.vdi.trusted }, backups: await src.summaries() };
    } finally {
      await src.close();
    }
  }

  preflightRestore(request: RestoreRequest, signal?: AbortSignal): Promise<PreflightReport> {
    return preflightRestore(this.session, { ...restoreSource(request), force: false, ...(signal && { signal }) });
  }

  runRestore(request: RestoreRequest, options: { signal: AbortSignal; onProgress?: (e: RestoreProgress) => void }): Promise<RestoreReport> {
    return runRestore(this.session, {
      ...restoreSource(request),
      dryRun: request.dryRun,
      force: false, // as the stock console: no --force
      signal: options.signal,
      ...(options.onProgress && { onProgress: options.onProgress }),
    });
  }

  async srLabel(srUuid: string | null): Promise<SrLabel | null> {
    const pool = (await this.session.call<Ref[]>('pool.get_all'))[0];
    const defaultRef = pool ? await this.session.call<Ref>('pool.get_default_SR', pool) : '';
    if (srUuid === null && (!defaultRef || isNullRef(defaultRef))) return null;
    try {
      const sr = await resolveSr(this.session, srUuid ?? undefined);
      return { uuid: sr.uuid, name: sr.nameLabel, isDefault: sr.ref === defaultRef };
    } catch (err) {
      if (err instanceof BackupTargetError) return null;
      throw err;
    }
  }

  async logout(): Promise<void> {
    this.onLogout(this);
    await this.session.logout();
  }
}

function restoreSource(r: RestoreRequest) {
  return { srUuid: r.srUuid, vdiUuid: r.vdiUuid, legacy: r.legacy, date: r.date, scope: r.scope };
}

async function coordinatorHostname(session: Session, signal?: AbortSignal): Promise<string> {
  const opts = signal ? { signal } : {};
  const master = await session.poolMaster(opts);
  return toStr(await session.invoke('host.get_hostname', [master], opts));
}

/** An unnamed pool goes by its coordinator's name, as XenCenter shows it. */
async function poolName(session: Session, hostname: string, signal?: AbortSignal): Promise<string> {
  const opts = signal ? { signal } : {};
  const [pool] = await session.getAll('pool', opts);
  const name = pool ? toStr(await session.invoke('pool.get_name_label', [pool], opts)) : '';
  return name.trim() !== '' ? name : hostname;
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
    explain: explainConsoleError,
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
