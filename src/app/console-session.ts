/**
 * The console's services once someone has logged in: plain async functions over one XAPI
 * session, each a use case of the domain (src/dr). Screens get them through
 * components/services.tsx and never see the XenAPI client.
 */
import { Host, PBD, Pool, SR, Session, isNullRef } from '../xenapi/index.js';
import { runBackup, type BackupProgress, type BackupReport } from '../dr/backup.js';
import { BackupTargetError, resolveSr } from '../dr/backup-vdi.js';
import { attachedVms, probeBackupVdis, type AttachedVm } from '../dr/backup-source.js';
import { SR_SUMMARY_FIELDS, readBackupOverview, readPoolOverview, readSrBackups, type PoolOverview, type SrBackupEntry } from '../dr/overview.js';
import { HeldRestoreSession, consoleSourceOpener, type BackupVdiRef, type RestoreSession } from './restore-session.js';
import { selectSrChoices, type SrChoice, type SrFilter } from '../dr/sr-choice.js';
import { planStart, startVms, type StartOptions, type StartPlan, type StartReport } from '../dr/start-vms.js';

export interface BackupRunOptions {
  srUuid: string;
  /** Backups kept, the new one included (default 12, as stock). */
  keep?: number;
  /** Back up past the space guard (the operator confirmed it). */
  force?: boolean;
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
  /** The SRs holding a backup VDI and what each one's record says (no VDI is attached). */
  lastBackups(signal?: AbortSignal): Promise<SrBackupEntry[]>;
  /** The SR's backup VDI; with `legacy`, every disk of the SR that looks like one. */
  findBackupVdis(srUuid: string, options: { legacy: boolean; signal?: AbortSignal }): Promise<BackupVdiSearch>;
  /**
   * A restore from this backup VDI: it is attached by the first step (the listing) and held
   * for the next ones until released, so one restore attaches it once.
   */
  openRestore(source: BackupVdiRef): RestoreSession;
  /** An SR by uuid, or the pool's default SR for null; null when there is none. */
  srLabel(srUuid: string | null): Promise<SrLabel | null>;
  /** What starting these VMs would do: the order groups, and the VMs that would be skipped. */
  planStart(uuids: readonly string[], signal?: AbortSignal): Promise<StartPlan>;
  /** Starts them in that order (src/dr/start-vms.ts); the signal stops launching more. */
  startVms(uuids: readonly string[], options: StartOptions): Promise<StartReport>;
  /** Ends the session; idempotent. */
  logout(): Promise<void>;
}


export class LiveSession implements ConsoleSession {
  private readonly restores = new Set<HeldRestoreSession>();

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
      SR.getAllRecords(this.session, SR_SUMMARY_FIELDS, opts),
      PBD.getAllRecords(this.session, ['SR', 'host'], opts),
      Pool.getAllRecords(this.session, ['default_SR'], opts),
      Host.ofSession(this.session, opts),
    ]);
    const [pool] = pools.values();
    const choices = selectSrChoices({ srs, pbds, thisHost, defaultSr: pool?.default_SR ?? '' }, filter);
    const backups = await readSrBackups(this.session, choices, signal);
    return choices.map((c) => ({ ...c, backup: backups.get(c.ref) ?? c.backup }));
  }

  lastBackups(signal?: AbortSignal): Promise<SrBackupEntry[]> {
    return readBackupOverview(this.session, signal);
  }

  runBackup(options: BackupRunOptions): Promise<BackupReport> {
    return runBackup(this.session, {
      srUuid: options.srUuid,
      create: true, // xsconsole: probe, and create the VDI when the probe says none (exit 3)
      ...(options.keep !== undefined && { history: options.keep }),
      ...(options.force && { force: true }),
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

  planStart(uuids: readonly string[], signal?: AbortSignal): Promise<StartPlan> {
    return planStart(this.session, uuids, signal);
  }

  startVms(uuids: readonly string[], options: StartOptions): Promise<StartReport> {
    return startVms(this.session, uuids, options);
  }

  openRestore(source: BackupVdiRef): RestoreSession {
    const held = new HeldRestoreSession(this.session, source, consoleSourceOpener(this.session));
    this.restores.add(held);
    return held;
  }

  async srLabel(srUuid: string | null): Promise<SrLabel | null> {
    const [pool] = await Pool.getAll(this.session);
    const defaultRef = pool ? await Pool.getDefaultSr(this.session, pool) : '';
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
    // Restores still holding their backup VDI release it while the session can still do so.
    const restores = [...this.restores];
    this.restores.clear();
    await Promise.all(restores.map((r) => r.end().catch(() => undefined)));
    await this.session.logout();
  }
}

export async function coordinatorHostname(session: Session, signal?: AbortSignal): Promise<string> {
  const opts = signal ? { signal } : {};
  const master = await session.poolMaster(opts);
  return Host.getHostname(session, master, opts);
}

/** An unnamed pool goes by its coordinator's name, as XenCenter shows it. */
export async function poolName(session: Session, hostname: string, signal?: AbortSignal): Promise<string> {
  const opts = signal ? { signal } : {};
  const [pool] = await Pool.getAll(session, opts);
  const name = pool ? await Pool.getNameLabel(session, pool, opts) : '';
  return name.trim() !== '' ? name : hostname;
}
