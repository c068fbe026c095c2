/**
 * A write-back page cache in front of a block device. libext2fs issues tens of thousands
 * of sub-block reads and writes per megabyte; sending each to the kernel costs ~20× the
 * time of serving it from memory (measured: 8 MiB file 3.0 s → 0.16 s). Dirty pages are
 * written back in sorted, merged runs on flush() and whenever they exceed a bound, so
 * memory stays bounded however large the backup.
 *
 * Pages live in one slab allocated at open, and reads ahead and write-backs go through one
 * staging buffer: a page buffer per write and a concatenated buffer per run made a 5000-VM
 * backup churn through 560 MB of short-lived buffers, which the process kept as RSS.
 */
import type { BlockDevice, ByteRange } from './block-device.js';

export interface CacheOptions {
  pageSize?: number;
  /** Dirty bytes held before an early write-back. */
  maxDirtyBytes?: number;
  /** Total cached bytes before clean pages are dropped. */
  maxCachedBytes?: number;
  /** Pages read at once on a miss (default 16). */
  readAheadPages?: number;
}

/** Pages written back in one device write, at most (1 MiB of 4 KiB pages). */
const WRITE_RUN_PAGES = 256;

export class CachedBlockDevice implements BlockDevice {
  private readonly pageSize: number;
  private readonly maxDirtyPages: number;
  private readonly maxPages: number;
  private readonly readAhead: number;
  /** Device page index → slot in the slab; Map order doubles as recency. */
  private readonly pages = new Map<number, number>();
  private readonly dirty = new Set<number>();
  private readonly freeSlots: number[] = [];
  private readonly slots: Buffer[] = [];
  private readonly staging: Buffer;
  private lastUsed = -1;
  /** Operations run one at a time: they share the staging buffer and the slots. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly base: BlockDevice,
    opts: CacheOptions = {},
  ) {
    this.pageSize = opts.pageSize ?? 4096;
    this.maxDirtyPages = Math.max(1, Math.floor((opts.maxDirtyBytes ?? 4 * 1024 * 1024) / this.pageSize));
    this.maxPages = Math.max(2, this.maxDirtyPages, Math.floor((opts.maxCachedBytes ?? 8 * 1024 * 1024) / this.pageSize));
    this.readAhead = Math.min(Math.max(1, opts.readAheadPages ?? 16), Math.max(1, Math.floor(this.maxPages / 4)));
    const slab = Buffer.alloc(this.maxPages * this.pageSize);
    for (let i = 0; i < this.maxPages; i++) this.slots.push(slab.subarray(i * this.pageSize, (i + 1) * this.pageSize));
    for (let i = this.maxPages - 1; i >= 0; i--) this.freeSlots.push(i);
    this.staging = Buffer.alloc(Math.max(this.readAhead, WRITE_RUN_PAGES) * this.pageSize);
  }

  get path(): string {
    return this.base.path;
  }
  get size(): number {
    return this.base.size;
  }
  get readOnly(): boolean {
    return this.base.readOnly;
  }
  get stats() {
    return this.base.stats;
  }

  private serially<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** The cached page, after a re-insert on use unless it was the last one used (libext2fs
   * reads and writes many small pieces of one block in a row). */
  private hit(index: number): Buffer | undefined {
    const slot = this.pages.get(index);
    if (slot === undefined) return undefined;
    if (index !== this.lastUsed) {
      this.pages.delete(index);
      this.pages.set(index, slot);
      this.lastUsed = index;
    }
    return this.slots[slot]!;
  }

  /** Frees at least `wanted` slots: dirty pages are written back, then the least recently
   * used half of the cache is dropped. */
  private async makeRoom(wanted: number): Promise<void> {
    if (this.freeSlots.length >= wanted) return;
    if (this.dirty.size > 0) await this.writeBack();
    for (const [index, slot] of this.pages) {
      if (this.freeSlots.length >= wanted && this.pages.size <= this.maxPages / 2) break;
      this.pages.delete(index);
      this.freeSlots.push(slot);
    }
  }

  private place(index: number): Buffer {
    const slot = this.freeSlots.pop()!;
    this.pages.set(index, slot);
    return this.slots[slot]!;
  }

  private async page(index: number): Promise<Buffer> {
    const cached = this.hit(index);
    if (cached) return cached;
    // A miss reads ahead the pages that follow (up to the first cached one): libext2fs
    // walks bitmaps and inode tables block by block, and one 64 KiB read costs about what
    // one 4 KiB read does (1000-VM backup: 600 ms of 4 KiB reads before).
    await this.makeRoom(this.readAhead);
    let count = 1;
    const last = Math.ceil(this.size / this.pageSize) - 1;
    while (count < this.readAhead && index + count <= last && !this.pages.has(index + count)) count++;
    const start = index * this.pageSize;
    const want = count * this.pageSize;
    const got = await this.base.read(this.staging, 0, Math.min(want, this.size - start), start);
    if (got < want) this.staging.fill(0, Math.max(0, got), want);
    // The requested page goes in last, as the most recent.
    for (let i = count - 1; i >= 0; i--) this.staging.copy(this.place(index + i), 0, i * this.pageSize, (i + 1) * this.pageSize);
    this.lastUsed = index;
    return this.slots[this.pages.get(index)!]!;
  }

  /** The page for a write that covers it whole: its old content is not needed. */
  private async wholePage(index: number): Promise<Buffer> {
    const cached = this.hit(index);
    if (cached) return cached;
    await this.makeRoom(1);
    this.lastUsed = index;
    return this.place(index);
  }

  /** The byte range split at page boundaries: page, offset in it, bytes, bytes before. */
  private *pieces(position: number, length: number): Generator<{ index: number; within: number; n: number; done: number }> {
    let done = 0;
    while (done < length) {
      const pos = position + done;
      const index = Math.floor(pos / this.pageSize);
      const within = pos - index * this.pageSize;
      const n = Math.min(this.pageSize - within, length - done);
      yield { index, within, n, done };
      done += n;
    }
  }

  read(buffer: Buffer, bufferOffset: number, length: number, position: number): Promise<number> {
    return this.serially(async () => {
      const len = Math.max(0, Math.min(length, this.size - position));
      for (const { index, within, n, done } of this.pieces(position, len)) {
        (this.hit(index) ?? (await this.page(index))).copy(buffer, bufferOffset + done, within, within + n);
      }
      return len;
    });
  }

  write(buffer: Buffer, bufferOffset: number, length: number, position: number): Promise<number> {
    return this.serially(async () => {
      if (this.base.readOnly) throw new Error(`${this.path} is open read-only`);
      if (position + length > this.size) throw new Error(`write past the end of ${this.path}`);
      for (const { index, within, n, done } of this.pieces(position, length)) {
        const p = this.hit(index) ?? (within === 0 && n === this.pageSize ? await this.wholePage(index) : await this.page(index));
        buffer.copy(p, within, bufferOffset + done, bufferOffset + done + n);
        this.dirty.add(index);
      }
      if (this.dirty.size > this.maxDirtyPages) await this.writeBack();
      return length;
    });
  }

  /** Writes dirty pages in ascending, merged runs. */
  private async writeBack(): Promise<void> {
    const order = [...this.dirty].sort((a, b) => a - b);
    const runPages = this.staging.length / this.pageSize;
    let i = 0;
    while (i < order.length) {
      let j = i;
      while (j + 1 < order.length && order[j + 1] === order[j]! + 1 && j + 1 - i < runPages) j++;
      const first = order[i]!;
      for (let k = i; k <= j; k++) this.slots[this.pages.get(order[k]!)!]!.copy(this.staging, (k - i) * this.pageSize);
      const start = first * this.pageSize;
      const len = Math.min((j - i + 1) * this.pageSize, this.size - start);
      await this.base.write(this.staging, 0, len, start);
      i = j + 1;
    }
    this.dirty.clear();
  }

  flush(): Promise<void> {
    return this.serially(async () => {
      await this.writeBack();
      await this.base.flush();
    });
  }

  async close(): Promise<void> {
    try {
      if (!this.base.readOnly) await this.flush();
    } finally {
      this.pages.clear();
      await this.base.close();
    }
  }

  writtenRanges(): ByteRange[] {
    return this.base.writtenRanges();
  }
}
