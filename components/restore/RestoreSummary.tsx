/**
 * The result of a restore or dry run, scrollable: restored VMs, errors with their codes,
 * SR/VDI names, warnings. <S> saves it to a file; <Enter> or <Esc> ends the restore;
 * <Left> goes back to the choice of VMs (e.g. from a dry run to the real restore).
 */
import React from 'react';
import { SaveTextDialogue } from '../dialogues/SaveTextDialogue.js';
import { TextDialogue, plainText } from '../dialogues/TextDialogue.js';
import { useFlowScreen, type Flow } from '../flow.js';
import { useNavigator } from '../navigation.js';
import type { PreflightReport, RestoreReport } from '../../src/dr/restore.js';
import { SUMMARY_KEYS, summaryFileName, summaryLines, summaryTitle } from './texts.js';

export const SAVE_SUMMARY_TITLE = 'Save Restore Summary';

export interface RestoreSummaryProps {
  flow: Flow;
  report: RestoreReport;
  preflight: PreflightReport | null;
  finishedAt: Date;
}

export function RestoreSummary({ flow, report, preflight, finishedAt }: RestoreSummaryProps) {
  useFlowScreen(flow);
  const nav = useNavigator();
  const title = summaryTitle(report);
  const lines = summaryLines(report, preflight, finishedAt);
  return (
    <TextDialogue
      title={title}
      lines={lines}
      keys={SUMMARY_KEYS}
      onKey={(key) => {
        if (key.name === 'enter' || key.name === 'escape') {
          flow.cancel();
          return true;
        }
        if (key.name === 'text' && (key.text === 's' || key.text === 'S')) {
          nav.push(
            <SaveTextDialogue
              title={SAVE_SUMMARY_TITLE}
              what="restore summary"
              text={`${title}\n\n${plainText(lines)}`}
              defaultPath={summaryFileName(report, finishedAt)}
            />,
          );
          return true;
        }
        return false; // Left: back to the choice of VMs
      }}
    />
  );
}
