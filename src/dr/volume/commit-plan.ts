/**
 * The order in which a backup's changes reach the VDI, so that a commit cut anywhere — a
 * dropped connection, a killed process — leaves a filesystem that e2fsck -p (the stock
 * scripts' fsck -a) and the kernel read as either the state before or the state after,
 * with every earlier backup intact:
 *
 *  1. blocks that were free before (new files' data, new folders): written in place, since
 *     the old state does not look at them;
 *  2. every other changed block (bitmaps, inodes, folders, the superblock) written as one
 *     journal transaction: descriptor blocks, the blocks, a commit block — in the journal,
 *     which the old state does not look at either (its journal is empty);
 *  3. the superblock's needs_recovery flag set, then the journal's start: from here any
 *     reader replays the transaction (recovery with needs_recovery clear but a journal
 *     holding data is a question e2fsck -p will not answer, hence this order);
 *  4. the transaction's blocks written in place (a cut here is replayed);
 *  5. the journal emptied (its next transaction id moved on), then needs_recovery cleared.
 *
 * Steps 3 and 5 are single 512-byte sectors: XAPI's raw import writes only whole sectors
 * and reads a chunk whole before writing it, and a sector is what a disk writes atomically.
 * Every write is sector-aligned (XAPI refuses others).
 */
import type { BlockDevice } from './block-device.js';
import { INCOMPAT_RECOVER, SUPERBLOCK_OFFSET, readBlocksInUse, readExact, readLayout, type ExtLayout } from './ext-structure.js';
import { JSB_SEQUENCE, JSB_START, JournalError, layOutTransaction, needsEscape, openJournal, planReplay, readReplayed, journalBlockOffset, type Journal } from './jbd2.js';
import type { StagedDevice } from './staged-device.js';

export const SECTOR = 512;

/**
 * One write of the plan: `length` bytes at `offset`, read when it is sent — into `scratch`
 * when one of at least `length` bytes is given (a sink that is done with each write before
 * the next reuses one buffer: a 5000-VM commit is 200 MB of runs), else a new buffer.
 */
export interface CommitWrite {
  offset: number;
  length: number;
  read(scratch?: Buffer): Promise<Buffer>;
}

/**
 * Bytes of one write at most. A sink that reuses one buffer takes 1 MiB runs; an upload, whose
 * buffers are held until the socket has sent them, takes 64 KiB ones: allocations that size
 * are recycled by the allocator, 1 MiB ones stayed as RSS (a 5000-VM commit is 200 MB).
 */
export const LOCAL_RUN_BYTES = 1024 * 1024;
export const UPLOAD_RUN_BYTES = 64 * 1024;

export interface PlanOptions {
  /** Largest write (default LOCAL_RUN_BYTES). */
  runBytes?: number;
}

function bufferFor(length: number, scratch?: Buffer): Buffer {
  return scratch && scratch.length >= length ? scratch.subarray(0, length) : Buffer.alloc(length);
}

/** Writes before a barrier reach the disk before writes after it. */
export const BARRIER = 'barrier' as const;
export type CommitOp = CommitWrite | typeof BARRIER;

export interface CommitPlan {
  ops: CommitOp[];
  /** Bytes of data written (every write's length). */
  bytes: number;
  /** What the plan does, for reports and tests. */
  summary: { inPlace: number; journaled: number; journalBlocks: number; kind: 'journaled' | 'fresh' | 'recovery' };
}

function planOf(ops: CommitOp[], summary: CommitPlan['summary']): CommitPlan {
  let bytes = 0;
  for (const op of ops) if (op !== BARRIER) bytes += op.length;
  return { ops, bytes, summary };
}

const fixed = (offset: number, data: Buffer): CommitWrite => ({ offset, length: data.length, read: async () => data });

/** Runs of consecutive blocks, at most `max` blocks each. */
function runsOf(blocks: readonly number[], max: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const b of blocks) {
    const last = out[out.length - 1];
    if (last && last[0] + last[1] === b && last[1] < max) last[1]++;
    else out.push([b, 1]);
  }
  return out;
}

/** Writes of blocks [first, first+count) as the stage has them, `patch` applied to each. */
function stagedRun(staged: StagedDevice, first: number, count: number, patch?: (block: number, content: Buffer) => void): CommitWrite {
  const B = staged.blockSize;
  return {
    offset: first * B,
    length: count * B,
    async read(scratch) {
      const buf = bufferFor(count * B, scratch);
      await staged.read(buf, 0, buf.length, first * B);
      if (patch) for (let i = 0; i < count; i++) patch(first + i, buf.subarray(i * B, (i + 1) * B));
      return buf;
    },
  };
}

/** The superblock's 512-byte sector (bytes 1024–1535 of the disk). */
const SB_SECTOR = SUPERBLOCK_OFFSET;
/** s_feature_incompat, from the start of that sector. */
const INCOMPAT_IN_SECTOR = 96;

function withRecover(sector: Buffer, on: boolean): Buffer {
  const s = Buffer.from(sector);
  const v = s.readUInt32LE(INCOMPAT_IN_SECTOR);
  s.writeUInt32LE(on ? (v | INCOMPAT_RECOVER) >>> 0 : (v & ~INCOMPAT_RECOVER) >>> 0, INCOMPAT_IN_SECTOR);
  return s;
}

function jsbSector(first: Buffer, sequence: number, start: number): Buffer {
  const s = Buffer.from(first);
  s.writeUInt32BE(sequence >>> 0, JSB_SEQUENCE);
  s.writeUInt32BE(start, JSB_START);
  return s;
}

/** The journaled commit of what `staged` holds over its base (the committed state). */
export async function planJournaledCommit(staged: StagedDevice, now = new Date(), opts: PlanOptions = {}): Promise<CommitPlan> {
  const runBlocks = Math.max(1, Math.floor((opts.runBytes ?? LOCAL_RUN_BYTES) / staged.blockSize));
  const base = staged.base;
  const layout = await readLayout(base);
  if (layout.needsRecovery) throw new JournalError('needs recovery before it can take a new transaction');
  const journal = await openJournal(base, layout);
  if (journal.start !== 0) throw new JournalError('still holds a transaction');
  const inUse = await readBlocksInUse(base, layout);
  const journalArea = new Set(journal.blocks);
  const B = layout.blockSize;
  const sbBlock = Math.floor(SUPERBLOCK_OFFSET / B);
  const sbWithin = SUPERBLOCK_OFFSET - sbBlock * B;

  // Only blocks that really changed are written: the library stages blocks it rewrote with
  // the same content, and over an upload every byte counts.
  const inPlace: number[] = [];
  const journaled: number[] = [];
  for (const b of await staged.changedBlocks()) {
    if (journalArea.has(b)) throw new JournalError('area was written by the filesystem library');
    if (inUse(b) || b === sbBlock) journaled.push(b);
    else inPlace.push(b);
  }
  // The superblock as it is logged and checkpointed carries needs_recovery: a reader that
  // stops after replaying it must still see that the journal was in use.
  const patchSb = (block: number, content: Buffer) => {
    if (block !== sbBlock) return;
    withRecover(content.subarray(sbWithin, sbWithin + SECTOR), true).copy(content, sbWithin);
  };

  const buf = Buffer.alloc(B);
  const logged = [];
  for (const b of journaled) {
    await staged.readNew(b, buf);
    patchSb(b, buf);
    logged.push({ fsBlock: b, escaped: needsEscape(buf) });
  }
  const tx = layOutTransaction(journal, journal.sequence, journal.first, logged, now);

  const oldSbSector = await readExact(base, SB_SECTOR, SECTOR);
  const oldJsbSector = await readExact(base, journal.superblockOffset, SECTOR);
  const newSbSector = Buffer.from((await staged.readNew(sbBlock)).subarray(sbWithin, sbWithin + SECTOR));

  const ops: CommitOp[] = [];
  for (const [first, count] of runsOf(inPlace, runBlocks)) ops.push(stagedRun(staged, first, count));
  for (const e of tx.entries) {
    const offset = journalBlockOffset(journal, e.at);
    if (e.kind !== 'data') {
      ops.push(fixed(offset, e.block));
      continue;
    }
    const { fsBlock, escaped } = e.logged;
    ops.push({
      offset,
      length: B,
      async read(scratch) {
        const content = await staged.readNew(fsBlock, bufferFor(B, scratch));
        patchSb(fsBlock, content);
        if (escaped) content.writeUInt32BE(0, 0);
        return content;
      },
    });
  }
  ops.push(BARRIER);
  ops.push(fixed(SB_SECTOR, withRecover(oldSbSector, true)), BARRIER);
  ops.push(fixed(journal.superblockOffset, jsbSector(oldJsbSector, journal.sequence, journal.first)), BARRIER);
  for (const [first, count] of runsOf(journaled, runBlocks)) ops.push(stagedRun(staged, first, count, patchSb));
  ops.push(BARRIER);
  ops.push(fixed(journal.superblockOffset, jsbSector(oldJsbSector, journal.sequence + 1, 0)), BARRIER);
  ops.push(fixed(SB_SECTOR, withRecover(newSbSector, false)), BARRIER);
  return planOf(ops, { inPlace: inPlace.length, journaled: journaled.length, journalBlocks: tx.length, kind: 'journaled' });
}

/**
 * A VDI formatted in this run: every block that is not zero (`wholeDisk`: every block, for a
 * VDI whose old content is not known to be zeros), the superblock's block last, so a cut
 * leaves a disk without a filesystem — which the VDI's "initialising" mark tells the next
 * run to format again — never half a filesystem.
 */
export async function planFreshCommit(staged: StagedDevice, opts: PlanOptions & { wholeDisk?: boolean } = {}): Promise<CommitPlan> {
  const runBlocks = Math.max(1, Math.floor((opts.runBytes ?? LOCAL_RUN_BYTES) / staged.blockSize));
  const B = staged.blockSize;
  const sbBlock = Math.floor(SUPERBLOCK_OFFSET / B);
  const total = Math.ceil(staged.size / B);
  const nonZero: number[] = [];
  const piece = Buffer.alloc(256 * B);
  for (let first = 0; first < total; first += 256) {
    const n = Math.min(256, total - first);
    const view = piece.subarray(0, n * B);
    await staged.read(view, 0, view.length, first * B);
    for (let i = 0; i < n; i++) {
      const blk = view.subarray(i * B, (i + 1) * B);
      if (first + i !== sbBlock && (opts.wholeDisk || !isZero(blk))) nonZero.push(first + i);
    }
  }
  const ops: CommitOp[] = runsOf(nonZero, runBlocks).map(([first, count]) => stagedRun(staged, first, count));
  ops.push(BARRIER, stagedRun(staged, sbBlock, 1), BARRIER);
  return planOf(ops, { inPlace: nonZero.length + 1, journaled: 0, journalBlocks: 0, kind: 'fresh' });
}

const ZERO = Buffer.alloc(64 * 1024);
function isZero(b: Buffer): boolean {
  for (let off = 0; off < b.length; off += ZERO.length) {
    const part = b.subarray(off, Math.min(b.length, off + ZERO.length));
    if (!part.equals(ZERO.subarray(0, part.length))) return false;
  }
  return true;
}

export interface RecoveryPlan extends CommitPlan {
  transactions: number;
}

/**
 * Completes a commit that was cut after its commit block (or a crashed kernel mount): the
 * journal's committed transactions written in place (as recovery would, so a second cut
 * simply recovers again), then the journal emptied, then needs_recovery cleared.
 */
export async function planRecovery(base: BlockDevice): Promise<RecoveryPlan> {
  const layout: ExtLayout = await readLayout(base);
  const journal: Journal = await openJournal(base, layout);
  const replay = await planReplay(base, journal);
  const B = layout.blockSize;
  const sbBlock = Math.floor(SUPERBLOCK_OFFSET / B);
  const sbWithin = SUPERBLOCK_OFFSET - sbBlock * B;
  const journalArea = new Set(journal.blocks);
  const ops: CommitOp[] = [];
  for (const block of [...replay.blocks.keys()].sort((a, b) => a - b)) {
    if (block >= layout.blocksCount || journalArea.has(block)) throw new JournalError('replays a block outside the filesystem');
    const src = replay.blocks.get(block)!;
    ops.push({ offset: block * B, length: B, read: () => readReplayed(base, journal, src) });
  }
  ops.push(BARRIER);
  const jsb = await readExact(base, journal.superblockOffset, SECTOR);
  ops.push(fixed(journal.superblockOffset, jsbSector(jsb, replay.nextSequence, 0)), BARRIER);
  const sbSource = replay.blocks.get(sbBlock);
  const sbNow = sbSource ? (await readReplayed(base, journal, sbSource)).subarray(sbWithin, sbWithin + SECTOR) : await readExact(base, SB_SECTOR, SECTOR);
  ops.push(fixed(SB_SECTOR, withRecover(sbNow, false)), BARRIER);
  return { ...planOf(ops, { inPlace: replay.blocks.size, journaled: 0, journalBlocks: 0, kind: 'recovery' }), transactions: replay.transactions };
}

/** Where a plan's writes go: a device or file (with real barriers), or an upload stream. */
export interface CommitSink {
  write(offset: number, data: Buffer): Promise<void>;
  barrier(): Promise<void>;
}

/** Runs the plan; every write has completed before the next is read (one scratch buffer). */
export async function executePlan(plan: CommitPlan, sink: CommitSink, signal?: AbortSignal): Promise<void> {
  let scratch: Buffer | undefined;
  for (const op of plan.ops) {
    signal?.throwIfAborted();
    if (op === BARRIER) {
      await sink.barrier();
      continue;
    }
    if (!scratch) {
      let largest = 0;
      for (const o of plan.ops) if (o !== BARRIER && o.length > largest) largest = o.length;
      scratch = Buffer.alloc(largest);
    }
    await sink.write(op.offset, await op.read(scratch));
  }
}

/** A plan's writes applied to a block device (positional writes, flushes as barriers). */
export function deviceSink(dev: BlockDevice): CommitSink {
  return {
    async write(offset, data) {
      const n = await dev.write(data, 0, data.length, offset);
      if (n !== data.length) throw new Error(`short write at ${offset}`);
    },
    barrier: () => dev.flush(),
  };
}
