/**
 * The backup as it runs: a banner while the backup VDI is found or created and attached,
 * then per-VM progress (count, bar, current VM, failures so far), each line chosen by the
 * kind of the run's progress event. It ends by putting the summary — or the failure, or the
 * space remedies of a full VDI (outcome.tsx) — in its place. Ctrl-C aborts through the job's
 * AbortSignal; the screen waits for the service to unwind (it releases the VBD itself) and
 * then says what was cancelled and cleaned, as the run reported it.
 */
import React from 'react';
import { Box } from 'ink';
import { Line, DIALOGUE_WIDTH } from '../Frame.js';
import { Banner } from '../dialogues/Banner.js';
import { InfoDialogue } from '../dialogues/InfoDialogue.js';
import { useScreen, useScreenKeys } from '../navigation.js';
import { useServices, type ConsoleSession, type SrChoice } from '../services.js';
import { useMountJob } from '../useJob.js';
import { progressBar } from '../text.js';
import { backupProgressText, type BackupProgress, type BackupReport } from '../../src/dr/backup.js';
import { backupSummaryText, backupSummaryTitle } from './summary.js';
import { backupFailureScreen, progressLine } from './outcome.js';
import { neutralise } from '../../src/safe-text.js';

export const BACKUP_BANNER = 'Backing up metadata... This may take several minutes.';
export const BACKUP_CANCELLING = 'Cancelling the backup; releasing the backup VDI...';

interface RunView {
  phase: string;
  /** The space check's figures, kept on screen while the VMs are exported. */
  space: string | null;
  vms: { done: number; total: number; current: string; failed: number } | null;
}

/** The banner's view after one progress event. */
export function backupProgress(view: RunView, e: BackupProgress): RunView {
  if (e.kind === 'vm') return { ...view, vms: { done: e.done, total: e.total, current: e.current, failed: e.failed } };
  if (e.kind === 'space') return { ...view, space: backupProgressText(e) };
  return { ...view, phase: progressLine(e) ?? view.phase };
}

export function BackupRun({ sr, session, keep, force }: { sr: SrChoice; session: ConsoleSession; keep?: number; force?: boolean }) {
  const services = useServices();
  const screen = useScreen();
  const ended = (err: unknown, aborted: boolean) => {
    const next = backupFailureScreen(err, {
      aborted,
      explain: services.explain,
      // Past the space guard: forced, keeping `keep` backups when the operator chose fewer.
      rerun: (o) => <BackupRun sr={sr} session={session} force {...(o.keep !== undefined && { keep: o.keep })} />,
    });
    if (next) screen.replace(next);
    else screen.close();
  };
  const job = useMountJob<BackupReport, BackupProgress, RunView>({
    label: 'Backing up VM metadata',
    run: (_, signal, onProgress) => session.runBackup({ srUuid: sr.uuid, signal, onProgress, ...(keep !== undefined && { keep }), ...(force && { force }) }),
    progress: { initial: { phase: 'Starting...', space: null, vms: null }, reduce: backupProgress },
    done(report) {
      screen.replace(<InfoDialogue title={backupSummaryTitle(report)} text={backupSummaryText(report)} />);
    },
    failed: (err) => ended(err, false),
    aborted(report, _progress, err) {
      // Too late to stop: the backup is done, and said so.
      if (report) screen.replace(<InfoDialogue title={backupSummaryTitle(report)} text={backupSummaryText(report)} />);
      else ended(err, true);
    },
  });
  const { cancelling } = job;
  const { phase, space, vms } = job.progress;

  // Nothing but Ctrl-C (handled by the shell) may interrupt a backup: swallow Esc/Left.
  useScreenKeys(() => true);

  const detail = (
    <Box flexDirection="column">
      <Line wrap="truncate">SR: {neutralise(sr.nameLabel || sr.uuid)}</Line>
      <Line wrap="truncate">{cancelling ? BACKUP_CANCELLING : phase}</Line>
      {space !== null && <Line wrap="truncate">{space}</Line>}
      {vms && (
        <Box flexDirection="column" marginTop={1}>
          <Line wrap="truncate">
            VMs and templates: {vms.done} of {vms.total}
            {vms.failed > 0 ? `, ${vms.failed} failed` : ''}
          </Line>
          <Line wrap="truncate">
            {progressBar(vms.done, vms.total, DIALOGUE_WIDTH - 12)} {vms.total > 0 ? Math.floor((vms.done * 100) / vms.total) : 0}%
          </Line>
          <Line wrap="truncate">Last: {neutralise(vms.current)}</Line>
        </Box>
      )}
    </Box>
  );
  return <Banner title="Backup Virtual Machine Metadata" text={BACKUP_BANNER} detail={detail} keys={cancelling ? 'Please wait...' : '<Ctrl-C> Abort'} />;
}
