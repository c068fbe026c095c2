/**
 * Reaching the backup VDI's filesystem for a run: attach (or fetch) it, format a new one,
 * make an existing one clean, open it staged (nothing reaches the VDI before the commit),
 * clean what killed runs left inside, write the first-use files, and apply the space guard.
 */
import type { Ext2Promises } from 'ext2fs';
import { throwIfAborted, type Session } from '../../xenapi/index.js';
import {
  MARKER_CONTENT,
  MARKER_PATH,
  METADATA_DIR,
  SPACE_GUARD_PERCENT,
  confPath,
  isBackupDate,
  logrotateConf,
  newestFirst,
  parseLogrotateHistory,
} from '../layout.js';
import { makeExt3 } from '../volume/e2fsprogs.js';
import { DIR_MODE, pathExists, writeFileBytes } from '../volume/files.js';
import { removePartialFiles, type CleanedItem } from '../leftovers.js';
import { assertFolderOrAbsent, listRealDirectory } from '../backup-tree.js';
import { FileBlockDevice } from '../volume/block-device.js';
import { readSuperblock } from '../volume/superblock.js';
import { openExt3Staged, type StagedVolume } from '../volume/ext3.js';
import type { Preparation } from '../volume/prepare-write.js';
import { openVdiWorkspace, type VdiWorkspace } from '../volume/workspace.js';
import { SpaceGuardError, step } from './errors.js';
import type { BackupOptions } from './options.js';
import type { PoolFacts } from './pool-facts.js';
import type { BackupPhase, BackupProgress } from './progress.js';
import { freed, spaceOf, type SpaceUse } from './report.js';
import type { BackupTarget } from './target.js';

/** What the run holds open; filled as it opens, so the run can release whatever was reached. */
export interface Held {
  workspace: VdiWorkspace | null;
  volume: StagedVolume | null;
  preparation: Preparation | null;
}

/** Writes into the staged filesystem one at a time, counting the bytes. */
export interface Writer {
  write(path: string, data: Buffer | string, mode?: number): Promise<void>;
  readonly bytes: number;
  add(n: number): void;
}

export interface BackupFilesystem {
  ws: VdiWorkspace;
  vol: StagedVolume;
  fs: Ext2Promises;
  /** Formatted in this run (a new VDI, or one whose first commit was cut). */
  fresh: boolean;
  reformat: boolean;
  /** Database dumps kept (the conf file's rotate count). */
  rotate: number;
  /** Partial files of killed runs removed. */
  removed: CleanedItem[];
  writer: Writer;
}

export async function openBackupFilesystem(
  session: Session,
  pool: PoolFacts,
  target: BackupTarget,
  options: BackupOptions,
  history: number,
  signal: AbortSignal,
  held: Held,
  phase: (p: BackupPhase) => void,
  emit: (e: BackupProgress) => void,
): Promise<BackupFilesystem> {
  const { vdi, created } = target;
  phase('attach');
  const ws = await step('attach', () =>
    openVdiWorkspace(session, vdi, {
      mode: options.access ?? 'auto',
      fresh: created,
      master: pool.master,
      ...(options.cacheDir !== undefined && { cacheDir: options.cacheDir }),
      signal,
    }),
  );
  held.workspace = ws;
  // A VDI whose first commit was cut holds no filesystem yet: it is formatted again.
  let fresh = created;
  const reformat = !created && vdi.initialising === true && !(await holdsExtFilesystem(ws.path));
  if (fresh || reformat) {
    fresh = true;
    phase('format');
    await step('format', () => makeExt3(ws.path));
  }
  throwIfAborted(signal);
  phase('check');
  if (!fresh) held.preparation = await step('check', () => ws.prepareForWrite({ signal }));
  const stage = held.preparation?.stage;
  const vol = await step('check', () => openExt3Staged(ws.path, stage ? { stage } : {}));
  held.volume = vol;
  const fs = vol.fs;
  let bytes = 0;
  const writer: Writer = {
    write: (path, data, mode) =>
      vol.exclusive(async () => {
        bytes += await writeFileBytes(fs, path, data, mode);
      }),
    get bytes() {
      return bytes;
    },
    add(n) {
      bytes += n;
    },
  };
  // An existing VDI's folders must be real ones before anything is removed or written in
  // them: a link would carry the cleaning and the writes elsewhere.
  await step('check', async () => {
    for (const folder of ['/conf', METADATA_DIR]) await assertFolderOrAbsent(fs, folder);
  });
  // What killed or failed runs left inside (under the lock, nobody else is writing).
  const removed = await step('check', () => vol.exclusive(() => removePartialFiles(fs)));
  for (const f of removed) emit({ kind: 'cleaned', item: f });

  // First use of this VDI: the rotation config and the marker (stock writes them once).
  let rotate = history;
  await step('check', async () => {
    const conf = confPath(vdi.uuid);
    if (!(await pathExists(fs, conf))) {
      if (!(await pathExists(fs, '/conf'))) await fs.mkdir('/conf', DIR_MODE);
      await writer.write(conf, logrotateConf(vdi.uuid, pool.uuid, history));
      await writer.write(MARKER_PATH, MARKER_CONTENT);
    } else {
      rotate = parseLogrotateHistory(await fs.readFile(conf, 'utf8')) ?? history;
    }
    if (!(await pathExists(fs, METADATA_DIR))) await fs.mkdir(METADATA_DIR, DIR_MODE);
  });
  return { ws, vol, fs, fresh, reformat, rotate, removed, writer };
}

/**
 * The space the backup starts with (the partial files just removed count as free), and the
 * guard: above SPACE_GUARD_PERCENT a backup runs only when forced. A refusal carries the
 * figures and the backups present, so a front end can offer the remedies truthfully.
 */
export async function guardSpace(f: BackupFilesystem, options: BackupOptions, history: number, emit: (e: BackupProgress) => void): Promise<SpaceUse> {
  const space = freed(spaceOf(f.vol.superblock), f.removed.reduce((n, c) => n + (c.kind === 'file' ? c.bytes : 0), 0));
  const forced = options.force === true;
  emit({ kind: 'space', usedPercent: space.usedPercent, usedBytes: space.usedBytes, availableBytes: space.availableBytes, guardPercent: SPACE_GUARD_PERCENT, forced });
  if (space.usedPercent > SPACE_GUARD_PERCENT && !forced) {
    const names = await step('check', () => f.vol.exclusive(() => listRealDirectory(f.fs, METADATA_DIR)));
    const backups = newestFirst((names ?? []).filter(isBackupDate));
    throw new SpaceGuardError(space.usedPercent, { usedBytes: space.usedBytes, availableBytes: space.availableBytes, backups, keep: history });
  }
  return space;
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
