/**
 * The control domain's block devices. Plugging a VBD into dom0 gives it a kernel name
 * (xvdb, xvdc, … — xvda is dom0's own disk) and makes `<deviceDir>/<name>` a symlink to the
 * VDI's image file, so code that "runs in dom0" (the stock scripts' way: mkfs/mount
 * /dev/xvdX) can open the device path. Unplug removes the symlink.
 */
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiFailure } from './api-error.js';
import type { Ref, SimDb } from './db.js';
import { removeFileIfPresent } from './storage.js';

/** xvdb … xvdz, then xvdaa … (Linux naming); index 1 = xvdb. */
export function deviceName(index: number): string {
  let n = index;
  let letters = '';
  do {
    letters = String.fromCharCode(97 + (n % 26)) + letters;
    n = Math.floor(n / 26) - 1;
  } while (n >= 0);
  return `xvd${letters}`;
}

/** Lowest free device name among the VM's attached VBDs, starting at xvdb. */
export function freeDeviceName(db: SimDb, vm: Ref): string {
  const used = new Set<string>();
  for (const vbd of db.get('VM', vm).VBDs) {
    const r = db.tryGet('VBD', vbd);
    if (r?.currently_attached && r.device !== '') used.add(r.device);
  }
  for (let i = 1; i < 26 * 27; i++) {
    const name = deviceName(i);
    if (!used.has(name)) return name;
  }
  throw new ApiFailure('INTERNAL_ERROR', ['no free device name in the control domain']);
}

/** Device path of a dom0 block device in the simulator. */
export function devicePath(deviceDir: string, device: string): string {
  if (!/^xvd[a-z]{1,2}$/.test(device)) throw new ApiFailure('INTERNAL_ERROR', [`bad device name ${device}`]);
  return join(deviceDir, device);
}

/** Creates (or replaces a stale) `<deviceDir>/<device>` → target. */
export async function linkDevice(deviceDir: string, device: string, target: string): Promise<string> {
  await mkdir(deviceDir, { recursive: true });
  const path = devicePath(deviceDir, device);
  await removeFileIfPresent(path);
  await symlink(target, path);
  return path;
}

export async function unlinkDevice(deviceDir: string, device: string): Promise<void> {
  if (device === '') return;
  await removeFileIfPresent(devicePath(deviceDir, device));
}
