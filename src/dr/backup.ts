/**
 * "Backup Virtual Machine Metadata": writes what the stock xe-backup-metadata writes
 * (xen-api scripts/xe-backup-metadata), so the host's own tools can restore our backups and
 * we theirs, and does better where stock is fragile:
 *  - the dated folder is written as metadata/.incomplete-<date> and renamed when complete,
 *    so an interrupted run never shows up in a list (stock `ls` hides dot-names);
 *  - the database dump is written under a temporary name before the rotation, so a failed
 *    dump never costs the newest good one;
 *  - a VM whose export fails is reported by name and error, and not linked in by-sr/;
 *  - exports run with bounded concurrency.
 *  - nothing reaches the VDI until the run is complete: the filesystem's writes are staged
 *    locally and committed at the end in the journaled order of volume/commit-plan.ts, so a
 *    failed, cancelled, killed or cut run leaves the VDI as it was, or as complete as a
 *    successful run would have left it.
 * Whatever happens, the VBD is unplugged and destroyed and a VDI created in this run that
 * never got a committed filesystem is destroyed again.
 * The VDI is locked on the pool for the whole run (vdi-claim.ts: two clients never change
 * it at once, stale VBDs and partial files of killed runs are cleaned first), the dated
 * folder is named by the pool master's clock (master-clock.ts), retention never removes the
 * folder just written, and the files holding secrets (.db, .vmmeta) are 0600, as stock's.
 */
import type { Ext2Promises } from 'ext2fs';
import { AbortError, XenApiError, exportMetadata, isNullRef, streamPoolDatabase, throwIfAborted, toStr, type Ref, type Session } from '../xenapi/index.js';
import { ExpectedFailure, StepFailure, explainError } from '../failure/index.js';
import {
  DEFAULT_HISTORY,
  INCOMPLETE_PREFIX,
  MARKER_CONTENT,
  MARKER_PATH,
  METADATA_DIR,
  SPACE_GUARD_PERCENT,
  SRMETA_FILE,
  backupDir,
  backupVdiUuid,
  bySrLinkTarget,
  confPath,
  dbDumpPath,
  dbGenerationOf,
  formatBackupDate,
  formatBackupDateOfWallClock,
  incompleteDir,
  logrotateConf,
  parseLogrotateHistory,
  planDbRotation,
  planRetention,
  vmmetaName,
} from './layout.js';
import { buildSrMeta, type SrNames } from './srmeta.js';
import { INITIALISING_KEY, NoBackupVdiError, createBackupVdi, findBackupVdi, resolveSr, type BackupVdi, type SrInfo } from './backup-vdi.js';
import { makeExt3 } from './volume/e2fsprogs.js';
import { DIR_MODE, SECRET_FILE_MODE, pathExists, removeTree, writeFileBytes, writeStreamToFile } from './volume/files.js';
import { readMasterClock, type ClockFacts, type MasterClock } from './master-clock.js';
import { claimBackupVdi, VdiAttachedElsewhereError, VdiInGuestError, type VdiClaim } from './vdi-claim.js';
import { prepareNewVdiLock, VdiBusyError, VdiLockLostError, type LockIdentity } from './vdi-lock.js';
import { removePartialFiles, type CleanedItem } from './leftovers.js';
import { assertFolderOrAbsent, listRealDirectory } from './backup-tree.js';
import { FileBlockDevice } from './volume/block-device.js';
import { readSuperblock } from './volume/superblock.js';
import { openExt3Staged, type StagedVolume } from './volume/ext3.js';
import type { Preparation } from './volume/prepare-write.js';
import type { CommitPlan } from './volume/commit-plan.js';
import { openVdiWorkspace, type AccessMode, type VdiWorkspace } from './volume/workspace.js';
import { readPoolRecords, selectBackupSet, srsOfVm, type PoolRecords } from './pool-records.js';
import { childAbort, clampConcurrency, forEachConcurrently } from './work-pool.js';
import { WriteBehind } from './volume/write-behind.js';
import { neutralise } from '../safe-text.js';

/** VM exports held in memory waiting for the filesystem, at most. */
const WRITE_BEHIND_BYTES = 4 * 1024 * 1024;

export interface BackupOptions {
  /** SR to back up to; default the pool's default SR. */
  srUuid?: string;
  /** Create the backup VDI when it is missing (stock -c). Default true. */
  create?: boolean;
  /** Backups kept (stock -k); also the rotate count of a new conf file. Default 12. */
  history?: number;
  /** Back up even when the backup filesystem is more than 90 % used (stock -f). */
  force?: boolean;
  /** Size of a backup VDI created by this run. Default 1 GiB (stock; 500 MiB on the 8.2 CU1 line). */
  vdiSize?: number;
  /** VM exports in flight at once. Default 8 (work-pool.ts). */
  concurrency?: number;
  access?: AccessMode | 'auto';
  /** Remote access: folder of cached VDI copies (null: none). */
  cacheDir?: string | null;
  signal?: AbortSignal;
  onProgress?: (event: BackupProgress) => void;
  /**
   * The master's local time for the dated folder name, instead of asking the pool (tests
   * that need known names; the pool's clock is still read for the lock and the skew).
   */
  now?: () => Date;
  /** This machine's clock (tests): the skew is measured against it. */
  clientClock?: () => Date;
  /** How long to wait for another run holding the VDI before refusing (default 5 min). */
  lockWaitMs?: number;
  /** Between looks at a held VDI (default 2 s). */
  lockPollMs?: number;
  /** The lock's lifetime without renewal (default 10 min; tests). */
  lockTtlMs?: number;
  /** Who this run says it is in the lock (default: host name and pid). */
  lockIdentity?: LockIdentity;
}

export type BackupPhase =
  | 'sr'
  | 'vdi'
  | 'lock'
  | 'attach'
  | 'format'
  | 'check'
  | 'database'
  | 'srmeta'
  | 'vms'
  | 'links'
  | 'retention'
  | 'commit'
  | 'release';

export type BackupProgress =
  | { kind: 'phase'; phase: BackupPhase; message: string }
  | { kind: 'vm'; done: number; total: number; current: string; failed: number };

export interface BackupFailure {
  uuid: string;
  name: string;
  template: boolean;
  code: string;
  message: string;
}

export interface SpaceUse {
  usedPercent: number;
  usedBytes: number;
  availableBytes: number;
}

export interface BackupReport {
  sr: { uuid: string; name: string };
  vdi: { uuid: string; created: boolean; deterministicUuid: boolean };
  pool: { uuid: string; name: string };
  date: string;
  access: AccessMode;
  vmsExported: number;
  templatesExported: number;
  failures: BackupFailure[];
  /** Bytes of files written into the backup filesystem. */
  bytesWritten: number;
  spaceBefore: SpaceUse;
  spaceAfter: SpaceUse;
  /** Dated backups present after the run, newest first. */
  backupsKept: string[];
  backupsRemoved: string[];
  /** Older database dumps kept (.db.1 …). */
  databaseHistory: number;
  /** The filesystem needed (and got) an e2fsck repair, or a cut commit completed, before use. */
  repaired: boolean;
  /** How the backup reached the VDI: blocks written in place, blocks through the journal. */
  commit: CommitPlan['summary'];
  transfer: { downloadedBytes: number; uploadedBytes: number };
  durationMs: number;
  /** Where the date came from and how far this machine's clock is from the master's. */
  clock: ClockFacts;
  /** For the operator: clock skew over a minute, a clock fallback, a lock taken over. */
  warnings: string[];
  /** Leftovers of interrupted runs removed before this backup (VBDs, partial files). */
  cleaned: CleanedItem[];
  /** Time spent waiting for another run holding the VDI (null: none). */
  waited: { ms: number; for: string } | null;
}

export class SpaceGuardError extends ExpectedFailure {
  constructor(readonly usedPercent: number) {
    super(
      'BACKUP_VDI_FULL',
      `The backup VDI is ${usedPercent}% full; backups stop above ${SPACE_GUARD_PERCENT}% so the last good ones are not overwritten.`,
      'Keep fewer backups (older ones are removed after the next backup), or back up anyway past the guard (force).',
    );
    this.name = 'SpaceGuardError';
  }
}

/** A failure inside a step, naming the step for the operator. */
export class BackupStepError extends StepFailure {
  constructor(
    readonly step: BackupPhase,
    cause: unknown,
  ) {
    // A commit cut part way is safe by construction (volume/commit-plan.ts): say so.
    super(
      STEP_TEXT[step],
      cause,
      step === 'commit'
        ? ' Earlier backups on the VDI are intact; this one is either absent or held in its journal, which the next backup, a restore or fsck completes.'
        : '',
    );
    this.name = 'BackupStepError';
  }
}

/** What a step does, for messages like "<step> failed: …". */
export function backupStepText(step: BackupPhase): string {
  return STEP_TEXT[step];
}

const STEP_TEXT: Record<BackupPhase, string> = {
  sr: 'Finding the SR',
  vdi: 'Finding or creating the backup VDI',
  lock: 'Taking the backup VDI for this run',
  attach: 'Attaching the backup VDI',
  format: 'Formatting the new backup VDI',
  check: 'Checking the backup filesystem',
  database: 'Backing up the pool database',
  srmeta: 'Backing up SR metadata',
  vms: 'Backing up VM metadata',
  links: 'Linking VMs by SR',
  retention: 'Cleaning old VM metadata',
  commit: 'Writing the backup VDI back to the pool',
  release: 'Releasing the backup VDI',
};

function spaceOf(sb: { usedPercent: number; usedBytes: number; availableBytes: number }): SpaceUse {
  return { usedPercent: sb.usedPercent, usedBytes: sb.usedBytes, availableBytes: sb.availableBytes };
}

async function step<T>(name: BackupPhase, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof BackupStepError || err instanceof AbortError || err instanceof SpaceGuardError || err instanceof NoBackupVdiError) throw err;
    // The lock's own errors say what happened and what to do.
    if (err instanceof VdiBusyError || err instanceof VdiLockLostError || err instanceof VdiAttachedElsewhereError || err instanceof VdiInGuestError) throw err;
    if (err instanceof Error && err.name === 'AbortError') throw err;
    throw new BackupStepError(name, err);
  }
}

export async function runBackup(session: Session, options: BackupOptions = {}): Promise<BackupReport> {
  const started = Date.now();
  // The run's own signal: the operator's, or the lock being lost (then nothing more is written).
  const run = childAbort(options.signal);
  const signal = run.signal;
  const emit = options.onProgress ?? (() => undefined);
  const phase = (p: BackupPhase, message: string) => emit({ kind: 'phase', phase: p, message });
  const history = options.history ?? DEFAULT_HISTORY;
  if (!Number.isInteger(history) || history < 1) throw new RangeError('history must be a whole number of at least 1');

  phase('sr', 'Finding the SR...');
  const sr: SrInfo = await step('sr', () => resolveSr(session, options.srUuid));
  const master = await step('sr', () => assertOnMaster(session));
  const clock: MasterClock = await step('lock', () => readMasterClock(session, master, options.clientClock ? { clientClock: options.clientClock } : {}));

  phase('vdi', `Using SR: ${neutralise(sr.nameLabel)}`);
  let vdi: BackupVdi | null = await step('vdi', () => findBackupVdi(session, sr));
  let created = false;
  let deterministic = vdi ? !vdi.legacy : true;
  let claim: VdiClaim | null = null;
  const lockOpts = {
    op: 'backup' as const,
    clock,
    ...(options.lockTtlMs !== undefined && { ttlMs: options.lockTtlMs }),
    ...(options.lockIdentity && { identity: options.lockIdentity }),
  };
  if (!vdi) {
    if (options.create === false) throw new NoBackupVdiError(sr, backupVdiUuid(sr.uuid));
    throwIfAborted(signal);
    // Born locked: no other client opens it before it has a filesystem.
    const born = prepareNewVdiLock(lockOpts);
    const made = await step('vdi', () => createBackupVdi(session, sr, options.vdiSize, born.otherConfig)).catch(async (err: unknown) => {
      // Another client may have created it meanwhile: then it is used (after its lock).
      if (await findBackupVdi(session, sr).catch(() => null)) return null;
      throw err;
    });
    if (made) {
      phase('vdi', `Creating new backup VDI: ${neutralise(made.uuid)}`);
      vdi = made;
      created = true;
      deterministic = made.deterministic;
      claim = { lock: born.adopt(session, made.ref), cleaned: [], waited: null, tookOver: null };
    } else {
      vdi = await step('vdi', async () => (await findBackupVdi(session, sr))!);
      deterministic = !vdi.legacy;
    }
  }
  if (vdi.readOnly) throw new BackupStepError('vdi', new Error(`The backup VDI ${neutralise(vdi.uuid)} is read-only.`));
  const backupVdi = vdi;
  if (!claim) {
    phase('lock', 'Taking the backup VDI for this run...');
    claim = await step('lock', () =>
      claimBackupVdi(session, backupVdi.ref, {
        ...lockOpts,
        refuseGuests: true,
        ...(options.lockWaitMs !== undefined && { waitMs: options.lockWaitMs }),
        ...(options.lockPollMs !== undefined && { pollMs: options.lockPollMs }),
        ...(options.signal && { signal: options.signal }),
        onWait: (w) => phase('lock', w.message),
      }),
    );
  }
  const held = claim;
  const lost = () => run.abort(held.lock.lostError);
  held.lock.lostSignal.addEventListener('abort', lost, { once: true });
  const cleaned: CleanedItem[] = [...held.cleaned];
  for (const c of held.cleaned) phase('lock', `Released stale VBD ${c.uuid} of the backup VDI.`);
  const warnings = [...clock.warnings];
  if (held.tookOver) warnings.push(`Took over the lock of the backup VDI left by ${held.tookOver}.`);

  // The pool's records (tens of MB on a big pool) are read while the VDI is attached.
  const recordsRead = readPoolRecords(session);
  recordsRead.catch(() => undefined); // awaited below, or in finally when the run ends early
  let workspace: VdiWorkspace | null = null;
  let volume: StagedVolume | null = null;
  let preparation: Preparation | null = null;
  let committed = false;
  let tmpDir: string | null = null;
  let partialDb: string | null = null;
  try {
    phase('attach', 'Attaching the backup VDI...');
    workspace = await step('attach', () =>
      openVdiWorkspace(session, backupVdi, {
        mode: options.access ?? 'auto',
        fresh: created,
        ...(options.cacheDir !== undefined && { cacheDir: options.cacheDir }),
        ...(signal && { signal }),
      }),
    );
    const ws = workspace;
    // A VDI whose first commit was cut holds no filesystem yet: it is formatted again.
    let fresh = created;
    const reformat = !created && backupVdi.initialising === true && !(await holdsExtFilesystem(ws.path));
    if (fresh || reformat) {
      fresh = true;
      phase('format', 'Formatting the backup VDI (ext3)...');
      await step('format', () => makeExt3(ws.path));
    }
    throwIfAborted(signal);
    phase('check', 'Checking the backup filesystem...');
    if (!fresh) preparation = await step('check', () => ws.prepareForWrite(signal ? { signal } : {}));
    const stage = preparation?.stage;
    volume = await step('check', () => openExt3Staged(ws.path, stage ? { stage } : {}));
    const vol = volume;
    const fs = vol.fs;
    let bytesWritten = 0;
    const write = (path: string, data: Buffer | string, mode?: number) =>
      vol.exclusive(async () => {
        const n = await writeFileBytes(fs, path, data, mode);
        bytesWritten += n;
      });
    // An existing VDI's folders must be real ones before anything is removed or written in
    // them: a link would carry the cleaning and the writes elsewhere.
    await step('check', async () => {
      for (const folder of ['/conf', METADATA_DIR]) await assertFolderOrAbsent(fs, folder);
    });
    // What killed or failed runs left inside (under the lock, nobody else is writing).
    const removed = await step('check', () => vol.exclusive(() => removePartialFiles(fs)));
    for (const f of removed) phase('check', `Removed ${f.path}, left by an interrupted run.`);
    cleaned.push(...removed);

    const records = await step('vms', () => recordsRead);
    const poolUuid = records.pool.uuid;

    // First use of this VDI: the rotation config and the marker (stock writes them once).
    let rotate = history;
    await step('check', async () => {
      const conf = confPath(backupVdi.uuid);
      if (!(await pathExists(fs, conf))) {
        if (!(await pathExists(fs, '/conf'))) await fs.mkdir('/conf', DIR_MODE);
        await write(conf, logrotateConf(backupVdi.uuid, poolUuid, history));
        await write(MARKER_PATH, MARKER_CONTENT);
      } else {
        rotate = parseLogrotateHistory(await fs.readFile(conf, 'utf8')) ?? history;
      }
      if (!(await pathExists(fs, METADATA_DIR))) await fs.mkdir(METADATA_DIR, DIR_MODE);
    });

    const spaceBefore = freed(spaceOf(vol.superblock), removed.reduce((n, f) => n + f.bytes, 0));
    phase('check', `Checking backup VDI space usage: ${spaceBefore.usedPercent}%`);
    if (spaceBefore.usedPercent > SPACE_GUARD_PERCENT && !options.force) throw new SpaceGuardError(spaceBefore.usedPercent);

    // The dated folder, under a name no lister shows until it is complete.
    const date = await step('check', async () => {
      const named = options.now ? formatBackupDate(options.now()) : await clock.backupDateName();
      return vol.exclusive(() => freeDateName(fs, named));
    });
    tmpDir = incompleteDir(date);
    const dir = tmpDir;
    await vol.exclusive(async () => {
      await fs.mkdir(dir, DIR_MODE);
      await fs.mkdir(`${dir}/all`, DIR_MODE);
      await fs.mkdir(`${dir}/by-sr`, DIR_MODE);
    });

    phase('srmeta', 'Backing up SR metadata...');
    await step('srmeta', () => write(`${dir}/${SRMETA_FILE}`, buildSrMeta(srNamesOf(records))));

    // The database dump and the VM exports run side by side; a failure of either stops both.
    // Database: dumped under a temporary name, rotated in once complete (below).
    throwIfAborted(signal);
    const inner = childAbort(signal);
    const innerOpts = { signal: inner.signal };
    phase('database', 'Backing up pool database...');
    const dump = `/.${poolUuid}.db.incomplete`;
    partialDb = dump;
    const dumping = step('database', async () => {
      const dl = await streamPoolDatabase(session, innerOpts);
      const n = await writeStreamToFile(fs, dump, dl.stream as AsyncIterable<Buffer>, { exclusive: vol.exclusive, mode: SECRET_FILE_MODE });
      bytesWritten += n;
      await dl.done;
    });
    // The first of the two to fail is the one reported; it stops the other.
    let firstFailure: { err: unknown } | undefined;
    const stopOnFailure = (err: unknown) => {
      firstFailure ??= { err };
      inner.abort(new Error('the backup stopped'));
    };
    dumping.catch(stopOnFailure);

    const set = selectBackupSet(records);
    const all = [...set.vms.map((r) => ({ ...r, template: false })), ...set.templates.map((r) => ({ ...r, template: true }))];
    phase('vms', `Backing up VM metadata: ${set.vms.length} VM(s), ${set.templates.length} template(s)...`);
    const failures: BackupFailure[] = [];
    const exported = new Set<Ref>();
    let done = 0;
    const finished = (vm: (typeof all)[number], err?: unknown) => {
      if (err !== undefined) {
        const e = explainError(err);
        failures.push({ uuid: vm.uuid, name: vm.name, template: vm.template, code: e.code, message: err instanceof XenApiError ? `${e.meaning} (${err.params.join(', ')})` : e.meaning });
      } else exported.add(vm.ref);
      done++;
      emit({ kind: 'vm', done, total: all.length, current: vm.name, failed: failures.length });
    };
    // An export that has arrived is written while the worker fetches the next one.
    const writes = new WriteBehind(WRITE_BEHIND_BYTES);
    const exporting = step('vms', async () => {
      try {
        await forEachConcurrently(
          all,
          clampConcurrency(options.concurrency),
          async (vm) => {
            let tar: Buffer;
            try {
              tar = await exportMetadata(session, { vmRef: vm.ref, exportSnapshots: false }, innerOpts);
            } catch (err) {
              if (inner.signal.aborted) throw err;
              return finished(vm, err);
            }
            await writes.add(tar.length, () => write(`${dir}/all/${vmmetaName(vm.uuid)}`, tar, SECRET_FILE_MODE).then(() => finished(vm), (err: unknown) => finished(vm, err)));
          },
          inner.signal,
        );
      } finally {
        await writes.drain();
      }
    });
    exporting.catch(stopOnFailure);
    await Promise.allSettled([dumping, exporting]);
    inner.dispose();
    // The operator's Ctrl-C first, then the failure that stopped the rest.
    throwIfAborted(signal);
    if (firstFailure) throw firstFailure.err;

    let databaseHistory = 0;
    await step('database', () =>
      vol.exclusive(async () => {
        // Listed within bounds (backup-tree.ts): a crafted folder is refused, not read whole.
        const generations = ((await listRealDirectory(fs, '/')) ?? [])
          .map((name) => dbGenerationOf(name, poolUuid))
          .filter((g): g is number => g !== null);
        const plan = planDbRotation(generations, rotate);
        for (const g of plan.remove) await fs.unlink(dbDumpPath(poolUuid, g));
        for (const [from, to] of plan.renames) await fs.rename(dbDumpPath(poolUuid, from), dbDumpPath(poolUuid, to));
        await fs.rename(dump, dbDumpPath(poolUuid, 0));
        partialDb = null;
        databaseHistory = plan.renames.length;
        // Older dumps written 0644 (before this tool used stock's modes) hold the same secrets.
        for (const [, to] of plan.renames) {
          const path = dbDumpPath(poolUuid, to);
          if (((await fs.lstat(path)).mode & 0o7777) !== SECRET_FILE_MODE) await fs.chmod(path, SECRET_FILE_MODE);
        }
      }),
    );

    phase('links', 'Linking VMs by SR...');
    await step('links', () =>
      vol.exclusive(async () => {
        const made = new Set<string>();
        for (const vm of all) {
          if (!exported.has(vm.ref)) continue; // no dangling links for failed exports
          for (const srUuid of srsOfVm(records, vm.ref)) {
            const srDir = `${dir}/by-sr/${srUuid}`;
            if (!made.has(srUuid)) {
              await fs.mkdir(srDir, DIR_MODE);
              made.add(srUuid);
            }
            await fs.symlink(bySrLinkTarget(vm.uuid), `${srDir}/${vmmetaName(vm.uuid)}`);
          }
        }
      }),
    );

    // Complete: make it visible, then apply the history.
    phase('retention', 'Cleaning old VM metadata...');
    // Still ours? (A run that lost its lock makes nothing visible.)
    await step('retention', () => held.lock.verify());
    const retention = await step('retention', () =>
      vol.exclusive(async () => {
        await fs.rename(dir, backupDir(date));
        tmpDir = null;
        const names = (await listRealDirectory(fs, METADATA_DIR)) ?? [];
        for (const stale of names.filter((n) => n.startsWith(INCOMPLETE_PREFIX))) await removeTree(fs, `${METADATA_DIR}/${stale}`);
        const plan = planRetention(names, history, date);
        for (const old of plan.remove) await removeTree(fs, backupDir(old));
        return plan;
      }),
    );

    await step('commit', () => vol.finish());
    const spaceAfter = spaceOf(await step('commit', () => vol.readSuperblock()));
    phase('commit', 'Writing the backup...');
    throwIfAborted(signal);
    await step('commit', () => held.lock.verify());
    const commit = await step('commit', () =>
      ws.commit(vol.staged, { fresh: fresh && ws.mode === 'remote', wholeDisk: reformat, ...(signal && { signal }) }),
    );
    committed = true;
    if (backupVdi.initialising) await session.call('VDI.remove_from_other_config', backupVdi.ref, INITIALISING_KEY).catch(() => undefined);

    return {
      sr: { uuid: sr.uuid, name: sr.nameLabel },
      vdi: { uuid: backupVdi.uuid, created, deterministicUuid: deterministic },
      pool: { uuid: poolUuid, name: records.pool.name },
      date,
      access: ws.mode,
      vmsExported: set.vms.filter((v) => exported.has(v.ref)).length,
      templatesExported: set.templates.filter((v) => exported.has(v.ref)).length,
      failures,
      bytesWritten,
      spaceBefore,
      spaceAfter,
      backupsKept: retention.keep,
      backupsRemoved: retention.remove,
      databaseHistory,
      repaired: preparation?.repaired ?? false,
      commit,
      transfer: { ...ws.transfer },
      durationMs: Date.now() - started,
      clock: { source: clock.source, skewMs: clock.skewMs, masterUtcOffsetMinutes: clock.masterUtcOffsetMinutes, warnings: clock.warnings },
      warnings,
      cleaned,
      waited: held.waited,
    };
  } catch (err) {
    // Nothing needs cleaning on the VDI (the stage is dropped below). Stopped because the
    // lock was lost: say that, not "cancelled".
    if (held.lock.lostError && !options.signal?.aborted) throw held.lock.lostError;
    throw err;
  } finally {
    // Nothing of a run that did not commit reached the VDI: the stage is simply dropped.
    await volume?.dispose().catch(() => undefined);
    await preparation?.cleanup().catch(() => undefined);
    await recordsRead.catch(() => undefined);
    phase('release', 'Releasing the backup VDI...');
    if (workspace) await workspace.release().catch(() => undefined);
    held.lock.lostSignal.removeEventListener('abort', lost);
    run.dispose();
    // A VDI destroyed takes its lock along; otherwise the lock is handed back once the VBD is gone.
    if (created && !committed) await session.call('VDI.destroy', backupVdi.ref).catch(() => held.lock.release());
    else await held.lock.release();
    // The transfers' task.destroy calls still under way end before the run does.
    await session.settle();
  }
}

/** Space use as it is once `bytes` more are free (the partial files removed at start). */
function freed(space: SpaceUse, bytes: number): SpaceUse {
  if (bytes <= 0) return space;
  const usedBytes = Math.max(0, space.usedBytes - bytes);
  const availableBytes = space.availableBytes + (space.usedBytes - usedBytes);
  const total = usedBytes + availableBytes;
  return { usedBytes, availableBytes, usedPercent: total > 0 ? Math.ceil((usedBytes * 100) / total) : 0 };
}

/** The dated folder name `name`, moved on by a second while that name is taken. */
async function freeDateName(fs: Ext2Promises, name: string): Promise<string> {
  const m = /^(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$/.exec(name);
  if (!m) throw new Error(`not a backup date: ${name}`);
  // The wall-clock reading in a Date's UTC fields, so counting seconds knows no DST.
  const t = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
  for (let i = 0; i < 120; i++) {
    const candidate = formatBackupDateOfWallClock(t);
    if (!(await pathExists(fs, backupDir(candidate))) && !(await pathExists(fs, incompleteDir(candidate)))) return candidate;
    t.setUTCSeconds(t.getUTCSeconds() + 1);
  }
  throw new ExpectedFailure('NO_FREE_DATE', 'No free dated folder name within two minutes of now (other backups took them).', 'Wait a minute and back up again.');
}

/** Whether the device holds an ext superblock at all (a VDI whose first commit was cut does not). */
async function holdsExtFilesystem(path: string): Promise<boolean> {
  const dev = await FileBlockDevice.open(path, { readOnly: true });
  try {
    await readSuperblock(dev);
    return true;
  } catch {
    return false;
  } finally {
    await dev.close();
  }
}

function srNamesOf(records: PoolRecords): SrNames[] {
  const out: SrNames[] = [];
  for (const sr of records.srs.values()) {
    const vdis: SrNames['vdis'] = [];
    for (const vdiRef of sr.vdis) {
      const v = records.vdis.get(vdiRef);
      if (v) vdis.push({ uuid: v.uuid, nameLabel: v.nameLabel, nameDescription: v.nameDescription });
    }
    out.push({ uuid: sr.uuid, nameLabel: sr.nameLabel, nameDescription: sr.nameDescription, vdis });
  }
  return out;
}

/** Stock refuses to run anywhere but on the master; a session always ends on it. Returns the master. */
async function assertOnMaster(session: Session): Promise<Ref> {
  const pool = (await session.call<Ref[]>('pool.get_all'))[0];
  if (!pool) throw new ExpectedFailure('NO_POOL_OBJECT', 'The pool has no pool object.', 'Check that the address is a XenServer / XCP-ng pool coordinator (XAPI may still be starting), then run again.');
  const [master, thisHost] = await Promise.all([
    session.call<Ref>('pool.get_master', pool),
    session.call<Ref>('session.get_this_host', session.ref),
  ]);
  if (!isNullRef(thisHost) && toStr(thisHost) !== toStr(master)) {
    throw new ExpectedFailure('NOT_POOL_MASTER', 'This host is not the pool master.', 'Run the backup on the pool master (or connect to the master with --host).');
  }
  return master;
}
