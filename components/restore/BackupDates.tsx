/**
 * The restore from the backup VDI found on, as one screen driven by the state machine of
 * restore-machine.ts: "Found VDI, retrieving available backups..." → "Available Metadata
 * Backups", newest first with their VM counts → "Restore Backup from <date>" (the four
 * stock choices) → the preflight (a real restore) → the run → the summary. Left goes back
 * one step, Esc cancels the restore.
 *
 * The backup VDI is opened once for the whole restore (src/app/restore-session.ts): the
 * listing attaches it, the preflight and the run read the same attachment. It is released
 * when a step fails or is stopped, when the run ends, and when this screen goes away (Esc,
 * Ctrl-C at an idle screen, logout).
 */
import React, { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { Line } from '../Frame.js';
import { Banner } from '../dialogues/Banner.js';
import { ChoiceDialogue } from '../dialogues/ChoiceDialogue.js';
import { TextDialogue } from '../dialogues/TextDialogue.js';
import { useFlowScreen, type Flow } from '../flow.js';
import { useKeptOverIdleLogout } from '../idle-keep.js';
import type { ConsoleKey } from '../keys/decode.js';
import { isBackKey, useScreen, useScreenKeys, type ScreenKeyHandler } from '../navigation.js';
import { useServices, type BackupListing, type ConsoleSession, type RestoreSession, type SrChoice } from '../services.js';
import { useJob } from '../useJob.js';
import type { PreflightReport, RestoreProgress, RestoreReport } from '../../src/dr/restore.js';
import { PreflightChecking, PreflightView, FORCE_CONFIRM_KEYS, forceConfirmationLines, forceTitle } from './Preflight.js';
import { RestoreRun, cancelledText } from './RestoreRun.js';
import { RestoreSummary } from './RestoreSummary.js';
import { INITIAL_STATE, NO_PROGRESS, restoreReducer, resumable, runProgress, workOf, type RestoreAction, type RestoreState, type RunProgress } from './restore-machine.js';
import {
  DATES_LIST_TITLE,
  DATES_TITLE,
  LISTING_BANNER,
  METHOD_KEYS,
  PREFLIGHT_BANNER,
  RESTORE_FAILED_PREFIX,
  RESTORE_MENU_TITLE,
  RESTORE_METHODS,
  UNTRUSTED_VDI_NOTE,
  dateRow,
  methodListTitle,
  methodRow,
  methodTitle,
  restoreFailureText,
} from './texts.js';
import { neutralise } from '../../src/safe-text.js';
import type { BackupComparison } from '../../src/dr/backup-compare.js';
import { BackupCompare, compareTitle } from './BackupCompare.js';

/** The list's keys: <C> sets the highlighted backup beside this pool. */
export const DATES_KEYS = '<Enter> OK  <C> Compare with pool  <Esc> Cancel  <Left> Back';
export const COMPARING_BANNER = 'Comparing the backup with this pool...';

export function onlyChosenNote(n: number): string {
  return `Only the ${n} VM(s) ticked beside the pool (those in the chosen set).`;
}

/** The VMs a state restores: the ticked ones, or (unset) every VM of its scope. */
function vmsOf(s: { only?: readonly string[] }): { vmUuids?: readonly string[] } {
  return s.only ? { vmUuids: s.only } : {};
}

export interface BackupDatesProps {
  flow: Flow;
  session: ConsoleSession;
  sr: SrChoice;
  vdi: { uuid: string; trusted: boolean };
  legacy: boolean;
  /** A state to start from (a preflight kept over an idle logout) instead of the listing. */
  resume?: RestoreState;
  /** The hold on the VDI the search already opened and listed (its own backup VDI): not opened again. */
  restore?: RestoreSession;
  listing?: BackupListing;
}

type Comparing = Extract<RestoreState, { step: 'comparing' }>;
type Checking = Extract<RestoreState, { step: 'checking' }>;
type Running = Extract<RestoreState, { step: 'running' }>;

export function BackupDates({ flow, session, sr, vdi, legacy, resume, restore: held, listing }: BackupDatesProps) {
  useFlowScreen(flow);
  const services = useServices();
  const screen = useScreen();
  const [restore] = useState(() => held ?? session.openRestore({ srUuid: sr.uuid, vdiUuid: vdi.uuid, legacy }));
  // The ref is the truth (keys typed ahead read it between renders); the state draws it.
  const machine = useRef<RestoreState>(resume ?? (listing ? restoreReducer(INITIAL_STATE, { type: 'listed', listing }) : INITIAL_STATE));
  const [state, setState] = useState(machine.current);
  const dispatch = useCallback((action: RestoreAction) => {
    machine.current = restoreReducer(machine.current, action);
    setState(machine.current);
  }, []);
  const fail = (err: unknown) => dispatch({ type: 'failed', failure: services.explain(err) });

  // The restore is over when this screen goes: the VDI is released once any step in flight has unwound.
  useEffect(() => () => void restore.release().catch(() => undefined), [restore]);

  const list = useJob<void, BackupListing>({
    label: 'Listing the backups',
    async run(_, signal) {
      const listing = await restore.list({ signal });
      // Nothing to restore from: the VDI is not held while that is said.
      if (listing.backups.length === 0) await restore.release();
      return listing;
    },
    done: (listing) => dispatch({ type: 'listed', listing }),
    failed: fail,
    aborted: () => dispatch({ type: 'stopped' }),
  });
  const compare = useJob<Comparing, BackupComparison>({
    label: 'Comparing the backup with this pool',
    run: (s, signal) => restore.compare(s.backup.date, { signal }),
    done: (comparison) => dispatch({ type: 'compared', comparison }),
    failed: fail,
    aborted: () => dispatch({ type: 'stopped' }),
  });
  const check = useJob<Checking, PreflightReport>({
    label: 'Checking the restore',
    run: (s, signal) => restore.preflight({ date: s.backup.date, scope: s.method.scope, force: false, ...vmsOf(s) }, { signal }),
    done: (report) => dispatch({ type: 'checked', report }),
    failed: fail,
    aborted: () => dispatch({ type: 'stopped' }),
  });
  const dryRun = state.step === 'running' && state.method.dryRun;
  const run = useJob<Running, { report: RestoreReport; preflight: PreflightReport }, RestoreProgress, RunProgress>({
    label: dryRun ? 'Dry run of a restore' : 'Restoring VM metadata',
    progress: { initial: NO_PROGRESS, reduce: runProgress },
    async run(s, signal, emit) {
      const choice = { date: s.backup.date, scope: s.method.scope, force: s.force, ...vmsOf(s) };
      // A dry run checks first, on the same attachment, so its summary names the same warnings.
      const preflight = s.preflight ?? (await restore.preflight(choice, { signal, onProgress: emit }));
      const report = await restore.run({ ...choice, dryRun: s.method.dryRun, ...(s.networkMap && { networkMap: s.networkMap }) }, { signal, onProgress: emit });
      return { report, preflight };
    },
    done: ({ report, preflight }) => dispatch({ type: 'finished', report, preflight, at: new Date() }),
    failed: fail,
    aborted: (value, progress) => dispatch(value ? { type: 'finished', report: value.report, preflight: value.preflight, at: new Date() } : { type: 'stopped', progress }),
  });

  // The work the state asks for, and leaving the flow.
  const { start: startList } = list;
  const { start: startCheck } = check;
  const { start: startCompare } = compare;
  const { start: startRun } = run;
  useLayoutEffect(() => {
    const work = workOf(state);
    if (work === 'list') startList();
    else if (work === 'check' && state.step === 'checking') startCheck(state);
    else if (work === 'compare' && state.step === 'comparing') startCompare(state);
    else if (work === 'run' && state.step === 'running') startRun(state);
    else if (state.step === 'exit') {
      if (state.how === 'cancel') flow.cancel();
      else screen.close();
    }
    // `screen` and `flow` are stable for this screen; the state alone decides.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [state, startList, startCheck, startCompare, startRun]);

  // An open preflight survives an idle logout: after the next login it is shown again (the
  // VDI is released with the session and opened again by the run).
  const kept = useMemo(() => {
    const back = resumable(state);
    if (!back || back.step !== 'preflight') return null;
    return {
      what: `the restore preflight of backup ${neutralise(back.report.date)}`,
      reopen: (next: ConsoleSession, nav: { push(el: React.ReactElement): number }, newFlow: Flow) =>
        nav.push(<BackupDates flow={newFlow} session={next} sr={sr} vdi={vdi} legacy={legacy} resume={back} />),
    };
  }, [state, sr, vdi, legacy]);
  useKeptOverIdleLogout(kept);

  const back = (key: ConsoleKey): boolean => {
    if (key.name === 'escape') dispatch({ type: 'cancel' });
    else if (key.name === 'left') dispatch({ type: 'back' });
    else return false;
    return true;
  };
  const untrusted = !vdi.trusted ? { notes: [{ text: UNTRUSTED_VDI_NOTE, alert: true }] } : {};

  switch (state.step) {
    case 'listing':
      return (
        <>
          <Keys handler={(key) => (isBackKey(key) && list.abort(), true)} />
          <Banner
            title={RESTORE_MENU_TITLE}
            text={LISTING_BANNER}
            detail={<Line wrap="truncate">VDI: {neutralise(vdi.uuid)}</Line>}
            keys={list.cancelling ? 'Please wait...' : '<Ctrl-C> Abort'}
          />
        </>
      );
    case 'noBackups':
      return <Message key="none" title={RESTORE_MENU_TITLE} text={`${RESTORE_FAILED_PREFIX} No VM metadata backups found on VDI ${neutralise(vdi.uuid)}.`} alert onClose={() => dispatch({ type: 'cancel' })} />;
    case 'dates':
      return (
        <ChoiceDialogue
          key="dates"
          title={DATES_TITLE}
          listTitle={DATES_LIST_TITLE}
          choices={state.listing.backups.map((b) => ({ label: dateRow(b), value: b }))}
          keys={DATES_KEYS}
          {...untrusted}
          onChoose={(backup) => dispatch({ type: 'chooseBackup', backup })}
          onKey={(key, backup) => {
            if (key.name === 'text' && (key.text === 'c' || key.text === 'C') && backup) dispatch({ type: 'compare', backup });
            else return back(key);
            return true;
          }}
        />
      );
    case 'comparing':
      return (
        <>
          <Keys handler={(key) => (isBackKey(key) && compare.abort(), true)} />
          <Banner title={compareTitle(state.backup.date)} text={COMPARING_BANNER} keys={compare.cancelling ? 'Please wait...' : '<Esc> Cancel'} />
        </>
      );
    case 'compare':
      return <BackupCompare key={`compare ${state.backup.date}`} comparison={state.comparison} onChoose={(uuids) => dispatch({ type: 'chooseVms', uuids })} onKey={back} />;
    case 'methods':
      return (
        <ChoiceDialogue
          key={`methods ${state.backup.date}`}
          title={methodTitle(state.backup.date)}
          listTitle={methodListTitle(state.backup.date)}
          choices={RESTORE_METHODS.map((m) => ({ label: methodRow(m, state.backup), value: { scope: m.scope, dryRun: m.dryRun } }))}
          keys={METHOD_KEYS}
          {...(state.only ? { notes: [...(untrusted.notes ?? []), { text: onlyChosenNote(state.only.length), bold: true }] } : untrusted)}
          onChoose={(method) => dispatch({ type: 'chooseMethod', method })}
          onKey={back}
        />
      );
    case 'checking':
      return (
        <>
          <Keys handler={(key) => (isBackKey(key) && check.abort(), true)} />
          <PreflightChecking date={state.backup.date} sr={sr} cancelling={check.cancelling} />
        </>
      );
    case 'preflight':
      return (
        <PreflightView
          key="preflight"
          report={state.report}
          vdi={vdi}
          kept={state.kept === true}
          onMap={(source, target) => dispatch({ type: 'mapNetwork', source, target })}
          onKey={(key) => {
            if (key.name === 'f8') dispatch({ type: 'restore' });
            else if (key.name === 'text' && (key.text === 'f' || key.text === 'F')) dispatch({ type: 'askForce' });
            else return back(key);
            return true;
          }}
        />
      );
    case 'confirmForce':
      return (
        <TextDialogue
          key="force"
          title={forceTitle(state.backup.date)}
          lines={forceConfirmationLines(state.report)}
          keys={FORCE_CONFIRM_KEYS}
          alert
          onKey={(key) => {
            if (key.name === 'f8') dispatch({ type: 'restore' });
            else return back(key);
            return true;
          }}
        />
      );
    case 'running':
      return (
        <>
          {/* Nothing but Ctrl-C (the shell) stops a restore: a stray Esc must not. */}
          <Keys handler={() => true} />
          <RestoreRun
            sr={sr}
            date={state.backup.date}
            method={state.method}
            force={state.force}
            progress={run.progress}
            cancelling={run.cancelling}
            firstPhase={state.preflight ? 'Starting...' : PREFLIGHT_BANNER}
          />
        </>
      );
    case 'summary':
      return (
        <RestoreSummary
          key="summary"
          report={state.report}
          preflight={state.preflight}
          finishedAt={state.finishedAt}
          onDone={() => dispatch({ type: 'cancel' })}
          onBack={() => dispatch({ type: 'back' })}
        />
      );
    case 'cancelled':
      return (
        <Message
          key="cancelled"
          title={state.dryRun ? 'Dry Run Cancelled' : 'Restore Cancelled'}
          text={cancelledText(state.dryRun, state.progress?.vms ?? null)}
          alert={!state.dryRun}
          onClose={() => dispatch({ type: 'cancel' })}
        />
      );
    case 'failed':
      return (
        <Message
          key="failed"
          title={RESTORE_MENU_TITLE}
          text={state.during === 'run' ? restoreFailureText(state.failure, 'Metadata Restore Failed:') : restoreFailureText(state.failure)}
          alert
          onClose={() => dispatch({ type: 'cancel' })}
        />
      );
    case 'exit':
      return null;
  }
}

/** Keys for the screen while a banner is shown (banners have none of their own). */
function Keys({ handler }: { handler: ScreenKeyHandler }) {
  useScreenKeys(handler);
  return null;
}

/** A message with an OK that hands its closing to the machine (InfoDialogue closes its screen itself). */
function Message({ title, text, alert, onClose }: { title: string; text: string; alert: boolean; onClose(): void }) {
  return (
    <TextDialogue
      title={title}
      lines={[text]}
      keys="<Enter> OK"
      alert={alert}
      onKey={(key) => {
        if (key.name !== 'enter' && !isBackKey(key)) return false;
        onClose();
        return true;
      }}
    />
  );
}
