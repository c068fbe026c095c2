/**
 * What the backup screen shows as it runs and when it ends other than with a report: the
 * progress lines from the run's typed events, the cancellation with what the run cleaned,
 * the space remedies for a full backup VDI, or the failure.
 */
import React from 'react';
import { InfoDialogue } from '../dialogues/InfoDialogue.js';
import type { FailureText } from '../services.js';
import { BackupCancelledError, SpaceGuardError, backupProgressText, backupStepBanner, type BackupProgress } from '../../src/dr/backup.js';
import { BACKUP_CANCELLED_TITLE, BACKUP_FAILED_TITLE, backupCancelledText, backupFailureText } from './summary.js';
import { SpaceOffer, type Rerun } from './SpaceOffer.js';

/** The banner's step line: the running step, or a fact worth seeing meanwhile (a wait, a VDI created). */
export function progressLine(e: Exclude<BackupProgress, { kind: 'vm' | 'space' }>): string | null {
  return e.kind === 'phase' ? backupStepBanner(e.phase) : backupProgressText(e);
}

/** The screen after a backup that did not complete; null: back to the menu. */
export function backupFailureScreen(
  err: unknown,
  ctx: { aborted: boolean; explain: (err: unknown) => FailureText; rerun: Rerun },
): React.ReactElement | null {
  if (ctx.aborted) {
    // Cancelled by the operator: say what was cancelled and cleaned, when the run told it.
    return err instanceof BackupCancelledError ? <InfoDialogue title={BACKUP_CANCELLED_TITLE} text={backupCancelledText(ctx.explain(err))} /> : null;
  }
  const failure = ctx.explain(err);
  if (err instanceof SpaceGuardError && err.facts) {
    return <SpaceOffer rerun={ctx.rerun} error={err as SpaceGuardError & { facts: NonNullable<SpaceGuardError['facts']> }} failure={failure} />;
  }
  return <InfoDialogue title={BACKUP_FAILED_TITLE} text={backupFailureText(failure)} alert />;
}
