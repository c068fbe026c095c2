/**
 * GET /export_raw_vdi (xen-api ocaml/xapi/export_raw_vdi.ml), with no Content-Length — the
 * body ends when the connection closes:
 *  - format raw: exactly `virtual_size` bytes of the VDI's image file (zeros past the end of
 *    a short or missing file);
 *  - format vhd: a dynamic VHD of the same content (vhd-stream.ts), content-type
 *    application/vhd, file name <uuid>.vhd (importexport.ml); a VDI larger than 2040 GiB
 *    fails with VDI_TOO_LARGE [vdi, max] after the 200, as XAPI checks after its headers.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { ApiFailure, errorDescription } from '../api-error.js';
import type { HandlerContext, SimRoute } from '../http-route.js';
import { endResponse, writeHead } from './http-reply.js';
import { assertNotInUseRw, formatOfRequest, refuse, vdiOfRequest } from './raw-vdi-common.js';
import { VHD_BLOCK, vhdPieces } from './vhd-stream.js';

const CHUNK = 1024 * 1024;
/** XAPI's Constants.max_vhd_size. */
const MAX_VHD_SIZE = 2040 * 1024 ** 3;

/** `length` bytes of the image at `pos`, zeros past its end (or for a missing file). */
async function readImage(fh: FileHandle | undefined, pos: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (fh && got < length) {
    const n = (await fh.read(buf, got, length - got, pos + got)).bytesRead;
    if (n === 0) break;
    got += n;
  }
  return buf;
}

async function sendRaw(ctx: HandlerContext, fh: FileHandle | undefined, size: number): Promise<void> {
  let pos = 0;
  while (pos < size) {
    if (ctx.task.signal.aborted) throw new ApiFailure('TASK_CANCELLED', [ctx.task.ref]);
    const n = Math.min(CHUNK, size - pos);
    await ctx.send(await readImage(fh, pos, n));
    pos += n;
    ctx.task.progress(pos / size);
  }
}

async function sendVhd(ctx: HandlerContext, vdi: string, fh: FileHandle | undefined, size: number): Promise<void> {
  if (size > MAX_VHD_SIZE) throw new ApiFailure('VDI_TOO_LARGE', [vdi, String(MAX_VHD_SIZE)]);
  // Blocks holding a non-zero byte are stored; the rest stay unallocated.
  const allocated: number[] = [];
  const blocks = Math.ceil(size / VHD_BLOCK);
  for (let i = 0; fh && i < blocks; i++) {
    if (ctx.task.signal.aborted) throw new ApiFailure('TASK_CANCELLED', [ctx.task.ref]);
    const data = await readImage(fh, i * VHD_BLOCK, Math.min(VHD_BLOCK, size - i * VHD_BLOCK));
    if (data.some((b) => b !== 0)) allocated.push(i);
  }
  let done = 0;
  for await (const piece of vhdPieces(size, allocated, (pos, length) => readImage(fh, pos, length))) {
    if (ctx.task.signal.aborted) throw new ApiFailure('TASK_CANCELLED', [ctx.task.ref]);
    await ctx.send(piece);
    if (piece.length === VHD_BLOCK) ctx.task.progress(Math.min(0.99, ++done / Math.max(1, allocated.length)));
  }
}

async function openIfPresent(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function handleExportRawVdi(ctx: HandlerContext): Promise<void> {
  let vdi: string;
  let size: number;
  let uuid: string;
  let fh: FileHandle | undefined;
  let vhd = false;
  try {
    const format = formatOfRequest(ctx, ['raw', 'vhd']);
    if (!format.ok) {
      await refuse(ctx, 404, 'Not Found', ['INTERNAL_ERROR', `Unknown format ${format.format}`], true);
      return;
    }
    vhd = format.format === 'vhd';
    const v = vdiOfRequest(ctx);
    if (v === undefined) {
      await refuse(ctx, 400, 'Bad Request', ['VDI_MISSING', '', '']);
      return;
    }
    vdi = v;
    assertNotInUseRw(ctx.db, vdi, 'export');
    const rec = ctx.db.get('VDI', vdi);
    size = rec.virtual_size;
    uuid = rec.uuid;
    fh = await openIfPresent(ctx.vdiFilePath(vdi));
  } catch (e) {
    await refuse(ctx, 500, 'Internal Error', errorDescription(e));
    return;
  }
  try {
    writeHead(ctx, {
      status: 200,
      reason: 'OK',
      headers: [
        ['connection', 'close'],
        ['task-id', ctx.task.ref],
        ['content-type', vhd ? 'application/vhd' : 'application/octet-stream'],
        ['content-disposition', `attachment; filename="${uuid}.${vhd ? 'vhd' : 'raw'}"`],
      ],
    });
    if (vhd) await sendVhd(ctx, vdi, fh, size);
    else await sendRaw(ctx, fh, size);
    ctx.task.succeed();
  } catch (e) {
    // Cut connection (client gone or injected fault), cancel, or a read error.
    const [code = 'INTERNAL_ERROR', ...params] = errorDescription(e);
    if (!ctx.task.done) ctx.task.fail(code === 'INTERNAL_ERROR' ? 'VDI_IO_ERROR' : code, code === 'INTERNAL_ERROR' ? ['Device I/O errors'] : params);
    ctx.res.destroy();
    return;
  } finally {
    await fh?.close();
  }
  await endResponse(ctx);
}

export const exportRawVdiRoute: SimRoute = {
  method: 'GET',
  path: '/export_raw_vdi',
  label: 'get_export_raw_vdi',
  taskName: 'VDI.export_raw',
  handler: handleExportRawVdi,
};
