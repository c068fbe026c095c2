/**
 * Tasks and Async calls (xen-api ocaml/xapi/xapi_task.ml): result strings, failures in
 * error_info, cancel, destroy, and event.from waiting for changes.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseValue, type XmlRpcStruct } from '../../src/sim/codec.js';
import type { SimHandle } from '../../src/sim/server.js';
import { login, rpc, rpcFail, startTempSim, waitFor } from './sim-helpers.js';

let sim: SimHandle;
let cleanup: () => Promise<void>;
let s: string;
let sr: string;
let dom0: string;

async function finished(task: string): Promise<XmlRpcStruct> {
  return waitFor(
    async () => (await rpc(sim.url, 'task.get_record', s, task)) as XmlRpcStruct,
    (r) => r.status !== 'pending',
  );
}

beforeAll(async () => {
  ({ sim, cleanup } = await startTempSim());
  s = await login(sim.url);
  const host = (await rpc(sim.url, 'session.get_this_host', s, s)) as string;
  dom0 = (await rpc(sim.url, 'host.get_control_domain', s, host)) as string;
  sr = sim.db.create('SR', { name_label: 'sr', type: 'ext', physical_size: 2 ** 40 });
  sim.db.create('PBD', { host, SR: sr, currently_attached: true });
});
afterAll(async () => cleanup());

const vdiArgs = (srRef: string) => ({
  name_label: 'x',
  name_description: '',
  SR: srRef,
  virtual_size: '1048576',
  type: 'user',
  sharable: false,
  read_only: false,
  other_config: {},
});

describe('Async calls', () => {
  test('Async.VDI.create: task named after the call, result "<value>OpaqueRef:…</value>"', async () => {
    const task = (await rpc(sim.url, 'Async.VDI.create', s, vdiArgs(sr))) as string;
    expect(task).toMatch(/^OpaqueRef:/);
    expect(sim.db.classOf(task)).toBe('task');
    const rec = await finished(task);
    expect(rec.name_label).toBe('Async.VDI.create');
    expect(rec.status).toBe('success');
    expect(rec.progress).toBe(1);
    expect(rec.allowed_operations).toEqual([]);
    expect(rec.result).toMatch(/^<value>OpaqueRef:[0-9a-f-]{36}<\/value>$/);
    const vdi = parseValue(rec.result as string) as string;
    expect(await rpc(sim.url, 'VDI.get_SR', s, vdi)).toBe(sr);
    expect(rec.type).toBe('VDI');
    expect(rec.error_info).toEqual([]);
  });

  test('void Async result is "<value></value>"; failures land in error_info', async () => {
    const vdi = (await rpc(sim.url, 'VDI.create', s, vdiArgs(sr))) as string;
    const vbd = (await rpc(sim.url, 'VBD.create', s, {
      VM: dom0, VDI: vdi, userdevice: 'autodetect', bootable: false, mode: 'RW', type: 'Disk', unpluggable: true, empty: false, other_config: {}, qos_algorithm_type: '', qos_algorithm_params: {},
    })) as string;
    const plug = await finished((await rpc(sim.url, 'Async.VBD.plug', s, vbd)) as string);
    expect(plug.status).toBe('success');
    expect(plug.result).toBe('<value></value>');
    const again = await finished((await rpc(sim.url, 'Async.VBD.plug', s, vbd)) as string);
    expect(again.status).toBe('failure');
    expect(again.error_info).toEqual(['DEVICE_ALREADY_ATTACHED', vbd]);
    expect(again.result).toBe('');
    await rpc(sim.url, 'VBD.unplug', s, vbd);
    await rpc(sim.url, 'VBD.destroy', s, vbd);
  });

  test('synchronous failures before a task exists; getters and task.* have no Async form', async () => {
    expect(await rpcFail(sim.url, 'Async.VDI.create', 'OpaqueRef:dead', vdiArgs(sr))).toEqual(['SESSION_INVALID', 'OpaqueRef:dead']);
    expect(await rpcFail(sim.url, 'Async.VM.get_record', s, dom0)).toEqual(['MESSAGE_METHOD_UNKNOWN', 'Async.VM.get_record']);
    expect(await rpcFail(sim.url, 'Async.task.create', s, 'a', 'b')).toEqual(['MESSAGE_METHOD_UNKNOWN', 'Async.task.create']);
    // counts without the session, as XAPI's dispatcher reports them
    expect(await rpcFail(sim.url, 'Async.VDI.create', s)).toEqual(['MESSAGE_PARAMETER_COUNT_MISMATCH', 'Async.VDI.create', '1', '0']);
  });
});

describe('client-created tasks', () => {
  test('create → pending/0.0; progress −1 allowed; cancel → cancelled with TASK_CANCELLED; cancel again refused', async () => {
    const t = (await rpc(sim.url, 'task.create', s, 'export', 'desc')) as string;
    let rec = (await rpc(sim.url, 'task.get_record', s, t)) as XmlRpcStruct;
    expect(rec.status).toBe('pending');
    expect(rec.progress).toBe(0);
    expect(rec.name_description).toBe('desc');
    await rpc(sim.url, 'task.set_progress', s, t, { dbl: -1 });
    expect(await rpc(sim.url, 'task.get_progress', s, t)).toBe(-1);
    await rpc(sim.url, 'task.cancel', s, t);
    rec = (await rpc(sim.url, 'task.get_record', s, t)) as XmlRpcStruct;
    expect(rec.status).toBe('cancelled');
    expect(rec.error_info).toEqual(['TASK_CANCELLED', t]);
    expect((await rpcFail(sim.url, 'task.cancel', s, t))[0]).toBe('OPERATION_NOT_ALLOWED');
    await rpc(sim.url, 'task.destroy', s, t);
    expect(await rpcFail(sim.url, 'task.get_status', s, t)).toEqual(['HANDLE_INVALID', 'task', t]);
  });

  test('setters of status / result / error_info; destroy of a pending task waits for completion', async () => {
    const t = (await rpc(sim.url, 'task.create', s, 'mine', '')) as string;
    await rpc(sim.url, 'task.set_result', s, t, '<value>x</value>');
    await rpc(sim.url, 'task.set_error_info', s, t, ['A', 'b']);
    await rpc(sim.url, 'task.set_status', s, t, 'FAILURE'); // enums are matched case-insensitively
    const rec = (await rpc(sim.url, 'task.get_record', s, t)) as XmlRpcStruct;
    expect([rec.status, rec.result, rec.error_info]).toEqual(['failure', '<value>x</value>', ['A', 'b']]);
    expect((await rpcFail(sim.url, 'task.set_status', s, t, 'bogus'))[0]).toBe('INVALID_VALUE');

    const pending = sim.context.tasks.create('held');
    await rpc(sim.url, 'task.destroy', s, pending);
    expect(await rpc(sim.url, 'task.get_status', s, pending)).toBe('pending');
    sim.context.tasks.succeedRaw(pending, '');
    expect(await rpcFail(sim.url, 'task.get_status', s, pending)).toEqual(['HANDLE_INVALID', 'task', pending]);
  });
});

describe('event.from', () => {
  test('token "" lists objects; a later call waits for the next change of the classes asked', async () => {
    const first = (await rpc(sim.url, 'event.from', s, ['task'], '', { dbl: 0 })) as XmlRpcStruct;
    const token = first.token as string;
    expect(token).toMatch(/^\d{20},\d{20}$/); // XAPI's form: two zero-padded counters
    // every table's row count, as <i4> (ints on the wire, not strings)
    expect((first.valid_ref_counts as XmlRpcStruct).task).toBe(BigInt((first.events as XmlRpcStruct[]).length));
    expect(typeof (first.valid_ref_counts as XmlRpcStruct).vm).toBe('bigint');
    expect(((first.events as XmlRpcStruct[])[0] ?? { class: 'task' }).class).toBe('task');
    const waiting = rpc(sim.url, 'event.from', s, ['task'], token, { dbl: 10 });
    const t = (await rpc(sim.url, 'task.create', s, 'evented', '')) as string;
    const got = (await waiting) as XmlRpcStruct;
    const evs = got.events as XmlRpcStruct[];
    expect(evs.map((e) => [e.class, e.ref])).toContainEqual(['task', t]);
    const add = evs.find((e) => e.ref === t) as XmlRpcStruct;
    expect((add.snapshot as XmlRpcStruct).name_label).toBe('evented');
    // nothing new: returns empty after the timeout
    const idle = (await rpc(sim.url, 'event.from', s, ['VM'], got.token as string, { dbl: 0.05 })) as XmlRpcStruct;
    expect(idle.events).toEqual([]);
    expect(await rpcFail(sim.url, 'event.from', s, ['task'], 'garbage', { dbl: 0 })).toEqual(['EVENT_FROM_TOKEN_PARSE_FAILURE', 'garbage']);
  });
});

describe('latency', () => {
  test('latencyMs delays every call', async () => {
    const slow = await startTempSim({ latencyMs: 120 });
    try {
      const t0 = Date.now();
      await login(slow.sim.url);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(115);
    } finally {
      await slow.cleanup();
    }
  });
});
