/**
 * The body format of `PUT /import_raw_vdi?chunked`: frames of a 12-byte little-endian
 * header {offset: u64, length: u32} followed by `length` bytes to write at `offset`; a
 * header of all zeros ends the stream. Lets a client send only the non-zero regions.
 */

export interface ChunkRegion {
  /** Byte offset in the VDI. */
  offset: number | bigint;
  data: Uint8Array;
}

export const CHUNK_HEADER_BYTES = 12;
const MAX_U32 = 0xffff_ffff;

/** The 12-byte header of one frame (offset 0 + length 0 is the terminator). */
export function chunkHeader(offset: number | bigint, length: number): Buffer {
  const off = BigInt(offset);
  if (off < 0n || off > 0xffff_ffff_ffff_ffffn) throw new RangeError(`chunk offset out of range: ${offset}`);
  if (!Number.isInteger(length) || length < 0 || length > MAX_U32) throw new RangeError(`chunk length out of range: ${length}`);
  const h = Buffer.alloc(CHUNK_HEADER_BYTES);
  h.writeBigUInt64LE(off, 0);
  h.writeUInt32LE(length, 8);
  return h;
}

/** Total body length for these regions, terminator included (for Content-Length). */
export function chunkedBodyLength(regions: readonly ChunkRegion[]): number {
  return regions.reduce((n, r) => n + CHUNK_HEADER_BYTES + r.data.length, CHUNK_HEADER_BYTES);
}

/**
 * Encodes regions as one body. Empty regions are skipped: a zero-length frame at offset
 * 0 would read as the terminator.
 */
export function encodeChunkFrames(regions: readonly ChunkRegion[]): Buffer {
  const parts: Uint8Array[] = [];
  for (const r of regions) {
    if (r.data.length === 0) continue;
    parts.push(chunkHeader(r.offset, r.data.length), r.data);
  }
  parts.push(chunkHeader(0, 0));
  return Buffer.concat(parts);
}

/** Parses a chunked body back into regions (used to check bodies; refuses malformed ones). */
export function decodeChunkFrames(body: Uint8Array): ChunkRegion[] {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const out: ChunkRegion[] = [];
  let pos = 0;
  for (;;) {
    if (pos + CHUNK_HEADER_BYTES > buf.length) throw new RangeError('chunked body ends without the zero terminator');
    const offset = buf.readBigUInt64LE(pos);
    const length = buf.readUInt32LE(pos + 8);
    pos += CHUNK_HEADER_BYTES;
    if (offset === 0n && length === 0) break;
    if (pos + length > buf.length) throw new RangeError('chunked body truncated inside a frame');
    out.push({ offset: offset <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(offset) : offset, data: buf.subarray(pos, pos + length) });
    pos += length;
  }
  if (pos !== buf.length) throw new RangeError('bytes after the chunked terminator');
  return out;
}
