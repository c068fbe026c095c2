/**
 * UUIDs and refs. v5 is implemented here (SHA-1 per RFC 4122 §4.3) rather than taken from
 * a library because XAPI's deterministic backup-VDI uuid (xen-api ocaml/xapi/xapi_vdi.ml,
 * create) must be reproduced bit for bit and checked against known vectors.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The namespace XAPI uses for the "Pool Metadata Backup" VDI uuid. */
export const BACKUP_VDI_NAMESPACE = 'e93e0639-2bdb-4a59-8b46-352b3f408c19';

export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}

export function uuidV4(): string {
  return randomUUID();
}

export function newRef(): string {
  return `OpaqueRef:${randomUUID()}`;
}

function uuidBytes(uuid: string): Buffer {
  if (!isUuid(uuid)) throw new Error(`not a uuid: ${uuid}`);
  return Buffer.from(uuid.replace(/-/g, ''), 'hex');
}

function formatUuid(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** UUIDv5 of `name` (UTF-8, used exactly as given: case matters) in `namespace`. */
export function uuidV5(namespace: string, name: string): string {
  const digest = createHash('sha1').update(uuidBytes(namespace)).update(Buffer.from(name, 'utf8')).digest();
  const b = Buffer.from(digest.subarray(0, 16));
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x50; // version 5
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80; // RFC 4122 variant
  return formatUuid(b);
}

/** The uuid XAPI gives a new `Pool Metadata Backup` VDI of type user on the SR `srUuid`. */
export function backupVdiUuid(srUuid: string): string {
  return uuidV5(BACKUP_VDI_NAMESPACE, srUuid);
}

/**
 * A fresh VM generation id: two random non-negative int64s joined by ':'; an empty id stays
 * empty (xen-api ocaml/xapi/xapi_vm_helpers.ml fresh_genid).
 */
export function freshGenerationId(current: string): string {
  if (current === '') return '';
  const half = (): string => (randomBytes(8).readBigUInt64BE() & 0x7fffffffffffffffn).toString();
  return `${half()}:${half()}`;
}
