/**
 * Reads what the backup needs from an ext2/3/4 superblock without mounting: that it is
 * one, whether it is clean or needs journal recovery, and how full it is as `df` would say.
 * The bytes come from an untrusted disk: every number is range-checked.
 */
import type { BlockDevice } from './block-device.js';
import { ExpectedFailure } from '../../failure/index.js';

export interface SuperblockInfo {
  blockSize: number;
  blocksCount: number;
  freeBlocks: number;
  reservedBlocks: number;
  /** Metadata + journal blocks: what df leaves out of the filesystem's size. */
  overheadBlocks: number;
  hasJournal: boolean;
  needsRecovery: boolean;
  /** s_state lacks "cleanly unmounted" or has "errors". */
  notClean: boolean;
  /** df's Use%: ceil(used / (used + available) × 100). */
  usedPercent: number;
  usedBytes: number;
  availableBytes: number;
}

export class NotExtFilesystemError extends ExpectedFailure {
  constructor(what: string) {
    super('NOT_A_BACKUP_FILESYSTEM', `The disk does not hold an ext2/3/4 filesystem (${what}).`, 'Choose the SR\'s "Pool Metadata Backup" disk; this one is not a metadata backup.');
    this.name = 'NotExtFilesystemError';
  }
}

const EXT_MAGIC = 0xef53;
const COMPAT_HAS_JOURNAL = 0x4;
const INCOMPAT_RECOVER = 0x4;
const INCOMPAT_64BIT = 0x80;
const RO_COMPAT_SPARSE_SUPER = 0x1;
const JOURNAL_INODE = 8;

async function readAt(dev: BlockDevice, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const n = await dev.read(buf, 0, length, position);
  if (n !== length) throw new NotExtFilesystemError(`short read at ${position}`);
  return buf;
}

function hasSuperBackup(group: number, sparse: boolean): boolean {
  if (!sparse || group <= 1) return true;
  for (const base of [3, 5, 7]) {
    let p = base;
    while (p < group) p *= base;
    if (p === group) return true;
  }
  return false;
}

export async function readSuperblock(dev: BlockDevice): Promise<SuperblockInfo> {
  if (dev.size < 2048) throw new NotExtFilesystemError('the disk is too small');
  const sb = await readAt(dev, 1024, 1024);
  if (sb.readUInt16LE(56) !== EXT_MAGIC) throw new NotExtFilesystemError('no ext superblock magic');
  const logBlock = sb.readUInt32LE(24);
  if (logBlock > 6) throw new NotExtFilesystemError('impossible block size');
  const blockSize = 1024 << logBlock;
  const incompat = sb.readUInt32LE(96);
  const compat = sb.readUInt32LE(92);
  const roCompat = sb.readUInt32LE(100);
  const is64 = (incompat & INCOMPAT_64BIT) !== 0;
  const hi = (off: number) => (is64 ? sb.readUInt32LE(off) * 2 ** 32 : 0);
  const blocksCount = sb.readUInt32LE(4) + hi(0x150);
  const reservedBlocks = sb.readUInt32LE(8) + hi(0x154);
  const freeBlocks = sb.readUInt32LE(12) + hi(0x158);
  const firstDataBlock = sb.readUInt32LE(20);
  const blocksPerGroup = sb.readUInt32LE(32);
  const inodesPerGroup = sb.readUInt32LE(40);
  const inodeSize = sb.readUInt16LE(88) || 128;
  const state = sb.readUInt16LE(58);
  const reservedGdt = sb.readUInt16LE(0xce);
  const descSize = is64 ? sb.readUInt16LE(0xfe) || 64 : 32;
  if (
    blocksPerGroup === 0 ||
    blocksCount === 0 ||
    freeBlocks > blocksCount ||
    blocksCount * blockSize > dev.size + blockSize ||
    inodeSize < 128 ||
    inodeSize > blockSize
  ) {
    throw new NotExtFilesystemError('inconsistent superblock');
  }

  const groups = Math.ceil((blocksCount - firstDataBlock) / blocksPerGroup);
  const gdtBlocks = Math.ceil((groups * descSize) / blockSize);
  const itableBlocks = Math.ceil((inodesPerGroup * inodeSize) / blockSize);
  const sparse = (roCompat & RO_COMPAT_SPARSE_SUPER) !== 0;
  let overhead = firstDataBlock + groups * (2 + itableBlocks);
  for (let g = 0; g < groups; g++) if (hasSuperBackup(g, sparse)) overhead += 1 + gdtBlocks + reservedGdt;

  const hasJournal = (compat & COMPAT_HAS_JOURNAL) !== 0;
  if (hasJournal && sb.readUInt32LE(224) === JOURNAL_INODE) {
    // The journal counts as overhead for df: read inode 8's size from group 0's inode table.
    const desc0 = await readAt(dev, (firstDataBlock + 1) * blockSize, descSize);
    const itable = desc0.readUInt32LE(8) + (is64 ? desc0.readUInt32LE(0x28) * 2 ** 32 : 0);
    if (itable > 0 && itable < blocksCount) {
      const inode = await readAt(dev, itable * blockSize + (JOURNAL_INODE - 1) * inodeSize, Math.min(inodeSize, 256));
      const size = inode.readUInt32LE(4) + inode.readUInt32LE(108) * 2 ** 32;
      if (size > 0 && size < blocksCount * blockSize) overhead += Math.ceil(size / blockSize);
    }
  }
  overhead = Math.min(overhead, blocksCount);

  const total = blocksCount - overhead;
  const used = Math.max(0, total - freeBlocks);
  const avail = Math.max(0, freeBlocks - reservedBlocks);
  const usedPercent = used + avail === 0 ? 100 : Math.ceil((used * 100) / (used + avail));
  return {
    blockSize,
    blocksCount,
    freeBlocks,
    reservedBlocks,
    overheadBlocks: overhead,
    hasJournal,
    needsRecovery: (incompat & INCOMPAT_RECOVER) !== 0,
    notClean: (state & 1) === 0 || (state & 2) !== 0,
    usedPercent,
    usedBytes: used * blockSize,
    availableBytes: avail * blockSize,
  };
}
