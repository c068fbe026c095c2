/**
 * What interrupted runs leave behind, found and cleaned at the start of the next one — only
 * under the VDI's lock (vdi-lock.ts), when no run of this tool can be using any of it:
 *  - VBDs of the backup VDI. One carrying VBD_TAG_KEY is this tool's (a killed run's): it is
 *    unplugged if attached, and destroyed. One on a control domain without the tag that is
 *    not attached is the stock scripts' (their cleanup before CA-393578 left such): destroyed.
 *    One without the tag that is attached may be a stock script running now: never touched
 *    (the caller waits for it, then refuses). One on a guest VM is never touched either.
 *  - This tool's partial files inside the filesystem: `/.<pool-uuid>.db.incomplete` (a dump
 *    cut off, e.g. by a full disk) and `metadata/.incomplete-<date>/` (a dated folder not
 *    finished). Stock names are never touched.
 */
import type { Ext2Promises } from 'ext2fs';
import { VBD, VM, XenApiError, fieldEquals, isNullRef, type Ref, type Session, type VmRecord } from '../xenapi/index.js';
import { INCOMPLETE_PREFIX, METADATA_DIR, isBackupDate, isUuid } from './layout.js';
import { removeTree } from './volume/files.js';
import { OWN_VBD_KEY } from './volume/attach.js';
import { neutralise } from '../safe-text.js';

/** other_config key on every VBD this tool creates (its presence marks ours; attach.ts sets it). */
export const VBD_TAG_KEY = OWN_VBD_KEY;
const PARTIAL_DB_RE = /^\.([0-9a-f-]{36})\.db\.incomplete$/;

export interface VdiVbd {
  ref: Ref;
  uuid: string;
  vmRef: Ref;
  vmUuid: string;
  vmName: string;
  controlDomain: boolean;
  attached: boolean;
  /** Carries VBD_TAG_KEY: made by this tool. */
  ours: boolean;
}

export interface VbdUse {
  /** This tool's, or the stock scripts' unplugged ones: safe to remove under the lock. */
  stale: VdiVbd[];
  /** Attached to a control domain without our tag: another program (the stock scripts) is using the VDI. */
  foreign: VdiVbd[];
  /** On a guest VM: never touched. */
  guests: VdiVbd[];
}

export interface CleanedVbd {
  kind: 'vbd';
  uuid: string;
  vm: string;
  /** Made by this tool (else: by the stock scripts or another program). */
  ours: boolean;
  /** It was still plugged in and was unplugged. */
  unplugged: boolean;
}

export interface CleanedFile {
  kind: 'file';
  /** Path inside the backup filesystem. */
  path: string;
  bytes: number;
}

export type CleanedItem = CleanedVbd | CleanedFile;

/** One line per cleaned item, for the CLI and the console. */
export function cleanedText(c: CleanedItem): string {
  if (c.kind === 'file') return `Removed ${neutralise(c.path)}, left by an interrupted run (${c.bytes} bytes).`;
  const whose = c.ours ? "a killed run's" : "the host's own scripts'";
  // A VM whose record could not be read is said so: a reference is no name for an operator.
  const on = c.vm ? `"${neutralise(c.vm)}"` : 'a VM whose record could not be read';
  return `Released ${whose} VBD ${neutralise(c.uuid)} of the backup VDI on ${on}${c.unplugged ? ' (it was still plugged in)' : ''}.`;
}

/** Every VBD of `vdi`, with what the cleanup needs to know about its VM. */
export async function vbdsOfVdi(session: Session, vdi: Ref): Promise<VdiVbd[]> {
  const recs = await VBD.getAllRecordsWhere(session, fieldEquals('VDI', vdi));
  const vms = new Map<Ref, VmRecord | null>();
  for (const r of recs.values()) vms.set(r.VM, null);
  await Promise.all(
    [...vms.keys()].map(async (vm) => {
      if (isNullRef(vm)) return;
      vms.set(vm, await VM.getRecord(session, vm).catch(() => null));
    }),
  );
  return [...recs].map(([ref, r]) => {
    const vm = vms.get(r.VM) ?? null;
    return {
      ref,
      uuid: r.uuid,
      vmRef: r.VM,
      vmUuid: vm ? vm.uuid : '',
      vmName: vm ? vm.name_label : '',
      // A VM we cannot read is treated as a guest: never touched.
      controlDomain: vm?.is_control_domain === true,
      attached: r.currently_attached,
      ours: Object.prototype.hasOwnProperty.call(r.other_config, VBD_TAG_KEY),
    };
  });
}

export function classifyVbds(vbds: VdiVbd[]): VbdUse {
  const out: VbdUse = { stale: [], foreign: [], guests: [] };
  for (const v of vbds) {
    if (!v.controlDomain) out.guests.push(v);
    else if (v.ours || !v.attached) out.stale.push(v);
    else out.foreign.push(v);
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Retries a call while XAPI says the VBD is busy (a plug or unplug of it still running). */
async function whileBusy(call: () => Promise<unknown>, okCodes: string[], budgetMs = 20_000): Promise<void> {
  const deadline = Date.now() + budgetMs;
  for (;;) {
    try {
      await call();
      return;
    } catch (err) {
      if (XenApiError.is(err, ...okCodes)) return;
      if (XenApiError.is(err, 'OTHER_OPERATION_IN_PROGRESS', 'DEVICE_DETACH_REJECTED') && Date.now() < deadline) {
        await sleep(200);
        continue;
      }
      throw err;
    }
  }
}

/** Unplugs (when attached) and destroys each stale VBD; a VBD already gone counts as done. */
export async function releaseStaleVbds(session: Session, stale: VdiVbd[]): Promise<CleanedVbd[]> {
  const out: CleanedVbd[] = [];
  for (const v of stale) {
    if (v.attached) await whileBusy(() => VBD.unplug(session, v.ref), ['DEVICE_ALREADY_DETACHED', 'HANDLE_INVALID']);
    await whileBusy(() => VBD.destroy(session, v.ref), ['HANDLE_INVALID']);
    out.push({ kind: 'vbd', uuid: v.uuid, vm: v.vmName || v.vmUuid, ours: v.ours, unplugged: v.attached });
  }
  return out;
}

/** Bytes of the files under `path` (a partial folder holds a few levels; deeper is not counted). */
async function sizeOf(fs: Ext2Promises, path: string, depth = 0): Promise<number> {
  const st = await fs.lstat(path);
  if (!st.isDirectory()) return st.size;
  if (depth > 8) return 0;
  let total = 0;
  for (const name of await fs.readdir(path)) if (name !== '.' && name !== '..') total += await sizeOf(fs, `${path}/${name}`, depth + 1);
  return total;
}

/**
 * Removes this tool's partial files (see the header); returns what was removed. Call with
 * the filesystem open for writing, under the VDI's lock.
 */
export async function removePartialFiles(fs: Ext2Promises): Promise<CleanedFile[]> {
  const out: CleanedFile[] = [];
  const remove = async (path: string) => {
    const bytes = await sizeOf(fs, path);
    await removeTree(fs, path);
    out.push({ kind: 'file', path, bytes });
  };
  for (const name of await fs.readdir('/')) {
    const m = PARTIAL_DB_RE.exec(name);
    if (m && isUuid(m[1]!) && (await fs.lstat(`/${name}`)).isFile()) await remove(`/${name}`);
  }
  const metadata = await fs.readdir(METADATA_DIR).catch(() => [] as string[]);
  for (const name of metadata) {
    if (name.startsWith(INCOMPLETE_PREFIX) && isBackupDate(name.slice(INCOMPLETE_PREFIX.length))) await remove(`${METADATA_DIR}/${name}`);
  }
  return out;
}
