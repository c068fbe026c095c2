import { afterEach, describe, expect, it } from 'vitest';
import { AbortError, XenApiError, callAsync, runTask, waitTask, withTask } from '../../src/xenapi/index.js';
import { plain, startFakeWithSession, type FakeTask, type FakeXapi } from './xenapi-fixture.js';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const setup = () => startFakeWithSession(cleanup);

/** Registers Async.<method>: creates a task that `finish` settles on its Nth poll. */
function asyncMethod(f: FakeXapi, method: string, finishOnPoll: number, finish: (t: FakeTask) => void): void {
  f.methods.set(`Async.${method}`, () => ({ value: f.newTask(`Async.${method}`).ref }));
  f.onPoll = (t) => {
    if (t.status !== 'pending') return;
    t.progress = Math.min(0.9, t.polls / finishOnPoll);
    if (t.polls >= finishOnPoll) finish(t);
  };
}

const fast = { pollMs: 1, maxPollMs: 5 };

describe('runTask', () => {
  it('success with a ref result; progress reported; task destroyed', async () => {
    const { f, s } = await setup();
    asyncMethod(f, 'VDI.create', 3, (t) => f.complete(t, '<value>OpaqueRef:vdi-1</value>'));
    const progress: number[] = [];
    const ref = await runTask<string>(s, 'VDI.create', [{ name_label: 'x', virtual_size: 1024 }], { ...fast, onProgress: (p) => progress.push(p) });
    expect(ref).toBe('OpaqueRef:vdi-1');
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.at(-1)).toBe(1);
    expect(f.tasks.size).toBe(0);
    expect(f.destroyedTasks).toHaveLength(1);
    // Async params still carry the session first and ints as strings.
    const call = f.callsOf('Async.VDI.create')[0]!;
    expect(plain(call.params[0]!)).toBe(s.ref);
    expect(call.params[1]).toMatchObject({ t: 'struct', v: { virtual_size: { t: 'string', v: '1024' } } });
  });

  it('success with a set of refs and with an empty ("") result', async () => {
    const { f, s } = await setup();
    asyncMethod(f, 'VM.import', 1, (t) => f.complete(t, '<value><array><data><value>OpaqueRef:a</value><value>OpaqueRef:b</value></data></array></value>'));
    expect(await runTask(s, 'VM.import', [], fast)).toEqual(['OpaqueRef:a', 'OpaqueRef:b']);
    asyncMethod(f, 'VBD.plug', 2, (t) => f.complete(t, ''));
    expect(await runTask(s, 'VBD.plug', ['OpaqueRef:vbd'], fast)).toBeUndefined();
    asyncMethod(f, 'VBD.unplug', 1, (t) => f.complete(t, '<value></value>'));
    expect(await runTask(s, 'VBD.unplug', ['OpaqueRef:vbd'], fast)).toBe('');
    expect(f.tasks.size).toBe(0);
  });

  it('failure → XenApiError from error_info; task still destroyed', async () => {
    const { f, s } = await setup();
    asyncMethod(f, 'VBD.unplug', 2, (t) => f.fail(t, ['DEVICE_DETACH_REJECTED', 'VBD', 'OpaqueRef:vbd', 'device busy']));
    const err = await runTask(s, 'VBD.unplug', ['OpaqueRef:vbd'], fast).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(XenApiError);
    expect(err).toMatchObject({ code: 'DEVICE_DETACH_REJECTED', params: ['VBD', 'OpaqueRef:vbd', 'device busy'], method: 'Async.VBD.unplug' });
    expect(f.tasks.size).toBe(0);
  });

  it('cancelled by someone else → XenApiError TASK_CANCELLED', async () => {
    const { f, s } = await setup();
    asyncMethod(f, 'VM.clean_shutdown', 2, (t) => {
      t.status = 'cancelled';
      t.error_info = ['TASK_CANCELLED', t.ref];
    });
    const err = await runTask(s, 'VM.clean_shutdown', ['OpaqueRef:vm'], fast).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TASK_CANCELLED' });
    expect(f.tasks.size).toBe(0);
  });

  it('a synchronous refusal of the Async call throws without a task', async () => {
    const { f, s } = await setup();
    f.methods.set('Async.VM.start', () => ({ fault: ['VM_BAD_POWER_STATE', 'OpaqueRef:vm', 'halted', 'running'] }));
    expect(await runTask(s, 'VM.start', ['OpaqueRef:vm', false, false], fast).catch((e: unknown) => e)).toMatchObject({ code: 'VM_BAD_POWER_STATE' });
    expect(f.callsOf('task.destroy')).toHaveLength(0);
  });

  it('abort → task.cancel, AbortError, task destroyed', async () => {
    const { f, s } = await setup();
    const ac = new AbortController();
    f.methods.set('Async.VDI.copy', () => ({ value: f.newTask('Async.VDI.copy').ref }));
    f.onPoll = (t) => {
      if (t.polls === 2) ac.abort(); // never completes by itself
    };
    const err = await runTask(s, 'VDI.copy', ['OpaqueRef:v', 'OpaqueRef:sr'], { ...fast, signal: ac.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(f.callsOf('task.cancel')).toHaveLength(1);
    expect(f.tasks.size).toBe(0);
    expect(f.destroyedTasks).toHaveLength(1);
  });

  it('abort of a non-cancellable task ignores OPERATION_NOT_ALLOWED', async () => {
    const { f, s } = await setup();
    const ac = new AbortController();
    f.methods.set('Async.VDI.destroy', () => {
      const t = f.newTask('Async.VDI.destroy');
      t.allowed_operations = [];
      return { value: t.ref };
    });
    f.onPoll = (t) => {
      if (t.polls === 1) ac.abort();
    };
    const err = await runTask(s, 'VDI.destroy', ['OpaqueRef:v'], { ...fast, signal: ac.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(f.callsOf('task.cancel')).toHaveLength(1);
    expect(f.callsOf('task.destroy')).toHaveLength(1);
  });
});

describe('waitTask, callAsync, withTask', () => {
  it('waitTask on a task started with callAsync', async () => {
    const { f, s } = await setup();
    asyncMethod(f, 'SR.scan', 2, (t) => f.complete(t, '<value></value>'));
    const task = await callAsync(s, 'SR.scan', 'OpaqueRef:sr');
    expect(f.tasks.has(task)).toBe(true);
    expect(await waitTask(s, task, fast)).toBe('');
    expect(f.tasks.has(task)).toBe(true); // waitTask alone does not destroy
  });

  it('withTask creates (label, description), passes the ref, destroys on success and on throw', async () => {
    const { f, s } = await setup();
    let seen = '';
    expect(await withTask(s, 'backup', async (t) => ((seen = t), 42), { description: 'desc' })).toBe(42);
    expect(f.callsOf('task.create')[0]!.params.map(plain).slice(1)).toEqual(['backup', 'desc']);
    expect(f.destroyedTasks).toEqual([seen]);
    await expect(
      withTask(s, 'boom', async () => {
        throw new Error('inner');
      }),
    ).rejects.toThrow('inner');
    expect(f.destroyedTasks).toHaveLength(2);
    expect(f.tasks.size).toBe(0);
  });
});
