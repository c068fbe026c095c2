/**
 * The console's services once someone has logged in: plain async functions over one XAPI
 * session, each a use case of the domain (src/dr). Screens get them through
 * components/services.tsx and never see the XenAPI client.
 */
import { Session, isNullRef, toStr, type Ref } from '../xenapi/index.js';
import { runBackup, type BackupProgress, type BackupReport } from '../dr/backup.js';
import { BackupTargetError, resolveSr } from '../dr/backup-vdi.js';
import { BackupSource, attachedVms, probeBackupVdis, type AttachedVm, type BackupSummary, type RestoreScope } from '../dr/backup-source.js';
import { readPoolOverview, type PoolOverview } from '../dr/overview.js';
import { preflightRestore, runRestore, type PreflightReport, type RestoreProgress, type RestoreReport } from '../dr/restore.js';
import { selectSrChoices, type SrChoice, type SrFilter } from '../dr/sr-choice.js';

type Rec = Record<string, unknown>;

export interface BackupRunOptions {
  srUuid: string;
  signal: AbortSignal;
  onProgress?: (event: BackupProgress) => void;
}


/** A VDI holding a metadata backup, as the restore's VDI chooser lists it. */
export interface BackupVdiChoice {
  uuid: string;
  nameLabel: string;
  virtualSize: number;
  /** The SR's deterministic backup VDI (the only one trusted without asking). */
  trusted: boolean;
  /** The VMs it is attached to (none: a disk no VM uses), so a guest's disk can be told apart. */
  attachedTo: AttachedVm[];
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


export class LiveSession implements ConsoleSession {
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
      found: await Promise.all(
        r.found.map(async (c) => ({ uuid: c.uuid, nameLabel: c.nameLabel, virtualSize: c.virtualSize, trusted: c.trusted, attachedTo: await attachedVms(this.session, c) })),
      ),
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

export async function coordinatorHostname(session: Session, signal?: AbortSignal): Promise<string> {
  const opts = signal ? { signal } : {};
  const master = await session.poolMaster(opts);
  return toStr(await session.invoke('host.get_hostname', [master], opts));
}

/** An unnamed pool goes by its coordinator's name, as XenCenter shows it. */
export async function poolName(session: Session, hostname: string, signal?: AbortSignal): Promise<string> {
  const opts = signal ? { signal } : {};
  const [pool] = await session.getAll('pool', opts);
  const name = pool ? toStr(await session.invoke('pool.get_name_label', [pool], opts)) : '';
  return name.trim() !== '' ? name : hostname;
}
