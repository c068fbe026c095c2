/** The failures a backup raises: the space guard, a named step, and a cancellation that says what it left. */
import { AbortError } from '../../xenapi/index.js';
import { ExpectedFailure, StepFailure, CancelledFailure } from '../../failure/index.js';
import { SPACE_GUARD_PERCENT } from '../layout.js';
import { NoBackupVdiError } from '../backup-vdi.js';
import { VdiAttachedElsewhereError, VdiInGuestError } from '../vdi-claim.js';
import { VdiBusyError, VdiLockLostError } from '../vdi-lock.js';
import type { AccessMode } from '../volume/workspace.js';
import { neutralise } from '../../safe-text.js';
import { backupStepText, type BackupPhase } from './progress.js';

/** What the guard saw: the remedies (keep fewer, force) are offered from these figures. */
export interface SpaceGuardFacts {
  usedBytes: number;
  availableBytes: number;
  /** The dated backups on the VDI, newest first. */
  backups: string[];
  /** Backups the refused run would have kept. */
  keep: number;
}

export class SpaceGuardError extends ExpectedFailure {
  constructor(
    readonly usedPercent: number,
    readonly facts: SpaceGuardFacts | null = null,
  ) {
    super(
      'BACKUP_VDI_FULL',
      `The backup VDI is ${usedPercent}% full; backups stop above ${SPACE_GUARD_PERCENT}% so the last good ones are not overwritten.`,
      // Retention runs after the new backup is complete, so keeping fewer takes the guard
      // being passed too: the new backup goes into the space that is free now.
      'Back up anyway past the guard (force), keeping fewer backups if the use should go down again: the new backup is written into the free space first, and only then are the older ones beyond the number kept removed.',
    );
    this.name = 'SpaceGuardError';
  }
}

/** A failure inside a step, naming the step for the operator. */
export class BackupStepError extends StepFailure {
  constructor(
    readonly step: BackupPhase,
    cause: unknown,
  ) {
    // A commit cut part way is safe by construction (volume/commit-plan.ts): say so.
    super(
      backupStepText(step),
      cause,
      step === 'commit'
        ? ' Earlier backups on the VDI are intact; this one is either absent or held in its journal, which the next backup, a restore or fsck completes.'
        : '',
    );
    this.name = 'BackupStepError';
  }
}

/** Runs one step: an unexpected failure is named by the step; what already says what happened passes. */
export async function step<T>(name: BackupPhase, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof BackupStepError || err instanceof AbortError || err instanceof SpaceGuardError || err instanceof NoBackupVdiError) throw err;
    // The lock's own errors say what happened and what to do.
    if (err instanceof VdiBusyError || err instanceof VdiLockLostError || err instanceof VdiAttachedElsewhereError || err instanceof VdiInGuestError) throw err;
    if (err instanceof Error && err.name === 'AbortError') throw err;
    throw new BackupStepError(name, err);
  }
}

/** What a cancelled backup had done and what it undid, as the run itself recorded it. */
export interface BackupCancellation {
  /** The step running when it was cancelled. */
  step: BackupPhase;
  /** VMs and templates exported into the run, of how many; null when it had not reached them. */
  vms: { exported: number; total: number } | null;
  /**
   * What reached the backup VDI: nothing (a run is staged and reaches the VDI only once it is
   * complete), or, cut during the write-back, this backup is absent or held in the journal.
   */
  vdi: 'unchanged' | 'journal';
  /** How the VDI was reached, and whether that was undone (VBD unplugged and destroyed, or the local copy deleted); null: not reached. */
  access: { mode: AccessMode; released: boolean } | null;
  /** A VDI this run created, destroyed again (it had no backup yet). */
  createdVdi: { uuid: string; destroyed: boolean } | null;
  /** The run's lock on the VDI was handed back (null: it had none yet). */
  lockReleased: boolean | null;
}

/** A backup the operator cancelled: still an AbortError, and it tells what was cancelled and cleaned. */
export class BackupCancelledError extends CancelledFailure {
  constructor(
    readonly facts: BackupCancellation,
    cause?: unknown,
  ) {
    super(cancellationText(facts), 'Back up again when ready.', cause);
  }
}

export function cancellationText(c: BackupCancellation): string {
  const parts: string[] = [];
  const when = `Backup cancelled while ${lowerFirst(backupStepText(c.step))}`;
  parts.push(c.vms ? `${when}: ${c.vms.exported} of ${c.vms.total} VMs and templates had been exported.` : `${when}.`);
  parts.push(
    c.vdi === 'journal'
      ? 'The write-back to the backup VDI was cut: earlier backups are intact; this one is absent or held in the journal, which the next backup, a restore or fsck completes.'
      : 'Nothing was written to the backup VDI: the run is written to it only once complete, and the partial run was dropped.',
  );
  if (c.createdVdi) {
    parts.push(c.createdVdi.destroyed ? `The backup VDI ${neutralise(c.createdVdi.uuid)} created by this run was destroyed again.` : `The backup VDI ${neutralise(c.createdVdi.uuid)} created by this run could not be destroyed; the next backup uses it.`);
  }
  if (c.access) {
    const what = c.access.mode === 'attach' ? 'the VBD' : 'the local copy of the VDI';
    const done = c.access.mode === 'attach' ? 'was unplugged and destroyed' : 'was deleted';
    parts.push(c.access.released ? `${upperFirst(what)} ${done}.` : `${upperFirst(what)} could not be released; the next backup cleans it up.`);
  }
  if (c.lockReleased === false) parts.push("The run's lock on the backup VDI could not be handed back; it expires by itself.");
  return parts.join(' ');
}

const lowerFirst = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);
const upperFirst = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
