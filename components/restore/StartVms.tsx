/**
 * Start Restored VMs, from the restore summary: the VMs the restore created, in the order
 * they would start (vApps first, each by VM.order, then the others by theirs), all chosen;
 * <Space> chooses, <A> all or none, <P> started or paused, <F8> starts (F8, not Enter, so a
 * key typed ahead cannot start VMs). Live progress per VM; Ctrl-C launches no more and the
 * result says which were being started. The result lists failures first, with each host's
 * reason and the next step. State machine: start-machine.ts.
 */
import React, { useEffect, useReducer } from 'react';
import { Box } from 'ink';
import { DIALOGUE_WIDTH, DialogueBox, Line } from '../Frame.js';
import { Banner } from '../dialogues/Banner.js';
import { TextDialogue, type TextLine } from '../dialogues/TextDialogue.js';
import { useScreen, useScreenKeys } from '../navigation.js';
import { useAuth } from '../auth.js';
import { useServices } from '../services.js';
import { useJob, useMountJob } from '../useJob.js';
import { cell, progressBar, shorten } from '../text.js';
import type { StartEvent, StartPlan, StartReport } from '../../src/dr/start-vms.js';
import { cancelledText, placeText, startHeadline, startResultLines, vmLabel } from '../../src/dr/start-text.js';
import { neutralise } from '../../src/safe-text.js';
import { INITIAL_START_STATE, START_PROGRESS, planRows, startReducer, type StartProgress, type StartState } from './start-machine.js';

export const START_TITLE = 'Start Restored VMs';
export const START_CHOOSE_KEYS = '<Space> Choose  <A> All  <P> Mode  <F8> Start  <Esc> Back';
export const STARTING_BANNER = 'Starting VMs...';
/** Rows of the VM list on an 80×24 screen. */
const LIST_ROWS = 10;

export function StartVms({ uuids }: { uuids: readonly string[] }) {
  const [state, dispatch] = useReducer(startReducer, INITIAL_START_STATE);
  const screen = useScreen();
  useEffect(() => {
    if (state.step === 'exit') screen.close();
  }, [state.step, screen]);
  return <StartScreen uuids={uuids} state={state} dispatch={dispatch} />;
}

function StartScreen({ uuids, state, dispatch }: { uuids: readonly string[]; state: StartState; dispatch: React.Dispatch<Parameters<typeof startReducer>[1]> }) {
  const { session } = useAuth();
  const services = useServices();
  const plan = useMountJob<StartPlan>({
    label: 'Reading the VMs to start',
    run: (_arg, signal) => {
      if (!session) throw new Error('start: no session');
      return session.planStart(uuids, signal);
    },
    done: (p) => dispatch({ type: 'planned', plan: p }),
    failed: (err) => dispatch({ type: 'failed', failure: services.explain(err) }),
    aborted: () => dispatch({ type: 'cancel' }),
  });
  const run = useJob<{ uuids: string[]; mode: 'start' | 'paused' }, StartReport, StartEvent, StartProgress>({
    label: 'Starting VMs',
    run: (arg, signal, emit) => {
      if (!session) throw new Error('start: no session');
      return session.startVms(arg.uuids, { mode: arg.mode, signal, onEvent: emit });
    },
    progress: START_PROGRESS,
    done: (report) => dispatch({ type: 'finished', report }),
    failed: (err) => dispatch({ type: 'failed', failure: services.explain(err) }),
    // Cancelled: the run still reports what it did (what was started, what was in flight).
    aborted: (report, _p, err) => (report ? dispatch({ type: 'finished', report }) : dispatch({ type: 'failed', failure: services.explain(err) })),
  });
  const { start } = run;
  useEffect(() => {
    if (state.step === 'running') start({ uuids: state.uuids, mode: state.mode });
  }, [state, start]);

  useScreenKeys((key) => {
    if (state.step === 'planning') {
      if (key.name === 'escape' || key.name === 'left') plan.abort();
      return true;
    }
    if (state.step === 'choose') {
      if (key.name === 'up' || key.name === 'down') dispatch({ type: 'move', by: key.name === 'up' ? -1 : 1 });
      else if (key.name === 'pageUp' || key.name === 'pageDown') dispatch({ type: 'move', by: key.name === 'pageUp' ? -LIST_ROWS : LIST_ROWS });
      else if (key.name === 'text' && key.text === ' ') dispatch({ type: 'toggle' });
      else if (key.name === 'text' && (key.text === 'a' || key.text === 'A')) dispatch({ type: 'toggleAll' });
      else if (key.name === 'text' && (key.text === 'p' || key.text === 'P')) dispatch({ type: 'toggleMode' });
      else if (key.name === 'f8') dispatch({ type: 'start' });
      else if (key.name === 'escape' || key.name === 'left') dispatch({ type: 'cancel' });
      return true;
    }
    // Nothing but Ctrl-C (the shell) stops the starts: a stray Esc must not.
    if (state.step === 'running') return true;
    return false;
  });

  switch (state.step) {
    case 'planning':
      return <Banner title={START_TITLE} text="Reading the restored VMs..." keys="<Esc> Cancel" />;
    case 'choose':
      return <Choose state={state} />;
    case 'running':
      return <Running progress={run.progress} cancelling={run.cancelling} mode={state.mode} />;
    case 'result':
      return <Result report={state.report} onDone={() => dispatch({ type: 'cancel' })} />;
    case 'failed':
      return (
        <TextDialogue
          title={START_TITLE}
          lines={[`${state.failure.code}: ${state.failure.meaning}`, state.failure.nextStep]}
          keys="<Enter> OK"
          alert
          onKey={(key) => {
            if (key.name !== 'enter' && key.name !== 'escape' && key.name !== 'left') return false;
            dispatch({ type: 'cancel' });
            return true;
          }}
        />
      );
    case 'exit':
      return null;
  }
}

function Choose({ state }: { state: Extract<StartState, { step: 'choose' }> }) {
  const rows = planRows(state.plan);
  const top = Math.min(Math.max(0, state.cursor - LIST_ROWS + 1), Math.max(0, rows.length - LIST_ROWS));
  const width = DIALOGUE_WIDTH - 4;
  const nameWidth = 30;
  const skipped = state.plan.skipped;
  return (
    <DialogueBox title={START_TITLE} keys={START_CHOOSE_KEYS}>
      <Box flexDirection="column">
        <Line wrap="truncate">In order: each vApp by VM.order, then the other VMs by theirs.</Line>
        <Line wrap="truncate" bold>
          Mode: {state.mode === 'paused' ? 'start paused (unpause to run)' : 'start (running)'}
        </Line>
        <Line> </Line>
        {rows.length === 0 && <Line>No restored VM can be started (see below).</Line>}
        {rows.slice(top, top + LIST_ROWS).map((v, i) => {
          const at = top + i === state.cursor;
          const text = `${at ? '>' : ' '} [${state.chosen.has(v.uuid) ? 'x' : ' '}] ${cell(neutralise(v.name || v.uuid), nameWidth)}  ${placeText(v)}`;
          return (
            <Line key={v.uuid} wrap="truncate" bold={at}>
              {shorten(text, width)}
            </Line>
          );
        })}
        <Line> </Line>
        <Line wrap="truncate">
          {state.chosen.size} of {rows.length} chosen{rows.length > LIST_ROWS ? ` (${top + 1}-${Math.min(rows.length, top + LIST_ROWS)} shown)` : ''}. Press {'<F8>'} to start them.
        </Line>
        {/* Why the others are not listed; the result names each one. */}
        {skipped.length > 0 && <Line wrap="truncate">{`${skipped.length} not to start: ${[...new Set(skipped.map((s) => s.reason))].join('; ')}.`}</Line>}
      </Box>
    </DialogueBox>
  );
}

function Running({ progress: p, cancelling, mode }: { progress: StartProgress; cancelling: boolean; mode: 'start' | 'paused' }) {
  const done = p.started + p.failed;
  const detail = (
    <Box flexDirection="column">
      <Line wrap="truncate">
        {cancelling || p.inFlightAtCancel
          ? `Stopping: no more VMs are launched; waiting for ${p.inFlightAtCancel?.length ?? 0} being started.`
          : p.group
            ? `Group ${p.group.index + 1} of ${p.group.of}: ${p.group.vApp ? `vApp "${neutralise(p.group.vApp.name)}", ` : ''}order ${p.group.order}${mode === 'paused' ? ' (paused)' : ''}`
            : 'Reading the VMs...'}
      </Line>
      <Line wrap="truncate">
        VMs: {p.started} of {p.total} started{p.failed ? `, ${p.failed} failed` : ''}
      </Line>
      <Line wrap="truncate">
        {progressBar(done, p.total, DIALOGUE_WIDTH - 12)} {p.total > 0 ? Math.floor((done * 100) / p.total) : 0}%
      </Line>
      {p.recent.map((r) => (
        <Line key={r.vm.uuid} wrap="truncate" alert={r.status === 'failed'}>
          {`  ${r.status === 'failed' ? 'FAILED' : r.status}  ${vmLabel(r.vm)}`}
        </Line>
      ))}
    </Box>
  );
  return <Banner title={START_TITLE} text={STARTING_BANNER} detail={detail} keys={cancelling ? 'Please wait...' : '<Ctrl-C> Stop launching'} />;
}

function Result({ report, onDone }: { report: StartReport; onDone(): void }) {
  const lines: TextLine[] = [...(report.cancelled ? [{ text: cancelledText(report), alert: true }] : []), ...startResultLines(report)];
  return (
    <TextDialogue
      title={startHeadline(report).replace(/\.$/, '')}
      lines={lines}
      keys="<Enter> OK"
      onKey={(key) => {
        if (key.name !== 'enter' && key.name !== 'escape' && key.name !== 'left') return false;
        onDone();
        return true;
      }}
    />
  );
}
