/**
 * A tiny fake XAPI for the client's tests: real HTTP(S) on 127.0.0.1:0 (or a Unix socket),
 * emitting XAPI's wire bytes (xen-api doc/content/xen-api/wire-protocol.md: one-line
 * responses, bare <value> strings, int64 as bare text, Status first). Requests are parsed
 * with saxes, a different parser from the client's, and recorded raw so tests can inspect
 * the encoding.
 * It knows sessions and tasks only; tests add methods and HTTP routes.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { SaxesParser } from 'saxes';
import { Session } from '../../src/xenapi/index.js';

// ---- XAPI-style encoding ------------------------------------------------------------

/** A float that XAPI would send as <double>. */
export class Dbl {
  constructor(readonly n: number) {}
}
/** An explicit <i4> (XAPI uses it only in event.from's valid_ref_counts). */
export class I4 {
  constructor(readonly n: number) {}
}

export type XapiOut = string | boolean | Dbl | I4 | XapiOut[] | { [k: string]: XapiOut };

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function xapiValue(v: XapiOut): string {
  if (typeof v === 'string') return `<value>${esc(v)}</value>`;
  if (typeof v === 'boolean') return `<value><boolean>${v ? 1 : 0}</boolean></value>`;
  if (v instanceof Dbl) return `<value><double>${v.n}</double></value>`;
  if (v instanceof I4) return `<value><i4>${v.n}</i4></value>`;
  if (Array.isArray(v)) return `<value><array><data>${v.map(xapiValue).join('')}</data></array></value>`;
  return `<value><struct>${Object.entries(v)
    .map(([k, x]) => `<member><name>${esc(k)}</name>${xapiValue(x)}</member>`)
    .join('')}</struct></value>`;
}

const HEAD = '<?xml version="1.0"?><methodResponse><params><param>';
const TAIL = '</param></params></methodResponse>';

export function successXml(v: XapiOut): string {
  return `${HEAD}<value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name>${xapiValue(v)}</member></struct></value>${TAIL}`;
}

export function failureXml(description: string[]): string {
  return `${HEAD}<value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name>${xapiValue(description)}</member></struct></value>${TAIL}`;
}

// ---- request parsing (saxes) --------------------------------------------------------

export type Wire =
  | { t: 'string' | 'int' | 'i4' | 'i8' | 'double' | 'boolean' | 'dateTime.iso8601' | 'base64' | 'nil'; v: string }
  | { t: 'array'; v: Wire[] }
  | { t: 'struct'; v: Record<string, Wire> };

export interface ParsedCall {
  method: string;
  params: Wire[];
  raw: string;
}

export function parseCall(raw: string): ParsedCall {
  const parser = new SaxesParser();
  let method = '';
  const params: Wire[] = [];
  // Containers being filled: arrays collect values, structs collect name → value.
  const stack: Array<{ kind: 'array'; items: Wire[] } | { kind: 'struct'; items: Record<string, Wire>; name?: string } | { kind: 'params' }> = [];
  let text = '';
  let valueHasType = false;
  const place = (w: Wire) => {
    const top = stack[stack.length - 1];
    if (!top) throw new Error('value outside params');
    if (top.kind === 'params') params.push(w);
    else if (top.kind === 'array') top.items.push(w);
    else {
      if (top.name === undefined) throw new Error('struct member without name');
      Object.defineProperty(top.items, top.name, { value: w, enumerable: true });
      top.name = undefined;
    }
  };
  parser.on('opentag', (tag) => {
    text = '';
    if (tag.name === 'params') stack.push({ kind: 'params' });
    else if (tag.name === 'array') {
      valueHasType = true;
      stack.push({ kind: 'array', items: [] });
    } else if (tag.name === 'struct') {
      valueHasType = true;
      stack.push({ kind: 'struct', items: {} });
    } else if (tag.name === 'value') valueHasType = false;
    else if (['string', 'int', 'i4', 'i8', 'double', 'boolean', 'dateTime.iso8601', 'base64', 'nil'].includes(tag.name)) valueHasType = true;
  });
  parser.on('text', (t) => (text += t));
  parser.on('cdata', (t) => (text += t));
  parser.on('closetag', (tag) => {
    const n = tag.name;
    if (n === 'methodName') method = text;
    else if (n === 'name') {
      const top = stack[stack.length - 1];
      if (top?.kind === 'struct') top.name = text;
    } else if (['string', 'int', 'i4', 'i8', 'double', 'boolean', 'dateTime.iso8601', 'base64', 'nil'].includes(n)) {
      place({ t: n as 'string', v: text });
    } else if (n === 'array' || n === 'struct') {
      const top = stack.pop()!;
      if (top.kind === 'array') place({ t: 'array', v: top.items });
      else if (top.kind === 'struct') place({ t: 'struct', v: top.items });
    } else if (n === 'value' && !valueHasType) {
      place({ t: 'string', v: text });
      valueHasType = true;
    }
    text = '';
  });
  parser.write(raw).close();
  return { method, params, raw };
}

/** Wire → plain JS (text types stay strings, booleans become booleans). */
export function plain(w: Wire): unknown {
  if (w.t === 'array') return w.v.map(plain);
  if (w.t === 'struct') return Object.fromEntries(Object.entries(w.v).map(([k, x]) => [k, plain(x)]));
  if (w.t === 'boolean') return w.v === '1';
  if (w.t === 'nil') return null;
  return w.v;
}

// ---- the fake server ----------------------------------------------------------------

export interface FakeTask {
  ref: string;
  name_label: string;
  status: 'pending' | 'success' | 'failure' | 'cancelling' | 'cancelled';
  progress: number;
  result: string;
  error_info: string[];
  allowed_operations: string[];
  /** get_record polls seen (lets tests advance a task deterministically). */
  polls: number;
}

export type MethodResult = { value: XapiOut } | { fault: string[] } | { rawBody: string; status?: number; contentType?: string };
export type MethodHandler = (params: unknown[], call: ParsedCall, fake: FakeXapi) => MethodResult | Promise<MethodResult>;
export type Route = (req: http.IncomingMessage, res: http.ServerResponse, url: URL, fake: FakeXapi) => void;

export interface FakeOptions {
  tls?: { key: string; cert: string };
  socketPath?: string;
  user?: string;
  password?: string;
}

export class FakeXapi {
  readonly server: http.Server;
  readonly calls: ParsedCall[] = [];
  readonly httpRequests: Array<{ method: string; url: URL; headers: http.IncomingHttpHeaders }> = [];
  readonly methods = new Map<string, MethodHandler>();
  readonly routes = new Map<string, Route>();
  readonly sessions = new Set<string>();
  readonly tasks = new Map<string, FakeTask>();
  readonly destroyedTasks: string[] = [];
  /** Called on every task.get_record, before answering (drive tasks from tests). */
  onPoll: ((t: FakeTask, fake: FakeXapi) => void) | undefined;
  user: string;
  password: string;
  #seq = 0;
  #secure: boolean;

  constructor(opts: FakeOptions = {}) {
    this.user = opts.user ?? 'root';
    this.password = opts.password ?? 'secret-pw';
    this.#secure = !!opts.tls;
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => void this.#handle(req, res);
    this.server = opts.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, handler) : http.createServer(handler);
    this.#installDefaults();
  }

  nextRef(kind = 'x'): string {
    this.#seq++;
    return `OpaqueRef:${kind}0000000-0000-4000-8000-${String(this.#seq).padStart(12, '0')}`;
  }

  async listen(where: { socketPath?: string; host?: string; port?: number } = {}): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      if (where.socketPath) this.server.listen(where.socketPath, resolve);
      else this.server.listen(where.port ?? 0, where.host ?? '127.0.0.1', resolve);
    });
    return this;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get host(): string {
    return (this.server.address() as AddressInfo).address;
  }

  get url(): string {
    return `${this.#secure ? 'https' : 'http'}://${this.host}:${this.port}/`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections?.();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  callsOf(method: string): ParsedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  newTask(label: string): FakeTask {
    const t: FakeTask = { ref: this.nextRef('t'), name_label: label, status: 'pending', progress: 0, result: '', error_info: [], allowed_operations: ['cancel'], polls: 0 };
    this.tasks.set(t.ref, t);
    return t;
  }

  complete(t: FakeTask, result = ''): void {
    t.status = 'success';
    t.progress = 1;
    t.result = result;
    t.allowed_operations = [];
  }

  fail(t: FakeTask, errorInfo: string[]): void {
    t.status = 'failure';
    t.progress = 1;
    t.error_info = errorInfo;
    t.allowed_operations = [];
  }

  /** Wait (without sleeping) until a predicate on the fake holds. */
  until(pred: () => boolean, what = 'condition'): Promise<void> {
    return until(pred, what);
  }

  taskRecord(t: FakeTask): XapiOut {
    return {
      uuid: t.ref.slice(10),
      name_label: t.name_label,
      name_description: '',
      allowed_operations: t.allowed_operations,
      current_operations: {},
      created: '20240716T10:11:12Z',
      finished: '19700101T00:00:00Z',
      status: t.status,
      resident_on: 'OpaqueRef:host1',
      progress: new Dbl(t.progress),
      type: '<none/>',
      result: t.result,
      error_info: t.error_info,
      other_config: {},
      subtask_of: 'OpaqueRef:NULL',
      subtasks: [],
      backtrace: '()',
    };
  }

  #installDefaults(): void {
    this.methods.set('session.login_with_password', ([user, pw]) => {
      if (user !== this.user || pw !== this.password) return { fault: ['SESSION_AUTHENTICATION_FAILED', String(user), 'Authentication failure'] };
      const ref = this.nextRef('s');
      this.sessions.add(ref);
      return { value: ref };
    });
    this.methods.set('session.logout', ([s]) => {
      this.sessions.delete(String(s));
      return { value: '' };
    });
    this.methods.set('task.create', ([, label]) => ({ value: this.newTask(String(label)).ref }));
    this.methods.set('task.get_record', ([, ref]) => {
      const t = this.tasks.get(String(ref));
      if (!t) return { fault: ['HANDLE_INVALID', 'task', String(ref)] };
      t.polls++;
      this.onPoll?.(t, this);
      return { value: this.taskRecord(t) };
    });
    this.methods.set('task.set_progress', ([, ref, p]) => {
      const t = this.tasks.get(String(ref));
      if (!t) return { fault: ['HANDLE_INVALID', 'task', String(ref)] };
      t.progress = Number(p);
      return { value: '' };
    });
    this.methods.set('task.set_status', ([, ref, s]) => {
      const t = this.tasks.get(String(ref));
      if (!t) return { fault: ['HANDLE_INVALID', 'task', String(ref)] };
      t.status = String(s) as FakeTask['status'];
      return { value: '' };
    });
    this.methods.set('task.set_error_info', ([, ref, info]) => {
      const t = this.tasks.get(String(ref));
      if (!t) return { fault: ['HANDLE_INVALID', 'task', String(ref)] };
      t.error_info = (info as unknown[]).map(String);
      return { value: '' };
    });
    this.methods.set('task.cancel', ([, ref]) => {
      const t = this.tasks.get(String(ref));
      if (!t) return { fault: ['HANDLE_INVALID', 'task', String(ref)] };
      if (!t.allowed_operations.includes('cancel')) return { fault: ['OPERATION_NOT_ALLOWED', 'task cannot be cancelled'] };
      t.status = 'cancelled';
      t.error_info = ['TASK_CANCELLED', t.ref];
      t.allowed_operations = [];
      return { value: '' };
    });
    this.methods.set('task.destroy', ([, ref]) => {
      if (!this.tasks.delete(String(ref))) return { fault: ['HANDLE_INVALID', 'task', String(ref)] };
      this.destroyedTasks.push(String(ref));
      return { value: '' };
    });
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    this.httpRequests.push({ method: req.method ?? '', url, headers: req.headers });
    const route = req.method === 'POST' ? undefined : this.routes.get(url.pathname);
    if (route) return route(req, res, url, this);
    if (req.method !== 'POST') {
      res.writeHead(404, { connection: 'close' }).end();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let call: ParsedCall;
    try {
      call = parseCall(raw);
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/html' }).end(`<html><body>HTTP 500 internal server error ${esc(String(e))}</body></html>`);
      return;
    }
    this.calls.push(call);
    const params = call.params.map(plain);
    const handler = this.methods.get(call.method);
    let out: MethodResult;
    if (!handler) out = { fault: ['MESSAGE_METHOD_UNKNOWN', call.method] };
    else if (call.method !== 'session.login_with_password' && !this.sessions.has(String(params[0]))) out = { fault: ['SESSION_INVALID', String(params[0])] };
    else out = await handler(params, call, this);
    if ('rawBody' in out) {
      res.writeHead(out.status ?? 200, { 'content-type': out.contentType ?? 'text/xml' }).end(out.rawBody);
      return;
    }
    const body = 'value' in out ? successXml(out.value) : failureXml(out.fault);
    res.writeHead(200, {
      'content-type': 'text/xml',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-cache, no-store',
      'access-control-allow-origin': '*',
    });
    res.end(body);
  }
}

/** Waits (without sleeping, at most 10 s) until `pred` holds. */
export function until(pred: () => boolean, what = 'condition'): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const check = () => {
      if (pred()) return resolve();
      if (Date.now() - started > 10_000) return reject(new Error(`timed out waiting for ${what}`));
      setImmediate(check);
    };
    check();
  });
}

/** A fake XAPI and a session logged into it; `cleanup` (run in reverse) logs out and closes both. */
export async function startFakeWithSession(cleanup: Array<() => Promise<unknown>>): Promise<{ f: FakeXapi; s: Session }> {
  const f = await startFake();
  cleanup.push(() => f.close());
  const s = await Session.login({ url: f.url, user: 'root', password: 'secret-pw' });
  cleanup.push(() => s.logout().catch(() => undefined));
  return { f, s };
}

export async function startFake(opts: FakeOptions & { host?: string; port?: number } = {}): Promise<FakeXapi> {
  return new FakeXapi(opts).listen(opts);
}
