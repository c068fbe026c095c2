/**
 * A dynamic VHD of a disk image, as a stream of pieces (Microsoft's "Virtual Hard Disk Image
 * Format Specification"; XAPI streams the same layout through vhd-tool for
 * /export_raw_vdi?format=vhd): a copy of the footer, the dynamic header, the block
 * allocation table, then one 2 MiB block (sector bitmap + data) per block that holds a
 * non-zero byte, in disk order, and the footer. All-zero blocks are left unallocated.
 */
import { randomBytes } from 'node:crypto';

const SECTOR = 512;
export const VHD_BLOCK = 2 * 1024 * 1024;
const FOOTER_BYTES = 512;
const HEADER_BYTES = 1024;
/** One bit per sector of a block, rounded up to a whole sector. */
const BITMAP_BYTES = Math.ceil(VHD_BLOCK / SECTOR / 8 / SECTOR) * SECTOR;
const UNALLOCATED = 0xffffffff;
/** VHD timestamps count seconds from 2000-01-01T00:00:00Z. */
const VHD_EPOCH_MS = Date.UTC(2000, 0, 1);

/** One's complement of the byte sum, the field itself counted as zero. */
function checksum(b: Buffer, at: number): number {
  b.writeUInt32BE(0, at);
  let sum = 0;
  for (const x of b) sum += x;
  return ~sum >>> 0;
}

/** The specification's CHS geometry for a size in bytes. */
export function vhdGeometry(size: number): { cylinders: number; heads: number; sectors: number } {
  let total = Math.floor(size / SECTOR);
  if (total > 65535 * 16 * 255) total = 65535 * 16 * 255;
  let spt: number;
  let heads: number;
  let cth: number;
  if (total >= 65535 * 16 * 63) {
    spt = 255;
    heads = 16;
    cth = Math.floor(total / spt);
  } else {
    spt = 17;
    cth = Math.floor(total / spt);
    heads = Math.max(4, Math.floor((cth + 1023) / 1024));
    if (cth >= heads * 1024 || heads > 16) {
      spt = 31;
      heads = 16;
      cth = Math.floor(total / spt);
    }
    if (cth >= heads * 1024) {
      spt = 63;
      heads = 16;
      cth = Math.floor(total / spt);
    }
  }
  return { cylinders: Math.floor(cth / heads), heads, sectors: spt };
}

function footer(size: number, uniqueId: Buffer, now: Date): Buffer {
  const f = Buffer.alloc(FOOTER_BYTES);
  f.write('conectix', 0, 'latin1');
  f.writeUInt32BE(2, 8); // features: reserved bit, always set
  f.writeUInt32BE(0x00010000, 12);
  f.writeBigUInt64BE(BigInt(FOOTER_BYTES), 16); // the dynamic header follows the footer copy
  f.writeUInt32BE(Math.max(0, Math.floor((now.getTime() - VHD_EPOCH_MS) / 1000)) >>> 0, 24);
  f.write('xsdr', 28, 'latin1');
  f.writeUInt32BE(0x00010000, 32);
  f.write('Wi2k', 36, 'latin1');
  f.writeBigUInt64BE(BigInt(size), 40);
  f.writeBigUInt64BE(BigInt(size), 48);
  const g = vhdGeometry(size);
  f.writeUInt16BE(g.cylinders, 56);
  f.writeUInt8(g.heads, 58);
  f.writeUInt8(g.sectors, 59);
  f.writeUInt32BE(3, 60); // dynamic disk
  uniqueId.copy(f, 68);
  f.writeUInt32BE(checksum(f, 64), 64);
  return f;
}

function dynamicHeader(entries: number, tableOffset: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h.write('cxsparse', 0, 'latin1');
  h.writeBigUInt64BE(0xffffffffffffffffn, 8);
  h.writeBigUInt64BE(BigInt(tableOffset), 16);
  h.writeUInt32BE(0x00010000, 24);
  h.writeUInt32BE(entries, 28);
  h.writeUInt32BE(VHD_BLOCK, 32);
  h.writeUInt32BE(checksum(h, 36), 36);
  return h;
}

/** Reads `length` bytes of the disk at `offset` (zeros past what exists). */
export type ReadBlock = (offset: number, length: number) => Promise<Buffer>;

/**
 * Yields the VHD of a `size`-byte disk. `allocated` lists the indexes of the blocks to store
 * (the caller decides which hold data); `read` fetches their content.
 */
export async function* vhdPieces(size: number, allocated: readonly number[], read: ReadBlock, now = new Date()): AsyncGenerator<Buffer> {
  const entries = Math.ceil(size / VHD_BLOCK);
  const batBytes = Math.ceil((entries * 4) / SECTOR) * SECTOR;
  const tableOffset = FOOTER_BYTES + HEADER_BYTES;
  // 0xFFFFFFFF everywhere (UNALLOCATED), then the stored blocks' sector offsets.
  const bat = Buffer.alloc(batBytes, 0xff);
  let next = tableOffset + batBytes;
  for (const i of allocated) {
    bat.writeUInt32BE(next / SECTOR, i * 4);
    next += BITMAP_BYTES + VHD_BLOCK;
  }
  const foot = footer(size, randomBytes(16), now);
  yield foot;
  yield dynamicHeader(entries, tableOffset);
  yield bat;
  const bitmap = Buffer.alloc(BITMAP_BYTES, 0xff);
  for (const i of allocated) {
    const start = i * VHD_BLOCK;
    const data = await read(start, Math.min(VHD_BLOCK, size - start));
    yield bitmap;
    yield data.length === VHD_BLOCK ? data : Buffer.concat([data, Buffer.alloc(VHD_BLOCK - data.length)]);
  }
  yield foot;
}
