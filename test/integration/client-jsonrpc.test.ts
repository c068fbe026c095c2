/**
 * The client's JSON-RPC transport (src/xenapi/jsonrpc-codec.ts, rpc.ts) against the
 * simulator over real sockets: calls, records read by the same typed readers, XAPI's errors
 * as the same typed errors, tasks, the session's re-login and HOST_IS_SLAVE, the protocol
 * chosen by 'auto' (and the fall-back to XML-RPC on a host without it, the xs41 profile),
 * and hostile answers (truncated, not JSON, endless, deeply nested, dense, lying types)
 * through a hostile front (test/helpers/hostile-front.ts). The simulator's JSON codec
 * (src/sim/jsonrpc.ts) shares no code with the client's.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type http from 'node:http';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  AnswerBudget,
  Connector,
  Host,
  JsonAnswerReader,
  RpcClient,
  Session,
  TransportError,
  VDI,
  VM,
  XenApiError,
  runTask,
  toBigInt,
  type Ref,
} from '../../src/xenapi/index.js';
import { startDemoSimulator, DEMO_ROOT_PASSWORD, type SimHandle } from '../../src/sim/index.js';
import { endless, startHostileFront, type HostileFront } from '../helpers/hostile-front.js';

/** endless() with JSON's content-type. */
function endlessJson(res: http.ServerResponse, head: string, piece: () => string): void {
  const writeHead = res.writeHead.bind(res);
  res.writeHead = ((status: number) => writeHead(status, { 'content-type': 'application/json' })) as typeof res.writeHead;
  endless(res, head, piece);
}

let dir: string;
let sim: SimHandle;
let front: HostileFront;
let json: Session;
let xml: Session;

const login = (url: string, extra: Partial<Parameters<typeof Session.login>[0]> = {}) =>
  Session.login({ url, user: 'root', password: DEMO_ROOT_PASSWORD, ...extra });

/** A whole 200 answer of this content-type. */
function send(res: http.ServerResponse, type: string, text: string): void {
  res.writeHead(200, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Answers a call with `text` of this content-type, whatever was asked. */
const replyWith = (type: string, text: string) => (res: http.ServerResponse) => send(res, type, text);

/** A JSON-RPC 2.0 answer to the request in `body`, sent as XAPI sends it. */
function answerJson(res: http.ServerResponse, body: string, member: string): void {
  const id = (JSON.parse(body) as { id: unknown }).id;
  send(res, 'application/json', `{"jsonrpc":"2.0",${member},"id":${JSON.stringify(id)}}`);
}

const vdiRecord = (sr: Ref, virtualSize: number) => ({
  name_label: 'json',
  name_description: '',
  SR: sr,
  virtual_size: virtualSize,
  type: 'user',
  sharable: false,
  read_only: false,
  other_config: {},
  xenstore_data: {},
  sm_config: {},
  tags: [],
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xsdr-jsonrpc-'));
  sim = await startDemoSimulator({ stateDir: join(dir, 'a'), vms: 4 });
  front = await startHostileFront(sim.url);
  json = await login(front.url, { transport: 'json-rpc' });
  xml = await login(sim.url, { transport: 'xml-rpc' });
});
afterAll(async () => {
  await json?.logout();
  await xml?.logout();
  await front?.close();
  await sim?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** The paths of the calls the front saw while `work` ran. */
async function pathsOf(work: () => Promise<unknown>): Promise<string[]> {
  const from = front.paths.length;
  await work();
  return front.paths.slice(from);
}

describe('calls over JSON-RPC', () => {
  it('posts every call to /jsonrpc and reads the records the XML-RPC path reads, through the same typed readers', async () => {
    let viaJson: Awaited<ReturnType<typeof VM.getAllRecords>> | undefined;
    const paths = await pathsOf(async () => (viaJson = await VM.getAllRecords(json)));
    expect(paths).toEqual(['/jsonrpc']);
    expect(json.transport).toBe('json-rpc');
    const viaXml = await VM.getAllRecords(xml);
    expect(viaJson!.size).toBeGreaterThan(4);
    expect([...viaJson!.entries()]).toEqual([...viaXml.entries()]);
    // Ints arrive as JSON numbers, date-times as XAPI's text: read as the XML-RPC path reads them.
    const [vdiRef, vdi] = [...(await VDI.getAllRecords(json))][0]!;
    expect(vdi).toEqual(await VDI.getRecord(xml, vdiRef));
    const host = await Host.ofSession(json);
    const [a, b] = [await Host.getServertime(xml, host), await Host.getServertime(json, host)];
    expect(Math.abs(b.getTime() - a.getTime())).toBeLessThan(60_000);
    expect(b.getUTCMilliseconds()).toBe(0);
  });

  it('sends int64 exactly and reads it back', async () => {
    const pool = (await json.call<Ref[]>('pool.get_all'))[0]!;
    const sr = await json.call<Ref>('pool.get_default_SR', pool);
    const size = 2 ** 40 + 512;
    const vdi = await json.call<Ref>('VDI.create', vdiRecord(sr, size));
    expect(await json.call('VDI.get_virtual_size', vdi)).toBe(size);
    expect(await xml.call('VDI.get_virtual_size', vdi)).toBe(String(size));
    await json.call('VDI.destroy', vdi);
  });

  it("gives XAPI's errors as the same typed XenApiError, params and all", async () => {
    const viaJson = await json.call('VM.get_record', 'OpaqueRef:nope').catch((e: unknown) => e);
    const viaXml = await xml.call('VM.get_record', 'OpaqueRef:nope').catch((e: unknown) => e);
    expect(viaJson).toBeInstanceOf(XenApiError);
    expect(viaJson).toMatchObject({ code: 'HANDLE_INVALID', params: ['VM', 'OpaqueRef:nope'], method: 'VM.get_record' });
    expect({ ...(viaJson as XenApiError), message: (viaJson as Error).message }).toEqual({ ...(viaXml as XenApiError), message: (viaXml as Error).message });
    await expect(json.call('SR.get_by_uuid', '00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({
      code: 'UUID_INVALID',
      params: ['SR', '00000000-0000-4000-8000-000000000000'],
    });
    const bad = await login(sim.url, { transport: 'json-rpc', password: 'Zq9-not-it' }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: 'SESSION_AUTHENTICATION_FAILED', params: ['root', expect.any(String)] });
    expect(String((bad as Error).message)).not.toContain('Zq9-not-it');
  });

  it("reads XAPI's JSON-RPC 1.0 error form too", async () => {
    front.rpc.set('VM.start', (res, call) => answerJson(res, call.body, '"result":null,"error":["VM_BAD_POWER_STATE","OpaqueRef:v","halted","running"]'));
    try {
      await expect(json.call('VM.start', 'OpaqueRef:v', false, false)).rejects.toMatchObject({ code: 'VM_BAD_POWER_STATE', params: ['OpaqueRef:v', 'halted', 'running'] });
    } finally {
      front.rpc.delete('VM.start');
    }
  });

  it('runs Async calls and waits for their task, results and failures alike', async () => {
    const pool = (await json.call<Ref[]>('pool.get_all'))[0]!;
    const sr = await json.call<Ref>('pool.get_default_SR', pool);
    let vdi: Ref = '';
    const paths = await pathsOf(async () => (vdi = await runTask<Ref>(json, 'VDI.create', [vdiRecord(sr, 1024 * 1024)])));
    expect(vdi).toMatch(/^OpaqueRef:/);
    expect(new Set(paths)).toEqual(new Set(['/jsonrpc']));
    sim.faults.add({ method: 'VDI.create', error: ['SR_FULL', '1', '0'], times: 1 });
    await expect(runTask(json, 'VDI.create', [vdiRecord(sr, 1024)])).rejects.toMatchObject({ code: 'SR_FULL', params: ['1', '0'] });
    await json.call('VDI.destroy', vdi);
    expect(await json.call<Ref[]>('task.get_all')).toEqual([]);
  });

  it('logs in again over JSON-RPC when the session is no longer valid', async () => {
    const s = await login(sim.url, { transport: 'json-rpc' });
    const old = s.ref;
    sim.db.destroy('session', old);
    expect(await s.call<Ref[]>('pool.get_all')).toHaveLength(1);
    expect(s.ref).not.toBe(old);
    expect(s.transport).toBe('json-rpc');
    await s.logout();
  });

  it('follows HOST_IS_SLAVE to the coordinator, still over JSON-RPC', async () => {
    const port = new URL(sim.url).port;
    const member = await startDemoSimulator({ stateDir: join(dir, 'member'), vms: 0, host: '127.0.0.2', port: Number(port), supporterOf: '127.0.0.1' });
    try {
      const viaMember = await login(member.url, { transport: 'json-rpc' });
      expect(viaMember.url).toBe(`${sim.url}/`);
      expect(viaMember.transport).toBe('json-rpc');
      expect(await viaMember.call<Ref[]>('pool.get_all')).toEqual(await xml.call<Ref[]>('pool.get_all'));
      await viaMember.logout();
    } finally {
      await member.stop();
    }
  });
});

describe("the protocol 'auto' chooses", () => {
  it('is JSON-RPC on a host with API 2.6 or later (xs8, xs71)', async () => {
    const s = await login(front.url, { transport: 'auto' });
    expect(s.transport).toBe('json-rpc');
    expect(await pathsOf(() => s.call('pool.get_all'))).toEqual(['/jsonrpc']);
    await s.logout();
    const old = await startDemoSimulator({ stateDir: join(dir, 'xs71'), vms: 0, profile: 'xs71' });
    try {
      const s71 = await login(old.url, { transport: 'auto' });
      expect(s71.transport).toBe('json-rpc');
      await s71.logout();
    } finally {
      await old.stop();
    }
  });

  it('falls back to XML-RPC on a host without /jsonrpc (xs41 answers HTTP 500); forced JSON-RPC fails there', async () => {
    const old = await startDemoSimulator({ stateDir: join(dir, 'xs41'), vms: 1, profile: 'xs41' });
    try {
      const s = await login(old.url, { transport: 'auto' });
      expect(s.transport).toBe('xml-rpc');
      expect(await VM.getAllRecords(s)).toBeInstanceOf(Map);
      await s.logout();
      const forced = await login(old.url, { transport: 'json-rpc' }).catch((e: unknown) => e);
      expect(forced).toBeInstanceOf(TransportError);
      expect(forced).toMatchObject({ kind: 'http-status', status: 500 });
      expect((forced as Error).message).toContain('a JSON-RPC call');
    } finally {
      await old.stop();
    }
  });

  it('falls back to XML-RPC when /jsonrpc answers 200 in XML, and never on a refused password', async () => {
    // The JSON-RPC login is answered in XML (as a host without JSON-RPC might); the XML-RPC
    // login that follows is forwarded to the pool.
    front.rpc.set('session.login_with_password', (res) => {
      front.rpc.delete('session.login_with_password');
      send(res, 'text/xml', '<?xml version="1.0"?><methodResponse><fault/></methodResponse>');
    });
    const from = front.paths.length;
    const s = await login(front.url, { transport: 'auto' }).finally(() => front.rpc.delete('session.login_with_password'));
    expect(front.paths.slice(from)).toEqual(['/jsonrpc', '/']);
    expect(s.transport).toBe('xml-rpc');
    await s.logout();
    const before = front.paths.length;
    const bad = await login(front.url, { transport: 'auto', password: 'Zq9-not-it' }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: 'SESSION_AUTHENTICATION_FAILED' });
    expect(front.paths.slice(before)).toEqual(['/jsonrpc']);
  });

  it('switches to XML-RPC after the login on a host whose JSON-RPC XenCenter does not trust (API 2.7)', async () => {
    front.rpc.set('host.get_API_version_minor', (res, call) => answerJson(res, call.body, '"result":7'));
    try {
      const s = await login(front.url, { transport: 'auto' });
      expect(s.transport).toBe('xml-rpc');
      expect(await pathsOf(() => s.call('pool.get_all'))).toEqual(['/']);
      await s.logout();
    } finally {
      front.rpc.delete('host.get_API_version_minor');
    }
  });
});

describe('the command line', () => {
  /** `xsconsole-dr --host <front> [args] probe` from the sources; the paths of its calls. */
  const probe = (args: string[]) =>
    new Promise<{ code: number; paths: string[] }>((done) => {
      const from = front.paths.length;
      execFile(
        process.execPath,
        ['--import', 'tsx', join('src', 'cli.tsx'), '--host', front.url, ...args, 'probe'],
        { cwd: resolve(__dirname, '../..'), env: { ...process.env, XSDR_PASSWORD: DEMO_ROOT_PASSWORD }, timeout: 90_000 },
        (err) => done({ code: err ? 1 : 0, paths: front.paths.slice(from) }),
      );
    });

  it('--transport json-rpc sends every call to /jsonrpc; by default every call is XML-RPC', async () => {
    const viaJson = await probe(['--transport', 'json-rpc']);
    expect(viaJson.code).toBe(0);
    expect(viaJson.paths.length).toBeGreaterThan(2);
    expect(new Set(viaJson.paths)).toEqual(new Set(['/jsonrpc']));
    const byDefault = await probe([]);
    expect(byDefault.code).toBe(0);
    expect(new Set(byDefault.paths)).toEqual(new Set(['/']));
  }, 180_000);
});

describe('bounds and hostile answers', () => {
  it('refuses an answer beyond the size limit, counting what it would take parsed', async () => {
    const small = await login(sim.url, { transport: 'json-rpc', maxResponseBytes: 64 * 1024 });
    try {
      const err = await small.call('VM.get_all_records').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransportError);
      expect(err).toMatchObject({ kind: 'too-large', detail: expect.stringMatching(/more than 65536 bytes of memory once parsed/) });
      expect(await small.call<Ref[]>('pool.get_all')).toHaveLength(1);
    } finally {
      await small.logout();
    }
  });

  it("estimates XenAPI records' parsed cost at 2–3 × their JSON text", async () => {
    const post = async (body: unknown) => (await fetch(`${sim.url}/jsonrpc`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).text();
    for (const cls of ['VM', 'VDI', 'VBD', 'SR']) {
      const text = await post({ jsonrpc: '2.0', method: `${cls}.get_all_records`, params: [json.ref], id: 1 });
      const reader = new JsonAnswerReader({ maxDecodedBytes: 64 * 1024 * 1024 });
      reader.write(Buffer.from(text));
      expect(Object.keys((reader.end() as { result: object }).result).length).toBeGreaterThan(0);
      const ratio = reader.decodedCost / Buffer.byteLength(text);
      expect(ratio, cls).toBeGreaterThan(1.5);
      expect(ratio, cls).toBeLessThan(3.5);
    }
  });

  it('parses an answer while its bytes still count against the answer budget', async () => {
    const budget = new AnswerBudget(1024 * 1024);
    const connector = new Connector({ answerBudget: budget });
    const rpc = new RpcClient(sim.url, { connector, protocol: 'json-rpc' });
    const ref = await rpc.call('session.login_with_password', ['root', DEMO_ROOT_PASSWORD, '1.0', 'test']);
    const held: number[] = [];
    const parse = JSON.parse;
    const spy = vi.spyOn(JSON, 'parse').mockImplementation((text: string, reviver?: (this: unknown, key: string, value: unknown) => unknown) => {
      held.push(budget.usedBytes);
      return parse(text, reviver);
    });
    try {
      await rpc.call('VM.get_all_records', [ref]);
    } finally {
      spy.mockRestore();
    }
    expect(held.length).toBeGreaterThan(0);
    // The whole answer (about 95 kB for this pool) is still counted while it is parsed.
    expect(Math.max(...held)).toBeGreaterThan(50_000);
    expect(budget.usedBytes).toBe(0);
    await rpc.call('session.logout', [ref]);
    connector.close();
  });

  it('refuses a field of the wrong type as TRANSPORT_PROTOCOL naming it, as over XML-RPC', async () => {
    const records = await json.call<Record<Ref, Record<string, unknown>>>('VM.get_all_records');
    const [ref, rec] = Object.entries(records)[0]!;
    for (const [field, value, shown] of [
      ['is_a_template', '"true"', 'expected a boolean, got "true"'],
      ['name_label', '5', 'expected a string, got number 5'],
      ['domid', '"seven"', 'not an integer'],
      ['VBDs', '{}', 'expected a set of strings, got a map'],
    ] as const) {
      front.rpc.set('VM.get_all_records', (res, call) => answerJson(res, call.body, `"result":{${JSON.stringify(ref)}:${JSON.stringify({ ...rec, [field]: 0 }).replace(`"${field}":0`, `"${field}":${value}`)}}`));
      const err = await VM.getAllRecords(json).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransportError);
      expect(err).toMatchObject({ kind: 'protocol' });
      expect((err as TransportError).detail).toContain(`VM field ${field}: `);
      expect((err as TransportError).detail).toContain(shown);
    }
    front.rpc.delete('VM.get_all_records');
  });

  it('keeps an int64 beyond 2^53 exact, and a typed read refuses it as it does over XML-RPC', async () => {
    const [ref, rec] = [...(await VDI.getAllRecords(json))][0]!;
    front.rpc.set('VDI.get_virtual_size', (res, call) => answerJson(res, call.body, '"result":9223372036854775807'));
    front.rpc.set('VDI.get_record', (res, call) => answerJson(res, call.body, `"result":${JSON.stringify({ ...rec, virtual_size: 0 }).replace('"virtual_size":0', '"virtual_size":9007199254740993')}`));
    try {
      const wire = await json.call('VDI.get_virtual_size', ref);
      expect(wire).toBe('9223372036854775807');
      expect(toBigInt(wire)).toBe(2n ** 63n - 1n);
      const err = await VDI.getRecord(json, ref).catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: 'protocol', detail: expect.stringContaining('VDI field virtual_size: integer out of safe range: "9007199254740993"') });
    } finally {
      front.rpc.delete('VDI.get_virtual_size');
      front.rpc.delete('VDI.get_record');
    }
  });

  const hostile: Array<[string, (res: http.ServerResponse, body: string) => void, Record<string, unknown>]> = [
    ['a truncated answer', replyWith('application/json', '{"jsonrpc":"2.0","result":["OpaqueRef:a","Opaque'), { kind: 'protocol', detail: expect.stringContaining('ends before it is complete') }],
    [
      'a connection cut in the middle of the answer',
      (res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': 1000 });
        res.write('{"jsonrpc":"2.0","result":[');
        setTimeout(() => res.socket?.destroy(), 20);
      },
      { kind: 'connection-reset' },
    ],
    ['a 200 answer in HTML under the JSON content-type', replyWith('application/json', '<html><body>Proxy says hello</body></html>'), { kind: 'protocol', detail: expect.stringContaining('not JSON') }],
    ['a 200 answer that is not JSON at all', replyWith('text/xml', '<?xml version="1.0"?><methodResponse/>'), { kind: 'protocol', detail: 'content-type "text/xml"' }],
    ['an answer that never ends', (res) => endlessJson(res, '{"jsonrpc":"2.0","result":"', () => 'A'.repeat(64 * 1024)), { kind: 'too-large', detail: 'more than 2097152 bytes' }],
    ['values nested a million deep', (res) => endlessJson(res, '{"jsonrpc":"2.0","result":', () => '['.repeat(64 * 1024)), { kind: 'protocol', detail: expect.stringContaining('nested more than 64 deep') }],
    ['an endless run of empty objects', (res) => endlessJson(res, '{"jsonrpc":"2.0","result":[', () => '{},'.repeat(20_000)), { kind: 'too-large', detail: expect.stringContaining('bytes of memory once parsed') }],
    ['an answer to another request', replyWith('application/json', '{"jsonrpc":"2.0","result":[],"id":"someone else"}'), { kind: 'protocol', detail: expect.stringContaining('is for request "someone else"') }],
  ];

  it.each(hostile)('ends %s with a clear TransportError', async (_name, answer, expected) => {
    const s = await login(front.url, { transport: 'json-rpc', maxResponseBytes: 2 * 1024 * 1024 });
    front.rpc.set('SR.get_all_records', (res, call) => answer(res, call.body));
    try {
      const err = await s.call('SR.get_all_records').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransportError);
      expect(err).toMatchObject(expected);
      // The session is still good for the next call.
      front.rpc.delete('SR.get_all_records');
      expect(await s.call<Ref[]>('pool.get_all')).toHaveLength(1);
    } finally {
      front.rpc.delete('SR.get_all_records');
      await s.logout();
    }
  });
});
