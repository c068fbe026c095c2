/**
 * The parts of an ext2/3/4 filesystem's structure the journaled commit needs, read straight
 * from the device: block size and groups, which blocks were in use (the block bitmaps),
 * and where an inode's blocks are (to find the journal). Read from a disk a guest may have
 * written, so every number is range-checked and every walk is bounded.
 */
import type { BlockDevice } from './block-device.js';
import { ExpectedFailure } from '../../failure/index.js';

export class ExtStructureError extends ExpectedFailure {
  constructor(what: string) {
    super('BACKUP_FS_DAMAGED', `The backup filesystem's structure is not usable: ${what}.`, 'The backup filesystem is damaged: check the disk (e2fsck -fn on the host), and restore from another backup VDI or back up to a fresh one.');
    this.name = 'ExtStructureError';
  }
}

export const SUPERBLOCK_OFFSET = 1024;
const EXT_MAGIC = 0xef53;
export const INCOMPAT_RECOVER = 0x4;
const INCOMPAT_64BIT = 0x80;
const INCOMPAT_FLEX_BG = 0x200;
const RO_COMPAT_GDT_CSUM = 0x10;
const RO_COMPAT_METADATA_CSUM = 0x400;
const COMPAT_HAS_JOURNAL = 0x4;
const BG_BLOCK_UNINIT = 0x2;
const INODE_FLAG_EXTENTS = 0x80000;
const EXTENT_MAGIC = 0xf30a;

export interface GroupDesc {
  blockBitmap: number;
  inodeTable: number;
  /** bg_flags (only meaningful with uninit_bg / metadata_csum). */
  flags: number;
}

export interface ExtLayout {
  blockSize: number;
  blocksCount: number;
  firstDataBlock: number;
  blocksPerGroup: number;
  inodesPerGroup: number;
  inodesCount: number;
  inodeSize: number;
  groups: GroupDesc[];
  featureCompat: number;
  featureIncompat: number;
  featureRoCompat: number;
  hasJournal: boolean;
  journalInum: number;
  needsRecovery: boolean;
  /** s_state: 1 = cleanly unmounted, 2 = errors. */
  state: number;
  lastOrphan: number;
  /** Group descriptors carry checksums we do not compute: never rewrite them ourselves. */
  checksummedGroups: boolean;
}

export async function readExact(dev: BlockDevice, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  if (position < 0 || position + length > dev.size) throw new ExtStructureError(`a read at ${position} lies outside the disk`);
  const n = await dev.read(buf, 0, length, position);
  if (n !== length) throw new ExtStructureError(`short read at ${position}`);
  return buf;
}

export async function readLayout(dev: BlockDevice): Promise<ExtLayout> {
  const sb = await readExact(dev, SUPERBLOCK_OFFSET, 1024);
  if (sb.readUInt16LE(56) !== EXT_MAGIC) throw new ExtStructureError('no ext superblock');
  const logBlock = sb.readUInt32LE(24);
  if (logBlock > 6) throw new ExtStructureError('impossible block size');
  const blockSize = 1024 << logBlock;
  const featureCompat = sb.readUInt32LE(92);
  const featureIncompat = sb.readUInt32LE(96);
  const featureRoCompat = sb.readUInt32LE(100);
  const is64 = (featureIncompat & INCOMPAT_64BIT) !== 0;
  const blocksCount = sb.readUInt32LE(4) + (is64 ? sb.readUInt32LE(0x150) * 2 ** 32 : 0);
  const firstDataBlock = sb.readUInt32LE(20);
  const blocksPerGroup = sb.readUInt32LE(32);
  const inodesPerGroup = sb.readUInt32LE(40);
  const inodesCount = sb.readUInt32LE(0);
  const inodeSize = sb.readUInt16LE(76) === 0 ? 128 : sb.readUInt16LE(88) || 128;
  const descSize = is64 ? sb.readUInt16LE(0xfe) || 64 : 32;
  if (
    blocksPerGroup === 0 ||
    inodesPerGroup === 0 ||
    blocksCount === 0 ||
    blocksCount * blockSize > dev.size + blockSize ||
    firstDataBlock >= blocksCount ||
    inodeSize < 128 ||
    inodeSize > blockSize ||
    (inodeSize & (inodeSize - 1)) !== 0 ||
    descSize < 32 ||
    descSize > blockSize
  ) {
    throw new ExtStructureError('inconsistent superblock');
  }
  const groupCount = Math.ceil((blocksCount - firstDataBlock) / blocksPerGroup);
  if (groupCount * descSize > 64 * 1024 * 1024) throw new ExtStructureError('too many block groups');
  const gdt = await readExact(dev, (firstDataBlock + 1) * blockSize, Math.ceil((groupCount * descSize) / blockSize) * blockSize);
  const groups: GroupDesc[] = [];
  for (let g = 0; g < groupCount; g++) {
    const d = g * descSize;
    const hi = (off: number) => (is64 && descSize >= 64 ? gdt.readUInt32LE(d + off) * 2 ** 32 : 0);
    groups.push({
      blockBitmap: gdt.readUInt32LE(d) + hi(0x20),
      inodeTable: gdt.readUInt32LE(d + 8) + hi(0x28),
      flags: gdt.readUInt16LE(d + 0x12),
    });
  }
  return {
    blockSize,
    blocksCount,
    firstDataBlock,
    blocksPerGroup,
    inodesPerGroup,
    inodesCount,
    inodeSize,
    groups,
    featureCompat,
    featureIncompat,
    featureRoCompat,
    hasJournal: (featureCompat & COMPAT_HAS_JOURNAL) !== 0,
    journalInum: sb.readUInt32LE(224),
    needsRecovery: (featureIncompat & INCOMPAT_RECOVER) !== 0,
    state: sb.readUInt16LE(58),
    lastOrphan: sb.readUInt32LE(232),
    checksummedGroups: (featureRoCompat & (RO_COMPAT_GDT_CSUM | RO_COMPAT_METADATA_CSUM)) !== 0 || (featureIncompat & INCOMPAT_FLEX_BG) !== 0,
  };
}

/**
 * Which blocks the filesystem had in use, from its block bitmaps. A group whose bitmap is
 * not initialised (uninit_bg) or cannot be read counts as wholly in use: a wrong "in use"
 * only costs journal space, a wrong "free" could overwrite live data.
 */
export async function readBlocksInUse(dev: BlockDevice, layout: ExtLayout): Promise<(block: number) => boolean> {
  const bitmapBytes = Math.ceil(layout.blocksPerGroup / 8);
  const maps: Array<Buffer | null> = [];
  for (const g of layout.groups) {
    if ((g.flags & BG_BLOCK_UNINIT) !== 0 || g.blockBitmap === 0 || g.blockBitmap >= layout.blocksCount) {
      maps.push(null);
      continue;
    }
    maps.push(await readExact(dev, g.blockBitmap * layout.blockSize, Math.min(bitmapBytes, layout.blockSize)));
  }
  return (block: number) => {
    if (block < layout.firstDataBlock || block >= layout.blocksCount) return true;
    const rel = block - layout.firstDataBlock;
    const group = Math.floor(rel / layout.blocksPerGroup);
    const bit = rel % layout.blocksPerGroup;
    const map = maps[group];
    if (!map || bit >= map.length * 8) return true;
    return (map[bit >> 3]! & (1 << (bit & 7))) !== 0;
  };
}

export async function readInode(dev: BlockDevice, layout: ExtLayout, ino: number): Promise<Buffer> {
  if (ino < 1 || ino > layout.inodesCount) throw new ExtStructureError(`inode ${ino} does not exist`);
  const group = Math.floor((ino - 1) / layout.inodesPerGroup);
  const index = (ino - 1) % layout.inodesPerGroup;
  const table = layout.groups[group]?.inodeTable ?? 0;
  if (table === 0 || table >= layout.blocksCount) throw new ExtStructureError(`inode ${ino} has no inode table`);
  return readExact(dev, table * layout.blockSize + index * layout.inodeSize, layout.inodeSize);
}

/** An inode's size in bytes (i_size, i_size_high). */
export function inodeSize(inode: Buffer): number {
  return inode.readUInt32LE(4) + inode.readUInt32LE(108) * 2 ** 32;
}

/**
 * The physical block of each of an inode's first `count` logical blocks (indirect maps or an
 * extent tree). Holes and out-of-range entries are refused: a journal must have every block.
 */
export async function inodeBlockMap(dev: BlockDevice, layout: ExtLayout, inode: Buffer, count: number): Promise<number[]> {
  const flags = inode.readUInt32LE(32);
  const out = (flags & INODE_FLAG_EXTENTS) !== 0 ? await extentMap(dev, layout, inode, count) : await indirectMap(dev, layout, inode, count);
  for (const b of out) if (!(b > 0 && b < layout.blocksCount)) throw new ExtStructureError('a journal block lies outside the filesystem');
  return out;
}

async function indirectMap(dev: BlockDevice, layout: ExtLayout, inode: Buffer, count: number): Promise<number[]> {
  const perBlock = layout.blockSize / 4;
  const out: number[] = [];
  for (let i = 0; i < 12 && out.length < count; i++) out.push(inode.readUInt32LE(40 + i * 4));
  const walk = async (block: number, depth: number): Promise<void> => {
    if (out.length >= count) return;
    if (block === 0 || block >= layout.blocksCount) throw new ExtStructureError('a hole in the journal');
    const ptrs = await readExact(dev, block * layout.blockSize, layout.blockSize);
    for (let i = 0; i < perBlock && out.length < count; i++) {
      const p = ptrs.readUInt32LE(i * 4);
      if (depth === 0) out.push(p);
      else await walk(p, depth - 1);
    }
  };
  for (let depth = 0; depth < 3 && out.length < count; depth++) await walk(inode.readUInt32LE(40 + (12 + depth) * 4), depth);
  if (out.length < count) throw new ExtStructureError('the journal is shorter than its superblock says');
  return out;
}

async function extentMap(dev: BlockDevice, layout: ExtLayout, inode: Buffer, count: number): Promise<number[]> {
  const out = new Array<number>(count).fill(0);
  let visited = 0;
  const node = async (buf: Buffer, depthLeft: number): Promise<void> => {
    if (buf.readUInt16LE(0) !== EXTENT_MAGIC) throw new ExtStructureError('a damaged extent tree');
    const entries = buf.readUInt16LE(2);
    const depth = buf.readUInt16LE(6);
    if (depth > depthLeft || 12 + entries * 12 > buf.length) throw new ExtStructureError('a damaged extent tree');
    for (let i = 0; i < entries; i++) {
      const e = 12 + i * 12;
      if (++visited > 100_000) throw new ExtStructureError('an extent tree too large');
      if (depth > 0) {
        const leaf = buf.readUInt32LE(e + 4) + buf.readUInt16LE(e + 8) * 2 ** 32;
        if (leaf === 0 || leaf >= layout.blocksCount) throw new ExtStructureError('a damaged extent tree');
        await node(await readExact(dev, leaf * layout.blockSize, layout.blockSize), depth - 1);
        continue;
      }
      const logical = buf.readUInt32LE(e);
      let len = buf.readUInt16LE(e + 4);
      if (len > 32768) len -= 32768; // an unwritten extent still maps its blocks
      const start = buf.readUInt16LE(e + 6) * 2 ** 32 + buf.readUInt32LE(e + 8);
      for (let k = 0; k < len && logical + k < count; k++) out[logical + k] = start + k;
    }
  };
  await node(inode.subarray(40, 100), 5);
  if (out.some((b) => b === 0)) throw new ExtStructureError('a hole in the journal');
  return out;
}
