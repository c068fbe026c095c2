/**
 * The one job runner of the screens (components/useJob.ts), driven by a tiny screen: typed
 * progress folded by its reducer, the outcome handled once the work has unwound, an abort
 * that came too late still reporting the result, one run at a time, and a screen that goes
 * away aborting its job.
 */
import React from 'react';
import { describe, expect, it } from 'vitest';
import { render } from 'ink-testing-library';
import { Text } from 'ink';
import { WorkProvider, createWorkRegistry, type WorkRegistry } from '../../components/work.js';
import { useJob, useMountJob, type JobHandle } from '../../components/useJob.js';
import { waitForText, waitUntil } from './helpers.js';

type Step = { kind: 'step'; n: number };

/** Work the test finishes by hand, emitting progress on the way. */
function gate() {
  let open!: (v: string) => void;
  const done = new Promise<string>((resolve) => (open = resolve));
  return { open, done };
}

function Screen({ g, log, handle }: { g: ReturnType<typeof gate>; log: string[]; handle: { current: JobHandle<number, number> | null } }) {
  const job = useJob<number, string, Step, number>({
    label: 'test job',
    progress: { initial: 0, reduce: (sum, e) => sum + e.n },
    async run(arg, signal, emit) {
      log.push(`start ${arg}`);
      emit({ kind: 'step', n: arg });
      emit({ kind: 'step', n: 2 });
      const v = await g.done;
      // Unwinding takes a moment after an abort (as a VBD being released).
      if (signal.aborted) log.push('unwound');
      return v;
    },
    done: (v) => log.push(`done ${v}`),
    failed: () => log.push('failed'),
    aborted: (v, progress) => log.push(`aborted ${v ?? '-'} at ${progress}`),
  });
  handle.current = job;
  return <Text>{`progress ${job.progress} running ${job.running} cancelling ${job.cancelling}`}</Text>;
}

function setup() {
  const work: WorkRegistry = createWorkRegistry();
  const g = gate();
  const log: string[] = [];
  const handle: { current: JobHandle<number, number> | null } = { current: null };
  const r = render(
    <WorkProvider registry={work}>
      <Screen g={g} log={log} handle={handle} />
    </WorkProvider>,
  );
  return { work, g, log, handle, r };
}

describe('useJob', () => {
  it('folds typed progress, runs once at a time, and hands over the result when done', async () => {
    const { work, g, log, handle, r } = setup();
    await waitForText(r, 'progress 0 running false');
    expect(handle.current!.start(5)).toBe(true);
    await waitForText(r, 'progress 7 running true');
    expect(handle.current!.start(9)).toBe(false); // one run at a time
    expect(work.busy()).toBe(true);
    g.open('ok');
    await waitForText(r, 'running false');
    expect(log).toEqual(['start 5', 'done ok']);
    expect(work.busy()).toBe(false);
    r.unmount();
  });

  it('Ctrl-C aborts it: cancelling until the work has unwound; a result that came anyway is reported', async () => {
    const { work, g, log, handle, r } = setup();
    await waitForText(r, 'running false');
    handle.current!.start(1);
    await waitForText(r, 'progress 3 running true cancelling false');
    expect(work.interrupt()).toBe('aborted');
    await waitForText(r, 'cancelling true');
    // Still running until it unwinds: a second Ctrl-C waits.
    expect(work.interrupt()).toBe('waiting');
    g.open('written');
    await waitUntil(() => log.length === 3);
    expect(log).toEqual(['start 1', 'unwound', 'aborted written at 3']);
    expect(work.busy()).toBe(false);
    r.unmount();
  });

  it('a screen that goes away aborts its job and drops the outcome', async () => {
    const { work, g, log, handle, r } = setup();
    await waitForText(r, 'running false');
    handle.current!.start(1);
    await waitForText(r, 'running true');
    r.unmount();
    expect(work.busy()).toBe(true);
    g.open('late');
    await waitUntil(() => !work.busy());
    expect(log).toEqual(['start 1', 'unwound']);
  });

  it('useMountJob starts with the screen', async () => {
    const work = createWorkRegistry();
    const log: string[] = [];
    function Mounted() {
      const job = useMountJob<string>({ label: 'mounted', run: async () => 'at once', done: (v) => log.push(v), failed: () => undefined, aborted: () => undefined });
      return <Text>{`running ${job.running}`}</Text>;
    }
    const r = render(
      <WorkProvider registry={work}>
        <Mounted />
      </WorkProvider>,
    );
    await waitUntil(() => log.length === 1);
    expect(log).toEqual(['at once']);
    r.unmount();
  });
});
