/**
 * The stock on-VDI layout of xe-backup-metadata as pure functions (xen-api
 * scripts/xe-backup-metadata).
 * Everything here is about names and text; nothing touches a disk or the network.
 * Names read back from a backup VDI are untrusted: the parsers here accept only the
 * exact stock shapes.
 */
import { createHash } from 'node:crypto';

export const BACKUP_VDI_LABEL = 'Pool Metadata Backup';
export const BACKUP_VDI_NAMESPACE = 'e93e0639-2bdb-4a59-8b46-352b3f408c19';
/** Size of a new backup VDI: 1 GiB on current XenServer (500 MiB on the 8.2 CU1 line). */
export const BACKUP_VDI_SIZE = 1024 ** 3;
/** other-config key the stock scripts set on the backup VDI; informative only since XSA-459. */
export const BACKUP_VDI_OTHER_CONFIG_KEY = 'ctxs-pool-backup';
export const MARKER_PATH = '/.ctxs-metadata-backup';
export const MARKER_CONTENT = '1\n';
export const DEFAULT_HISTORY = 12;
/** Backups refuse to run above this use of the backup filesystem unless forced. */
export const SPACE_GUARD_PERCENT = 90;
export const METADATA_DIR = '/metadata';
export const SRMETA_FILE = 'SRMETA.xml';
/**
 * A run writes its dated folder under this prefix and renames it when complete. Stock
 * tools list folders with `ls` (dot-names hidden), so a leftover never looks like a backup.
 */
export const INCOMPLETE_PREFIX = '.incomplete-';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$/;

/** Lower-case canonical UUID text, as XAPI stores it. */
export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}

/** RFC 4122 name-based UUID, version 5 (SHA-1). */
export function uuidV5(namespace: string, name: string): string {
  if (!isUuid(namespace.toLowerCase())) throw new Error(`not a UUID: ${namespace}`);
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const hash = createHash('sha1').update(ns).update(Buffer.from(name, 'utf8')).digest();
  const b = hash.subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x50;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The only VDI ever trusted as the backup VDI of an SR (since XSA-459). */
export function backupVdiUuid(srUuid: string): string {
  // The name is the SR uuid exactly as XAPI stores it: lower case (case matters).
  return uuidV5(BACKUP_VDI_NAMESPACE, srUuid);
}

export function mountPointOf(vdiUuid: string): string {
  return `/var/run/pool-backup-${vdiUuid}`;
}

export function confPath(vdiUuid: string): string {
  return `/conf/${vdiUuid}`;
}

/** conf/<vdi-uuid>: the logrotate config the stock script writes once. */
export function logrotateConf(vdiUuid: string, poolUuid: string, history: number): string {
  return `${mountPointOf(vdiUuid)}/${poolUuid}.db {\n    rotate ${history}\n    missingok\n}\n`;
}

/** The `rotate N` of a conf/<vdi-uuid> file; null when the text is not that shape. */
export function parseLogrotateHistory(text: string): number | null {
  const m = /^\s*rotate\s+(\d{1,6})\s*$/m.exec(text);
  return m ? Number(m[1]) : null;
}

export function dbDumpPath(poolUuid: string, generation = 0): string {
  return generation === 0 ? `/${poolUuid}.db` : `/${poolUuid}.db.${generation}`;
}

/**
 * logrotate -f with `rotate N`, no compression: .db.(N-1)→.db.N … .db→.db.1; what would
 * become .db.(N+1) is deleted. Returns the renames in a safe order plus the deletions.
 * `existing` are the generations present (0 = the .db itself).
 */
export function planDbRotation(existing: number[], history: number): { remove: number[]; renames: Array<[number, number]> } {
  const present = [...new Set(existing)].filter((g) => Number.isInteger(g) && g >= 0).sort((a, b) => b - a);
  const remove = present.filter((g) => g >= history);
  const renames: Array<[number, number]> = present.filter((g) => g < history).map((g) => [g, g + 1]);
  return { remove, renames };
}

/** `<pool>.db.<n>` generation number of a root-directory name, or null. */
export function dbGenerationOf(name: string, poolUuid: string): number | null {
  if (name === `${poolUuid}.db`) return 0;
  const prefix = `${poolUuid}.db.`;
  if (!name.startsWith(prefix)) return null;
  const rest = name.slice(prefix.length);
  return /^[1-9]\d{0,5}$/.test(rest) ? Number(rest) : null;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** `date +%F-%H-%M-%S` of `d` in this process's local time zone. */
export function formatBackupDate(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}-${pad(d.getHours())}-${pad(d.getMinutes())}-${pad(d.getSeconds())}`;
}

/**
 * `date +%F-%H-%M-%S` of a wall-clock reading held in a Date's UTC fields (the master's
 * local time, which the stock script's `date` prints in dom0; see master-clock.ts).
 */
export function formatBackupDateOfWallClock(wall: Date): string {
  const w = wall;
  return `${w.getUTCFullYear()}-${pad(w.getUTCMonth() + 1)}-${pad(w.getUTCDate())}-${pad(w.getUTCHours())}-${pad(w.getUTCMinutes())}-${pad(w.getUTCSeconds())}`;
}

/** True only for a well-formed, calendar-valid stock date folder name. */
export function isBackupDate(name: string): boolean {
  const m = DATE_RE.exec(name);
  if (!m) return false;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return false;
  const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  return d <= daysInMonth;
}

/** Stock names sort lexically = chronologically; newest first, like `ls -1r`. */
export function newestFirst(names: Iterable<string>): string[] {
  return [...names].filter(isBackupDate).sort().reverse();
}

/**
 * Retention after a run (stock: `ls -1 | sort -n`, keep the newest `history` including the
 * folder just written). Names that are not stock dates are never touched, and `written` —
 * the folder this run wrote — is always kept, with the newest `history - 1` others: stock
 * would delete it when it sorts below the others (a folder dated by a clock that is behind,
 * or folders dated in the future), and report success.
 */
export function planRetention(existing: Iterable<string>, history: number, written?: string): { keep: string[]; remove: string[] } {
  const ordered = newestFirst(existing);
  const n = Math.max(1, history);
  if (written === undefined || !ordered.includes(written)) return { keep: ordered.slice(0, n), remove: ordered.slice(n) };
  const others = ordered.filter((d) => d !== written);
  const kept = new Set([written, ...others.slice(0, n - 1)]);
  return { keep: ordered.filter((d) => kept.has(d)), remove: ordered.filter((d) => !kept.has(d)) };
}

export function backupDir(date: string): string {
  return `${METADATA_DIR}/${date}`;
}

export function incompleteDir(date: string): string {
  return `${METADATA_DIR}/${INCOMPLETE_PREFIX}${date}`;
}

export function vmmetaName(vmUuid: string): string {
  return `${vmUuid}.vmmeta`;
}

/** Target of a by-sr/<sr>/<vm>.vmmeta link (relative, exactly as link-vms-by-sr.py makes it). */
export function bySrLinkTarget(vmUuid: string): string {
  return `../../all/${vmmetaName(vmUuid)}`;
}

/** The VM uuid of an `all/` or `by-sr/` entry name, or null for anything else. */
export function vmUuidOfEntry(name: string): string | null {
  const m = /^([0-9a-f-]{36})\.vmmeta$/.exec(name);
  return m && isUuid(m[1]!) ? m[1]! : null;
}
