/**
 * The result of a restore or dry run, scrollable: restored VMs, errors with their codes,
 * SR/VDI names, warnings. <T> starts the VMs it created (StartVms.tsx); <S> saves it to a
 * file; <Enter> or <Esc> ends the restore;
 * <Left> goes back to the choice of VMs (e.g. from a dry run to the real restore).
 */
import React from 'react';
import { SaveTextDialogue } from '../dialogues/SaveTextDialogue.js';
import { TextDialogue, plainText } from '../dialogues/TextDialogue.js';
import { useNavigator } from '../navigation.js';
import type { PreflightReport, RestoreReport } from '../../src/dr/restore.js';
import { SUMMARY_KEYS, summaryFileName, summaryLines, summaryTitle } from './texts.js';
import { StartVms } from './StartVms.js';
import { restoredVmUuids } from './start-machine.js';

/** The summary of a real restore that created VMs offers to start them. */
export const SUMMARY_START_KEYS = '<Enter> OK  <T> Start VMs  <S> Save  <Left> Back';

export const SAVE_SUMMARY_TITLE = 'Save Restore Summary';

export interface RestoreSummaryProps {
  report: RestoreReport;
  preflight: PreflightReport | null;
  finishedAt: Date;
  /** Enter or Esc: the restore is over. */
  onDone(): void;
  /** Left: back to the choice of VMs. */
  onBack(): void;
}

/** Said first when the operator chose force (the stock console never forces). */
export const FORCED_SUMMARY_LINE = "Restored with force: XAPI skipped missing disks and running VMs with the same uuid, and replaced halted ones.";

export function RestoreSummary({ report, preflight, finishedAt, onDone, onBack }: RestoreSummaryProps) {
  const nav = useNavigator();
  const title = summaryTitle(report);
  const startable = report.dryRun ? [] : restoredVmUuids(report.results);
  const lines = [...(report.force ? [{ text: FORCED_SUMMARY_LINE, alert: true }] : []), ...summaryLines(report, preflight, finishedAt)];
  return (
    <TextDialogue
      title={title}
      lines={lines}
      keys={startable.length ? SUMMARY_START_KEYS : SUMMARY_KEYS}
      onKey={(key) => {
        if (key.name === 'enter' || key.name === 'escape') {
          onDone();
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
        if (key.name === 'text' && (key.text === 't' || key.text === 'T') && startable.length) {
          nav.push(<StartVms uuids={startable} />);
          return true;
        }
        if (key.name === 'left') {
          onBack();
          return true;
        }
        return false;
      }}
    />
  );
}
