/**
 * The backup VDI's ext3 filesystem, read and written through libext2fs (the `ext2fs`
 * package, WebAssembly): no mount, no root, no kernel filesystem driver touching a disk
 * whose contents a guest may control.
 *
 * A backup writes into a stage and reaches the VDI only through the journaled commit
 * (commit-plan.ts); the caller has checked the filesystem first, like the stock script's
 * `fsck -a`. Read-only opens go through a copy-on-write overlay and read a filesystem whose
 * journal needs recovery as recovered: the disk itself is never modified.
 */
import * as ext2fs from 'ext2fs';
import type { Ext2Fs, Ext2Promises } from 'ext2fs';
import { CopyOnWriteDevice, FileBlockDevice, type BlockDevice } from './block-device.js';
import { CachedBlockDevice } from './cached-device.js';
import { withSafeReaddir } from './directory.js';
import type { FsckResult } from './e2fsprogs.js';
import { ExtStructureError } from './ext-structure.js';
import { ReplayedDevice } from './replayed-device.js';
import { StagedDevice } from './staged-device.js';
import { NotExtFilesystemError, readSuperblock, type SuperblockInfo } from './superblock.js';
import { SerialQueue } from './serial.js';
import { withFsErrors } from './fs-errors.js';
import { ExpectedFailure } from '../../failure/index.js';

// emscripten's loader inside `ext2fs` installs process handlers that rethrow every uncaught
// exception and unhandled rejection from its own source, a single 350 KB line that Node then
// prints whole to the operator's terminal. The program reports its own errors (cli.tsx, the
// console); Node's default handling is kept for anything else.
const processEvents = process as NodeJS.EventEmitter;
for (const event of ['uncaughtException', 'unhandledRejection']) {
  for (const listener of processEvents.listeners(event)) {
    if (/ExitStatus|throw reason/.test(String(listener))) processEvents.off(event, listener as (...args: unknown[]) => void);
  }
}

export class FilesystemRefusedError extends ExpectedFailure {
  constructor(
    message: string,
    readonly fsck?: FsckResult,
  ) {
    super('BACKUP_FS_REFUSED', message, 'Check the disk on the host (e2fsck -f), or back up to a fresh backup VDI; nothing was written to this one.');
    this.name = 'FilesystemRefusedError';
  }
}

export interface Ext3Volume {
  readonly fs: Ext2Promises;
  readonly device: BlockDevice;
  /** Superblock as found when opened (after any repair). */
  readonly superblock: SuperblockInfo;
  readonly repaired: boolean;
  /** Superblock as it is now on the device (after unmount: the final state). */
  readSuperblock(): Promise<SuperblockInfo>;
  /**
   * Runs `fn` when every earlier exclusive() call has ended: callers that use the
   * filesystem from concurrent tasks (exports arriving, imports reading) go through here.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /** Flushes libext2fs and releases the device; idempotent. */
  close(): Promise<void>;
}

function toDisk(dev: BlockDevice): ext2fs.Ext2Disk {
  return {
    async read(buffer, bufferOffset, length, fileOffset) {
      const bytesRead = await dev.read(buffer, bufferOffset, length, fileOffset);
      return { bytesRead, buffer };
    },
    async write(buffer, bufferOffset, length, fileOffset) {
      const bytesWritten = await dev.write(buffer, bufferOffset, length, fileOffset);
      return { bytesWritten, buffer };
    },
    flush: () => dev.flush(),
    async discard() {
      /* a backup VDI gains nothing from discards */
    },
  };
}

/** Mounts an already opened device with libext2fs. The caller has checked it. */
export async function mountDevice(dev: BlockDevice): Promise<Ext2Fs> {
  return ext2fs.mount(toDisk(dev));
}

export interface OpenOptions {
  /** Read-only opens only (writes go through openExt3Staged). */
  write: false;
  /** Accepted for callers that said so; a read-only open never runs e2fsck (it could write). */
  fsck?: false;
  /**
   * A filesystem whose journal needs recovery is read as recovered (default), or, with
   * 'best-effort', as it lies when its journal cannot be read (a probe that fetched only
   * the start of a disk).
   */
  recovery?: 'replay' | 'best-effort';
}

/**
 * Opens `path` (a device node, the simulator's device link, or an image file) read-only,
 * through a copy-on-write overlay, and as recovered when its journal holds committed
 * transactions (a commit cut after its commit block): the disk itself is never modified.
 */
export async function openExt3(path: string, opts: OpenOptions): Promise<Ext3Volume> {
  const raw = await FileBlockDevice.open(path, { readOnly: true });
  const cached = new CachedBlockDevice(raw);
  let device: BlockDevice = cached;
  let fs: Ext2Fs | undefined;
  try {
    const replayed = await ReplayedDevice.over(cached).catch((err: unknown) => {
      if (opts.recovery === 'best-effort' || err instanceof NotExtFilesystemError || err instanceof ExtStructureError) return null;
      throw new FilesystemRefusedError(`The backup filesystem needs journal recovery that cannot be read here (${(err as Error).message}).`);
    });
    device = new CopyOnWriteDevice(replayed ?? cached);
    const superblock = await readSuperblock(device);
    fs = await mountDevice(device);
    return makeVolume(fs, device, superblock, false);
  } catch (err) {
    if (fs) await ext2fs.umount(fs).catch(() => undefined);
    await device.close();
    throw err;
  }
}

/** A filesystem opened for a backup: every write is held in a stage until the commit. */
export interface StagedVolume extends Ext3Volume {
  readonly staged: StagedDevice;
  /** Unmounts and flushes: from here the stage holds every change, nothing reached the VDI. */
  finish(): Promise<void>;
  /** Drops the stage and closes the device; idempotent. */
  dispose(): Promise<void>;
}

/**
 * Opens `path` for a backup. The filesystem must be clean (the caller checked or repaired
 * it: e2fsck on the device, or journal recovery of a remote copy); libext2fs writes go to a
 * local stage, and only the commit (commit-plan.ts) changes the VDI.
 */
export async function openExt3Staged(path: string, opts: { stage?: (staged: StagedDevice) => Promise<void> } = {}): Promise<StagedVolume> {
  const base = await FileBlockDevice.open(path, { readOnly: false });
  let staged: StagedDevice | undefined;
  let fs: Ext2Fs | undefined;
  try {
    staged = await StagedDevice.create(base, (await readSuperblock(base)).blockSize);
    // Repairs found on a scratch copy go into the stage first: the stage is what gets checked.
    if (opts.stage) await opts.stage(staged);
    const before = await readSuperblock(staged);
    if (before.needsRecovery || before.notClean) {
      throw new FilesystemRefusedError(
        before.needsRecovery
          ? 'The backup filesystem needs journal recovery; it was not written to.'
          : 'The backup filesystem was not cleanly unmounted or has errors; it was not written to. Run e2fsck on the VDI.',
      );
    }
    const device = new CachedBlockDevice(staged);
    fs = await mountDevice(device);
    const vol = makeVolume(fs, device, before, false);
    const stage = staged;
    let disposed: Promise<void> | null = null;
    return {
      ...vol,
      staged: stage,
      finish: () => vol.close(),
      readSuperblock: () => readSuperblock(stage),
      dispose: () =>
        (disposed ??= (async () => {
          await vol.close().catch(() => undefined);
          try {
            await stage.dispose();
          } finally {
            await base.close();
          }
        })()),
    };
  } catch (err) {
    if (fs) await ext2fs.umount(fs).catch(() => undefined);
    await staged?.dispose();
    await base.close();
    throw err;
  }
}

function makeVolume(fs: Ext2Fs, device: BlockDevice, superblock: SuperblockInfo, repaired: boolean): Ext3Volume {
  let closing: Promise<void> | null = null;
  const queue = new SerialQueue();
  return {
    exclusive: (fn) => queue.run(fn),
    fs: withSafeReaddir(withFsErrors(fs.promises)),
    device,
    superblock,
    repaired,
    readSuperblock: () => readSuperblock(device),
    close() {
      closing ??= (async () => {
        try {
          await ext2fs.umount(fs);
          await device.flush();
        } finally {
          await device.close();
        }
      })();
      return closing;
    },
  };
}
