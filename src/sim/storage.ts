/**
 * Where VDI contents live: an SR is a folder, a VDI is a sparse file `<folder>/<location>.img`.
 * The folder is the SR's PBD `device_config["path"]` when set (so two simulated pools can
 * share one SR folder, the DR story), `device_config["location"]` for a "file" SR, else
 * `<stateDir>/srs/<sr-uuid>/`.
 * Locations come from untrusted input (imports, foreign SR folders): only plain file-name
 * characters are accepted, never a path.
 */
import { mkdir, open, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiFailure } from './api-error.js';
import type { Ref, SimDb } from './db.js';
import { isUuid, uuidV4 } from './uuid.js';

const IMAGE_SUFFIX = '.img';
const LOCATION_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

export function isSafeLocation(location: string): boolean {
  return LOCATION_RE.test(location) && !location.includes('..');
}

/** The SR's content folder (not created). */
export function srContentDir(db: SimDb, stateDir: string, sr: Ref): string {
  const rec = db.get('SR', sr);
  for (const pbd of rec.PBDs) {
    const config = db.tryGet('PBD', pbd)?.device_config;
    // A "file" SR (SM's FileSR) keeps its disks in device_config:location itself.
    const path = config?.path ?? (rec.type === 'file' ? config?.location : undefined);
    if (path) return path;
  }
  return join(stateDir, 'srs', rec.uuid);
}

/** The image file of a VDI; INTERNAL_ERROR when its location is not a safe file name. */
export function vdiFilePath(db: SimDb, stateDir: string, vdi: Ref): string {
  const rec = db.get('VDI', vdi);
  if (!isSafeLocation(rec.location)) {
    throw new ApiFailure('INTERNAL_ERROR', [`VDI ${rec.uuid} has a location that is not a file name`]);
  }
  return join(srContentDir(db, stateDir, rec.SR), `${rec.location}${IMAGE_SUFFIX}`);
}

/** Creates a sparse file of `size` bytes (fails if it exists). */
export async function createSparseFile(path: string, size: number): Promise<void> {
  const fh = await open(path, 'wx', 0o600);
  try {
    await fh.truncate(size);
  } finally {
    await fh.close();
  }
}

export async function removeFileIfPresent(path: string): Promise<void> {
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/** True when the SR has a PBD that is currently attached (XAPI: plugged on the coordinator). */
export function srIsPlugged(db: SimDb, sr: Ref): boolean {
  return db.get('SR', sr).PBDs.some((p) => db.tryGet('PBD', p)?.currently_attached === true);
}

/** Sum of virtual sizes of the SR's VDIs. */
export function srVirtualAllocation(db: SimDb, sr: Ref): number {
  let total = 0;
  for (const v of db.get('SR', sr).VDIs) total += db.tryGet('VDI', v)?.virtual_size ?? 0;
  return total;
}

/** Recomputes SR.virtual_allocation / physical_utilisation from its VDIs. */
export function refreshSrUsage(db: SimDb, sr: Ref): void {
  const virtual = srVirtualAllocation(db, sr);
  let physical = 0;
  for (const v of db.get('SR', sr).VDIs) physical += db.tryGet('VDI', v)?.physical_utilisation ?? 0;
  db.update('SR', sr, { virtual_allocation: virtual, physical_utilisation: physical });
}

/**
 * SR.scan: VDI records for image files that have none (uuid = file name when it is a free
 * uuid, location = file name, name_label ""), and records whose file is gone are removed
 * (unless attached). Sizes of existing records follow their files.
 */
export async function scanSr(db: SimDb, stateDir: string, sr: Ref): Promise<void> {
  const dir = srContentDir(db, stateDir, sr);
  await mkdir(dir, { recursive: true });
  const files = new Map<string, { size: number; used: number }>();
  for (const name of await readdir(dir)) {
    if (!name.endsWith(IMAGE_SUFFIX)) continue;
    const location = name.slice(0, -IMAGE_SUFFIX.length);
    if (!isSafeLocation(location)) continue;
    const st = await stat(join(dir, name)).catch(() => undefined);
    if (!st?.isFile()) continue;
    files.set(location, { size: st.size, used: st.blocks * 512 });
  }
  const known = new Set<string>();
  for (const vdi of db.get('SR', sr).VDIs) {
    const rec = db.tryGet('VDI', vdi);
    if (!rec) continue;
    const f = files.get(rec.location);
    if (!f) {
      const attached = rec.VBDs.some((b) => db.tryGet('VBD', b)?.currently_attached === true);
      if (!attached) db.destroy('VDI', vdi);
      continue;
    }
    known.add(rec.location);
    if (rec.virtual_size !== f.size || rec.physical_utilisation !== f.used) {
      db.update('VDI', vdi, { virtual_size: f.size, physical_utilisation: f.used });
    }
  }
  for (const [location, f] of files) {
    if (known.has(location)) continue;
    const uuid = isUuid(location) && db.findRefByUuid('VDI', location.toLowerCase()) === undefined ? location.toLowerCase() : uuidV4();
    db.create('VDI', {
      uuid,
      name_label: '',
      SR: sr,
      location,
      virtual_size: f.size,
      physical_utilisation: f.used,
      type: 'user',
    });
  }
  refreshSrUsage(db, sr);
}
