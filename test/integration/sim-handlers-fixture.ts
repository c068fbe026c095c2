/**
 * Shared by the transfer-handler tests: a simulator with the demo pool on a temporary
 * state folder, XML-RPC calls and HTTP transfers over plain node:http (not the project's
 * client: the handlers are checked against the wire, independently of the client code).
 */
import { request, type IncomingHttpHeaders } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { isStruct, parseMethodResponse, serializeMethodCall, type XmlRpcValue } from '../../src/sim/codec.js';
import { createDemoPool, type DemoPool } from '../../src/sim/demo.js';
import { transferRoutes } from '../../src/sim/handlers/index.js';
import type { SimProfileName } from '../../src/sim/profiles.js';
import { startSimulator, DEFAULT_ROOT_PASSWORD, type SimHandle } from '../../src/sim/server.js';

export interface DemoSim {
  sim: SimHandle;
  demo: DemoPool;
  session: string;
  dir: string;
  rpc(method: string, ...params: XmlRpcValue[]): Promise<XmlRpcValue>;
  /** Calls with the session as first parameter. */
  call(method: string, ...params: XmlRpcValue[]): Promise<XmlRpcValue>;
  close(): Promise<void>;
}

export class RpcFailure extends Error {
  constructor(readonly description: string[]) {
    super(description.join(' '));
  }
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `xsdr-${prefix}-`));
}

async function rpcCall(url: string, method: string, params: XmlRpcValue[]): Promise<XmlRpcValue> {
  const res = await httpRequest('POST', `${url}/`, { body: Buffer.from(serializeMethodCall(method, params)), headers: { 'content-type': 'text/xml' } });
  const parsed = parseMethodResponse(res.body.toString('utf8'));
  const v = parsed.value;
  if (!isStruct(v)) throw new Error(`bad response to ${method}`);
  if (v.Status === 'Success') return v.Value as XmlRpcValue;
  throw new RpcFailure((v.ErrorDescription as string[]) ?? []);
}

export interface StartOptions {
  vms?: number;
  seed?: number;
  profile?: SimProfileName;
  /** Use this state folder instead of a new temporary one. */
  dir?: string;
}

export async function startDemoSim(opts: StartOptions = {}): Promise<DemoSim> {
  const dir = opts.dir ?? (await tempDir('sim'));
  let demo: DemoPool | undefined;
  const sim = await startSimulator({
    stateDir: dir,
    routes: transferRoutes,
    ...(opts.profile && { profile: opts.profile }),
    populate: async (db, ctx) => {
      demo = await createDemoPool(db, { seed: opts.seed ?? 7, vms: opts.vms ?? 6, profile: ctx.profile, stateDir: ctx.stateDir });
    },
  });
  if (!demo) throw new Error('populate did not run');
  const rpc = (method: string, ...params: XmlRpcValue[]) => rpcCall(sim.url, method, params);
  const session = (await rpc('session.login_with_password', 'root', DEFAULT_ROOT_PASSWORD, '1.0', 'sim-handlers-test')) as string;
  return {
    sim,
    demo,
    session,
    dir,
    rpc,
    call: (method, ...params) => rpc(method, session, ...params),
    close: async () => {
      await sim.stop();
      if (!opts.dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface HttpResult {
  status: number;
  httpVersion: string;
  headers: IncomingHttpHeaders;
  /** Header names as sent (raw case), lower-cased list for presence checks. */
  rawHeaderNames: string[];
  body: Buffer;
  /** True when the response ended with an error (connection cut). */
  aborted: boolean;
}

export interface RequestOptions {
  body?: Buffer | Readable;
  headers?: Record<string, string | number>;
}

/** One HTTP request; resolves when the response ends or the connection is cut. */
export function httpRequest(method: string, url: string, opts: RequestOptions = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...(opts.headers ?? {}) };
    if (Buffer.isBuffer(opts.body) && headers['content-length'] === undefined && headers['transfer-encoding'] === undefined) {
      headers['content-length'] = opts.body.length;
    }
    const req = request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let aborted = false;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('aborted', () => (aborted = true));
      res.on('error', () => (aborted = true));
      res.on('close', () =>
        resolve({
          status: res.statusCode ?? 0,
          httpVersion: res.httpVersion,
          headers: res.headers,
          rawHeaderNames: res.rawHeaders.filter((_, i) => i % 2 === 0).map((h) => h.toLowerCase()),
          body: Buffer.concat(chunks),
          aborted: aborted || !res.complete,
        }),
      );
    });
    req.on('error', reject);
    if (opts.body === undefined) req.end();
    else if (Buffer.isBuffer(opts.body)) req.end(opts.body);
    else opts.body.pipe(req);
  });
}

/** Task record via XML-RPC. */
export async function taskRecord(s: DemoSim, task: string): Promise<{ status: string; result: string; error_info: string[]; progress: number }> {
  const rec = await s.call('task.get_record', task);
  if (!isStruct(rec)) throw new Error('task record is not a struct');
  return {
    status: rec.status as string,
    result: rec.result as string,
    error_info: rec.error_info as string[],
    progress: rec.progress as number,
  };
}

/** Resolves once the task is no longer pending (driven by database changes, not polling). */
export function taskDone(s: DemoSim, task: string): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      const t = s.sim.db.tryGet('task', task);
      if (t === undefined || t.status !== 'pending') {
        off();
        resolve();
      }
    };
    const off = s.sim.db.onChange((c) => {
      if (c.cls === 'task' && c.ref === task) check();
    });
    check();
  });
}

export async function newTask(s: DemoSim, label: string): Promise<string> {
  return (await s.call('task.create', label, '')) as string;
}

/** `?session_id=…&task_id=…&k=v…` */
export function query(s: DemoSim, task: string, params: Record<string, string> = {}): string {
  const q = new URLSearchParams({ session_id: s.session, task_id: task, ...params });
  return q.toString();
}
