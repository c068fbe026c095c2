/**
 * A hand-made ConsoleServices for the UI cases a real pool cannot stage on cue: a backup
 * that advances one VM per `advance()` (so Ctrl-C lands mid-run, deterministically), a
 * cleanup that waits for `releaseCleanup()`, an SR list that is empty. It behaves like the
 * real thing where it matters: passwords are checked, errors are the real classes
 * (XenApiError, BackupStepError) explained by the real operatorFailure, SRs go through
 * the real selectSrChoices filter, and aborts honour the AbortSignal.
 */
import { AbortError, XenApiError } from '../../src/xenapi/index.js';
import { BackupStepError, type BackupReport, type BackupProgress } from '../../src/dr/backup.js';
import { tmpdir } from 'node:os';
import {
  operatorFailure,
  saveTextFile,
  selectSrChoices,
  type ConsoleSchedule,
  type BackupVdiSearch,
  type RestoreSession,
  type SrLabel,
  type BackupRunOptions,
  type ConsoleServices,
  type ConsoleSession,
  type SrChoice,
  type SrFilter,
} from '../../src/app/index.js';
import type { PoolOverview, SrBackup, SrBackupEntry, SrSummaryRecord } from '../../src/dr/overview.js';
import type { StartPlan, StartReport } from '../../src/dr/start-vms.js';

const GiB = 1024 ** 3;

/** An SR as XAPI's answer reads through SR.getAllRecords (sizes are numbers by then). */
export function srRecord(uuid: string, name: string, extra: Partial<SrSummaryRecord> = {}): SrSummaryRecord {
  return {
    uuid,
    name_label: name,
    type: 'lvm',
    content_type: 'user',
    shared: false,
    physical_size: 100 * GiB,
    physical_utilisation: 25 * GiB,
    allowed_operations: ['scan', 'vdi_create', 'vdi_destroy'],
    ...extra,
  };
}

/** A promise the test resolves by hand. */
class Gate {
  private waiters: Array<() => void> = [];
  private opened = 0;
  wait(signal?: AbortSignal): Promise<void> {
    if (this.opened > 0) {
      this.opened--;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(new AbortError('aborted', { cause: signal?.reason }));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }
  open(): void {
    const w = this.waiters.shift();
    if (w) w();
    else this.opened++;
  }
}

export interface BackupBehaviour {
  vms: string[];
  /** When set, the backup fails with this after the VDI phase. */
  failWith?: unknown;
  /** VM names whose export "fails" (reported in the summary). */
  failingVms?: string[];
  /** Wait for advance() before each VM (otherwise run straight through). */
  stepped?: boolean;
  /** After an abort, wait for releaseCleanup() before settling (models the VBD release). */
  slowCleanup?: boolean;
}

export class FakePool implements ConsoleServices {
  targetDescription = 'hand-made test pool';
  user = 'root';
  hostLabel = 'fake-host';
  loginHint = 'Test pool: the password is in the test.';
  password = 'correct horse';
  srs: Record<string, SrSummaryRecord> = {};
  pbds: Record<string, { SR: string; host: string }> = {};
  thisHost = 'OpaqueRef:host-1';
  defaultSr = '';
  /** What each SR's backup VDI says (by SR ref); absent: no backup VDI. */
  srBackups: Record<string, SrBackup> = {};
  backup: BackupBehaviour = { vms: ['vm-a', 'vm-b', 'vm-c'] };
  /** Live counters the tests read. */
  logins = 0;
  openSessions = 0;
  srListings = 0;
  backupsRunning = 0;
  backupsReleased = 0;
  private readonly step = new Gate();
  private readonly cleanup = new Gate();

  async login(user: string, password: string, signal?: AbortSignal): Promise<ConsoleSession> {
    if (signal?.aborted) throw new AbortError();
    if (user !== 'root' || password !== this.password) {
      throw new XenApiError(['SESSION_AUTHENTICATION_FAILED', user, 'Authentication failure'], 'session.login_with_password');
    }
    this.logins++;
    this.openSessions++;
    return new FakeSession(this, user);
  }

  explain = (err: unknown) => operatorFailure(err);
  saveDir = tmpdir();
  schedule?: ConsoleSchedule;
  saveText(path: string, text: string, options: { overwrite?: boolean } = {}): Promise<string> {
    return saveTextFile(this.saveDir, path, text, options.overwrite ?? false);
  }

  advance(): void {
    this.step.open();
  }

  releaseCleanup(): void {
    this.cleanup.open();
  }

  /** Called by FakeSession. */
  listSrChoices(filter: SrFilter): SrChoice[] {
    this.srListings++;
    return selectSrChoices({ srs: new Map(Object.entries(this.srs)), pbds: new Map(Object.entries(this.pbds)), thisHost: this.thisHost, defaultSr: this.defaultSr }, filter).map((c) => ({
      ...c,
      backup: this.srBackups[c.ref] ?? c.backup,
    }));
  }

  /** Called by FakeSession: the SRs with a backup VDI, as the live session lists them. */
  backupEntries(): SrBackupEntry[] {
    const out: SrBackupEntry[] = [];
    for (const [ref, backup] of Object.entries(this.srBackups)) {
      const sr = this.srs[ref];
      if (sr && backup.kind !== 'none') out.push({ sr: { uuid: String(sr['uuid']), name: String(sr['name_label']) }, backup });
    }
    return out;
  }

  async runBackup(opts: BackupRunOptions): Promise<BackupReport> {
    const b = this.backup;
    const emit = (e: BackupProgress) => opts.onProgress?.(e);
    const sr = Object.values(this.srs).find((s) => s['uuid'] === opts.srUuid);
    if (!sr) throw new XenApiError(['UUID_INVALID', 'SR', opts.srUuid]);
    this.backupsRunning++;
    try {
      emit({ kind: 'sr', uuid: String(sr['uuid']), name: String(sr['name_label']) });
      emit({ kind: 'phase', phase: 'attach' });
      if (b.failWith !== undefined) throw b.failWith;
      const failed = new Set(b.failingVms ?? []);
      let done = 0;
      for (const vm of b.vms) {
        if (b.stepped) await this.step.wait(opts.signal);
        if (opts.signal.aborted) throw new AbortError();
        done++;
        emit({ kind: 'vm', done, total: b.vms.length, current: vm, failed: [...failed].filter((f) => b.vms.indexOf(f) < done).length });
      }
      return report(String(sr['uuid']), String(sr['name_label']), b.vms.length - failed.size, [...failed]);
    } finally {
      emit({ kind: 'phase', phase: 'release' });
      if (opts.signal.aborted && b.slowCleanup) await this.cleanup.wait();
      this.backupsRunning--;
      this.backupsReleased++;
    }
  }
}

class FakeSession implements ConsoleSession {
  readonly hostname = 'fake-master';
  readonly poolName = 'fake-pool';
  private open = true;
  constructor(
    private readonly pool: FakePool,
    readonly user: string,
  ) {}

  async listSrs(filter: SrFilter, signal?: AbortSignal): Promise<SrChoice[]> {
    if (signal?.aborted) throw new AbortError();
    return this.pool.listSrChoices(filter);
  }

  runBackup(options: BackupRunOptions): Promise<BackupReport> {
    return this.pool.runBackup(options);
  }

  readPoolOverview(): Promise<PoolOverview> {
    throw new Error('not used by the console screens');
  }

  async lastBackups(signal?: AbortSignal): Promise<SrBackupEntry[]> {
    if (signal?.aborted) throw new AbortError();
    return this.pool.backupEntries();
  }

  // The restore screens are tested against the simulated pool, not this one.
  findBackupVdis(): Promise<BackupVdiSearch> {
    throw new Error('restore is not staged by the hand-made pool');
  }
  openRestore(): RestoreSession {
    throw new Error('restore is not staged by the hand-made pool');
  }
  planStart(): Promise<StartPlan> {
    throw new Error('starting VMs is not staged by the hand-made pool');
  }
  startVms(): Promise<StartReport> {
    throw new Error('starting VMs is not staged by the hand-made pool');
  }
  async srLabel(srUuid: string | null): Promise<SrLabel | null> {
    const entry = Object.entries(this.pool.srs).find(([ref, sr]) => (srUuid === null ? ref === this.pool.defaultSr : sr['uuid'] === srUuid));
    if (!entry) return null;
    return { uuid: String(entry[1]['uuid']), name: String(entry[1]['name_label']), isDefault: entry[0] === this.pool.defaultSr };
  }

  async logout(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    this.pool.openSessions--;
  }
}

function report(srUuid: string, srName: string, vms: number, failed: string[]): BackupReport {
  return {
    sr: { uuid: srUuid, name: srName },
    vdi: { uuid: '11111111-2222-5333-8444-555555555555', created: true, deterministicUuid: true },
    pool: { uuid: 'pool-uuid', name: 'Fake pool' },
    date: '2025-06-02-08-30-00',
    access: 'attach',
    vmsExported: vms,
    templatesExported: 0,
    failures: failed.map((name, i) => ({ uuid: `vm-uuid-${i}`, name, template: false, code: 'VDI_IO_ERROR', message: 'Reading or writing the disk failed.' })),
    bytesWritten: 123456,
    spaceBefore: { usedPercent: 1, usedBytes: 10 * 1024 * 1024, availableBytes: 1000 * 1024 * 1024 },
    spaceAfter: { usedPercent: 2, usedBytes: 20 * 1024 * 1024, availableBytes: 990 * 1024 * 1024 },
    backupsKept: ['2025-06-02-08-30-00'],
    backupsRemoved: [],
    databaseHistory: 0,
    vapps: { supported: true, vapps: 0, vms: 0 },
    repaired: false,
    commit: { inPlace: 12, journaled: 30, journalBlocks: 32, kind: 'journaled' },
    transfer: { downloadedBytes: 0, uploadedBytes: 0 },
    durationMs: 1500,
    clock: { source: 'master-local', skewMs: 0, masterUtcOffsetMinutes: 0, warnings: [] },
    warnings: [],
    cleaned: [],
    waited: null,
    keep: 12,
    forecast: { backupsThatFit: 'unlimited', nextRefused: false, lastThatFits: false },
    recordWritten: true,
  };
}

/** The step failure a real backup raises when the VBD cannot be attached. */
export function attachFailure(): BackupStepError {
  return new BackupStepError('attach', new XenApiError(['VDI_IN_USE', 'OpaqueRef:vdi', 'attach'], 'VBD.plug'));
}
