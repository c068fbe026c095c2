/**
 * The backup VDI's ext3 filesystem, read and written through libext2fs (the `ext2fs`
 * package, WebAssembly): no mount, no root, no kernel filesystem driver touching a disk
 * whose contents a guest may control.
 *
 * Before writing, the filesystem is checked like the stock script's `fsck -a`
 * (e2fsck -p: replays the journal, fixes what is safe); when e2fsck is not available, a
 * filesystem that is not clean or needs journal recovery is refused, never written blindly.
 * Read-only opens go through a copy-on-write overlay: the disk itself is never modified.
 */
import * as ext2fs from 'ext2fs';
import type { Ext2Fs, Ext2Promises } from 'ext2fs';
import { CopyOnWriteDevice, FileBlockDevice, type BlockDevice } from './block-device.js';
import { CachedBlockDevice } from './cached-device.js';
import { withSafeReaddir } from './directory.js';
import { checkExt3, findTool, type FsckResult } from './e2fsprogs.js';
import { readSuperblock, type SuperblockInfo } from './superblock.js';
import { SerialQueue } from './serial.js';
import { withFsErrors } from './fs-errors.js';

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

export class FilesystemRefusedError extends Error {
  constructor(
    message: string,
    readonly fsck?: FsckResult,
  ) {
    super(message);
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
  /** Open for writing (backup) or through a copy-on-write overlay (restore, probe). */
  write: boolean;
  /**
   * Run e2fsck -p first when e2fsck exists and the device is a path it can open
   * (default true for writes, as the stock script does before every mount).
   */
  fsck?: boolean;
}

/** Opens `path` (a device node, the simulator's device link, or an image file). */
export async function openExt3(path: string, opts: OpenOptions): Promise<Ext3Volume> {
  let repaired = false;
  const wantFsck = opts.fsck ?? opts.write;
  if (wantFsck && (await findTool('e2fsck'))) {
    const r = await checkExt3(path);
    if (r.verdict === 'unrepaired') {
      throw new FilesystemRefusedError(
        `The backup filesystem has errors e2fsck -p could not repair (exit ${r.code}); it was not written to. ` +
          'Run e2fsck on the VDI by hand, or re-initialise it.',
        r,
      );
    }
    repaired = r.verdict === 'repaired';
  }
  const raw = await FileBlockDevice.open(path, { readOnly: !opts.write });
  const cached = new CachedBlockDevice(raw);
  const device: BlockDevice = opts.write ? cached : new CopyOnWriteDevice(cached);
  let fs: Ext2Fs | undefined;
  try {
    const superblock = await readSuperblock(device);
    if (opts.write && (superblock.needsRecovery || superblock.notClean)) {
      throw new FilesystemRefusedError(
        superblock.needsRecovery
          ? 'The backup filesystem needs journal recovery and e2fsck is not available here; it was not written to.'
          : 'The backup filesystem was not cleanly unmounted and e2fsck is not available here; it was not written to.',
      );
    }
    fs = await mountDevice(device);
    return makeVolume(fs, device, superblock, repaired);
  } catch (err) {
    if (fs) await ext2fs.umount(fs).catch(() => undefined);
    await device.close();
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
