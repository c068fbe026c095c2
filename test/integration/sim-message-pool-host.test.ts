/**
 * The message class, pool.sync_database and host.call_plugin over XML-RPC, as XAPI runs
 * them (xen-api ocaml/xapi/xapi_message.ml, xapi_pool.ml, xapi_plugins.ml and
 * python3/plugins/echo.py with XenAPIPlugin.dispatch).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { XmlRpcDateTime, type XmlRpcStruct } from '../../src/sim/codec.js';
import type { SimHandle } from '../../src/sim/server.js';
import { finishedTask, login, rpc, rpcFail, startTempSim } from './sim-helpers.js';

let sim: SimHandle;
let cleanup: () => Promise<void>;
let s: string;
let host: string;
let vmUuid: string;

/** "20240716T10:11:12Z" moved by `seconds`. */
function shift(stamp: string, seconds: number): string {
  const d = new Date(`${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(9, 17)}Z`);
  return new Date(d.getTime() + seconds * 1000).toISOString().replace(/[-]|\.\d+/g, '');
}

beforeAll(async () => {
  ({ sim, cleanup } = await startTempSim());
  s = await login(sim.url);
  host = (await rpc(sim.url, 'session.get_this_host', s, s)) as string;
  const vm = sim.db.create('VM', { name_label: 'alerted', power_state: 'Halted' });
  vmUuid = sim.db.getField('VM', vm, 'uuid');
});
afterAll(async () => cleanup());

describe('message', () => {
  test('create: the record, whole-second timestamp, an event; the object must exist in its class', async () => {
    const token = ((await rpc(sim.url, 'event.from', s, ['message'], '', { dbl: 0 })) as XmlRpcStruct).token as string;
    const m = (await rpc(sim.url, 'message.create', s, 'DR_TEST', 3, 'vm', vmUuid, 'body text')) as string;
    const r = (await rpc(sim.url, 'message.get_record', s, m)) as XmlRpcStruct;
    expect([r.name, r.priority, r.cls, r.obj_uuid, r.body]).toEqual(['DR_TEST', '3', 'VM', vmUuid, 'body text']);
    expect(r.timestamp).toBeInstanceOf(XmlRpcDateTime);
    expect((r.timestamp as XmlRpcDateTime).text).toMatch(/^\d{8}T\d{2}:\d{2}:\d{2}Z$/);
    const got = (await rpc(sim.url, 'event.from', s, ['message'], token, { dbl: 0 })) as XmlRpcStruct;
    expect((got.events as XmlRpcStruct[]).map((e) => [e.class, e.operation, e.ref])).toEqual([['message', 'add', m]]);
    expect(await rpc(sim.url, 'message.get_by_uuid', s, r.uuid as string)).toBe(m);

    expect(await rpcFail(sim.url, 'message.create', s, 'X', 1, 'Host', vmUuid, '')).toEqual(['UUID_INVALID', 'Host', vmUuid]);
    expect(await rpcFail(sim.url, 'message.create', s, 'X', 1, 'VMSS', vmUuid, '')).toEqual(['UUID_INVALID', 'VMSS', vmUuid]);
    expect(await rpcFail(sim.url, 'message.create', s, 'X', 1, 'Nope', vmUuid, '')).toEqual(['ENUM_VALUE_INVALID', 'enum cls', 'Nope']);
    const hostUuid = (await rpc(sim.url, 'host.get_uuid', s, host)) as string;
    expect(await rpc(sim.url, 'message.create', s, 'HOST_NOTE', 1, 'Host', hostUuid, '')).toMatch(/^OpaqueRef:/);
  });

  test('get_since compares the precise creation time, so the cut-off second\'s own messages come back; get compares whole seconds', async () => {
    // Put the master's clock half-way through a second no earlier message is in, so the
    // two messages are made inside it.
    sim.clock.set({ offsetMs: 60_000 + 500 - (Date.now() % 1000) });
    try {
      const a = (await rpc(sim.url, 'message.create', s, 'FIRST', 5, 'VM', vmUuid, 'a')) as string;
      const b = (await rpc(sim.url, 'message.create', s, 'SECOND', 5, 'VM', vmUuid, 'b')) as string;
      const stamp = (((await rpc(sim.url, 'message.get_record', s, a)) as XmlRpcStruct).timestamp as XmlRpcDateTime).text;
      const since = (await rpc(sim.url, 'message.get_since', s, stamp)) as XmlRpcStruct;
      // Newest first, as XAPI lists them.
      expect(Object.keys(since)).toEqual([b, a]);
      expect((since[a] as XmlRpcStruct).name).toBe('FIRST');
      expect(Object.keys((await rpc(sim.url, 'message.get_since', s, shift(stamp, 1))) as XmlRpcStruct)).toEqual([]);
      expect(Object.keys((await rpc(sim.url, 'message.get_since', s, shift(stamp, -1))) as XmlRpcStruct)).toEqual(expect.arrayContaining([a, b]));
      expect(Object.keys((await rpc(sim.url, 'message.get', s, 'VM', vmUuid, stamp)) as XmlRpcStruct)).toEqual([]);
      expect(Object.keys((await rpc(sim.url, 'message.get', s, 'VM', vmUuid, shift(stamp, -1))) as XmlRpcStruct)).toEqual(expect.arrayContaining([b, a]));
      expect(await rpcFail(sim.url, 'message.get', s, 'VM', 'no-such-uuid', stamp)).toEqual(['UUID_INVALID']);
      const where = (await rpc(sim.url, 'message.get_all_records_where', s, 'field "name" = "FIRST" or field "name" = "SECOND"')) as XmlRpcStruct;
      expect(Object.keys(where)).toEqual([b, a]);
    } finally {
      sim.clock.set({ offsetMs: 0 });
    }
  });

  test('destroy and destroy_many: events, then HANDLE_INVALID / UUID_INVALID naming the message class', async () => {
    const m = (await rpc(sim.url, 'message.create', s, 'GONE', 1, 'VM', vmUuid, '')) as string;
    const uuid = ((await rpc(sim.url, 'message.get_record', s, m)) as XmlRpcStruct).uuid as string;
    const token = ((await rpc(sim.url, 'event.from', s, ['message'], '', { dbl: 0 })) as XmlRpcStruct).token as string;
    expect(await rpc(sim.url, 'message.destroy', s, m)).toBe('');
    const got = (await rpc(sim.url, 'event.from', s, ['message'], token, { dbl: 0 })) as XmlRpcStruct;
    expect((got.events as XmlRpcStruct[]).map((e) => [e.operation, e.ref])).toEqual([['del', m]]);
    expect(await rpcFail(sim.url, 'message.destroy', s, m)).toEqual(['HANDLE_INVALID', 'message', m]);
    expect(await rpcFail(sim.url, 'message.get_record', s, m)).toEqual(['HANDLE_INVALID', 'message', m]);
    expect(await rpcFail(sim.url, 'message.get_by_uuid', s, uuid)).toEqual(['UUID_INVALID', 'message', uuid]);

    const many = [
      (await rpc(sim.url, 'message.create', s, 'M1', 1, 'VM', vmUuid, '')) as string,
      (await rpc(sim.url, 'message.create', s, 'M2', 1, 'VM', vmUuid, '')) as string,
    ];
    const task = (await rpc(sim.url, 'Async.message.destroy_many', s, many)) as string;
    expect((await finishedTask(sim.url, s, task)).status).toBe('success');
    expect(Object.keys((await rpc(sim.url, 'message.get_all_records', s)) as XmlRpcStruct)).not.toContain(many[0]);
  });

  test('the class has no field accessors and no Async forms of its own calls', async () => {
    const m = (await rpc(sim.url, 'message.create', s, 'N', 1, 'VM', vmUuid, '')) as string;
    expect(await rpcFail(sim.url, 'message.get_name', s, m)).toEqual(['MESSAGE_METHOD_UNKNOWN', 'message.get_name']);
    expect(await rpcFail(sim.url, 'Async.message.create', s, 'N', 1, 'VM', vmUuid, '')).toEqual(['MESSAGE_METHOD_UNKNOWN', 'Async.message.create']);
    expect((await rpc(sim.url, 'message.get_all', s)) as string[]).toContain(m);
  });
});

describe('pool.sync_database', () => {
  test('writes the master\'s database out at once; also as a task', async () => {
    const pool = sim.db.refs('pool')[0] as string;
    await rpc(sim.url, 'pool.set_name_label', s, pool, 'synced-now');
    expect(await rpc(sim.url, 'pool.sync_database', s)).toBe('');
    expect(await readFile(join(sim.stateDir, 'db.json'), 'utf8')).toContain('synced-now');
    const task = (await rpc(sim.url, 'Async.pool.sync_database', s)) as string;
    expect((await finishedTask(sim.url, s, task)).status).toBe('success');
    expect(await rpcFail(sim.url, 'pool.sync_database', s, 'extra')).toEqual(['MESSAGE_PARAMETER_COUNT_MISMATCH', 'pool.sync_database', '0', '1']);
  });
});

describe('host.call_plugin', () => {
  test('echo/main answers its arguments as Python prints them', async () => {
    expect(await rpc(sim.url, 'host.call_plugin', s, host, 'echo', 'main', { a: 'b', "it's": 'say "hi"\n' })).toBe(
      `args were: {'a': 'b', "it's": 'say "hi"\\n'}`,
    );
    expect(await rpc(sim.url, 'host.call_plugin', s, host, 'echo', 'main', { sleep: '0' })).toBe("args were: {'sleep': '0'}");
    const task = (await rpc(sim.url, 'Async.host.call_plugin', s, host, 'echo', 'main', {})) as string;
    const done = await finishedTask(sim.url, s, task);
    expect(done.status).toBe('success');
    expect(done.result).toContain('args were: {}');
  });

  test('a missing plugin, an unknown function and a failing one, with XAPI\'s and the plugin library\'s errors', async () => {
    expect(await rpcFail(sim.url, 'host.call_plugin', s, host, 'no-such', 'main', {})).toEqual(['XENAPI_MISSING_PLUGIN', 'no-such']);
    expect(await rpcFail(sim.url, 'host.call_plugin', s, host, 'echo', 'other', {})).toEqual(['UNKNOWN_XENAPI_PLUGIN_FUNCTION', 'other']);
    expect(await rpcFail(sim.url, 'host.call_plugin', s, host, 'echo', 'main', { sleep: 'soon' })).toEqual([
      'XENAPI_PLUGIN_FAILURE',
      'main',
      'ValueError',
      "invalid literal for int() with base 10: 'soon'",
    ]);
    const ghost = 'OpaqueRef:00000000-0000-4000-8000-000000000003';
    expect(await rpcFail(sim.url, 'host.call_plugin', s, ghost, 'echo', 'main', {})).toEqual(['HANDLE_INVALID', 'host', ghost]);
  });
});

describe('per profile', () => {
  test('XenServer 4.1 (API 1.2) has no message class and no host.call_plugin; its power operations leave no messages', async () => {
    const old = await startTempSim({ profile: 'xs41' });
    try {
      const t = await login(old.sim.url);
      for (const m of ['message.get_since', 'message.get_all', 'message.create', 'message.get_all_records']) {
        expect((await rpcFail(old.sim.url, m, t))[0], m).toBe('MESSAGE_METHOD_UNKNOWN');
      }
      const h = (await rpc(old.sim.url, 'session.get_this_host', t, t)) as string;
      expect(await rpcFail(old.sim.url, 'host.call_plugin', t, h, 'echo', 'main', {})).toEqual(['MESSAGE_METHOD_UNKNOWN', 'host.call_plugin']);
      expect(await rpc(old.sim.url, 'pool.sync_database', t)).toBe('');
      const vm = old.sim.db.create('VM', { name_label: 'v', power_state: 'Halted', memory_static_max: 2 ** 28, memory_dynamic_min: 2 ** 28, memory_dynamic_max: 2 ** 28, memory_static_min: 2 ** 28 });
      await rpc(old.sim.url, 'VM.start', t, vm, false, false);
      expect(old.sim.db.count('message')).toBe(0);
    } finally {
      await old.cleanup();
    }
    const ch82 = await startTempSim({ profile: 'ch82' });
    try {
      const t = await login(ch82.sim.url);
      // destroy_many came with xapi 22.19, after Citrix Hypervisor 8.2's xapi 1.249.
      expect(await rpcFail(ch82.sim.url, 'message.destroy_many', t, [])).toEqual(['MESSAGE_METHOD_UNKNOWN', 'message.destroy_many']);
      expect(await rpc(ch82.sim.url, 'message.get_since', t, '20240101T00:00:00Z')).toEqual({});
    } finally {
      await ch82.cleanup();
    }
  }, 60_000);
});
