/**
 * A read-only view of a filesystem whose journal needs recovery, as it will be once
 * recovered: blocks the journal's committed transactions rewrite are read from the journal,
 * the journal reads as empty and the superblock no longer asks for recovery. Nothing is
 * written; this is how a restore reads a VDI whose last commit was cut after its commit
 * block, and how inspect reads such an image.
 */
import type { BlockDevice, ByteRange } from './block-device.js';
import { INCOMPAT_RECOVER, SUPERBLOCK_OFFSET, readLayout } from './ext-structure.js';
import { JSB_SEQUENCE, openJournal, planReplay, readReplayed, type Journal, type ReplaySource } from './jbd2.js';

export class ReplayedDevice implements BlockDevice {
  readonly readOnly = true;

  private constructor(
    private readonly base: BlockDevice,
    private readonly journal: Journal,
    private readonly blocks: Map<number, ReplaySource>,
    private readonly nextSequence: number,
  ) {}

  /** The recovered view of `base`, or null when it needs no recovery. Throws when it needs one that cannot be read. */
  static async over(base: BlockDevice): Promise<ReplayedDevice | null> {
    const layout = await readLayout(base);
    if (!layout.needsRecovery) return null;
    const journal = await openJournal(base, layout);
    const replay = await planReplay(base, journal);
    for (const b of replay.blocks.keys()) if (b >= layout.blocksCount) replay.blocks.delete(b);
    return new ReplayedDevice(base, journal, replay.blocks, replay.nextSequence);
  }

  get path(): string {
    return this.base.path;
  }
  get size(): number {
    return this.base.size;
  }
  get stats() {
    return this.base.stats;
  }

  /** Transactions' blocks this view takes from the journal. */
  get replayedBlocks(): number {
    return this.blocks.size;
  }

  async read(buffer: Buffer, bufferOffset: number, length: number, position: number): Promise<number> {
    const len = Math.max(0, Math.min(length, this.size - position));
    if (len === 0) return 0;
    const B = this.journal.blockSize;
    let done = 0;
    while (done < len) {
      const pos = position + done;
      const block = Math.floor(pos / B);
      const within = pos - block * B;
      const n = Math.min(B - within, len - done);
      const src = this.blocks.get(block);
      if (src) (await readReplayed(this.base, this.journal, src)).copy(buffer, bufferOffset + done, within, within + n);
      else await this.base.read(buffer, bufferOffset + done, n, pos);
      this.patch(buffer, bufferOffset + done, pos, n);
      done += n;
    }
    return len;
  }

  /** The superblock without needs_recovery, the journal superblock empty. */
  private patch(buffer: Buffer, at: number, pos: number, n: number): void {
    const put = (offset: number, write: (scratch: Buffer) => void, size: number) => {
      if (offset + size <= pos || offset >= pos + n) return;
      const scratch = Buffer.alloc(size);
      const from = Math.max(pos, offset);
      const to = Math.min(pos + n, offset + size);
      buffer.copy(scratch, from - offset, at + (from - pos), at + (to - pos));
      write(scratch);
      scratch.copy(buffer, at + (from - pos), from - offset, to - offset);
    };
    put(SUPERBLOCK_OFFSET + 96, (s) => s.writeUInt32LE((s.readUInt32LE(0) & ~INCOMPAT_RECOVER) >>> 0, 0), 4);
    put(this.journal.superblockOffset + JSB_SEQUENCE, (s) => {
      s.writeUInt32BE(this.nextSequence >>> 0, 0);
      s.writeUInt32BE(0, 4);
    }, 8);
  }

  async write(): Promise<number> {
    throw new Error(`${this.path} is a read-only recovered view`);
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {
    await this.base.close();
  }
  writtenRanges(): ByteRange[] {
    return [];
  }
}
