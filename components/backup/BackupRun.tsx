/**
 * The backup as it runs: a banner while the backup VDI is found or created and attached,
 * then per-VM progress (count, bar, current VM, failures so far). It ends by putting the
 * summary — or the failure — in its place. Ctrl-C aborts through the job's AbortSignal;
 * the screen waits for the service to unwind (it releases the VBD itself) and then
 * returns to the menu.
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
import type { BackupProgress, BackupReport } from '../../src/dr/backup.js';
import { BACKUP_FAILED_TITLE, backupFailureText, backupSummaryText, backupSummaryTitle } from './summary.js';
import { neutralise } from '../../src/safe-text.js';

export const BACKUP_BANNER = 'Backing up metadata... This may take several minutes.';
export const BACKUP_CANCELLING = 'Cancelling the backup; releasing the backup VDI...';

interface RunView {
  phase: string;
  vms: { done: number; total: number; current: string; failed: number } | null;
}

/** The banner's view after one progress event. */
export function backupProgress(view: RunView, e: BackupProgress): RunView {
  return e.kind === 'phase' ? { ...view, phase: e.message } : { ...view, vms: { done: e.done, total: e.total, current: e.current, failed: e.failed } };
}

export function BackupRun({ sr, session }: { sr: SrChoice; session: ConsoleSession }) {
  const services = useServices();
  const screen = useScreen();
  const job = useMountJob<BackupReport, BackupProgress, RunView>({
    label: 'Backing up VM metadata',
    run: (_, signal, onProgress) => session.runBackup({ srUuid: sr.uuid, signal, onProgress }),
    progress: { initial: { phase: 'Starting...', vms: null }, reduce: backupProgress },
    done(report) {
      screen.replace(<InfoDialogue title={backupSummaryTitle(report)} text={backupSummaryText(report)} />);
    },
    failed(err) {
      screen.replace(<InfoDialogue title={BACKUP_FAILED_TITLE} text={backupFailureText(services.explain(err))} alert />);
    },
    aborted(report) {
      // Too late to stop: the backup is done, and said so.
      if (report) screen.replace(<InfoDialogue title={backupSummaryTitle(report)} text={backupSummaryText(report)} />);
      else screen.close();
    },
  });
  const { cancelling } = job;
  const { phase, vms } = job.progress;

  // Nothing but Ctrl-C (handled by the shell) may interrupt a backup: swallow Esc/Left.
  useScreenKeys(() => true);

  const detail = (
    <Box flexDirection="column">
      <Line wrap="truncate">SR: {neutralise(sr.nameLabel || sr.uuid)}</Line>
      <Line wrap="truncate">{cancelling ? BACKUP_CANCELLING : phase}</Line>
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
