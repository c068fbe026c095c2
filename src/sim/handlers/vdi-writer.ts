/**
 * Writes received disk data into a VDI's image file while keeping the file sparse and its
 * size equal to the VDI's virtual_size: an all-zero block is written only when the file
 * holds data there (a hole already reads as zeros), and nothing is ever written past the
 * end of the disk.
 */
import { constants } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ApiFailure } from '../api-error.js';

const BLOCK = 64 * 1024;

function isZero(b: Buffer): boolean {
  // Compare 8 bytes at a time where aligned; zero-filled regions dominate disk images.
  let i = 0;
  const n = b.length;
  for (; i + 8 <= n; i += 8) if (b.readBigUInt64LE(i) !== 0n) return false;
  for (; i < n; i++) if (b[i] !== 0) return false;
  return true;
}

export class VdiWriter {
  private readonly scratch = Buffer.alloc(BLOCK);

  private constructor(
    private readonly fh: FileHandle,
    readonly size: number,
  ) {}

  /** Opens (creating if missing) the image file and sets its length to `size`. */
  static async open(path: string, size: number): Promise<VdiWriter> {
    await mkdir(dirname(path), { recursive: true });
    const fh = await open(path, constants.O_RDWR | constants.O_CREAT, 0o600);
    const st = await fh.stat();
    if (st.size !== size) await fh.truncate(size);
    return new VdiWriter(fh, size);
  }

  /** Writes `data` at byte `offset`; VDI_IO_ERROR when it would go past the end of the disk. */
  async write(offset: number, data: Buffer): Promise<void> {
    if (offset < 0 || offset + data.length > this.size) {
      throw new ApiFailure('VDI_IO_ERROR', [`write of ${data.length} bytes at ${offset} is beyond the end of the disk (${this.size} bytes)`]);
    }
    for (let p = 0; p < data.length; p += BLOCK) {
      const piece = data.subarray(p, Math.min(p + BLOCK, data.length));
      const at = offset + p;
      if (isZero(piece)) {
        const { bytesRead } = await this.fh.read(this.scratch, 0, piece.length, at);
        if (isZero(this.scratch.subarray(0, bytesRead))) continue;
      }
      await this.fh.write(piece, 0, piece.length, at);
    }
  }

  async close(): Promise<void> {
    await this.fh.sync().catch(() => undefined);
    await this.fh.close();
  }
}
