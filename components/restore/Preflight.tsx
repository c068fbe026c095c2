/**
 * Before a real restore: what it would do (VMs, clashes with VMs already here, disks not
 * found, networks that would be created, the XAPI error each import is expected to meet),
 * computed without changing anything. <F8> restores; <Esc> cancels; <Left> goes back to
 * the choice of VMs. F8, not Enter, so a key typed ahead cannot start a restore.
 */
import React, { useState } from 'react';
import { Line } from '../Frame.js';
import { Banner } from '../dialogues/Banner.js';
import { InfoDialogue } from '../dialogues/InfoDialogue.js';
import { TextDialogue } from '../dialogues/TextDialogue.js';
import { useFlowScreen, type Flow } from '../flow.js';
import { isBackKey, useScreen, useScreenKeys } from '../navigation.js';
import { useServices, type ConsoleSession, type RestoreRequest, type SrChoice } from '../services.js';
import { useMountJob } from '../useMountJob.js';
import type { PreflightReport } from '../../src/dr/restore.js';
import { RestoreRun } from './RestoreRun.js';
import { PREFLIGHT_BANNER, PREFLIGHT_KEYS, RESTORE_MENU_TITLE, preflightLines, restoreFailureText } from './texts.js';
import { neutralise } from '../../src/safe-text.js';

export function confirmTitle(date: string): string {
  return `Confirm Restore from ${neutralise(date)}`;
}

export interface PreflightProps {
  flow: Flow;
  session: ConsoleSession;
  sr: SrChoice;
  vdi: { uuid: string; trusted: boolean };
  request: RestoreRequest;
}

export function Preflight({ flow, session, sr, vdi, request }: PreflightProps) {
  useFlowScreen(flow);
  const services = useServices();
  const screen = useScreen();
  const [report, setReport] = useState<PreflightReport | null>(null);

  const job = useMountJob<PreflightReport>('Checking the restore', (signal) => session.preflightRestore(request, signal), {
    done: setReport,
    failed(err) {
      screen.replace(<InfoDialogue title={RESTORE_MENU_TITLE} text={restoreFailureText(services.explain(err))} alert onClose={flow.cancel} />);
    },
    aborted() {
      screen.close();
    },
  });

  useScreenKeys((key) => {
    if (report) return false;
    if (isBackKey(key)) job.abort();
    return true;
  });

  if (!report) {
    return (
      <Banner
        title={confirmTitle(request.date)}
        text={PREFLIGHT_BANNER}
        detail={<Line wrap="truncate">SR: {neutralise(sr.nameLabel || sr.uuid)}</Line>}
        keys={job.cancelling ? 'Please wait...' : '<Ctrl-C> Abort'}
      />
    );
  }
  return (
    <TextDialogue
      title={confirmTitle(request.date)}
      lines={preflightLines(report, vdi)}
      keys={PREFLIGHT_KEYS}
      onKey={(key) => {
        if (key.name === 'f8') {
          screen.replace(<RestoreRun flow={flow} session={session} sr={sr} request={request} preflight={report} />);
          return true;
        }
        if (key.name === 'escape') {
          flow.cancel();
          return true;
        }
        return false; // Left: back to the choice of VMs
      }}
    />
  );
}
