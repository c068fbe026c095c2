/**
 * A local path through which a VDI's bytes can be read and written, whichever way this
 * process reaches the pool: plugged into the master's control domain when this process
 * runs there (checked locally, control-domain.ts), else a fetched copy written back on commit.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Ref, Session } from '../../xenapi/index.js';
import { UPLOAD_RUN_BYTES, deviceSink, executePlan, planFreshCommit, planJournaledCommit, type CommitPlan } from './commit-plan.js';
import { prepareCopy, prepareDevice, type Preparation } from './prepare-write.js';
import type { StagedDevice } from './staged-device.js';
import { NotInControlDomainError, attachToControlDomain, findControlDomain, type ControlDomainInfo } from './attach.js';
import { localControlDomainOf, readLocalInventory } from './control-domain.js';
import { fetchRemoteCopy } from './remote-copy.js';

export type AccessMode = 'attach' | 'remote';

export interface VdiWorkspace {
  mode: AccessMode;
  path: string;
  transfer: { downloadedBytes: number; uploadedBytes: number };
  /**
   * Makes the filesystem clean before a backup writes (prepare-write.ts): e2fsck -p on an
   * attached device, as stock; for a remote copy, a cut commit completed crash-safely and
   * other repairs staged.
   */
  prepareForWrite(opts?: { signal?: AbortSignal }): Promise<Preparation>;
  /**
   * Brings what `staged` holds to the VDI in the crash-safe order (commit-plan.ts). `fresh`:
   * the VDI was created in this run and holds zeros on the pool (remote only).
   */
  commit(staged: StagedDevice, opts?: { fresh?: boolean; wholeDisk?: boolean; signal?: AbortSignal }): Promise<CommitPlan['summary']>;
  /** Unplugs and destroys the VBD, or deletes the local copy. Idempotent; call in finally. */
  release(): Promise<void>;
}

export interface WorkspaceOptions {
  mode?: AccessMode | 'auto';
  readOnly?: boolean;
  /** The VDI was created in this run: all zeros, nothing to fetch. */
  fresh?: boolean;
  /** Remote, read-only: fetch only this many leading bytes (the rest reads as zeros). */
  prefixBytes?: number;
  /** Remote: folder of cached VDI copies (null: no cache). Default: defaultCacheDir(). */
  cacheDir?: string | null;
  signal?: AbortSignal;
  /** The pool master's ref when the caller has read it (the pool is then not asked again). */
  master?: Ref;
}

/**
 * Per-user cache of remote VDI copies: $XSDR_CACHE_DIR, else $XDG_CACHE_HOME/xsconsole-dr/vdi,
 * else ~/.cache/xsconsole-dr/vdi. The copies hold the pool database dump: the folder is 0700.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['XSDR_CACHE_DIR']) return env['XSDR_CACHE_DIR'];
  return join(env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'xsconsole-dr', 'vdi');
}

export async function chooseAccessMode(session: Session, wanted: AccessMode | 'auto' = 'auto'): Promise<AccessMode> {
  return (await chooseAccess(session, wanted)).mode;
}

/**
 * The access mode, and the control domain when it was looked up (an attach needs it again).
 * `attach` asked for explicitly where this process is not in the master's control domain is
 * refused, with the reason.
 */
async function chooseAccess(session: Session, wanted: AccessMode | 'auto', master?: Ref): Promise<{ mode: AccessMode; info?: ControlDomainInfo }> {
  if (wanted === 'remote') return { mode: 'remote' };
  // No inventory here: a workstation; no need to ask the pool anything.
  if (wanted === 'auto' && !(await readLocalInventory(localControlDomainOf(session)))) return { mode: 'remote' };
  const info = await findControlDomain(session, master);
  if (info.here.ok) return { mode: 'attach', info };
  if (wanted === 'attach') throw new NotInControlDomainError(info.here.reason);
  return { mode: 'remote', info };
}

export async function openVdiWorkspace(
  session: Session,
  vdi: { ref: Ref; uuid: string; virtualSize: number },
  opts: WorkspaceOptions = {},
): Promise<VdiWorkspace> {
  const { mode, info } = await chooseAccess(session, opts.mode ?? 'auto', opts.master);
  const transfer = { downloadedBytes: 0, uploadedBytes: 0 };
  if (mode === 'attach') {
    const dev = await attachToControlDomain(session, vdi, {
      ...(info && { info }),
      readOnly: opts.readOnly ?? false,
      ...(opts.signal && { signal: opts.signal }),
    });
    return {
      mode,
      path: dev.path,
      transfer,
      prepareForWrite: () => prepareDevice(dev.path),
      async commit(staged, c = {}) {
        // mkfs already wrote the device itself: the journal protects even a first backup.
        const plan = await planJournaledCommit(staged);
        await executePlan(plan, deviceSink(staged.base), c.signal);
        return plan.summary;
      },
      release: dev.release,
    };
  }
  if (opts.prefixBytes !== undefined && !opts.readOnly) throw new Error('a partial copy can only be read');
  const cacheDir = opts.cacheDir === undefined ? defaultCacheDir() : opts.cacheDir;
  const copy = await fetchRemoteCopy(session, vdi.ref, vdi.virtualSize, {
    fresh: opts.fresh ?? false,
    readOnly: opts.readOnly ?? false,
    vdiUuid: vdi.uuid,
    ...(cacheDir !== null && { cacheDir }),
    ...(opts.prefixBytes !== undefined && { limitBytes: opts.prefixBytes }),
    ...(opts.signal && { signal: opts.signal }),
  });
  transfer.downloadedBytes = copy.downloadedBytes;
  let released: Promise<void> | null = null;
  return {
    mode,
    path: copy.path,
    transfer,
    prepareForWrite(c = {}) {
      return prepareCopy(
        copy.path,
        async (plan, applyLocally) => {
          transfer.uploadedBytes += await copy.send(plan, applyLocally, c);
        },
        c.signal,
      );
    },
    async commit(staged, c = {}) {
      if (opts.readOnly) throw new Error('a read-only copy cannot be committed');
      const runBytes = UPLOAD_RUN_BYTES;
      const plan = c.fresh ? await planFreshCommit(staged, { wholeDisk: c.wholeDisk ?? false, runBytes }) : await planJournaledCommit(staged, new Date(), { runBytes });
      transfer.uploadedBytes += await copy.send(plan, () => executePlan(plan, deviceSink(staged.base), c.signal), c);
      return plan.summary;
    },
    release: () => (released ??= copy.dispose()),
  };
}
