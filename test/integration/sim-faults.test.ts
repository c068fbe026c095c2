/**
 * Fault injection (faults.ts) and the HTTP route framework (http-route.ts) with test
 * routes: authentication, task binding, byte accounting, injected statuses, task errors
 * and dropped connections.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiFailure } from '../../src/sim/api-error.js';
import type { XmlRpcStruct } from '../../src/sim/codec.js';
import type { HandlerContext, SimRoute } from '../../src/sim/http-route.js';
import type { SimHandle } from '../../src/sim/server.js';
import { SimFaults } from '../../src/sim/faults.js';
import { login, rawRequest, rpc, rpcFail, startTempSim, waitFor } from './sim-helpers.js';

const PAYLOAD = Buffer.alloc(200_000, 7);

const exportRoute: SimRoute = {
  method: 'GET',
  path: '/test_export',
  label: 'get_test_export',
  async handler(ctx: HandlerContext) {
    ctx.res.writeHead(200, { connection: 'close', 'content-type': 'application/octet-stream' });
    for (let off = 0; off < PAYLOAD.length; off += 65536) await ctx.send(PAYLOAD.subarray(off, off + 65536));
    ctx.res.end();
    ctx.task.succeed();
  },
};

let lastImport: { bytes: number; user: string; query: string | undefined } | undefined;
const importRoute: SimRoute = {
  method: 'PUT',
  path: '/test_import',
  label: 'put_test_import',
  taskName: 'VM.test_import',
  async handler(ctx: HandlerContext) {
    ctx.res.writeHead(200, { connection: 'close' });
    ctx.res.flushHeaders();
    let bytes = 0;
    for await (const c of ctx.body) bytes += (c as Buffer).length;
    lastImport = { bytes, user: ctx.session.user, query: ctx.query.get('x') };
    ctx.res.end();
    ctx.task.succeed([ctx.db.refs('VM')[0] as string]);
  },
};
const failingRoute: SimRoute = {
  method: 'GET',
  path: '/test_fail',
  label: 'get_test_fail',
  handler() {
    return Promise.reject(new ApiFailure('VDI_IO_ERROR', ['disk gone']));
  },
};
const lazyRoute: SimRoute = {
  method: 'GET',
  path: '/test_lazy',
  label: 'get_test_lazy',
  async handler(ctx) {
    ctx.res.writeHead(200);
    ctx.res.end('x');
  },
};

let sim: SimHandle;
let cleanup: () => Promise<void>;
let s: string;

beforeAll(async () => {
  ({ sim, cleanup } = await startTempSim({ routes: [exportRoute, importRoute, failingRoute], rootPassword: 'route-pw' }));
  sim.addRoute(lazyRoute);
  s = await login(sim.url, 'route-pw');
});
afterAll(async () => cleanup());

/** GET collecting the body; resolves even when the server cuts the connection mid-body. */
function getAll(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; aborted: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.get(new URL(path, sim.url), { headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let aborted = false;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('aborted', () => (aborted = true));
      res.on('error', () => (aborted = true));
      res.on('close', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), aborted: aborted || !res.complete }));
    });
    req.on('error', reject);
  });
}

async function task(ref: string): Promise<XmlRpcStruct> {
  return waitFor(async () => (await rpc(sim.url, 'task.get_record', s, ref)) as XmlRpcStruct, (r) => r.status !== 'pending');
}

describe('route framework', () => {
  test('session_id in the query; a task the server creates, announced in task-id; bytes counted', async () => {
    const res = await getAll(`/test_export?session_id=${s}`);
    expect(res.status).toBe(200);
    expect(res.body.equals(PAYLOAD)).toBe(true);
    const t = res.headers['task-id'] as string;
    expect(t).toMatch(/^OpaqueRef:/);
    const rec = await task(t);
    expect([rec.name_label, rec.status, rec.result]).toEqual(['get_test_export', 'success', '']);
    expect(sim.stats.routeStats('/test_export').bytesOut).toBeGreaterThanOrEqual(PAYLOAD.length);
  });

  test('the caller’s task_id (cookie form), trailing slash, PUT body read after 200, result value', async () => {
    const t = (await rpc(sim.url, 'task.create', s, 'import', '')) as string;
    const body = Buffer.alloc(12345, 1);
    const res = await rawRequest(sim.url, { method: 'PUT', path: '/test_import/?x=1', body, headers: { cookie: `session_id=${s}; task_id=${t}` } });
    expect(res.status).toBe(200);
    expect(res.headers['task-id']).toBe(t);
    const rec = await task(t);
    expect(rec.status).toBe('success');
    expect(rec.result).toBe(`<value><array><data><value>${sim.db.refs('VM')[0] as string}</value></data></array></value>`);
    expect(lastImport).toEqual({ bytes: 12345, user: 'root', query: '1' });
    expect(sim.stats.routeStats('/test_import').bytesIn).toBe(12345);
  });

  test('no credentials → 401 with Basic realm; bad session with task_id fails that task', async () => {
    const res = await getAll('/test_export');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Basic realm="get_test_export"');
    expect(res.headers['content-type']).toBe('text/html');
    const t = (await rpc(sim.url, 'task.create', s, 'x', '')) as string;
    const bad = await getAll(`/test_export?session_id=OpaqueRef:bogus&task_id=${t}`);
    expect(bad.status).toBe(401);
    const rec = await task(t);
    expect([rec.status, rec.error_info]).toEqual(['failure', ['SESSION_AUTHENTICATION_FAILED']]);
  });

  test('HTTP Basic with the root password works, a wrong one gets 401; the internal session is closed', async () => {
    const sessionsBefore = sim.db.count('session');
    const ok = await getAll('/test_export', { authorization: `Basic ${Buffer.from('root:route-pw').toString('base64')}` });
    expect(ok.status).toBe(200);
    expect(ok.body.length).toBe(PAYLOAD.length);
    await waitFor(() => sim.db.count('session'), (n) => n === sessionsBefore);
    const bad = await getAll('/test_export', { authorization: `Basic ${Buffer.from('root:nope').toString('base64')}` });
    expect(bad.status).toBe(401);
  });

  test('a handler throwing ApiFailure fails the task and answers 500; a lazy handler gets INTERNAL_ERROR', async () => {
    const res = await getAll(`/test_fail?session_id=${s}`);
    expect(res.status).toBe(500);
    expect(res.headers.connection).toBe('close');
    const rec = await task(res.headers['task-id'] as string);
    expect(rec.error_info).toEqual(['VDI_IO_ERROR', 'disk gone']);
    const lazy = await getAll(`/test_lazy?session_id=${s}`);
    expect(lazy.status).toBe(200);
    const lrec = await task(lazy.headers['task-id'] as string);
    expect(lrec.error_info).toEqual(['INTERNAL_ERROR', 'handler get_test_lazy ended without completing its task']);
  });

  test('unregistered GET → 404, PUT → 403; routes match whole path segments', async () => {
    expect((await getAll(`/test_exportx?session_id=${s}`)).status).toBe(404);
    expect((await rawRequest(sim.url, { method: 'PUT', path: '/test_export', body: 'x' })).status).toBe(403);
  });
});

describe('faults', () => {
  test('fail a method with an error after N calls, K times', async () => {
    const id = sim.faults.add({ method: 'VM.get_all', error: ['INTERNAL_ERROR', 'injected'], after: 1, times: 2 });
    expect(await rpc(sim.url, 'VM.get_all', s)).toHaveLength(1);
    expect(await rpcFail(sim.url, 'VM.get_all', s)).toEqual(['INTERNAL_ERROR', 'injected']);
    expect(await rpcFail(sim.url, 'VM.get_all', s)).toEqual(['INTERNAL_ERROR', 'injected']);
    expect(await rpc(sim.url, 'VM.get_all', s)).toHaveLength(1);
    expect(sim.faults.list().find((r) => r.id === id)).toMatchObject({ seen: 4, fired: 2 });
    sim.faults.remove(id);
  });

  test('a rule on "VBD.plug" also hits Async.VBD.plug; globs; drop closes the connection', async () => {
    const id = sim.faults.add({ method: 'VM.get_*', drop: true, times: 1 });
    await expect(rpc(sim.url, 'VM.get_all_records', s)).rejects.toThrow(/socket hang up|ECONNRESET/);
    expect(await rpc(sim.url, 'VM.get_all', s)).toHaveLength(1);
    sim.faults.remove(id);
    sim.faults.add({ method: 'pool.get_all', error: ['HOST_OFFLINE', 'x'], times: 1 });
    expect(await rpcFail(sim.url, 'pool.get_all', s)).toEqual(['HOST_OFFLINE', 'x']);
  });

  test('route faults: HTTP status, task error, drop after N bytes (GET and PUT)', async () => {
    sim.faults.add({ route: '/test_export', httpStatus: 503, times: 1 });
    const r1 = await getAll(`/test_export?session_id=${s}`);
    expect(r1.status).toBe(503);
    expect((await task(r1.headers['task-id'] as string)).error_info).toEqual(['INTERNAL_ERROR', 'injected HTTP 503']);

    sim.faults.add({ route: '/test_export/', taskError: ['VDI_IO_ERROR', 'x'], times: 1 });
    const r2 = await getAll(`/test_export?session_id=${s}`);
    expect(r2.status).toBe(500);
    expect((await task(r2.headers['task-id'] as string)).error_info).toEqual(['VDI_IO_ERROR', 'x']);

    sim.faults.add({ route: '/test_export', dropAfterBytes: 100_000, times: 1 });
    const r3 = await getAll(`/test_export?session_id=${s}`);
    expect(r3.status).toBe(200);
    expect(r3.body.length).toBe(100_000);
    expect(r3.aborted).toBe(true);
    const rec3 = await task(r3.headers['task-id'] as string);
    expect(rec3.status).toBe('failure');

    sim.faults.add({ route: '/test_import', httpMethod: 'PUT', dropAfterBytes: 1000, times: 1 });
    const t = (await rpc(sim.url, 'task.create', s, 'import', '')) as string;
    await rawRequest(sim.url, { method: 'PUT', path: `/test_import?session_id=${s}&task_id=${t}`, body: Buffer.alloc(50_000) }).catch(() => undefined);
    expect((await task(t)).status).toBe('failure');

    // and the next transfer is clean again
    const r4 = await getAll(`/test_export?session_id=${s}`);
    expect(r4.body.length).toBe(PAYLOAD.length);
  });

  test('faults file: validation and load', () => {
    const f = new SimFaults();
    f.load({ latencyMs: 5, transferLatencyMs: 7, rules: [{ method: 'VDI.create', error: ['SR_FULL', '1', '0'], after: 2, times: 1 }, { route: '/export_raw_vdi', dropAfterBytes: 10 }] });
    expect(f.latencyMs).toBe(5);
    expect(f.forCall('Async.VDI.create')).toEqual({ latencyMs: 5 });
    expect(f.forCall('VDI.create')).toEqual({ latencyMs: 5 });
    expect(f.forCall('VDI.create')).toEqual({ latencyMs: 5, error: ['SR_FULL', '1', '0'] });
    expect(f.forCall('VDI.create')).toEqual({ latencyMs: 5 });
    expect(f.forRoute('GET', '/export_raw_vdi/')).toEqual({ latencyMs: 7, dropAfterBytes: 10 });
    for (const bad of [[], { rules: [{}] }, { rules: [{ method: 'x', route: '/y' }] }, { rules: [{ method: 'x', httpStatus: 500 }] }, { rules: [{ route: '/x', error: ['A'] }] }, { nope: 1 }, { rules: [{ method: 'x', times: -1 }] }]) {
      expect(() => f.load(bad)).toThrow();
    }
    f.clear();
    expect(f.list()).toEqual([]);
    expect(f.latencyMs).toBe(0);
  });
});
