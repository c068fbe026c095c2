/**
 * A block device as the ext3 layer sees it: positional reads and writes over a fixed size.
 * One implementation serves the control-domain device (/dev/xvdX, or the simulator's link
 * to it), an image file, and the local copy of a remotely fetched VDI. Every device
 * counts what it moves and can remember which ranges were written, so a remote VDI is
 * written back by sending only those.
 */
import { open, type FileHandle } from 'node:fs/promises';

export interface ByteRange {
  offset: number;
  length: number;
}

export interface BlockDevice {
  readonly path: string;
  readonly size: number;
  readonly readOnly: boolean;
  read(buffer: Buffer, bufferOffset: number, length: number, position: number): Promise<number>;
  write(buffer: Buffer, bufferOffset: number, length: number, position: number): Promise<number>;
  flush(): Promise<void>;
  close(): Promise<void>;
  readonly stats: { bytesRead: number; bytesWritten: number };
  /** Ranges written since open, merged and aligned to the tracking granularity. */
  writtenRanges(): ByteRange[];
}

/** Granularity of write tracking: a remote write-back sends whole 64 KiB extents. */
export const TRACK_GRANULARITY = 64 * 1024;

/** A set of extents written, at TRACK_GRANULARITY resolution. */
export class WrittenExtents {
  private readonly extents = new Set<number>();

  constructor(private readonly granularity = TRACK_GRANULARITY) {}

  add(position: number, length: number): void {
    if (length <= 0) return;
    const first = Math.floor(position / this.granularity);
    const last = Math.floor((position + length - 1) / this.granularity);
    for (let i = first; i <= last; i++) this.extents.add(i);
  }

  ranges(limit: number): ByteRange[] {
    const sorted = [...this.extents].sort((a, b) => a - b);
    const out: ByteRange[] = [];
    for (const i of sorted) {
      const offset = i * this.granularity;
      const length = Math.min(this.granularity, limit - offset);
      if (length <= 0) continue;
      const prev = out[out.length - 1];
      if (prev && prev.offset + prev.length === offset) prev.length += length;
      else out.push({ offset, length });
    }
    return out;
  }
}

export class FileBlockDevice implements BlockDevice {
  readonly stats = { bytesRead: 0, bytesWritten: 0 };
  private readonly written = new WrittenExtents();
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    readonly size: number,
    readonly readOnly: boolean,
  ) {}

  /**
   * Opens a device node or an image file. The size of a block device is found by
   * seeking: stat() reports 0 for device nodes.
   */
  static async open(path: string, opts: { readOnly?: boolean } = {}): Promise<FileBlockDevice> {
    const readOnly = opts.readOnly ?? false;
    const handle = await open(path, readOnly ? 'r' : 'r+');
    try {
      const st = await handle.stat();
      const size = st.isBlockDevice() ? await blockDeviceSize(handle) : st.size;
      return new FileBlockDevice(path, handle, size, readOnly);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async read(buffer: Buffer, bufferOffset: number, length: number, position: number): Promise<number> {
    const len = Math.max(0, Math.min(length, this.size - position));
    if (len === 0) return 0;
    const { bytesRead } = await this.handle.read(buffer, bufferOffset, len, position);
    this.stats.bytesRead += bytesRead;
    return bytesRead;
  }

  async write(buffer: Buffer, bufferOffset: number, length: number, position: number): Promise<number> {
    if (this.readOnly) throw new Error(`${this.path} is open read-only`);
    if (position + length > this.size) {
      throw new Error(`write past the end of ${this.path} (${position + length} > ${this.size})`);
    }
    const { bytesWritten } = await this.handle.write(buffer, bufferOffset, length, position);
    this.stats.bytesWritten += bytesWritten;
    this.written.add(position, bytesWritten);
    return bytesWritten;
  }

  async flush(): Promise<void> {
    if (!this.readOnly) await this.handle.sync();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }

  writtenRanges(): ByteRange[] {
    return this.written.ranges(this.size);
  }
}

async function blockDeviceSize(handle: FileHandle): Promise<number> {
  // No ioctl from Node: binary-search the last readable byte (a handful of 1-byte reads).
  const probe = Buffer.alloc(1);
  let lo = 0;
  let hi = 1;
  while ((await handle.read(probe, 0, 1, hi * 512 - 1)).bytesRead === 1) {
    lo = hi;
    hi *= 2;
    if (hi > 2 ** 42) break;
  }
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if ((await handle.read(probe, 0, 1, mid * 512 - 1)).bytesRead === 1) lo = mid;
    else hi = mid;
  }
  return lo * 512;
}

/**
 * Read-only access for libext2fs, which writes even when only reading (access times,
 * superblock counters). Writes land in memory and are dropped on close, so an untrusted
 * or read-only VDI is never modified.
 */
export class CopyOnWriteDevice implements BlockDevice {
  static readonly BLOCK = 4096;
  readonly readOnly = true;
  private readonly overlay = new Map<number, Buffer>();

  constructor(private readonly base: BlockDevice) {}

  get path(): string {
    return this.base.path;
  }
  get size(): number {
    return this.base.size;
  }
  get stats() {
    return this.base.stats;
  }

  /** Calls fn for each overlay block a byte range touches: (block, offset in block, bytes, offset in range). */
  private async eachBlock(position: number, length: number, fn: (block: number, within: number, n: number, done: number) => Promise<void>): Promise<void> {
    const B = CopyOnWriteDevice.BLOCK;
    for (let done = 0; done < length; ) {
      const pos = position + done;
      const block = Math.floor(pos / B);
      const within = pos - block * B;
      const n = Math.min(B - within, length - done);
      await fn(block, within, n, done);
      done += n;
    }
  }

  async read(buffer: Buffer, bufferOffset: number, length: number, position: number): Promise<number> {
    const len = Math.max(0, Math.min(length, this.size - position));
    if (len === 0) return 0;
    if (this.overlay.size === 0) return this.base.read(buffer, bufferOffset, len, position);
    await this.eachBlock(position, len, async (block, within, n, done) => {
      const over = this.overlay.get(block);
      if (over) over.copy(buffer, bufferOffset + done, within, within + n);
      else await this.base.read(buffer, bufferOffset + done, n, position + done);
    });
    return len;
  }

  async write(buffer: Buffer, bufferOffset: number, length: number, position: number): Promise<number> {
    const B = CopyOnWriteDevice.BLOCK;
    await this.eachBlock(position, length, async (block, within, n, done) => {
      let over = this.overlay.get(block);
      if (!over) {
        over = Buffer.alloc(B);
        await this.base.read(over, 0, Math.min(B, this.size - block * B), block * B);
        this.overlay.set(block, over);
      }
      buffer.copy(over, within, bufferOffset + done, bufferOffset + done + n);
    });
    return length;
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {
    this.overlay.clear();
    await this.base.close();
  }

  writtenRanges(): ByteRange[] {
    return [];
  }
}
