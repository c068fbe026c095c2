/**
 * The XAPI HTTP handlers this product uses (xen-api ocaml/idl/datamodel.ml, http_actions):
 * VM metadata export/import, raw VDI transfer, pool database dump. Each builds the
 * handler's query exactly as the xe CLI would and leaves the mechanics (task, redirects,
 * progress, abort) to transfer.ts.
 */
import type { Readable } from 'node:stream';
import { TransportError } from './errors.js';
import type { Session } from './session.js';
import { getBuffer, getStream, putBody, type Query, type StreamingDownload, type TransferOptions } from './transfer.js';
import { CHUNK_HEADER_BYTES } from './chunked.js';
import type { Ref } from './values.js';

export type { StreamingDownload, TransferOptions } from './transfer.js';

const bool = (b: boolean): string => (b ? 'true' : 'false');

export interface ExportMetadataTarget {
  vmRef?: Ref;
  vmUuid?: string;
  /** Every VM except default templates (ignores vmRef / vmUuid). */
  all?: boolean;
  /** With `all`: include the control domain (XAPI's default is true). */
  includeDom0?: boolean;
  /** Also export snapshots. Sent explicitly: XAPI's own default is true, xe's false. */
  exportSnapshots?: boolean;
  /** Device types to leave out: vif, vbd, vgpu, vtpm (newer XAPI only). */
  excludedDeviceTypes?: readonly string[];
}

/**
 * A VM's metadata export is tens of kilobytes (a VM with hundreds of disks and networks, a
 * few megabytes); eight of them are fetched at once, each held whole in memory until written.
 */
export const DEFAULT_MAX_METADATA_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MAX_DB_DUMP_BYTES = 1024 * 1024 * 1024;

function exportMetadataQuery(t: ExportMetadataTarget): Query {
  const q: Array<[string, string]> = [];
  if (t.all) {
    q.push(['all', 'true']);
    if (t.includeDom0 !== undefined) q.push(['include_dom0', bool(t.includeDom0)]);
  } else if (t.vmRef) q.push(['ref', t.vmRef]);
  else if (t.vmUuid) q.push(['uuid', t.vmUuid]);
  else throw new TypeError('exportMetadata needs vmRef, vmUuid or all');
  q.push(['export_snapshots', bool(t.exportSnapshots ?? false)]);
  if (t.excludedDeviceTypes?.length) q.push(['excluded_device_types', t.excludedDeviceTypes.join(',')]);
  return q;
}

/**
 * GET /export_metadata → the .vmmeta tar (ova.xml inside), fully in memory. XAPI builds
 * the whole archive before it replies (xen-api ocaml/xapi/export.ml), so a complete body is
 * the success.
 */
export async function exportMetadata(
  session: Session,
  target: ExportMetadataTarget,
  opts: TransferOptions & { maxBytes?: number } = {},
): Promise<Buffer> {
  const { body } = await getBuffer(session, '/export_metadata', exportMetadataQuery(target), 'xsconsole-dr: export VM metadata', {
    ...opts,
    maxBytes: opts.maxBytes ?? DEFAULT_MAX_METADATA_BYTES,
    bodyIsOutcome: true,
  });
  return body;
}

export interface ImportMetadataOptions {
  /** Keep UUIDs / MACs and replace an older same-uuid VM (xe --preserve). */
  restore?: boolean;
  /** Skip missing disks instead of failing (xe --force). */
  force?: boolean;
  /** Check only, create nothing. */
  dryRun?: boolean;
  /** Sent like xe does; XAPI ignores it for metadata imports. */
  srRef?: Ref;
  /** Exported VDI uuid (or SCSIid) → VDI uuid in this pool. */
  vdiMap?: Readonly<Record<string, string>> | ReadonlyArray<readonly [string, string]>;
}

function importMetadataQuery(o: ImportMetadataOptions): Query {
  const q: Array<[string, string]> = [
    ['restore', bool(o.restore ?? false)],
    ['force', bool(o.force ?? false)],
    ['dry_run', bool(o.dryRun ?? false)],
  ];
  if (o.srRef) q.push(['sr_id', o.srRef]);
  const pairs = o.vdiMap ? (Array.isArray(o.vdiMap) ? o.vdiMap : Object.entries(o.vdiMap)) : [];
  for (const [src, dst] of pairs as ReadonlyArray<readonly [string, string]>) {
    if (/[=&\s]/.test(src) || src === '') throw new TypeError(`unusable VDI map source ${JSON.stringify(src)}`);
    q.push([`vdi:${src}`, dst]);
  }
  return q;
}

/**
 * PUT /import_metadata with a .vmmeta tar → the VM refs XAPI lists in the task result
 * (created VMs plus matched default templates; usually empty for a dry run).
 */
export async function importMetadata(
  session: Session,
  body: Buffer,
  options: ImportMetadataOptions = {},
  opts: TransferOptions = {},
): Promise<Ref[]> {
  const result = await putBody<unknown>(session, '/import_metadata', importMetadataQuery(options), 'xsconsole-dr: import VM metadata', body, body.length, opts);
  if (result === undefined || result === '') return [];
  if (!Array.isArray(result) || !result.every((r) => typeof r === 'string')) {
    throw new TransportError('import_metadata task result is not a set of VM refs', { kind: 'protocol' });
  }
  return result as Ref[];
}

export type RawFormat = 'raw' | 'vhd' | 'tar' | 'qcow2';

/**
 * GET /export_raw_vdi → the disk's bytes as a stream (no Content-Length: it ends when
 * XAPI closes), plus `done` for the task outcome. `vdi` is a ref or a uuid.
 *
 * `expectedBytes` is the VDI's virtual_size as XAPI reports it: a raw export is exactly that
 * long, so its first byte past it fails the stream (a host sending forever is not read
 * forever) and so does an end before it. (Other formats are only limited, not exact.)
 */
export function exportRawVdi(
  session: Session,
  vdi: string,
  opts: TransferOptions & { format?: RawFormat; base?: string; expectedBytes?: number } = {},
): Promise<StreamingDownload> {
  const format = opts.format ?? 'raw';
  const q: Array<[string, string]> = [['vdi', vdi], ['format', format]];
  if (opts.base) q.push(['base', opts.base]);
  const exact = format === 'raw' && opts.expectedBytes !== undefined;
  return getStream(session, '/export_raw_vdi', q, 'xsconsole-dr: export raw VDI', {
    ...opts,
    ...(exact && { exactBytes: opts.expectedBytes, limitReason: "the VDI's virtual size" }),
  });
}

export interface ImportRawVdiOptions {
  /** Body uses the chunk protocol (see chunked.ts: encodeChunkFrames). */
  chunked?: boolean;
  format?: RawFormat;
  /** Required when the body is a stream. */
  length?: number;
}

/** PUT /import_raw_vdi → the VDI ref from the task result (or `vdi` as passed, when XAPI returns none). */
export async function importRawVdi(
  session: Session,
  vdi: string,
  body: Buffer | Readable,
  options: ImportRawVdiOptions = {},
  opts: TransferOptions = {},
): Promise<Ref> {
  const length = Buffer.isBuffer(body) ? body.length : options.length;
  if (length === undefined) throw new TypeError('importRawVdi: a stream body needs options.length (XAPI refuses chunked transfer encoding)');
  if (Buffer.isBuffer(body) && options.length !== undefined && options.length !== body.length) {
    throw new RangeError('importRawVdi: options.length differs from the buffer length');
  }
  if (options.chunked && Buffer.isBuffer(body) && !endsWithTerminator(body)) {
    throw new RangeError('importRawVdi: a chunked body must end with the 12-byte zero terminator (use encodeChunkFrames)');
  }
  const q: Array<[string, string]> = [['vdi', vdi], ['format', options.format ?? 'raw']];
  if (options.chunked) q.push(['chunked', 'true']);
  const result = await putBody<unknown>(session, '/import_raw_vdi', q, 'xsconsole-dr: import raw VDI', body, length, opts);
  return typeof result === 'string' ? result : vdi;
}

function endsWithTerminator(b: Buffer): boolean {
  return b.length >= CHUNK_HEADER_BYTES && b.subarray(b.length - CHUNK_HEADER_BYTES).every((x) => x === 0);
}

/** GET /pool/xmldbdump → the pool database XML (contains secrets: treat as sensitive). */
export async function dumpPoolDatabase(session: Session, opts: TransferOptions & { maxBytes?: number } = {}): Promise<Buffer> {
  const { body } = await getBuffer(session, '/pool/xmldbdump', [], 'xsconsole-dr: dump pool database', {
    ...opts,
    maxBytes: opts.maxBytes ?? DEFAULT_MAX_DB_DUMP_BYTES,
  });
  return body;
}

/** GET /pool/xmldbdump as a stream, for writing straight to a file (at most `maxBytes`, default 1 GiB). */
export function streamPoolDatabase(session: Session, opts: TransferOptions & { maxBytes?: number } = {}): Promise<StreamingDownload> {
  return getStream(session, '/pool/xmldbdump', [], 'xsconsole-dr: dump pool database', {
    ...opts,
    maxBytes: opts.maxBytes ?? DEFAULT_MAX_DB_DUMP_BYTES,
    limitReason: 'the limit for a pool database dump',
  });
}
