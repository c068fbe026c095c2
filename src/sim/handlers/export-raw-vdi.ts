/**
 * GET /export_raw_vdi (xen-api ocaml/xapi/export_raw_vdi.ml), format raw: exactly
 * `virtual_size` bytes of the VDI's image file (zeros past the end of a short or missing
 * file), with no Content-Length — the body ends when the connection closes.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { ApiFailure, errorDescription } from '../api-error.js';
import type { HandlerContext, SimRoute } from '../http-route.js';
import { endResponse, writeHead } from './http-reply.js';
import { assertNotInUseRw, formatOfRequest, refuse, vdiOfRequest } from './raw-vdi-common.js';

const CHUNK = 1024 * 1024;

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
  try {
    const format = formatOfRequest(ctx);
    if (!format.ok) {
      await refuse(ctx, 404, 'Not Found', ['INTERNAL_ERROR', `Unknown format ${format.format}`], true);
      return;
    }
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
        ['content-type', 'application/octet-stream'],
        ['content-disposition', `attachment; filename="${uuid}.raw"`],
      ],
    });
    const buf = Buffer.alloc(CHUNK);
    let pos = 0;
    while (pos < size) {
      if (ctx.task.signal.aborted) throw new ApiFailure('TASK_CANCELLED', [ctx.task.ref]);
      const n = Math.min(CHUNK, size - pos);
      let got = 0;
      if (fh) got = (await fh.read(buf, 0, n, pos)).bytesRead;
      buf.fill(0, got, n);
      // A copy: send may still hold the chunk when the buffer is refilled.
      await ctx.send(Buffer.from(buf.subarray(0, n)));
      pos += n;
      ctx.task.progress(pos / size);
    }
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
