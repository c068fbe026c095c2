/**
 * The restore as it runs: "Restoring VM Metadata..." with per-VM progress (count, bar,
 * the last VMs and whether XAPI took them). A dry run first checks the backup against the
 * pool, so its summary can name the same warnings as a real restore's. Only Ctrl-C stops
 * it; the VMs restored until then stay, and the screen says so.
 */
import React, { useState } from 'react';
import { Box } from 'ink';
import { DIALOGUE_WIDTH, Line } from '../Frame.js';
import { Banner } from '../dialogues/Banner.js';
import { InfoDialogue } from '../dialogues/InfoDialogue.js';
import { useFlowScreen, type Flow } from '../flow.js';
import { useScreen, useScreenKeys } from '../navigation.js';
import { useServices, type ConsoleSession, type RestoreRequest, type SrChoice } from '../services.js';
import { progressBar } from '../text.js';
import { useMountJob } from '../useMountJob.js';
import type { PreflightReport, RestoreProgress, RestoreReport } from '../../src/dr/restore.js';
import { RestoreSummary } from './RestoreSummary.js';
import { PREFLIGHT_BANNER, RESTORE_MENU_TITLE, RESTORING_BANNER, restoreFailureText } from './texts.js';
import { neutralise } from '../../src/safe-text.js';

/** VMs listed under the bar (the most recent). */
const RECENT_VMS = 4;

interface Progress {
  done: number;
  total: number;
  errors: number;
  recent: Array<{ name: string; ok: boolean }>;
}

export interface RestoreRunProps {
  flow: Flow;
  session: ConsoleSession;
  sr: SrChoice;
  request: RestoreRequest;
  /** The preflight the operator confirmed (real restore); null: the dry run makes its own. */
  preflight: PreflightReport | null;
}

export function cancelledText(dryRun: boolean, p: Progress | null): string {
  if (dryRun) return 'The dry run was stopped with Ctrl-C. Nothing was changed in this pool.';
  const done = p ? `after ${p.done} of ${p.total} VM(s) (${p.done - p.errors} restored, ${p.errors} failed)` : 'before any VM was restored';
  return (
    `The restore was stopped with Ctrl-C ${done}.\n\n` +
    'The VMs restored until then stay in this pool; SR and VDI names may not have been restored. ' +
    'The backup VDI was released. Run the restore again to finish it: VMs already restored are reported as clashes.'
  );
}

export function RestoreRun({ flow, session, sr, request, preflight }: RestoreRunProps) {
  useFlowScreen(flow);
  const services = useServices();
  const screen = useScreen();
  const [phase, setPhase] = useState(preflight ? 'Starting...' : PREFLIGHT_BANNER);
  const [progress, setProgress] = useState<Progress | null>(null);
  // The latest progress for the cancel text (state may not have rendered yet).
  const last = React.useRef<Progress | null>(null);

  const onProgress = (e: RestoreProgress) => {
    if (e.kind === 'phase') {
      setPhase(e.message);
      return;
    }
    const prev = last.current;
    const ok = e.errors === (prev?.errors ?? 0);
    const next: Progress = { done: e.done, total: e.total, errors: e.errors, recent: [...(prev?.recent ?? []), { name: e.current, ok }].slice(-RECENT_VMS) };
    last.current = next;
    setProgress(next);
  };

  const job = useMountJob<{ report: RestoreReport; preflight: PreflightReport }>(
    request.dryRun ? 'Dry run of a restore' : 'Restoring VM metadata',
    async (signal) => {
      const p = preflight ?? (await session.preflightRestore(request, signal));
      setPhase('Opening the backup...');
      const report = await session.runRestore(request, { signal, onProgress });
      return { report, preflight: p };
    },
    {
      done({ report, preflight: p }) {
        screen.replace(<RestoreSummary flow={flow} report={report} preflight={p} finishedAt={new Date()} />);
      },
      failed(err) {
        screen.replace(<InfoDialogue title={RESTORE_MENU_TITLE} text={restoreFailureText(services.explain(err), 'Metadata Restore Failed:')} alert onClose={flow.cancel} />);
      },
      aborted(value) {
        if (value) screen.replace(<RestoreSummary flow={flow} report={value.report} preflight={value.preflight} finishedAt={new Date()} />);
        else screen.replace(<InfoDialogue title={request.dryRun ? 'Dry Run Cancelled' : 'Restore Cancelled'} text={cancelledText(request.dryRun, last.current)} alert={!request.dryRun} onClose={flow.cancel} />);
      },
    },
  );

  // Nothing but Ctrl-C (the shell) stops a restore: a stray Esc must not.
  useScreenKeys(() => true);

  const detail = (
    <Box flexDirection="column">
      <Line wrap="truncate">SR: {neutralise(sr.nameLabel || sr.uuid)}</Line>
      <Line wrap="truncate">
        Backup {neutralise(request.date)}, {request.scope === 'sr' ? 'only VMs on this SR' : 'all VM metadata'}
        {request.dryRun ? ' (dry run)' : ''}
      </Line>
      <Line wrap="truncate">{job.cancelling ? 'Stopping after the current VM; releasing the backup VDI...' : phase}</Line>
      {progress && (
        <Box flexDirection="column" marginTop={1}>
          <Line wrap="truncate">
            VMs: {progress.done} of {progress.total}
            {progress.errors > 0 ? `, ${progress.errors} failed` : ''}
          </Line>
          <Line wrap="truncate">
            {progressBar(progress.done, progress.total, DIALOGUE_WIDTH - 12)} {progress.total > 0 ? Math.floor((progress.done * 100) / progress.total) : 0}%
          </Line>
          {progress.recent.map((v, i) => (
            <Line key={i} wrap="truncate" alert={!v.ok}>
              {`  ${v.ok ? (request.dryRun ? 'checked' : 'restored') : 'FAILED '}  ${neutralise(v.name)}`}
            </Line>
          ))}
        </Box>
      )}
    </Box>
  );
  return <Banner title={RESTORE_MENU_TITLE} text={RESTORING_BANNER} detail={detail} keys={job.cancelling ? 'Please wait...' : '<Ctrl-C> Abort'} />;
}
