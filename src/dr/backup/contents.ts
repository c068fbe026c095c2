/**
 * What a backup writes into the staged filesystem: the dated folder (under a name no lister
 * shows until it is complete), SRMETA.xml, the pool database and the VM exports side by side,
 * the database rotation, and the by-sr links of the VMs that were exported.
 */
import type { Ext2Promises } from 'ext2fs';
import { XenApiError, exportMetadata, streamPoolDatabase, throwIfAborted, type Ref, type Session } from '../../xenapi/index.js';
import { ExpectedFailure, explainError } from '../../failure/index.js';
import {
  SRMETA_FILE,
  backupDir,
  bySrLinkTarget,
  dbDumpPath,
  dbGenerationOf,
  formatBackupDate,
  formatBackupDateOfWallClock,
  incompleteDir,
  planDbRotation,
  vmmetaName,
} from '../layout.js';
import { buildSrMeta, type SrNames } from '../srmeta.js';
import { VAPPS_FILE, buildVappsFile, vappsOfBackup, type PoolVapps, type VappsRecorded } from '../vapps.js';
import { DIR_MODE, SECRET_FILE_MODE, pathExists, writeStreamToFile } from '../volume/files.js';
import { listRealDirectory } from '../backup-tree.js';
import { selectBackupSet, srsOfVm, type PoolRecords, type VmInfo } from '../pool-records.js';
import { childAbort, clampConcurrency, forEachConcurrently } from '../work-pool.js';
import { WriteBehind } from '../volume/write-behind.js';
import type { MasterClock } from '../master-clock.js';
import { step } from './errors.js';
import type { BackupFilesystem } from './filesystem.js';
import type { BackupOptions } from './options.js';
import type { BackupPhase, BackupProgress } from './progress.js';
import type { BackupFailure } from './report.js';

/** VM exports held in memory waiting for the filesystem, at most. */
const WRITE_BEHIND_BYTES = 4 * 1024 * 1024;

/** How far the exports got, kept up to date while they run (a cancellation reports it). */
export interface ExportCount {
  exported: number;
  total: number;
}

export interface BackupContents {
  /** The dated folder's final name. */
  date: string;
  /** Where it is written until complete (metadata/.incomplete-<date>). */
  dir: string;
  vms: VmInfo[];
  templates: VmInfo[];
  exported: Set<Ref>;
  failures: BackupFailure[];
  databaseHistory: number;
  vapps: VappsRecorded;
}


/** Makes the dated folder under its incomplete name; `partial` learns it at once (for cleaning). */
export async function makeDatedFolder(f: BackupFilesystem, clock: MasterClock, options: BackupOptions): Promise<{ date: string; dir: string }> {
  const date = await step('check', async () => {
    const named = options.now ? formatBackupDate(options.now()) : await clock.backupDateName();
    return f.vol.exclusive(() => freeDateName(f.fs, named));
  });
  const dir = incompleteDir(date);
  await f.vol.exclusive(async () => {
    await f.fs.mkdir(dir, DIR_MODE);
    await f.fs.mkdir(`${dir}/all`, DIR_MODE);
    await f.fs.mkdir(`${dir}/by-sr`, DIR_MODE);
  });
  return { date, dir };
}

export async function writeBackupContents(
  session: Session,
  f: BackupFilesystem,
  folder: { date: string; dir: string },
  records: PoolRecords,
  poolVapps: PoolVapps,
  options: BackupOptions,
  signal: AbortSignal,
  progress: { phase: (p: BackupPhase) => void; emit: (e: BackupProgress) => void; count: (c: ExportCount) => void },
): Promise<BackupContents> {
  const { vol, fs, writer } = f;
  const { dir } = folder;
  const poolUuid = records.pool.uuid;

  const set = selectBackupSet(records);
  progress.phase('srmeta');
  await step('srmeta', () => writer.write(`${dir}/${SRMETA_FILE}`, buildSrMeta(srNamesOf(records))));
  // vApps are in no export: their own file beside SRMETA.xml, which stock tools never read (vapps.ts).
  const vapps = vappsOfBackup(poolVapps.vapps, new Set(set.vms.map((v) => v.uuid)));
  if (poolVapps.supported) await step('srmeta', () => writer.write(`${dir}/${VAPPS_FILE}`, buildVappsFile(vapps)));

  // The database dump and the VM exports run side by side; a failure of either stops both.
  // Database: dumped under a temporary name, rotated in once complete (below).
  throwIfAborted(signal);
  const inner = childAbort(signal);
  const innerOpts = { signal: inner.signal };
  progress.phase('database');
  const dump = `/.${poolUuid}.db.incomplete`;
  const dumping = step('database', async () => {
    const dl = await streamPoolDatabase(session, innerOpts);
    writer.add(await writeStreamToFile(fs, dump, dl.stream as AsyncIterable<Buffer>, { exclusive: vol.exclusive, mode: SECRET_FILE_MODE }));
    await dl.done;
  });
  // The first of the two to fail is the one reported; it stops the other.
  let firstFailure: { err: unknown } | undefined;
  const stopOnFailure = (err: unknown) => {
    firstFailure ??= { err };
    inner.abort(new Error('the backup stopped'));
  };
  dumping.catch(stopOnFailure);

  const all = [...set.vms.map((r) => ({ ...r, template: false })), ...set.templates.map((r) => ({ ...r, template: true }))];
  progress.phase('vms');
  const failures: BackupFailure[] = [];
  const exported = new Set<Ref>();
  let done = 0;
  progress.count({ exported: 0, total: all.length });
  const finished = (vm: (typeof all)[number], err?: unknown) => {
    if (err !== undefined) {
      const e = explainError(err);
      failures.push({ uuid: vm.uuid, name: vm.name, template: vm.template, code: e.code, message: err instanceof XenApiError ? `${e.meaning} (${err.params.join(', ')})` : e.meaning });
    } else exported.add(vm.ref);
    done++;
    progress.count({ exported: exported.size, total: all.length });
    progress.emit({ kind: 'vm', done, total: all.length, current: vm.name, failed: failures.length });
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
          await writes.add(tar.length, () => writer.write(`${dir}/all/${vmmetaName(vm.uuid)}`, tar, SECRET_FILE_MODE).then(() => finished(vm), (err: unknown) => finished(vm, err)));
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

  const databaseHistory = await rotateDatabase(f, poolUuid, dump);

  progress.phase('links');
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
  const recorded = { supported: poolVapps.supported, vapps: vapps.length, vms: vapps.reduce((n, a) => n + a.vms.length, 0) };
  return { ...folder, vms: set.vms, templates: set.templates, exported, failures, databaseHistory, vapps: recorded };
}

/** The new dump becomes <pool>.db, the older ones move up (.db.1 …) within the rotate count. Returns how many older are kept. */
async function rotateDatabase(f: BackupFilesystem, poolUuid: string, dump: string): Promise<number> {
  const { fs } = f;
  return step('database', () =>
    f.vol.exclusive(async () => {
      // Listed within bounds (backup-tree.ts): a crafted folder is refused, not read whole.
      const generations = ((await listRealDirectory(fs, '/')) ?? []).map((name) => dbGenerationOf(name, poolUuid)).filter((g): g is number => g !== null);
      const plan = planDbRotation(generations, f.rotate);
      for (const g of plan.remove) await fs.unlink(dbDumpPath(poolUuid, g));
      for (const [from, to] of plan.renames) await fs.rename(dbDumpPath(poolUuid, from), dbDumpPath(poolUuid, to));
      await fs.rename(dump, dbDumpPath(poolUuid, 0));
      // Older dumps written 0644 (before this tool used stock's modes) hold the same secrets.
      for (const [, to] of plan.renames) {
        const path = dbDumpPath(poolUuid, to);
        if (((await fs.lstat(path)).mode & 0o7777) !== SECRET_FILE_MODE) await fs.chmod(path, SECRET_FILE_MODE);
      }
      return plan.renames.length;
    }),
  );
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
