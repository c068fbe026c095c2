/**
 * GET /export_metadata (xen-api ocaml/xapi/export.ml, metadata_handler): the metadata of
 * one VM (ref | uuid) or of all VMs (all=true, default templates excluded, dom0 unless
 * include_dom0=false) as a tar holding ova.xml. The VMs are locked with operation
 * `metadata_export` while the archive is built; the archive is built in memory, then sent
 * with a Content-Length under an HTTP/1.0 status line. Failure before the reply: task
 * failed + a bare 500.
 */
import { ApiFailure, errorDescription } from '../api-error.js';
import type { Ref, SimDb } from '../db.js';
import type { HandlerContext, SimRoute } from '../http-route.js';
import { boolParam, endResponse, writeHead } from './http-reply.js';
import { buildOvaXml, type DeviceType } from './ova-export.js';
import { packOvaTar } from './ova-tar.js';

const DEVICE_TYPES: readonly DeviceType[] = ['vif', 'vbd', 'vgpu', 'vtpm'];

export function isDefaultTemplate(vm: { is_default_template: boolean; is_a_template: boolean; other_config: Record<string, string> }): boolean {
  return vm.is_default_template || (vm.is_a_template && vm.other_config.default_template === 'true');
}

function selectVms(ctx: HandlerContext): Ref[] {
  const db = ctx.db;
  if (boolParam(ctx, 'all', false)) {
    const includeDom0 = boolParam(ctx, 'include_dom0', true);
    return db
      .where('VM', (vm) => !isDefaultTemplate(vm) && (includeDom0 || !vm.is_control_domain))
      .map((x) => x.ref);
  }
  const ref = ctx.query.get('ref');
  let vm: Ref;
  if (ref !== undefined) {
    if (!db.exists('VM', ref)) throw new ApiFailure('HANDLE_INVALID', ['VM', ref]);
    vm = ref;
  } else {
    const uuid = ctx.query.get('uuid');
    if (uuid === undefined) throw new ApiFailure('INTERNAL_ERROR', ['Not_found: neither ref nor uuid given']);
    vm = db.refByUuid('VM', uuid);
  }
  if (db.getField('VM', vm, 'is_a_snapshot')) {
    throw new ApiFailure('OPERATION_NOT_ALLOWED', ['Exporting metadata of a snapshot is not allowed']);
  }
  return [vm];
}

function excludedDeviceTypes(ctx: HandlerContext): Set<DeviceType> {
  const out = new Set<DeviceType>();
  for (const raw of (ctx.query.get('excluded_device_types') ?? '').split(',')) {
    const t = raw.trim().toLowerCase();
    if (t === '') continue;
    if (!(DEVICE_TYPES as readonly string[]).includes(t)) throw new ApiFailure('INVALID_VALUE', ['excluded_device_types', raw]);
    out.add(t as DeviceType);
  }
  return out;
}

/** Locks each VM for `metadata_export` (OTHER_OPERATION_IN_PROGRESS when busy); returns the unlock. */
export function lockVms(db: SimDb, vms: readonly Ref[], task: Ref, op: 'metadata_export'): () => void {
  const locked: Ref[] = [];
  const unlock = () => {
    for (const vm of locked) if (db.exists('VM', vm)) db.mapRemove('VM', vm, 'current_operations', task);
  };
  try {
    for (const vm of vms) {
      const ops = db.getField('VM', vm, 'current_operations');
      const busy = Object.entries(ops).find(([, o]) => o !== op);
      if (busy) throw new ApiFailure('OTHER_OPERATION_IN_PROGRESS', ['VM', vm, busy[1], busy[0]]);
      db.mapAdd('VM', vm, 'current_operations', task, op);
      locked.push(vm);
    }
  } catch (e) {
    unlock();
    throw e;
  }
  return unlock;
}

async function handleExportMetadata(ctx: HandlerContext): Promise<void> {
  let archive: Buffer;
  try {
    const vms = selectVms(ctx);
    const opts = {
      withSnapshotMetadata: boolParam(ctx, 'export_snapshots', true),
      includeVhdParents: boolParam(ctx, 'include_vhd_parents', false),
      excludedDeviceTypes: excludedDeviceTypes(ctx),
    };
    const unlock = lockVms(ctx.db, vms, ctx.task.ref, 'metadata_export');
    try {
      archive = await packOvaTar(buildOvaXml(ctx.db, vms, ctx.profile, opts), new Date());
    } finally {
      unlock();
    }
  } catch (e) {
    const [code = 'INTERNAL_ERROR', ...params] = errorDescription(e);
    ctx.task.fail(code, params);
    // XAPI's raw internal-error reply: no body.
    writeHead(ctx, { status: 500, reason: 'internal error', headers: [['content-length', '0']], keepTaskIdHeader: false });
    await endResponse(ctx);
    return;
  }
  writeHead(ctx, {
    status: 200,
    reason: 'OK',
    http10: true,
    headers: [
      ['Connection', 'close'],
      ['Cache-Control', 'no-cache, no-store'],
      ['task-id', ctx.task.ref],
      ['Server', `xapi/${ctx.profile.xapiMajor}.${ctx.profile.xapiMinor}`],
      ['content-type', 'application/octet-stream'],
      ['Content-Length', String(archive.length)],
      ['Content-Disposition', 'attachment; filename="export.xva"'],
    ],
  });
  try {
    await ctx.send(archive);
  } catch {
    // The connection was cut (client gone or an injected fault): XAPI's task fails too.
    ctx.task.fail('INTERNAL_ERROR', ['Unix.Unix_error(Unix.EPIPE, "write", "")']);
    return;
  }
  ctx.task.succeed();
  await endResponse(ctx);
}

export const exportMetadataRoute: SimRoute = {
  method: 'GET',
  path: '/export_metadata',
  label: 'get_export_metadata',
  taskName: 'VM.export_metadata',
  handler: handleExportMetadata,
};
