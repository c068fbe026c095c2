/**
 * Writes held back from the VDI until the commit: libext2fs writes land in a local,
 * already-unlinked temporary file (so a killed process leaves nothing behind, and the pool
 * database dump it holds is never left on disk), reads see those writes over the base
 * device. The base — the VDI itself, or its local copy — keeps the committed state, which
 * a failed run therefore never changes. The commit then reads what changed, block by block.
 */
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlockDevice, ByteRange } from './block-device.js';

export class StagedDevice implements BlockDevice {
  readonly readOnly = false;
  readonly stats = { bytesRead: 0, bytesWritten: 0 };
  private readonly staged: Uint8Array;
  private stagedCount = 0;
  private closed = false;

  private constructor(
    readonly base: BlockDevice,
    private readonly overlay: FileHandle,
    readonly blockSize: number,
  ) {
    this.staged = new Uint8Array(Math.ceil(base.size / blockSize));
  }

  /** `blockSize`: the filesystem's, so that the commit compares whole filesystem blocks. */
  static async create(base: BlockDevice, blockSize: number, dir = tmpdir()): Promise<StagedDevice> {
    const folder = await mkdtemp(join(dir, 'xsdr-stage-'));
    const path = join(folder, 'blocks');
    let fh: FileHandle | undefined;
    try {
      fh = await open(path, 'w+', 0o600);
      await fh.truncate(base.size);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
    return new StagedDevice(base, fh, blockSize);
  }

  get path(): string {
    return this.base.path;
  }
  get size(): number {
    return this.base.size;
  }

  /** Calls fn for each run of blocks that are all staged or all not, within [position, +length). */
  private async runs(position: number, length: number, fn: (staged: boolean, pos: number, len: number, done: number) => Promise<void>): Promise<void> {
    const B = this.blockSize;
    let done = 0;
    while (done < length) {
      const pos = position + done;
      const block = Math.floor(pos / B);
      const isStaged = this.staged[block] === 1;
      let end = (block + 1) * B;
      while (end < position + length && (this.staged[end / B] === 1) === isStaged) end += B;
      const len = Math.min(end, position + length) - pos;
      await fn(isStaged, pos, len, done);
      done += len;
    }
  }

  async read(buffer: Buffer, bufferOffset: number, length: number, position: number): Promise<number> {
    const len = Math.max(0, Math.min(length, this.size - position));
    if (len === 0) return 0;
    if (this.stagedCount === 0) return this.base.read(buffer, bufferOffset, len, position);
    await this.runs(position, len, async (isStaged, pos, n, done) => {
      if (isStaged) await this.overlay.read(buffer, bufferOffset + done, n, pos);
      else await this.base.read(buffer, bufferOffset + done, n, pos);
    });
    this.stats.bytesRead += len;
    return len;
  }

  async write(buffer: Buffer, bufferOffset: number, length: number, position: number): Promise<number> {
    if (position < 0 || position + length > this.size) throw new Error(`write past the end of ${this.path} (${position + length} > ${this.size})`);
    const B = this.blockSize;
    // A block written in part is staged whole: its untouched bytes come from the base.
    const first = Math.floor(position / B);
    const last = Math.floor((position + length - 1) / B);
    for (const b of new Set([first, last])) {
      if (this.staged[b] === 1) continue;
      const whole = position <= b * B && position + length >= (b + 1) * B;
      if (whole) continue;
      const blk = Buffer.alloc(B);
      await this.base.read(blk, 0, Math.min(B, this.size - b * B), b * B);
      await this.overlay.write(blk, 0, blk.length, b * B);
      this.mark(b);
    }
    await this.overlay.write(buffer, bufferOffset, length, position);
    for (let b = first; b <= last; b++) this.mark(b);
    this.stats.bytesWritten += length;
    return length;
  }

  private mark(block: number): void {
    if (this.staged[block] === 1) return;
    this.staged[block] = 1;
    this.stagedCount++;
  }

  /** Puts a whole block's new content in the stage (repairs found outside libext2fs). */
  async stageBlock(block: number, content: Buffer): Promise<void> {
    await this.write(content, 0, this.blockSize, block * this.blockSize);
  }

  /** Staged blocks, ascending. */
  *stagedBlocks(): Generator<number> {
    for (let b = 0; b < this.staged.length; b++) if (this.staged[b] === 1) yield b;
  }

  /** A block's content as the commit will leave it. */
  async readNew(block: number, into: Buffer = Buffer.alloc(this.blockSize)): Promise<Buffer> {
    await this.read(into, 0, this.blockSize, block * this.blockSize);
    return into;
  }

  /** A block's committed content (the base). */
  async readOld(block: number, into: Buffer = Buffer.alloc(this.blockSize)): Promise<Buffer> {
    into.fill(0);
    await this.base.read(into, 0, Math.min(this.blockSize, this.size - block * this.blockSize), block * this.blockSize);
    return into;
  }

  /**
   * Those of `blocks` (ascending, all staged) whose content differs from the base. Runs of
   * consecutive blocks are compared with one read of each side.
   */
  async changedAmong(blocks: readonly number[]): Promise<number[]> {
    const B = this.blockSize;
    const RUN = 256;
    const a = Buffer.alloc(RUN * B);
    const b = Buffer.alloc(RUN * B);
    const out: number[] = [];
    for (let i = 0; i < blocks.length; ) {
      let j = i + 1;
      while (j < blocks.length && j - i < RUN && blocks[j] === blocks[j - 1]! + 1) j++;
      const first = blocks[i]!;
      const len = (j - i) * B;
      await this.overlay.read(a, 0, len, first * B);
      b.fill(0, 0, len);
      await this.base.read(b, 0, Math.min(len, this.size - first * B), first * B);
      for (let k = 0; k < j - i; k++) {
        if (!a.subarray(k * B, (k + 1) * B).equals(b.subarray(k * B, (k + 1) * B))) out.push(first + k);
      }
      i = j;
    }
    return out;
  }

  /** Staged blocks whose content differs from the base, ascending. */
  changedBlocks(): Promise<number[]> {
    return this.changedAmong([...this.stagedBlocks()]);
  }

  async flush(): Promise<void> {}

  /** The filesystem layer is done with it; the stage stays readable for the commit. */
  async close(): Promise<void> {}

  /** Drops the staged writes; the base stays open (its owner closes it). Idempotent. */
  async dispose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.overlay.close();
  }

  writtenRanges(): ByteRange[] {
    const out: ByteRange[] = [];
    for (const b of this.stagedBlocks()) {
      const prev = out[out.length - 1];
      if (prev && prev.offset + prev.length === b * this.blockSize) prev.length += this.blockSize;
      else out.push({ offset: b * this.blockSize, length: this.blockSize });
    }
    return out;
  }
}
