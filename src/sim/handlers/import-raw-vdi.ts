/**
 * PUT /import_raw_vdi (xen-api ocaml/xapi/import_raw_vdi.ml), format raw, into an existing
 * VDI (`vdi`) or a new one ("Imported VDI" on `sr_id` / `sr_uuid`, sized by
 * Content-Length). `200 OK` goes out before the body is read. Two body forms:
 *  - plain: exactly Content-Length bytes written from offset 0;
 *  - `chunked` query key present: frames of a 12-byte little-endian header
 *    {offset: u64, length: u32} followed by `length` bytes, ended by an all-zero header.
 * HTTP Transfer-Encoding is refused as XAPI does (404, INTERNAL_ERROR "Cannot handle
 * encoding: chunked"). A body that ends early (cut connection) fails the task.
 */
import { stat } from 'node:fs/promises';
import { ApiFailure, errorDescription } from '../api-error.js';
import type { Ref } from '../db.js';
import type { HandlerContext, SimRoute } from '../http-route.js';
import { removeFileIfPresent } from '../storage.js';
import { uuidV4 } from '../uuid.js';
import { ByteReader } from './byte-reader.js';
import { endResponse, writeHead } from './http-reply.js';
import { assertNotInUseRw, formatOfRequest, param, refuse, vdiOfRequest } from './raw-vdi-common.js';
import { VdiWriter } from './vdi-writer.js';

const PIECE = 1024 * 1024;
const FRAME_HEADER = 12;
const SECTOR = 512;

/** Body ended before the announced data (connection cut or short upload). */
class ShortBody extends Error {}

async function readExactly(reader: ByteReader, n: number): Promise<Buffer> {
  let b: Buffer;
  try {
    b = await reader.read(n);
  } catch {
    throw new ShortBody();
  }
  if (b.length < n) throw new ShortBody();
  return b;
}

/** Copies `length` body bytes to the disk at `offset`, in pieces. */
async function copyRange(ctx: HandlerContext, reader: ByteReader, writer: VdiWriter, offset: number, length: number, report: (n: number) => void): Promise<void> {
  let done = 0;
  while (done < length) {
    if (ctx.task.signal.aborted) throw new ApiFailure('TASK_CANCELLED', [ctx.task.ref]);
    const piece = await readExactly(reader, Math.min(PIECE, length - done));
    await writer.write(offset + done, piece);
    done += piece.length;
    report(piece.length);
  }
}

async function receivePlain(ctx: HandlerContext, reader: ByteReader, writer: VdiWriter, length: number): Promise<void> {
  if (length > writer.size) {
    throw new ApiFailure('VDI_IO_ERROR', [`upload of ${length} bytes is larger than the disk (${writer.size} bytes)`]);
  }
  let received = 0;
  await copyRange(ctx, reader, writer, 0, length, (n) => {
    received += n;
    ctx.task.progress(length === 0 ? 1 : received / length);
  });
}

async function receiveFrames(ctx: HandlerContext, reader: ByteReader, writer: VdiWriter): Promise<void> {
  for (;;) {
    const h = await readExactly(reader, FRAME_HEADER);
    const offset = h.readBigUInt64LE(0);
    const length = h.readUInt32LE(8);
    if (offset === 0n && length === 0) return;
    if (offset > BigInt(writer.size)) {
      throw new ApiFailure('VDI_IO_ERROR', [`chunk at ${offset} is beyond the end of the disk (${writer.size} bytes)`]);
    }
    const at = Number(offset);
    // XAPI's vhd-tool writes the disk unbuffered (O_DIRECT): a chunk that is not whole
    // 512-byte sectors fails it, after the chunks before it were written.
    if (at % SECTOR !== 0 || length % SECTOR !== 0) throw new ApiFailure('VDI_IO_ERROR', ['Device I/O errors']);
    if (at + length > writer.size) {
      throw new ApiFailure('VDI_IO_ERROR', [`chunk of ${length} bytes at ${at} is beyond the end of the disk (${writer.size} bytes)`]);
    }
    await copyRange(ctx, reader, writer, at, length, () => undefined);
    ctx.task.progress(Math.min(0.99, (at + length) / Math.max(1, writer.size)));
  }
}

/** A new "Imported VDI" on the SR named by sr_id / sr_uuid (raw, non-chunked only). */
function createImportedVdi(ctx: HandlerContext, size: number): Ref | undefined {
  const srId = param(ctx, 'sr_id');
  const srUuid = param(ctx, 'sr_uuid');
  let sr: Ref | undefined;
  if (srId !== undefined) {
    if (!ctx.db.exists('SR', srId)) throw new ApiFailure('HANDLE_INVALID', ['SR', srId]);
    sr = srId;
  } else if (srUuid !== undefined) {
    sr = ctx.db.refByUuid('SR', srUuid);
  }
  if (sr === undefined) return undefined;
  const uuid = uuidV4();
  return ctx.db.create('VDI', {
    uuid,
    name_label: 'Imported VDI',
    SR: sr,
    location: uuid,
    virtual_size: size,
    type: 'user',
    managed: true,
  });
}

async function handleImportRawVdi(ctx: HandlerContext): Promise<void> {
  if (ctx.req.headers['transfer-encoding'] !== undefined) {
    await refuse(ctx, 404, 'Not Found', ['INTERNAL_ERROR', 'Cannot handle encoding: chunked'], true);
    return;
  }
  const chunked = ctx.query.has('chunked') || ctx.cookies.has('chunked');
  const lengthHeader = ctx.req.headers['content-length'];
  const contentLength = lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
  let vdi: Ref;
  let created = false;
  try {
    const format = formatOfRequest(ctx);
    if (!format.ok) {
      await refuse(ctx, 404, 'Not Found', ['INTERNAL_ERROR', `Unknown format ${format.format}`], true);
      return;
    }
    if (!chunked && contentLength === undefined) {
      await refuse(ctx, 400, 'Bad Request', ['INTERNAL_ERROR', 'import_raw_vdi: a Content-Length is required']);
      return;
    }
    let v = vdiOfRequest(ctx);
    if (v === undefined && !chunked) {
      v = createImportedVdi(ctx, contentLength ?? 0);
      created = v !== undefined;
    }
    if (v === undefined) {
      await refuse(ctx, 400, 'Bad Request', ['VDI_MISSING', '', '']);
      return;
    }
    vdi = v;
    assertNotInUseRw(ctx.db, vdi, 'import');
  } catch (e) {
    await refuse(ctx, 500, 'Internal Error', errorDescription(e));
    return;
  }

  writeHead(ctx, {
    status: 200,
    reason: 'OK',
    headers: [
      ['connection', 'close'],
      ['task-id', ctx.task.ref],
      ['content-type', 'application/octet-stream'],
    ],
  });
  ctx.res.flushHeaders();
  const reader = new ByteReader(ctx.body);
  let writer: VdiWriter | undefined;
  let succeeded = false;
  try {
    const path = ctx.vdiFilePath(vdi);
    writer = await VdiWriter.open(path, ctx.db.getField('VDI', vdi, 'virtual_size'));
    if (chunked) await receiveFrames(ctx, reader, writer);
    else await receivePlain(ctx, reader, writer, contentLength ?? 0);
    await writer.close();
    writer = undefined;
    const st = await stat(path);
    if (ctx.db.exists('VDI', vdi)) ctx.db.set('VDI', vdi, 'physical_utilisation', st.blocks * 512);
    ctx.task.succeed(vdi);
    succeeded = true;
  } catch (e) {
    const err = e instanceof ShortBody ? new ApiFailure('VDI_IO_ERROR', ['Device I/O errors: the upload ended early']) : e;
    const [code = 'INTERNAL_ERROR', ...params] = errorDescription(err);
    ctx.task.fail(code, params);
  } finally {
    await writer?.close().catch(() => undefined);
  }
  if (created && !succeeded && ctx.db.exists('VDI', vdi)) {
    // The VDI this request created does not outlive a failed upload.
    const path = ctx.vdiFilePath(vdi);
    ctx.db.destroy('VDI', vdi);
    await removeFileIfPresent(path).catch(() => undefined);
  }
  await reader.drain().catch(() => undefined);
  await endResponse(ctx);
}

export const importRawVdiRoute: SimRoute = {
  method: 'PUT',
  path: '/import_raw_vdi',
  label: 'put_import_raw_vdi',
  taskName: 'VDI.import_raw',
  handler: handleImportRawVdi,
};
