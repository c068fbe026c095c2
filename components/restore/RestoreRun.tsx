/**
 * The restore as it runs: "Restoring VM Metadata..." with per-VM progress (count, bar,
 * the last VMs and whether XAPI took them). A dry run first checks the backup against the
 * pool, so its summary can name the same warnings as a real restore's. Only Ctrl-C stops
 * it; the VMs restored until then stay, and the screen says so.
 */
import React from 'react';
import { Box } from 'ink';
import { DIALOGUE_WIDTH, Line } from '../Frame.js';
import { Banner } from '../dialogues/Banner.js';
import type { SrChoice } from '../services.js';
import { progressBar } from '../text.js';
import type { RestoreMethod } from './texts.js';
import { RESTORE_MENU_TITLE, RESTORING_BANNER } from './texts.js';
import type { RunProgress } from './restore-machine.js';
import { neutralise } from '../../src/safe-text.js';

export function cancelledText(dryRun: boolean, p: Pick<NonNullable<RunProgress['vms']>, 'done' | 'total' | 'errors'> | null): string {
  if (dryRun) return 'The dry run was stopped with Ctrl-C. Nothing was changed in this pool.';
  const done = p ? `after ${p.done} of ${p.total} VM(s) (${p.done - p.errors} restored, ${p.errors} failed)` : 'before any VM was restored';
  return (
    `The restore was stopped with Ctrl-C ${done}.\n\n` +
    'The VMs restored until then stay in this pool; SR and VDI names may not have been restored. ' +
    'The backup VDI was released. Run the restore again to finish it: VMs already restored are reported as clashes.'
  );
}

export interface RestoreRunProps {
  sr: SrChoice;
  date: string;
  method: RestoreMethod;
  force: boolean;
  progress: RunProgress;
  /** Ctrl-C was pressed: the run stops after the current VM and releases the VDI. */
  cancelling: boolean;
  /** Before the first event: what the run is about to do. */
  firstPhase: string;
}

export function RestoreRun({ sr, date, method, force, progress, cancelling, firstPhase }: RestoreRunProps) {
  const vms = progress.vms;
  const detail = (
    <Box flexDirection="column">
      <Line wrap="truncate">SR: {neutralise(sr.nameLabel || sr.uuid)}</Line>
      <Line wrap="truncate">
        Backup {neutralise(date)}, {method.scope === 'sr' ? 'only VMs on this SR' : 'all VM metadata'}
        {method.dryRun ? ' (dry run)' : ''}
        {force ? ', forced' : ''}
      </Line>
      <Line wrap="truncate">{cancelling ? 'Stopping after the current VM; releasing the backup VDI...' : (progress.phase ?? firstPhase)}</Line>
      {vms && (
        <Box flexDirection="column" marginTop={1}>
          <Line wrap="truncate">
            VMs: {vms.done} of {vms.total}
            {vms.errors > 0 ? `, ${vms.errors} failed` : ''}
          </Line>
          <Line wrap="truncate">
            {progressBar(vms.done, vms.total, DIALOGUE_WIDTH - 12)} {vms.total > 0 ? Math.floor((vms.done * 100) / vms.total) : 0}%
          </Line>
          {vms.recent.map((v, i) => (
            <Line key={i} wrap="truncate" alert={!v.ok}>
              {`  ${v.ok ? (method.dryRun ? 'checked' : 'restored') : 'FAILED '}  ${neutralise(v.name)}`}
            </Line>
          ))}
        </Box>
      )}
    </Box>
  );
  return <Banner title={RESTORE_MENU_TITLE} text={RESTORING_BANNER} detail={detail} keys={cancelling ? 'Please wait...' : '<Ctrl-C> Abort'} />;
}
