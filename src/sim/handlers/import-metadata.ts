/**
 * PUT /import_metadata (xen-api ocaml/xapi/import.ml, metadata_handler): answers `200 OK`
 * before reading the body (the HTTP status says nothing about the outcome), reads ova.xml
 * from the tar body, checks the version, runs the import (ova-import.ts) and completes the
 * task with the XML-RPC set of VM refs. A failure after the 200 fails the task and appends
 * XAPI's stray 500.
 */
import { ApiFailure, errorDescription } from '../api-error.js';
import type { HandlerContext, SimRoute } from '../http-route.js';
import { endResponse, flag, STRAY_500, writeHead } from './http-reply.js';
import { assertCompatible, parseOvaXml } from './ova-document.js';
import { assertCanRestoreBackup, importObjects } from './ova-import.js';
import { readOvaXml } from './ova-tar.js';

/** `vdi:<src>=<dst>` pairs of the query (XAPI's read_map_params "vdi"). */
function vdiMap(ctx: HandlerContext): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of ctx.queryPairs) {
    if (k.startsWith('vdi:') && k.length > 4 && !out.has(k.slice(4))) out.set(k.slice(4), v);
  }
  return out;
}

async function handleImportMetadata(ctx: HandlerContext): Promise<void> {
  const cfg = {
    restore: flag(ctx, 'restore'),
    force: flag(ctx, 'force'),
    dryRun: flag(ctx, 'dry_run'),
    vdiMap: vdiMap(ctx),
    task: ctx.task.ref,
  };
  writeHead(ctx, {
    status: 200,
    reason: 'OK',
    headers: [
      ['connection', 'close'],
      ['cache-control', 'no-cache, no-store'],
      ['task-id', ctx.task.ref],
      ['content-type', 'application/octet-stream'],
    ],
  });
  // Flush the head now: clients wait for it before streaming the body.
  ctx.res.flushHeaders();
  try {
    const xml = await readOvaXml(ctx.body);
    const header = parseOvaXml(xml);
    assertCompatible(ctx.profile, header);
    if (cfg.restore) assertCanRestoreBackup(ctx.db, header, ctx.profile);
    if (ctx.task.signal.aborted) throw new ApiFailure('TASK_CANCELLED', [ctx.task.ref]);
    const vms = importObjects(ctx.db, cfg, header);
    ctx.task.succeed(vms);
  } catch (e) {
    const [code = 'INTERNAL_ERROR', ...params] = errorDescription(e);
    ctx.task.fail(code, params);
    await ctx.send(STRAY_500).catch(() => undefined);
  }
  await endResponse(ctx);
}

export const importMetadataRoute: SimRoute = {
  method: 'PUT',
  path: '/import_metadata',
  label: 'put_import_metadata',
  taskName: 'VM.metadata_import',
  handler: handleImportMetadata,
};
