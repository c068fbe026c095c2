/**
 * The backup as it runs: a banner while the backup VDI is found or created and attached,
 * then per-VM progress (count, bar, current VM, failures so far), each line chosen by the
 * kind of the run's progress event. It ends by putting the summary — or the failure, or the
 * space remedies of a full VDI (outcome.tsx) — in its place. Ctrl-C aborts through the job's
 * AbortSignal; the screen waits for the service to unwind (it releases the VBD itself) and
 * then says what was cancelled and cleaned, as the run reported it.
 */
import React, { useEffect, useRef, useState } from 'react';
import { Box } from 'ink';
import { Line, DIALOGUE_WIDTH } from '../Frame.js';
import { Banner } from '../dialogues/Banner.js';
import { InfoDialogue } from '../dialogues/InfoDialogue.js';
import { useScreen, useScreenKeys } from '../navigation.js';
import { useServices, type ConsoleSession, type SrChoice } from '../services.js';
import { useWork } from '../work.js';
import { progressBar } from '../text.js';
import { backupProgressText, type BackupProgress } from '../../src/dr/backup.js';
import { backupSummaryText, backupSummaryTitle } from './summary.js';
import { backupFailureScreen, progressLine } from './outcome.js';
import { neutralise } from '../../src/safe-text.js';

export const BACKUP_BANNER = 'Backing up metadata... This may take several minutes.';
export const BACKUP_CANCELLING = 'Cancelling the backup; releasing the backup VDI...';

interface VmProgress {
  done: number;
  total: number;
  current: string;
  failed: number;
}

export function BackupRun({ sr, session, keep, force }: { sr: SrChoice; session: ConsoleSession; keep?: number; force?: boolean }) {
  const services = useServices();
  const work = useWork();
  const screen = useScreen();
  const [phase, setPhase] = useState('Starting...');
  const [space, setSpace] = useState<string | null>(null);
  const [vms, setVms] = useState<VmProgress | null>(null);
  const [cancelling, setCancelling] = useState(false);
  const started = useRef(false);
  const latest = useRef({ services, screen });
  latest.current = { services, screen };

  useEffect(() => {
    if (started.current) return;
    started.current = true;
    const job = work.start('Backing up VM metadata');
    const onAbort = () => setCancelling(true);
    job.signal.addEventListener('abort', onAbort, { once: true });
    const onProgress = (e: BackupProgress) => {
      if (e.kind === 'vm') setVms({ done: e.done, total: e.total, current: e.current, failed: e.failed });
      else if (e.kind === 'space') setSpace(backupProgressText(e));
      else setPhase((p) => progressLine(e) ?? p);
    };
    session.runBackup({ srUuid: sr.uuid, signal: job.signal, onProgress, ...(keep !== undefined && { keep }), ...(force && { force }) }).then(
      (report) => {
        job.finish();
        latest.current.screen.replace(<InfoDialogue title={backupSummaryTitle(report)} text={backupSummaryText(report)} />);
      },
      (err: unknown) => {
        job.finish();
        const next = backupFailureScreen(err, { sr, session, aborted: job.signal.aborted, explain: latest.current.services.explain });
        if (next) latest.current.screen.replace(next);
        else latest.current.screen.close();
      },
    );
    // Runs once per screen: the backup must not restart on a re-render.
  }, [session, sr, work, keep, force]);

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
