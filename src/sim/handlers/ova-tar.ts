/**
 * The metadata archive (xen-api ocaml/xapi/export.ml): a tar with exactly one entry
 * `ova.xml`, followed by two zero blocks and no padding to a 10 KiB record (tar-stream's
 * pack writes no record padding, which is what XAPI's writer does too).
 *
 * Reading follows XAPI's import: the FIRST entry must be `ova.xml`
 * (IMPORT_ERROR_UNEXPECTED_FILE ["ova.xml", actual] otherwise); a body whose first block is
 * not a tar header is retried as gzip; the rest of the body after ova.xml is drained, not
 * interpreted (a whole XVA therefore also works). Sizes are bounded: the body is untrusted.
 */
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { ApiFailure } from '../api-error.js';
import { ByteReader } from './byte-reader.js';

export const OVA_XML = 'ova.xml';
const BLOCK = 512;
/** Largest ova.xml accepted (the codec refuses larger documents anyway). */
export const MAX_OVA_XML_BYTES = 64 * 1024 * 1024;

/** Builds the archive in memory (XAPI does the same before answering). */
export async function packOvaTar(xml: string, mtime: Date): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  const data = Buffer.from(xml, 'utf8');
  await new Promise<void>((resolve, reject) => {
    pack.entry({ name: OVA_XML, size: data.length, mtime, mode: 0o644, type: 'file' }, data, (err) => (err ? reject(err) : resolve()));
  });
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** The archive size XAPI produces for an ova.xml of `n` bytes. */
export function ovaTarSize(n: number): number {
  return BLOCK + Math.ceil(n / BLOCK) * BLOCK + 2 * BLOCK;
}

// ---------------------------------------------------------------------------------------
// Reading

interface TarHeader {
  name: string;
  size: number;
}

function cstring(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString('latin1');
}

function parseOctal(b: Buffer): number | undefined {
  const s = cstring(b).trim();
  if (!/^[0-7]+$/.test(s)) return undefined;
  return parseInt(s, 8);
}

/** A ustar/v7 header block with a valid checksum, else undefined. */
export function parseTarHeader(block: Buffer): TarHeader | undefined {
  if (block.length !== BLOCK) return undefined;
  const stored = parseOctal(block.subarray(148, 156));
  if (stored === undefined) return undefined;
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
  if (sum !== stored) return undefined;
  const size = parseOctal(block.subarray(124, 136));
  if (size === undefined) return undefined;
  let name = cstring(block.subarray(0, 100));
  if (block.subarray(257, 262).toString('latin1') === 'ustar') {
    const prefix = cstring(block.subarray(345, 500));
    if (prefix !== '') name = `${prefix}/${name}`;
  }
  return { name, size };
}

class NotATarError extends Error {}

async function readOvaFrom(reader: ByteReader, first: Buffer): Promise<string> {
  if (first.length < BLOCK) throw new ApiFailure('IMPORT_ERROR_PREMATURE_EOF', []);
  const hdr = parseTarHeader(first);
  if (!hdr) throw new NotATarError();
  if (hdr.name !== OVA_XML) throw new ApiFailure('IMPORT_ERROR_UNEXPECTED_FILE', [OVA_XML, hdr.name]);
  if (hdr.size > MAX_OVA_XML_BYTES) throw new ApiFailure('IMPORT_ERROR', [`ova.xml is larger than ${MAX_OVA_XML_BYTES} bytes`]);
  const data = await reader.read(hdr.size);
  if (data.length < hdr.size) throw new ApiFailure('IMPORT_ERROR_PREMATURE_EOF', []);
  return data.toString('utf8');
}

const isGzip = (b: Buffer) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/**
 * Reads ova.xml from an archive body, then drains the rest. Plain tar, or gzip (detected
 * by its magic when the first block is not a tar header, like XAPI's retry). Throws
 * ApiFailure; a body that ends early or a cut connection is IMPORT_ERROR_PREMATURE_EOF.
 */
export async function readOvaXml(body: Readable): Promise<string> {
  const reader = new ByteReader(body);
  try {
    const first = await reader.read(BLOCK);
    if (isGzip(first)) return await readGzipped(first, reader);
    try {
      const xml = await readOvaFrom(reader, first);
      await reader.drain();
      return xml;
    } catch (e) {
      if (!(e instanceof NotATarError)) throw e;
      // XAPI pipes anything else through gzip, which then fails to decompress it.
      throw new ApiFailure('INTERNAL_ERROR', ['Gzip.Decompression_failure: the body is neither a tar archive nor gzip data']);
    }
  } catch (e) {
    await reader.drain().catch(() => undefined);
    if (e instanceof ApiFailure) throw e;
    throw new ApiFailure('IMPORT_ERROR_PREMATURE_EOF', []);
  }
}

function waitDrainOrClose(s: NodeJS.WritableStream & { destroyed: boolean }): Promise<void> {
  return new Promise((r) => {
    if (s.destroyed) return r();
    s.once('drain', () => r());
    s.once('close', () => r());
  });
}

async function readGzipped(first: Buffer, reader: ByteReader): Promise<string> {
  const gunzip = createGunzip();
  const inner = new ByteReader(gunzip);
  let stop = false;
  const feed = (async () => {
    if (!gunzip.write(first)) await waitDrainOrClose(gunzip);
    while (!stop && !gunzip.destroyed) {
      const chunk = await reader.read(64 * 1024);
      if (chunk.length === 0) {
        gunzip.end();
        return;
      }
      if (!gunzip.write(chunk)) await waitDrainOrClose(gunzip);
    }
  })();
  // A feed failure (the body's connection cut) surfaces through the inner reader.
  feed.catch((e: unknown) => gunzip.destroy(e instanceof Error ? e : new Error(String(e))));
  try {
    return await readOvaFrom(inner, await inner.read(BLOCK));
  } catch (e) {
    if (e instanceof NotATarError) throw new ApiFailure('IMPORT_ERROR', ['the decompressed body is not a tar archive']);
    if (e instanceof ApiFailure) throw e;
    throw new ApiFailure('INTERNAL_ERROR', [`Gzip.Decompression_failure: ${(e as Error).message}`]);
  } finally {
    stop = true;
    gunzip.destroy();
    await feed.catch(() => undefined);
    await reader.drain().catch(() => undefined);
  }
}
