/**
 * "Backup Virtual Machine Metadata": writes what the stock xe-backup-metadata writes
 * (facts §6), so the host's own tools can restore our backups and we theirs, and does
 * better where stock is fragile:
 *  - the dated folder is written as metadata/.incomplete-<date> and renamed when complete,
 *    so an interrupted run never shows up in a list (stock `ls` hides dot-names);
 *  - the database dump is written under a temporary name before the rotation, so a failed
 *    dump never costs the newest good one;
 *  - a VM whose export fails is reported by name and error, and not linked in by-sr/;
 *  - exports run with bounded concurrency.
 * Whatever happens, the VBD is unplugged and destroyed and a VDI created in this run that
 * never got an initialised filesystem is destroyed again.
 */
import type { Ext2Promises } from 'ext2fs';
import {
  AbortError,
  XenApiError,
  explainError,
  exportMetadata,
  isNullRef,
  streamPoolDatabase,
  throwIfAborted,
  toStr,
  type ErrorExplanation,
  type Ref,
  type Session,
} from '../xenapi/index.js';
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
  incompleteDir,
  logrotateConf,
  parseLogrotateHistory,
  planDbRotation,
  planRetention,
  vmmetaName,
} from './layout.js';
import { buildSrMeta, type SrNames } from './srmeta.js';
import { NoBackupVdiError, createBackupVdi, findBackupVdi, resolveSr, type BackupVdi, type SrInfo } from './backup-vdi.js';
import { makeExt3 } from './volume/e2fsprogs.js';
import { DIR_MODE, pathExists, removeTree, writeFileBytes, writeStreamToFile } from './volume/files.js';
import { FileBlockDevice } from './volume/block-device.js';
import { readSuperblock } from './volume/superblock.js';
import { openExt3, type Ext3Volume } from './volume/ext3.js';
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
  /** Clock for the dated folder name (tests). */
  now?: () => Date;
}

export type BackupPhase =
  | 'sr'
  | 'vdi'
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
  /** The filesystem needed (and got) an e2fsck repair before use. */
  repaired: boolean;
  transfer: { downloadedBytes: number; uploadedBytes: number };
  durationMs: number;
}

export class SpaceGuardError extends Error {
  readonly explanation: ErrorExplanation;
  constructor(readonly usedPercent: number) {
    super(`The backup VDI is ${usedPercent}% full (limit ${SPACE_GUARD_PERCENT}%).`);
    this.name = 'SpaceGuardError';
    this.explanation = {
      code: 'BACKUP_VDI_FULL',
      meaning: this.message,
      nextStep: 'Lower the number of backups kept (--keep; older ones are removed after the next backup), or back up anyway with --force.',
    };
  }
}

/** A failure inside a step, naming the step for the operator. */
export class BackupStepError extends Error {
  constructor(
    readonly step: BackupPhase,
    override readonly cause: unknown,
  ) {
    const e = explainError(cause);
    super(`${STEP_TEXT[step]} failed: ${e.code === 'ERROR' ? '' : `${e.code}: `}${e.meaning}`);
    this.name = 'BackupStepError';
    this.explanation = { code: e.code, meaning: `${STEP_TEXT[step]} failed: ${e.meaning}`, nextStep: e.nextStep };
  }

  readonly explanation: ErrorExplanation;
}

/** What a step does, for messages like "<step> failed: …". */
export function backupStepText(step: BackupPhase): string {
  return STEP_TEXT[step];
}

const STEP_TEXT: Record<BackupPhase, string> = {
  sr: 'Finding the SR',
  vdi: 'Finding or creating the backup VDI',
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
    if (err instanceof Error && err.name === 'AbortError') throw err;
    throw new BackupStepError(name, err);
  }
}

export async function runBackup(session: Session, options: BackupOptions = {}): Promise<BackupReport> {
  const started = Date.now();
  const signal = options.signal;
  const emit = options.onProgress ?? (() => undefined);
  const phase = (p: BackupPhase, message: string) => emit({ kind: 'phase', phase: p, message });
  const history = options.history ?? DEFAULT_HISTORY;
  if (!Number.isInteger(history) || history < 1) throw new RangeError('history must be a whole number of at least 1');

  phase('sr', 'Finding the SR...');
  const sr: SrInfo = await step('sr', () => resolveSr(session, options.srUuid));
  await step('sr', () => assertOnMaster(session));

  phase('vdi', `Using SR: ${neutralise(sr.nameLabel)}`);
  let vdi: BackupVdi | null = await step('vdi', () => findBackupVdi(session, sr));
  let created = false;
  let deterministic = vdi ? !vdi.legacy : true;
  if (!vdi) {
    if (options.create === false) throw new NoBackupVdiError(sr, backupVdiUuid(sr.uuid));
    throwIfAborted(signal);
    const made = await step('vdi', () => createBackupVdi(session, sr, options.vdiSize));
    phase('vdi', `Creating new backup VDI: ${neutralise(made.uuid)}`);
    vdi = made;
    created = true;
    deterministic = made.deterministic;
  }
  if (vdi.readOnly) throw new BackupStepError('vdi', new Error(`The backup VDI ${neutralise(vdi.uuid)} is read-only.`));

  // The pool's records (tens of MB on a big pool) are read while the VDI is attached.
  const recordsRead = readPoolRecords(session);
  recordsRead.catch(() => undefined); // awaited below, or in finally when the run ends early
  let workspace: VdiWorkspace | null = null;
  let volume: Ext3Volume | null = null;
  let initialised = !created;
  let tmpDir: string | null = null;
  const backupVdi = vdi;
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
    if (created) {
      phase('format', 'Formatting the backup VDI (ext3)...');
      await step('format', () => makeExt3(ws.path));
    }
    throwIfAborted(signal);
    phase('check', 'Checking the backup filesystem...');
    volume = await step('check', () => openExt3(ws.path, { write: true }));
    const vol = volume;
    const fs = vol.fs;
    let bytesWritten = 0;
    const write = (path: string, data: Buffer | string) =>
      vol.exclusive(async () => {
        const n = await writeFileBytes(fs, path, data);
        bytesWritten += n;
      });

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
    initialised = true;

    const spaceBefore = spaceOf(vol.superblock);
    phase('check', `Checking backup VDI space usage: ${spaceBefore.usedPercent}%`);
    if (spaceBefore.usedPercent > SPACE_GUARD_PERCENT && !options.force) throw new SpaceGuardError(spaceBefore.usedPercent);

    // The dated folder, under a name no lister shows until it is complete.
    const date = await vol.exclusive(() => freeDateName(fs, (options.now ?? (() => new Date()))()));
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
    const partialDb = `/.${poolUuid}.db.incomplete`;
    const dumping = step('database', async () => {
      const dl = await streamPoolDatabase(session, innerOpts);
      const n = await writeStreamToFile(fs, partialDb, dl.stream as AsyncIterable<Buffer>, { exclusive: vol.exclusive });
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
            await writes.add(tar.length, () => write(`${dir}/all/${vmmetaName(vm.uuid)}`, tar).then(() => finished(vm), (err: unknown) => finished(vm, err)));
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
        const generations = (await fs.readdir('/'))
          .map((name) => dbGenerationOf(name, poolUuid))
          .filter((g): g is number => g !== null);
        const plan = planDbRotation(generations, rotate);
        for (const g of plan.remove) await fs.unlink(dbDumpPath(poolUuid, g));
        for (const [from, to] of plan.renames) await fs.rename(dbDumpPath(poolUuid, from), dbDumpPath(poolUuid, to));
        await fs.rename(partialDb, dbDumpPath(poolUuid, 0));
        databaseHistory = plan.renames.length;
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
    const retention = await step('retention', () =>
      vol.exclusive(async () => {
        await fs.rename(dir, backupDir(date));
        tmpDir = null;
        const names = await fs.readdir(METADATA_DIR);
        for (const stale of names.filter((n) => n.startsWith(INCOMPLETE_PREFIX))) await removeTree(fs, `${METADATA_DIR}/${stale}`);
        const plan = planRetention(names, history);
        for (const old of plan.remove) await removeTree(fs, backupDir(old));
        return plan;
      }),
    );

    await step('commit', () => vol.close());
    const spaceAfter = spaceOf(await step('commit', () => readFinalSuperblock(ws.path)));
    volume = null;
    phase('commit', 'Writing the backup...');
    // mkfs and an e2fsck repair write behind libext2fs's back: compare everything then.
    const written = created || vol.repaired ? undefined : vol.device.writtenRanges();
    await step('commit', () => ws.commit({ ...(signal && { signal }), ...(written && { written }) }));

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
      repaired: vol.repaired,
      transfer: { ...ws.transfer },
      durationMs: Date.now() - started,
    };
  } catch (err) {
    // Leave no partial folder behind when the filesystem is still usable.
    if (volume && tmpDir) {
      const fs = volume.fs;
      const partial = tmpDir;
      await removeTree(fs, partial).catch(() => undefined);
    }
    if (volume) {
      await volume.close().catch(() => undefined);
      // A remote copy whose new content is consistent is still worth keeping on the pool
      // only if the VDI was initialised; otherwise the VDI is destroyed below.
      if (initialised && workspace && workspace.mode === 'remote') await workspace.commit().catch(() => undefined);
    }
    throw err;
  } finally {
    await recordsRead.catch(() => undefined);
    phase('release', 'Releasing the backup VDI...');
    if (workspace) await workspace.release().catch(() => undefined);
    if (created && !initialised) await session.call('VDI.destroy', backupVdi.ref).catch(() => undefined);
    // The transfers' task.destroy calls still under way end before the run does.
    await session.settle();
  }
}

/** The dated folder name for `now`, moved on by a second while that name is taken. */
async function freeDateName(fs: Ext2Promises, now: Date): Promise<string> {
  const t = new Date(now.getTime());
  for (let i = 0; i < 120; i++) {
    const name = formatBackupDate(t);
    if (!(await pathExists(fs, backupDir(name))) && !(await pathExists(fs, incompleteDir(name)))) return name;
    t.setSeconds(t.getSeconds() + 1);
  }
  throw new Error('No free dated folder name within two minutes of now.');
}

async function readFinalSuperblock(path: string) {
  const dev = await FileBlockDevice.open(path, { readOnly: true });
  try {
    return await readSuperblock(dev);
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

/** Stock refuses to run anywhere but on the master; a session always ends on it. */
async function assertOnMaster(session: Session): Promise<void> {
  const pool = (await session.call<Ref[]>('pool.get_all'))[0];
  if (!pool) throw new Error('The pool has no pool object.');
  const [master, thisHost] = await Promise.all([
    session.call<Ref>('pool.get_master', pool),
    session.call<Ref>('session.get_this_host', session.ref),
  ]);
  if (!isNullRef(thisHost) && toStr(thisHost) !== toStr(master)) {
    throw new Error('This host is not the pool master: run the backup on the master (or connect with --host to the master).');
  }
}
