/**
 * Taking a backup VDI before anything reads or writes it, on every path (backup, restore,
 * list, preflight, probe): the pool-side lock against other clients of this tool
 * (vdi-lock.ts), then the VDI's VBDs (leftovers.ts). A VBD plugged into a control domain
 * by another program — the host's own xe-backup-metadata / xe-restore-metadata, which take
 * no lock — is waited for, within the same bound, and then refused; stale VBDs are released.
 * The lock is released again on every failure here; after success the caller releases it.
 */
import { throwIfAborted, type Ref, type Session } from '../xenapi/index.js';
import { ExpectedFailure } from '../failure/index.js';
import { classifyVbds, releaseStaleVbds, vbdsOfVdi, type CleanedVbd, type VdiVbd } from './leftovers.js';
import { describeDuration } from './master-clock.js';
import { acquireVdiLock, DEFAULT_LOCK_WAIT_MS, type AcquireOptions, type VdiLock } from './vdi-lock.js';
import { neutralise } from '../safe-text.js';

export interface ClaimWait {
  kind: 'lock' | 'attached';
  /** "Waiting for the backup started by ws1 (pid 42) at …" */
  message: string;
  /** Whom it waits for, as a phrase ("the backup started by ws1 (pid 42) at …"). */
  waitingFor: string;
  waitedMs: number;
}

/** The lock's options (its waiting bound covers the VBD wait too), and the claim's own. */
export interface ClaimOptions extends Omit<AcquireOptions, 'onWait'> {
  /** Refuse when a guest VM has the VDI (a backup must not write under a guest). */
  refuseGuests?: boolean;
  onWait?: (w: ClaimWait) => void;
}

export interface VdiClaim {
  lock: VdiLock;
  /** Stale VBDs released. */
  cleaned: CleanedVbd[];
  /** Waiting done before the VDI was ours (null: none). */
  waited: { ms: number; for: string } | null;
  /** An expired lock taken over (whose, and since when). */
  tookOver: string | null;
}

export class VdiAttachedElsewhereError extends ExpectedFailure {
  constructor(
    readonly vbd: VdiVbd,
    waitedMs: number,
  ) {
    super(
      'BACKUP_VDI_ATTACHED',
      `The backup VDI is plugged into the control domain "${neutralise(vbd.vmName || vbd.vmUuid)}" by another program (VBD ${neutralise(vbd.uuid)}), ` +
        `most likely the host's own xe-backup-metadata or xe-restore-metadata; waited ${describeDuration(waitedMs)}.`,
      `Let that program finish and run again. If nothing is running on the host any more, release it there: xe vbd-unplug uuid=${neutralise(vbd.uuid)}; xe vbd-destroy uuid=${neutralise(vbd.uuid)}`,
    );
    this.name = 'VdiAttachedElsewhereError';
  }
}

export class VdiInGuestError extends ExpectedFailure {
  constructor(readonly vbd: VdiVbd) {
    super(
      'BACKUP_VDI_IN_VM',
      `The backup VDI is attached to the VM "${neutralise(vbd.vmName || vbd.vmUuid)}" (VBD ${neutralise(vbd.uuid)}); a backup must not write a disk a VM can write.`,
      `Detach the disk from that VM (xe vbd-unplug uuid=${neutralise(vbd.uuid)}; xe vbd-destroy uuid=${neutralise(vbd.uuid)}), check its contents, then back up again.`,
    );
    this.name = 'VdiInGuestError';
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

export async function claimBackupVdi(session: Session, vdi: Ref, opts: ClaimOptions): Promise<VdiClaim> {
  const started = Date.now();
  const waitMs = opts.waitMs ?? DEFAULT_LOCK_WAIT_MS;
  const pollMs = opts.pollMs ?? 2_000;
  let waited: VdiClaim['waited'] = null;
  const lock = await acquireVdiLock(session, vdi, {
    op: opts.op,
    clock: opts.clock,
    waitMs,
    pollMs,
    ...(opts.ttlMs !== undefined && { ttlMs: opts.ttlMs }),
    ...(opts.identity && { identity: opts.identity }),
    ...(opts.signal && { signal: opts.signal }),
    onWait: (w) => {
      waited = { ms: w.waitedMs, for: w.holderText };
      opts.onWait?.({ kind: 'lock', message: `Waiting for ${w.holderText} to finish...`, waitingFor: w.holderText, waitedMs: w.waitedMs });
    },
  });
  try {
    for (;;) {
      throwIfAborted(opts.signal);
      if (lock.lostError) throw lock.lostError;
      const use = classifyVbds(await vbdsOfVdi(session, vdi));
      const guest = use.guests[0];
      if (guest && opts.refuseGuests) throw new VdiInGuestError(guest);
      const foreign = use.foreign[0];
      if (!foreign) {
        const cleaned = await releaseStaleVbds(session, use.stale);
        const w = waited as VdiClaim['waited'];
        return { lock, cleaned, waited: w && { ...w, ms: Date.now() - started }, tookOver: lock.history.tookOver };
      }
      const waitedMs = Date.now() - started;
      if (waitedMs >= waitMs) throw new VdiAttachedElsewhereError(foreign, waitedMs);
      const what = `the program that plugged the backup VDI into "${neutralise(foreign.vmName || foreign.vmUuid)}" (VBD ${neutralise(foreign.uuid)})`;
      waited = { ms: waitedMs, for: what };
      opts.onWait?.({ kind: 'attached', message: `Waiting for ${what} to release it...`, waitingFor: what, waitedMs });
      await sleep(Math.min(pollMs, waitMs - waitedMs), opts.signal);
    }
  } catch (err) {
    await lock.release().catch(() => undefined);
    throw err;
  }
}
