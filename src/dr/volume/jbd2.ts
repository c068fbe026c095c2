/**
 * The ext3 journal (JBD2) on disk: its superblock, transactions (descriptor blocks with
 * their tags, the logged blocks, a commit block) and how a journal that needs recovery is
 * replayed. What e2fsck's and the kernel's recovery read, and only the subset a journal made
 * by mkfs.ext3 uses: no checksums, no fast commits. All numbers big-endian.
 *
 * The commit writes its changes as one such transaction, so that e2fsck (the stock scripts'
 * `fsck -a`) or the kernel completes a commit that was cut after its commit block, and a
 * commit cut before it leaves the old state, which was never touched.
 */
import type { BlockDevice } from './block-device.js';
import { ExtStructureError, inodeBlockMap, inodeSize, readExact, readInode, type ExtLayout } from './ext-structure.js';
import { ExpectedFailure } from '../../failure/index.js';

export const JBD2_MAGIC = 0xc03b3998;
const BLOCKTYPE_DESCRIPTOR = 1;
const BLOCKTYPE_COMMIT = 2;
const BLOCKTYPE_SB_V1 = 3;
const BLOCKTYPE_SB_V2 = 4;
const BLOCKTYPE_REVOKE = 5;
const FLAG_ESCAPE = 1;
const FLAG_SAME_UUID = 2;
const FLAG_LAST_TAG = 8;
const INCOMPAT_REVOKE = 0x1;
const INCOMPAT_64BIT = 0x2;
const INCOMPAT_ASYNC_COMMIT = 0x4;
const INCOMPAT_CSUM_V2 = 0x8;
const INCOMPAT_CSUM_V3 = 0x10;
const INCOMPAT_FAST_COMMIT = 0x20;
const COMPAT_CHECKSUM = 0x1;

/** Offsets in the journal superblock. */
export const JSB_SEQUENCE = 24;
export const JSB_START = 28;
/** The largest journal read (mkfs makes at most 1 GiB; ext3 VDIs hold 32 MiB or less). */
const MAX_JOURNAL_BLOCKS = 1 << 20;

export class JournalError extends ExpectedFailure {
  constructor(what: string) {
    super('BACKUP_FS_DAMAGED', `The backup filesystem's journal ${what}.`, 'The backup filesystem is damaged: check the disk (e2fsck -fn on the host), and restore from another backup VDI or back up to a fresh one.');
    this.name = 'JournalError';
  }
}

export interface Journal {
  blockSize: number;
  /** Physical filesystem block of each journal block (index = journal block number). */
  blocks: number[];
  /** s_first: the first log block. */
  first: number;
  /** s_maxlen: journal length in blocks. */
  maxLen: number;
  /** s_sequence: the first transaction expected in the log (when s_start ≠ 0), else the next to write. */
  sequence: number;
  /** s_start: log block of the first transaction to replay; 0 = nothing to replay. */
  start: number;
  incompat: number;
  uuid: Buffer;
  /** Byte offset of the journal superblock on the device. */
  superblockOffset: number;
  /** Tag size in a descriptor block. */
  tagBytes: number;
}

/** Reads the internal journal's superblock and block map; refuses what this code cannot write or replay exactly. */
export async function openJournal(dev: BlockDevice, layout: ExtLayout): Promise<Journal> {
  if (!layout.hasJournal || layout.journalInum === 0) throw new JournalError('is missing (not ext3)');
  const inode = await readInode(dev, layout, layout.journalInum);
  const bytes = inodeSize(inode);
  const total = Math.floor(bytes / layout.blockSize);
  if (total < 1024 || total > MAX_JOURNAL_BLOCKS) throw new JournalError(`has an impossible size (${bytes} bytes)`);
  const firstBlock = (await inodeBlockMap(dev, layout, inode, 1))[0]!;
  const sb = await readExact(dev, firstBlock * layout.blockSize, layout.blockSize);
  if (sb.readUInt32BE(0) !== JBD2_MAGIC) throw new JournalError('has no superblock');
  const type = sb.readUInt32BE(4);
  if (type !== BLOCKTYPE_SB_V1 && type !== BLOCKTYPE_SB_V2) throw new JournalError('has an unknown superblock type');
  const blockSize = sb.readUInt32BE(12);
  const maxLen = sb.readUInt32BE(16);
  const first = sb.readUInt32BE(20);
  if (blockSize !== layout.blockSize || maxLen > total || maxLen < 1024 || first < 1 || first >= maxLen) throw new JournalError('superblock is inconsistent');
  const v2 = type === BLOCKTYPE_SB_V2;
  const compat = v2 ? sb.readUInt32BE(36) : 0;
  const incompat = v2 ? sb.readUInt32BE(40) : 0;
  const known = INCOMPAT_REVOKE | INCOMPAT_64BIT;
  if ((incompat & ~known) !== 0 || (compat & COMPAT_CHECKSUM) !== 0) {
    const what = incompat & (INCOMPAT_CSUM_V2 | INCOMPAT_CSUM_V3) ? 'checksums' : incompat & INCOMPAT_ASYNC_COMMIT ? 'asynchronous commits' : incompat & INCOMPAT_FAST_COMMIT ? 'fast commits' : 'features';
    throw new JournalError(`uses ${what} this program does not write (ext4 journal); run e2fsck on the pool master, or use the stock script`);
  }
  if (v2 && sb.readUInt32BE(64) > 1) throw new JournalError('is shared by several filesystems');
  const blocks = await inodeBlockMap(dev, layout, inode, maxLen);
  return {
    blockSize,
    blocks,
    first,
    maxLen,
    sequence: sb.readUInt32BE(JSB_SEQUENCE),
    start: sb.readUInt32BE(JSB_START),
    incompat,
    uuid: Buffer.from(sb.subarray(48, 64)),
    superblockOffset: firstBlock * layout.blockSize,
    tagBytes: incompat & INCOMPAT_64BIT ? 12 : 8,
  };
}

/** Byte offset of journal block `n` (wrapping in the log). */
export function journalBlockOffset(j: Journal, n: number): number {
  return j.blocks[n]! * j.blockSize;
}

function header(blockSize: number, type: number, sequence: number): Buffer {
  const b = Buffer.alloc(blockSize);
  b.writeUInt32BE(JBD2_MAGIC, 0);
  b.writeUInt32BE(type, 4);
  b.writeUInt32BE(sequence >>> 0, 8);
  return b;
}

/** A logged block: its filesystem block number and content source. */
export interface LoggedBlock {
  fsBlock: number;
  /** The block's first four bytes are the journal magic: logged with them zeroed. */
  escaped: boolean;
}

export interface TransactionLayout {
  /** Descriptor block contents and where each goes (journal block index), in log order with the data. */
  entries: Array<{ kind: 'descriptor'; at: number; block: Buffer } | { kind: 'data'; at: number; logged: LoggedBlock } | { kind: 'commit'; at: number; block: Buffer }>;
  /** Journal blocks the transaction uses. */
  length: number;
}

/** How many tags fit in one descriptor block (the first carries the 16-byte uuid). */
function tagsPerDescriptor(j: Journal): number {
  return Math.floor((j.blockSize - 12 - 16) / j.tagBytes);
}

/** Journal blocks a transaction of `n` logged blocks needs. */
export function transactionBlocks(j: Journal, n: number): number {
  return Math.ceil(n / tagsPerDescriptor(j)) + n + 1;
}

/**
 * Lays out one transaction with id `sequence` from journal block `start`: descriptor blocks,
 * each followed by the blocks it describes, then the commit block. Throws when it does not fit.
 */
export function layOutTransaction(j: Journal, sequence: number, start: number, logged: readonly LoggedBlock[], commitTime: Date): TransactionLayout {
  const length = transactionBlocks(j, logged.length);
  if (start < j.first || start + length > j.maxLen) {
    throw new JournalError(`is too small for this backup's changes (${logged.length} blocks to log, ${j.maxLen - j.first} journal blocks); keep fewer backups (--keep) or re-initialise the VDI`);
  }
  const entries: TransactionLayout['entries'] = [];
  const perDescriptor = tagsPerDescriptor(j);
  let at = start;
  for (let i = 0; i < logged.length; i += perDescriptor) {
    const batch = logged.slice(i, i + perDescriptor);
    const desc = header(j.blockSize, BLOCKTYPE_DESCRIPTOR, sequence);
    let p = 12;
    batch.forEach((b, k) => {
      let flags = 0;
      if (k > 0) flags |= FLAG_SAME_UUID;
      if (b.escaped) flags |= FLAG_ESCAPE;
      if (k === batch.length - 1) flags |= FLAG_LAST_TAG;
      desc.writeUInt32BE(b.fsBlock % 2 ** 32, p);
      desc.writeUInt16BE(0, p + 4);
      desc.writeUInt16BE(flags, p + 6);
      if (j.tagBytes === 12) desc.writeUInt32BE(Math.floor(b.fsBlock / 2 ** 32), p + 8);
      p += j.tagBytes;
      if (k === 0) {
        j.uuid.copy(desc, p);
        p += 16;
      }
    });
    entries.push({ kind: 'descriptor', at: at++, block: desc });
    for (const b of batch) entries.push({ kind: 'data', at: at++, logged: b });
  }
  const commit = header(j.blockSize, BLOCKTYPE_COMMIT, sequence);
  const ms = commitTime.getTime();
  commit.writeBigUInt64BE(BigInt(Math.floor(ms / 1000)), 0x30);
  commit.writeUInt32BE((ms % 1000) * 1_000_000, 0x38);
  entries.push({ kind: 'commit', at: at++, block: commit });
  return { entries, length };
}

/** True when a block would be mistaken for a journal header and must be logged escaped. */
export function needsEscape(block: Buffer): boolean {
  return block.length >= 4 && block.readUInt32BE(0) === JBD2_MAGIC;
}

/** Where the replayed content of a filesystem block comes from: a journal block, unescaped. */
export interface ReplaySource {
  journalBlock: number;
  escaped: boolean;
}

export interface Replay {
  /** Filesystem block → its content in the last committed transaction that wrote it. */
  blocks: Map<number, ReplaySource>;
  /** The id the next transaction takes (s_sequence after recovery). */
  nextSequence: number;
  transactions: number;
}

/**
 * What recovery would write, as e2fsck and the kernel compute it (scan, revoke, replay
 * passes): the complete transactions from s_start, later writes winning, revoked blocks
 * skipped. Nothing is written here.
 */
export async function planReplay(dev: BlockDevice, j: Journal): Promise<Replay> {
  if (j.start === 0) return { blocks: new Map(), nextSequence: j.sequence, transactions: 0 };
  if (j.start < j.first || j.start >= j.maxLen) throw new JournalError('start is outside the log');
  const wrap = (n: number) => (n >= j.maxLen ? n - j.maxLen + j.first : n);
  const read = (n: number) => readExact(dev, journalBlockOffset(j, n), j.blockSize);
  interface Tx {
    id: number;
    writes: Array<{ fsBlock: number; source: ReplaySource }>;
    revokes: number[];
  }
  const done: Tx[] = [];
  let seq = j.sequence;
  let at = j.start;
  let steps = 0;
  let tx: Tx = { id: seq, writes: [], revokes: [] };
  for (;;) {
    if (++steps > j.maxLen) break; // a log that never ends is damaged: stop at what committed
    const block = await read(at);
    if (block.readUInt32BE(0) !== JBD2_MAGIC || block.readUInt32BE(8) !== seq >>> 0) break;
    const type = block.readUInt32BE(4);
    at = wrap(at + 1);
    if (type === BLOCKTYPE_DESCRIPTOR) {
      let p = 12;
      for (;;) {
        if (p + j.tagBytes > j.blockSize) break;
        const low = block.readUInt32BE(p);
        const flags = block.readUInt16BE(p + 6);
        const high = j.tagBytes === 12 ? block.readUInt32BE(p + 8) : 0;
        tx.writes.push({ fsBlock: high * 2 ** 32 + low, source: { journalBlock: at, escaped: (flags & FLAG_ESCAPE) !== 0 } });
        at = wrap(at + 1);
        p += j.tagBytes + (flags & FLAG_SAME_UUID ? 0 : 16);
        if (flags & FLAG_LAST_TAG) break;
        if (tx.writes.length > j.maxLen) throw new JournalError('has a descriptor that describes more than the log');
      }
    } else if (type === BLOCKTYPE_REVOKE) {
      const count = Math.min(block.readUInt32BE(12), j.blockSize);
      const size = j.incompat & INCOMPAT_64BIT ? 8 : 4;
      for (let p = 16; p + size <= count; p += size) tx.revokes.push(size === 8 ? Number(block.readBigUInt64BE(p)) : block.readUInt32BE(p));
    } else if (type === BLOCKTYPE_COMMIT) {
      done.push(tx);
      seq = (seq + 1) >>> 0;
      tx = { id: seq, writes: [], revokes: [] };
    } else break;
  }
  // A block revoked by transaction R is not replayed from any transaction up to R.
  const revokedUpTo = new Map<number, number>();
  done.forEach((t, i) => {
    for (const b of t.revokes) revokedUpTo.set(b, i);
  });
  const blocks = new Map<number, ReplaySource>();
  done.forEach((t, i) => {
    for (const w of t.writes) {
      const r = revokedUpTo.get(w.fsBlock);
      if (r !== undefined && r >= i) continue;
      blocks.set(w.fsBlock, w.source);
    }
  });
  return { blocks, nextSequence: seq, transactions: done.length };
}

/** A replayed block's content: the journal block, with the magic put back if it was escaped. */
export async function readReplayed(dev: BlockDevice, j: Journal, src: ReplaySource): Promise<Buffer> {
  const b = await readExact(dev, journalBlockOffset(j, src.journalBlock), j.blockSize);
  if (src.escaped) b.writeUInt32BE(JBD2_MAGIC, 0);
  return b;
}

export { ExtStructureError };
