/**
 * What /export_raw_vdi and /import_raw_vdi share: finding the VDI named by the request
 * (`vdi` = ref, else uuid; query then cookie, as XAPI's vdi_of_req), the `format`
 * parameter, the "attached read-write elsewhere" check, and the early failure replies.
 */
import { ApiFailure } from '../api-error.js';
import type { Ref, SimDb } from '../db.js';
import type { HandlerContext } from '../http-route.js';
import { endResponse, writeHead } from './http-reply.js';

/** Formats XAPI knows; the simulator implements raw, and vhd for exports. */
export const KNOWN_FORMATS = ['raw', 'vhd', 'tar', 'qcow2'] as const;

export function param(ctx: HandlerContext, key: string): string | undefined {
  return ctx.query.get(key) ?? ctx.cookies.get(key);
}

/** The VDI of the request, undefined when the request names none; UUID_INVALID for a bad uuid. */
export function vdiOfRequest(ctx: HandlerContext): Ref | undefined {
  const v = param(ctx, 'vdi');
  if (v === undefined) return undefined;
  if (ctx.db.classOf(v) === 'VDI') return v;
  return ctx.db.refByUuid('VDI', v);
}

/**
 * The requested format, lower-cased. One the handler does not implement is refused the way
 * XAPI refuses an unknown one (the simulator produces no tar or qcow2 streams).
 */
export function formatOfRequest(ctx: HandlerContext, implemented: readonly string[] = ['raw']): { ok: true; format: string } | { ok: false; format: string } {
  const f = (param(ctx, 'format') ?? 'raw').toLowerCase();
  return implemented.includes(f) ? { ok: true, format: f } : { ok: false, format: f };
}

/** VDI_IN_USE when another VBD has the VDI plugged read-write. */
export function assertNotInUseRw(db: SimDb, vdi: Ref, operation: string): void {
  for (const vbd of db.getField('VDI', vdi, 'VBDs')) {
    const b = db.tryGet('VBD', vbd);
    if (b?.currently_attached && b.mode === 'RW') throw new ApiFailure('VDI_IN_USE', [vdi, operation]);
  }
}

/** Fails the task and answers with a bodiless error status (connection closed). */
export async function refuse(ctx: HandlerContext, status: number, reason: string, error: readonly string[], http10 = false): Promise<void> {
  const [code = 'INTERNAL_ERROR', ...params] = error;
  ctx.task.fail(code, params);
  writeHead(ctx, {
    status,
    reason,
    http10,
    headers: [
      ['connection', 'close'],
      ['cache-control', 'no-cache, no-store'],
      ['content-length', '0'],
    ],
    keepTaskIdHeader: false,
  });
  await endResponse(ctx);
}
