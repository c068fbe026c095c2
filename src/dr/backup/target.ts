/**
 * The first steps of a backup: the SR, the master check and clock, the backup VDI (found, or
 * created born locked), and the VDI taken for this run (vdi-claim.ts). Everything about the
 * pool comes from the PoolFacts read once at the start.
 */
import { throwIfAborted, type Session } from '../../xenapi/index.js';
import { backupVdiUuid } from '../layout.js';
import { NoBackupVdiError, createBackupVdi, findBackupVdi, resolveSr, type BackupVdi, type SrInfo } from '../backup-vdi.js';
import { readMasterClock, type MasterClock } from '../master-clock.js';
import { claimBackupVdi, type VdiClaim } from '../vdi-claim.js';
import { prepareNewVdiLock } from '../vdi-lock.js';
import { neutralise } from '../../safe-text.js';
import { BackupStepError, step } from './errors.js';
import { assertOnMaster, type PoolFacts } from './pool-facts.js';
import type { BackupOptions } from './options.js';
import type { BackupPhase, BackupProgress } from './progress.js';

export interface BackupTarget {
  sr: SrInfo;
  clock: MasterClock;
  vdi: BackupVdi;
  /** The VDI was created by this run (destroyed again if the run never commits). */
  created: boolean;
  deterministic: boolean;
  claim: VdiClaim;
}

export async function takeBackupTarget(
  session: Session,
  pool: PoolFacts,
  options: BackupOptions,
  signal: AbortSignal,
  emit: (e: BackupProgress) => void,
  phase: (p: BackupPhase) => void,
): Promise<BackupTarget> {
  phase('sr');
  const sr = await step('sr', () => resolveSr(session, options.srUuid, pool));
  await step('sr', () => assertOnMaster(session, pool));
  const clock = await step('lock', () => readMasterClock(session, pool.master, options.clientClock ? { clientClock: options.clientClock } : {}));
  emit({ kind: 'sr', uuid: sr.uuid, name: sr.nameLabel });

  phase('vdi');
  let vdi = await step('vdi', () => findBackupVdi(session, sr, pool.master));
  let created = false;
  let deterministic = vdi ? !vdi.legacy : true;
  let claim: VdiClaim | null = null;
  const lockOpts = {
    op: 'backup' as const,
    clock,
    ...(options.lockTtlMs !== undefined && { ttlMs: options.lockTtlMs }),
    ...(options.lockIdentity && { identity: options.lockIdentity }),
  };
  if (!vdi) {
    if (options.create === false) throw new NoBackupVdiError(sr, backupVdiUuid(sr.uuid));
    throwIfAborted(signal);
    // Born locked: no other client opens it before it has a filesystem.
    const born = prepareNewVdiLock(lockOpts);
    const made = await step('vdi', () => createBackupVdi(session, sr, options.vdiSize, born.otherConfig)).catch(async (err: unknown) => {
      // Another client may have created it meanwhile: then it is used (after its lock).
      if (await findBackupVdi(session, sr, pool.master).catch(() => null)) return null;
      throw err;
    });
    if (made) {
      emit({ kind: 'vdi-created', uuid: made.uuid });
      vdi = made;
      created = true;
      deterministic = made.deterministic;
      claim = { lock: born.adopt(session, made.ref), cleaned: [], waited: null, tookOver: null };
    } else {
      vdi = await step('vdi', async () => (await findBackupVdi(session, sr, pool.master))!);
      deterministic = !vdi.legacy;
    }
  }
  if (!created) emit({ kind: 'vdi-found', uuid: vdi.uuid });
  if (vdi.readOnly) throw new BackupStepError('vdi', new Error(`The backup VDI ${neutralise(vdi.uuid)} is read-only.`));
  const backupVdi = vdi;
  if (!claim) {
    phase('lock');
    claim = await step('lock', () =>
      claimBackupVdi(session, backupVdi.ref, {
        ...lockOpts,
        refuseGuests: true,
        ...(options.lockWaitMs !== undefined && { waitMs: options.lockWaitMs }),
        ...(options.lockPollMs !== undefined && { pollMs: options.lockPollMs }),
        ...(options.signal && { signal: options.signal }),
        onWait: (w) => emit({ kind: 'lock-wait', holder: w.kind, waitingFor: w.waitingFor, waitedMs: w.waitedMs }),
      }),
    );
  }
  for (const c of claim.cleaned) emit({ kind: 'cleaned', item: c });
  return { sr, clock, vdi: backupVdi, created, deterministic, claim };
}
