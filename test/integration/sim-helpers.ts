/**
 * Helpers for the simulator's integration tests: raw HTTP requests over real sockets, a
 * tiny request encoder written independently of src/sim/codec.ts (so the simulator's
 * parser is tested against another implementation), and temporary state folders.
 */
import http from 'node:http';
import https from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMethodResponse, isStruct, type XmlRpcValue } from '../../src/sim/codec.js';
import { startSimulator, type SimHandle, type SimulatorOptions } from '../../src/sim/server.js';

export interface RawResponse {
  status: number;
  statusMessage: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

export function rawRequest(
  url: string,
  opts: { method?: string; path?: string; body?: string | Buffer; headers?: Record<string, string | number> } = {},
): Promise<RawResponse> {
  const u = new URL(opts.path ?? '/', url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      u,
      {
        method: opts.method ?? 'POST',
        headers: { ...(opts.body !== undefined && { 'content-length': Buffer.byteLength(opts.body) }), ...opts.headers },
        agent: false,
        rejectUnauthorized: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', headers: res.headers, body, text: body.toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

/** POSTs an XML-RPC body and returns the raw response text. */
export async function postXml(url: string, xml: string): Promise<RawResponse> {
  return rawRequest(url, { body: xml, headers: { 'content-type': 'text/xml' } });
}

// ---- an independent request encoder (Python-stdlib style: <string>, <int>, <boolean>) ----

export type Arg = string | number | boolean | Arg[] | { [k: string]: Arg } | { i8: string } | { dbl: number };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function encodeArg(a: Arg): string {
  if (typeof a === 'string') return `<value><string>${esc(a)}</string></value>`;
  if (typeof a === 'number') return `<value><int>${a}</int></value>`;
  if (typeof a === 'boolean') return `<value><boolean>${a ? 1 : 0}</boolean></value>`;
  if (Array.isArray(a)) return `<value><array><data>${a.map(encodeArg).join('')}</data></array></value>`;
  if ('i8' in a && typeof a.i8 === 'string') return `<value><i8>${a.i8}</i8></value>`;
  if ('dbl' in a && typeof a.dbl === 'number') return `<value><double>${a.dbl}</double></value>`;
  return `<value><struct>${Object.entries(a)
    .map(([k, v]) => `<member><name>${esc(k)}</name>${encodeArg(v as Arg)}</member>`)
    .join('')}</struct></value>`;
}

export function encodeCall(method: string, args: Arg[]): string {
  return `<?xml version="1.0"?>\n<methodCall>\n<methodName>${method}</methodName>\n<params>\n${args.map((a) => `<param>\n${encodeArg(a)}\n</param>`).join('\n')}\n</params>\n</methodCall>\n`;
}

export class RpcFailure extends Error {
  constructor(readonly description: string[]) {
    super(description.join(' '));
  }
}

/** Calls a method; resolves the Value, rejects RpcFailure with the ErrorDescription. */
export async function rpc(url: string, method: string, ...args: Arg[]): Promise<XmlRpcValue> {
  const res = await postXml(url, encodeCall(method, args));
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${res.text}`);
  const parsed = parseMethodResponse(res.text);
  const env = parsed.value;
  if (!isStruct(env)) throw new Error(`not a Status envelope: ${res.text}`);
  if (env.Status === 'Success') return env.Value ?? null;
  throw new RpcFailure((env.ErrorDescription as string[]) ?? []);
}

/** Expects a failure and returns its description. */
export async function rpcFail(url: string, method: string, ...args: Arg[]): Promise<string[]> {
  try {
    const v = await rpc(url, method, ...args);
    throw new Error(`expected ${method} to fail, got ${JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x))}`);
  } catch (e) {
    if (e instanceof RpcFailure) return e.description;
    throw e;
  }
}

export async function login(url: string, password = 'demo'): Promise<string> {
  return (await rpc(url, 'session.login_with_password', 'root', password, '', 'test')) as string;
}

export async function tempDir(prefix = 'sim-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Starts a simulator on a fresh state dir; `cleanup` stops it and removes the folder. */
export async function startTempSim(opts: Partial<SimulatorOptions> = {}): Promise<{ sim: SimHandle; dir: string; cleanup: () => Promise<void> }> {
  const dir = opts.stateDir ?? (await tempDir());
  const sim = await startSimulator({ ...opts, stateDir: dir });
  return {
    sim,
    dir,
    cleanup: async () => {
      await sim.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls until `pred` holds (no fixed sleeps); fails after timeoutMs. */
export async function waitFor<T>(fn: () => Promise<T> | T, pred: (v: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (pred(v)) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value ${String(v)}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The record of `task` once it has left `pending`. */
export async function finishedTask(url: string, session: string, task: string): Promise<Record<string, XmlRpcValue>> {
  return waitFor(
    async () => (await rpc(url, 'task.get_record', session, task)) as Record<string, XmlRpcValue>,
    (r) => r.status !== 'pending',
  );
}
