/**
 * A write-back page cache in front of a block device. libext2fs issues tens of thousands
 * of sub-block reads and writes per megabyte; sending each to the kernel costs ~20× the
 * time of serving it from memory (measured: 8 MiB file 3.0 s → 0.16 s). Dirty pages are
 * written back in sorted, merged runs on flush() and whenever they exceed a bound, so
 * memory stays bounded however large the backup.
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

export class CachedBlockDevice implements BlockDevice {
  private readonly pageSize: number;
  private readonly maxDirtyPages: number;
  private readonly maxPages: number;
  private readonly readAheadPages: number;
  private readonly pages = new Map<number, Buffer>();
  private readonly dirty = new Set<number>();
  private lastUsed = -1;

  constructor(
    private readonly base: BlockDevice,
    opts: CacheOptions = {},
  ) {
    this.pageSize = opts.pageSize ?? 4096;
    this.maxDirtyPages = Math.max(1, Math.floor((opts.maxDirtyBytes ?? 4 * 1024 * 1024) / this.pageSize));
    this.maxPages = Math.max(this.maxDirtyPages, Math.floor((opts.maxCachedBytes ?? 8 * 1024 * 1024) / this.pageSize));
    this.readAheadPages = Math.max(1, opts.readAheadPages ?? 16);
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

  private async page(index: number): Promise<Buffer> {
    let p = this.pages.get(index);
    if (p) {
      // Map order doubles as recency: re-insert on use (not again for a run of uses of the
      // same page, which is how libext2fs reads and writes: many small pieces of one block).
      if (index !== this.lastUsed) {
        this.pages.delete(index);
        this.pages.set(index, p);
        this.lastUsed = index;
      }
      return p;
    }
    // A miss reads ahead the pages that follow (up to the first cached one): libext2fs
    // walks bitmaps and inode tables block by block, and one 64 KiB read costs about what
    // one 4 KiB read does (1000-VM backup: 600 ms of 4 KiB reads before).
    let count = 1;
    const last = Math.ceil(this.size / this.pageSize) - 1;
    const ahead = Math.min(this.readAheadPages, Math.max(1, Math.floor(this.maxPages / 4)));
    while (count < ahead && index + count <= last && !this.pages.has(index + count)) count++;
    const start = index * this.pageSize;
    const run = Buffer.alloc(count * this.pageSize);
    await this.base.read(run, 0, Math.min(run.length, this.size - start), start);
    // The requested page goes in last, as the most recent: an eviction never takes it. Each
    // page is a copy: a slice would keep the whole run alive as long as any page of it.
    for (let i = count - 1; i >= 0; i--) this.pages.set(index + i, Buffer.from(run.subarray(i * this.pageSize, (i + 1) * this.pageSize)));
    p = this.pages.get(index)!;
    this.lastUsed = index;
    if (this.pages.size > this.maxPages) await this.evict();
    return p;
  }

  /** The page for a write that covers it whole: its old content is not needed. */
  private async wholePage(index: number): Promise<Buffer> {
    const p = this.pages.get(index);
    if (p) return this.page(index);
    const fresh = Buffer.alloc(this.pageSize);
    this.pages.set(index, fresh);
    this.lastUsed = index;
    if (this.pages.size > this.maxPages) await this.evict();
    return fresh;
  }

  private async evict(): Promise<void> {
    if (this.dirty.size > 0) await this.writeBack();
    for (const index of this.pages.keys()) {
      if (this.pages.size <= this.maxPages / 2) break;
      this.pages.delete(index);
    }
  }

  async read(buffer: Buffer, bufferOffset: number, length: number, position: number): Promise<number> {
    const len = Math.max(0, Math.min(length, this.size - position));
    let done = 0;
    while (done < len) {
      const pos = position + done;
      const index = Math.floor(pos / this.pageSize);
      const within = pos - index * this.pageSize;
      const n = Math.min(this.pageSize - within, len - done);
      (await this.page(index)).copy(buffer, bufferOffset + done, within, within + n);
      done += n;
    }
    return len;
  }

  async write(buffer: Buffer, bufferOffset: number, length: number, position: number): Promise<number> {
    if (this.base.readOnly) throw new Error(`${this.path} is open read-only`);
    if (position + length > this.size) throw new Error(`write past the end of ${this.path}`);
    let done = 0;
    while (done < length) {
      const pos = position + done;
      const index = Math.floor(pos / this.pageSize);
      const within = pos - index * this.pageSize;
      const n = Math.min(this.pageSize - within, length - done);
      const p = within === 0 && n === this.pageSize ? await this.wholePage(index) : await this.page(index);
      buffer.copy(p, within, bufferOffset + done, bufferOffset + done + n);
      this.dirty.add(index);
      done += n;
    }
    if (this.dirty.size > this.maxDirtyPages) await this.writeBack();
    return length;
  }

  /** Writes dirty pages in ascending, merged runs. */
  private async writeBack(): Promise<void> {
    const order = [...this.dirty].sort((a, b) => a - b);
    let i = 0;
    while (i < order.length) {
      let j = i;
      while (j + 1 < order.length && order[j + 1] === order[j]! + 1 && j - i < 255) j++;
      const first = order[i]!;
      const run = Buffer.concat(order.slice(i, j + 1).map((k) => this.pages.get(k)!));
      const start = first * this.pageSize;
      const len = Math.min(run.length, this.size - start);
      await this.base.write(run, 0, len, start);
      i = j + 1;
    }
    this.dirty.clear();
  }

  async flush(): Promise<void> {
    await this.writeBack();
    await this.base.flush();
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
