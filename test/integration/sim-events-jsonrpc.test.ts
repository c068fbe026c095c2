/**
 * The simulator's event API (event.register / unregister / next / get_current_id / inject,
 * event.from's token and counts) and its JSON-RPC endpoint, on the wire, against the shapes
 * xen-api's source gives (ocaml/xapi/xapi_event.ml, ocaml/xapi/api_server.ml, the rpc
 * library's Jsonrpc module).
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { XmlRpcStruct } from '../../src/sim/codec.js';
import type { SimHandle } from '../../src/sim/server.js';
import { login, rpc, rpcFail, startTempSim } from './sim-helpers.js';

let sim: SimHandle;
let cleanup: () => Promise<void>;
let s: string;
let pool: string;

beforeAll(async () => {
  ({ sim, cleanup } = await startTempSim());
  s = await login(sim.url);
  pool = ((await rpc(sim.url, 'pool.get_all', s)) as string[])[0] as string;
});
afterAll(async () => {
  await cleanup();
});

async function postJson(body: string): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(`${sim.url}/jsonrpc`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

describe('event.next and friends', () => {
  test('next before register: SESSION_NOT_REGISTERED with the session trackid', async () => {
    const other = await login(sim.url);
    const trackid = `trackid=${createHash('md5').update(other).digest('hex')}`;
    expect(await rpcFail(sim.url, 'event.next', other)).toEqual(['SESSION_NOT_REGISTERED', trackid]);
  });

  test('register, then next returns the events of the registered classes with snapshots, del with the old record', async () => {
    const me = await login(sim.url);
    const before = (await rpc(sim.url, 'event.get_current_id', me)) as string;
    expect(before).toMatch(/^\d+$/);
    expect(await rpc(sim.url, 'event.register', me, ['task'])).toBe('');
    const t = (await rpc(sim.url, 'task.create', me, 'queued', 'd')) as string;
    await rpc(sim.url, 'pool.set_name_description', me, pool, 'not a task'); // not registered: not queued
    await rpc(sim.url, 'task.set_status', me, t, 'success'); // a pending task is only marked by destroy
    await rpc(sim.url, 'task.destroy', me, t);
    const evs = (await rpc(sim.url, 'event.next', me)) as XmlRpcStruct[];
    expect(evs.map((e) => [e.class, e.operation, e.ref])).toEqual([
      ['task', 'add', t],
      ['task', 'mod', t],
      ['task', 'mod', t],
      ['task', 'del', t],
    ]);
    expect((evs[0]?.snapshot as XmlRpcStruct).status).toBe('pending'); // the record at the time
    expect((evs[3]?.snapshot as XmlRpcStruct).name_label).toBe('queued');
    expect((evs[3]?.snapshot as XmlRpcStruct).status).toBe('success');
    expect(Number(evs[3]?.id)).toBe(Number(evs[0]?.id) + 3);
    expect(evs[0]?.timestamp).toMatch(/^\d+\.$/);
    expect(BigInt((await rpc(sim.url, 'event.get_current_id', me)) as string)).toBeGreaterThan(BigInt(before));

    // next blocks until something matches
    const waiting = rpc(sim.url, 'event.next', me);
    await rpc(sim.url, 'pool.set_name_description', me, pool, 'still not');
    const t2 = (await rpc(sim.url, 'task.create', me, 'later', '')) as string;
    expect(((await waiting) as XmlRpcStruct[]).map((e) => e.ref)).toEqual([t2]);

    // unregister leaves the session registered for nothing; logout ends a waiting next
    expect(await rpc(sim.url, 'event.unregister', me, ['task'])).toBe('');
    const blocked = rpcFail(sim.url, 'event.next', me);
    await rpc(sim.url, 'task.set_progress', me, t2, { dbl: 0.5 });
    await rpc(sim.url, 'session.logout', me);
    expect(await blocked).toEqual(['SESSION_INVALID', me]);
  });

  test('event.inject touches the object and answers the token just before it', async () => {
    const token = (await rpc(sim.url, 'event.inject', s, 'pool', pool)) as string;
    expect(token).toMatch(/^\d{20},\d{20}$/);
    const got = (await rpc(sim.url, 'event.from', s, ['pool'], token, { dbl: 1 })) as XmlRpcStruct;
    expect((got.events as XmlRpcStruct[]).map((e) => [e.class, e.operation, e.ref])).toEqual([['pool', 'mod', pool]]);
    expect((got.token as string) > token).toBe(true); // tokens compare as strings
    expect(await rpcFail(sim.url, 'event.inject', s, 'VM', pool)).toEqual(['HANDLE_INVALID', 'VM', pool]);
    expect(await rpcFail(sim.url, 'event.inject', s, 'Pool', pool)).toEqual(['HANDLE_INVALID', 'Pool', pool]);
  });

  test('event.from: an object made and changed in the range is an add; one made and deleted is not reported', async () => {
    const token = (await rpc(sim.url, 'event.inject', s, 'pool', pool)) as string;
    const kept = (await rpc(sim.url, 'task.create', s, 'kept', '')) as string;
    await rpc(sim.url, 'task.set_progress', s, kept, { dbl: 0.5 });
    const gone = (await rpc(sim.url, 'task.create', s, 'gone', '')) as string;
    await rpc(sim.url, 'task.set_status', s, gone, 'success');
    await rpc(sim.url, 'task.destroy', s, gone);
    const got = (await rpc(sim.url, 'event.from', s, ['task'], token, { dbl: 1 })) as XmlRpcStruct;
    const evs = got.events as XmlRpcStruct[];
    expect(evs.map((e) => [e.operation, e.ref])).toEqual([['add', kept]]);
    expect(evs[0]?.timestamp).toBe('0.0');
    const after = (await rpc(sim.url, 'event.from', s, ['task'], got.token as string, { dbl: 0 })) as XmlRpcStruct;
    expect(after.events).toEqual([]);
    await rpc(sim.url, 'task.set_status', s, kept, 'success');
    await rpc(sim.url, 'task.destroy', s, kept);
    const del = (await rpc(sim.url, 'event.from', s, ['task'], got.token as string, { dbl: 1 })) as XmlRpcStruct;
    expect((del.events as XmlRpcStruct[]).map((e) => [e.operation, e.ref, 'snapshot' in e])).toEqual([['del', kept, false]]);
    expect(await rpcFail(sim.url, 'event.from', s, ['task'], '12', { dbl: 0 })).toEqual(['EVENT_FROM_TOKEN_PARSE_FAILURE', '12']);
  });
});

describe('JSON-RPC on POST /jsonrpc', () => {
  test('2.0: result with the id echoed, XAPI error objects, int64 as numbers, floats with a fraction', async () => {
    const ok = await postJson(`{"jsonrpc":"2.0","method":"pool.get_record","params":[${JSON.stringify(s)},${JSON.stringify(pool)}],"id":7}`);
    expect(ok.status).toBe(200);
    expect(ok.type).toBe('application/json');
    expect(ok.text).toMatch(/^\{"jsonrpc":"2.0","result":\{/);
    expect(ok.text.endsWith(',"id":7}')).toBe(true);
    const rec = (JSON.parse(ok.text) as { result: Record<string, unknown> }).result;
    expect(rec.uuid).toMatch(/^[0-9a-f-]{36}$/);
    const host = rec.master as string;
    const hostRec = await postJson(`{"jsonrpc":"2.0","method":"host.get_record","params":[${JSON.stringify(s)},${JSON.stringify(host)}],"id":"h"}`);
    expect(hostRec.text).toMatch(/"API_version_major":2[,}]/); // int64: a bare number
    const fail = await postJson(`{"jsonrpc":"2.0","method":"VM.get_record","params":[${JSON.stringify(s)},"OpaqueRef:nope"],"id":"x"}`);
    expect(fail.status).toBe(200);
    expect(fail.text).toBe('{"jsonrpc":"2.0","error":{"code":1,"message":"HANDLE_INVALID","data":["VM","OpaqueRef:nope"]},"id":"x"}');
    const counts = await postJson(`{"jsonrpc":"2.0","method":"event.from","params":[${JSON.stringify(s)},["pool"],"",0.0],"id":1}`);
    expect(counts.text).toMatch(/"valid_ref_counts":\{[^}]*"pool":1[,}]/);
    const task = await postJson(`{"jsonrpc":"2.0","method":"task.get_record","params":[${JSON.stringify(s)},${JSON.stringify((await rpc(sim.url, 'task.create', s, 'f', '')) as string)}],"id":1}`);
    expect(task.text).toMatch(/"progress":0\.0[,}]/);
  });

  test('1.0: result and error members both present; errors as the description array; a login works over both protocols', async () => {
    const login1 = await postJson('{"method":"session.login_with_password","params":["root","demo","1.0","json"],"id":"a"}');
    const { result: session, error } = JSON.parse(login1.text) as { result: string; error: null };
    expect(error).toBeNull();
    expect(login1.text).toBe(`{"result":${JSON.stringify(session)},"error":null,"id":"a"}`);
    expect(await rpc(sim.url, 'pool.get_all', session)).toEqual([pool]); // valid over XML-RPC too
    const bad = await postJson(`{"method":"VM.get_record","params":[${JSON.stringify(session)}],"id":3}`);
    expect(bad.text).toBe('{"result":null,"error":["MESSAGE_PARAMETER_COUNT_MISMATCH","VM.get_record","1","0"],"id":3}');
    const listed = await postJson('{"jsonrpc":"2.0","method":"system.listMethods","params":[],"id":1}');
    expect((JSON.parse(listed.text) as { result: string[] }).result).toContain('event.inject');
  });

  test('malformed requests: HTTP 500 as XAPI answers them; a JSON body on / is XML-RPC', async () => {
    for (const body of ['{"jsonrpc":"2.0","method":"session.logout","id":0', '{"jsonrpc":"2.0","method":"session.logout","params":[]}', '[1]', '{"method":"x","id":1}']) {
      const r = await postJson(body);
      expect(r.status, body).toBe(500);
      expect(r.type).toBe('text/html');
    }
    const root = await fetch(`${sim.url}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","method":"pool.get_all","params":[],"id":1}' });
    expect(root.status).toBe(500);
  });

  test('an integer beyond 2^53 keeps its digits', async () => {
    const t = (await rpc(sim.url, 'task.create', s, 'big', '')) as string;
    const res = await postJson(`{"jsonrpc":"2.0","method":"task.add_to_other_config","params":[${JSON.stringify(s)},${JSON.stringify(t)},"k","v"],"id":9007199254740993}`);
    expect(res.text).toBe('{"jsonrpc":"2.0","result":"","id":9007199254740993}');
  });
});
