/**
 * The simulator's HTTP(S) server: JSON-RPC on POST /jsonrpc (API 2.6 on), XML-RPC on POST to
 * any other path (XAPI routes by longest path prefix), HTTP handler routes (http-route.ts) on GET/PUT, state in a folder that survives
 * restarts. The same surface is served in plain HTTP on a local UNIX socket (`<state>/xapi`, as
 * a host's /var/lib/xcp/xapi), where XAPI trusts the caller as root (local-socket.ts).
 *
 *   const sim = await startSimulator({ stateDir, routes, populate });
 *   // sim.url = "http://127.0.0.1:<port>" (no trailing slash); XML-RPC: POST sim.url + "/"
 *   await sim.stop();
 */
import { chmod, mkdir } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { errorDescription } from './api-error.js';
import { registerEventMethods, EventLog } from './api/event.js';
import { registerGenericMethods } from './api/generic.js';
import { registerHostTimeMethods } from './api/host-time.js';
import { registerMessagePoolHostMethods } from './api/message-pool-host.js';
import { registerNetworkVifMethods } from './api/network-vif.js';
import { registerSessionMethods } from './api/session.js';
import { registerStorageMethods } from './api/storage.js';
import { registerSystemMethods } from './api/system.js';
import { registerTaskMethods } from './api/task.js';
import { registerVbdVmMethods } from './api/vbd-vm.js';
import { registerVdiSrOpsMethods } from './api/vdi-sr-ops.js';
import { registerVmApplianceMethods } from './api/vm-appliance.js';
import { registerVmCloneMethods } from './api/vm-clone.js';
import { registerVmLifecycleMethods } from './api/vm-lifecycle.js';
import { SimAuth, ROOT_USER } from './auth.js';
import { bootstrap, type BootstrapResult } from './bootstrap.js';
import { SimClock, type SimClockOptions } from './clock.js';
import {
  escapeText,
  parseMethodCall,
  serializeBare,
  serializeFailure,
  serializeSuccess,
  XmlRpcParseError,
  type MethodCall,
  type XmlRpcValue,
} from './codec.js';
import { JsonRpcParseError, jsonRpcFailure, jsonRpcSuccess, parseJsonRpcCall, type JsonRpcCall } from './jsonrpc.js';
import { controlDomain, masterHost, thePool, type SimContext } from './context.js';
import { SimDb, type Ref } from './db.js';
import { SimFaults } from './faults.js';
import { INVENTORY_FILE, writeInventory } from './inventory.js';
import { matchRoute, normalisePath, type HandlerContext, type SimRoute } from './http-route.js';
import { DEFAULT_PROFILE, SIM_PROFILES, simProfile, type SimProfile, type SimProfileName } from './profiles.js';
import { DropConnection, MethodRegistry, RpcDispatcher } from './rpc-dispatch.js';
import { SimStats } from './stats.js';
import { srContentDir, vdiFilePath } from './storage.js';
import { TaskManager } from './tasks.js';
import { loadOrCreateCertificate } from './tls.js';
import { claimSocketPath, LOCAL_SOCKET_FILE } from './local-socket.js';

/** What `populate` gets besides the database: the objects bootstrap made, and the rest. */
export interface PopulateContext extends BootstrapResult {
  readonly sim: SimContext;
  readonly profile: SimProfile;
  readonly stateDir: string;
  readonly deviceDir: string;
}

export interface SimulatorOptions {
  /** State folder (created when missing): db.json, cert, default SR folders, dev/. */
  stateDir: string;
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** TCP port (default 0 = any free port). */
  port?: number;
  /** Serve HTTPS with a self-signed certificate kept in stateDir. */
  tls?: boolean;
  /**
   * Version profile (default xs8 for a new state; an existing state keeps its own unless
   * one is given, in which case the host is "upgraded" to it).
   */
  profile?: SimProfileName;
  /** Root password of a NEW state (default "demo"); only a salted hash is stored. */
  rootPassword?: string;
  /** Added latency per XML-RPC call (ms). */
  latencyMs?: number;
  /** Added latency before each HTTP handler transfer (ms). */
  transferLatencyMs?: number;
  /** Play a pool supporter: logins answer HOST_IS_SLAVE [supporterOf] before the password check. */
  supporterOf?: string;
  /** HTTP handlers (engineer C's export/import routes). */
  routes?: SimRoute[];
  /** Called once when the state is new, after bootstrap (demo generator). */
  populate?: (db: SimDb, ctx: PopulateContext) => void | Promise<void>;
  /** Delay before answering a bad password (XAPI: ~5 s). Default 0. */
  authDelayMs?: number;
  /** Host name shown in the host record and the certificate (default "xenserver-sim"). */
  hostname?: string;
  /** The master's clock: an offset from this machine's and a time zone (default: same time, UTC). */
  clock?: SimClockOptions;
  /**
   * The local UNIX socket (XAPI's /var/lib/xcp/xapi): default `<stateDir>/xapi`; another path;
   * or false for none.
   */
  socketPath?: string | false;
}

export interface SimHandle {
  /** Base URL, e.g. "http://127.0.0.1:41234" (no trailing slash). */
  readonly url: string;
  readonly port: number;
  readonly stateDir: string;
  /** The master's control domain's block devices: a plugged VBD appears here. */
  readonly deviceDir: string;
  /** The master's xensource-inventory (host and control-domain uuids). */
  readonly inventoryPath: string;
  /** The local UNIX socket (plain HTTP, callers trusted as root); undefined when off. */
  readonly socketPath: string | undefined;
  /** SHA-256 certificate fingerprint when tls is on. */
  readonly fingerprint?: string;
  readonly profile: SimProfile;
  readonly db: SimDb;
  readonly faults: SimFaults;
  readonly stats: SimStats;
  /** The master's clock; tests move it with clock.set({ offsetMs, timeZone }). */
  readonly clock: SimClock;
  /** Everything API code shares (for in-process helpers and tests). */
  readonly context: SimContext;
  /** True when this start created the state (bootstrap + populate ran). */
  readonly created: boolean;
  /** Registers another HTTP route at run time. */
  addRoute(route: SimRoute): void;
  /** Flushes state and closes every socket. Idempotent. */
  stop(): Promise<void>;
}

export const DEFAULT_ROOT_PASSWORD = 'demo';
const MAX_RPC_BODY = 16 * 1024 * 1024;
const PROFILE_META = 'profile';

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorised',
  403: 'Forbidden',
  404: 'Not Found',
  413: 'Request Entity Too Large',
  500: 'Internal Error',
  501: 'Not Implemented',
};

function htmlError(status: number, detail: string): string {
  if (status === 500) {
    return `<html><body><h1>HTTP 500 internal server error</h1>An unexpected error occurred; please wait a while and try again. If the problem persists, please contact your support representative.<h1> Additional information </h1>${escapeText(detail)}</body></html>`;
  }
  return `<html><body><h1>HTTP ${status} ${STATUS_TEXT[status] ?? ''}</h1>${escapeText(detail)}</body></html>`;
}

interface RpcProtocol<C> {
  readonly contentType: string;
  parse(body: string): C;
  parseErrorText(err: unknown): string;
  method(call: C): string;
  params(call: C): XmlRpcValue[];
  success(call: C, value: XmlRpcValue): string;
  failure(call: C, description: string[]): string;
}

const XML_RPC: RpcProtocol<MethodCall> = {
  contentType: 'text/xml',
  parse: parseMethodCall,
  parseErrorText: (err) => (err instanceof XmlRpcParseError ? `Xml.Error: ${err.message}` : String(err)),
  method: (c) => c.methodName,
  params: (c) => c.params,
  // system.listMethods is answered without the Status envelope (xen-api ocaml/xapi/api_server.ml).
  success: (c, v) => (c.methodName === 'system.listMethods' ? serializeBare(v) : serializeSuccess(v)),
  failure: (_c, d) => serializeFailure(d),
};

/** POST /jsonrpc: XAPI's JSON-RPC 1.0 and 2.0 (jsonrpc.ts), the same dispatcher as XML-RPC. */
const JSON_RPC: RpcProtocol<JsonRpcCall> = {
  contentType: 'application/json',
  parse: parseJsonRpcCall,
  parseErrorText: (err) => (err instanceof JsonRpcParseError ? `Jsonrpc.Malformed_method_request("${err.message}")` : String(err)),
  method: (c) => c.method,
  params: (c) => c.params,
  success: (c, v) => jsonRpcSuccess(c.version, c.idJson, v),
  failure: (c, d) => jsonRpcFailure(c.version, c.idJson, d),
};

/** API 2.6 (XenServer 7.1) on: where XenCenter and the facts put dependable JSON-RPC. */
function hasJsonRpc(profile: SimProfile): boolean {
  return profile.apiMajor > 2 || (profile.apiMajor === 2 && profile.apiMinor >= 6);
}

/** An RPC answer: 200 even for API failures, XAPI's headers (api_server.ml). */
function sendRpcAnswer(req: IncomingMessage, res: ServerResponse, text: string, contentType: string): void {
  const payload = Buffer.from(text, 'utf8');
  const wantsClose = /\bclose\b/i.test(req.headers.connection ?? '') || (req.httpVersion === '1.0' && !/keep-alive/i.test(req.headers.connection ?? ''));
  res.writeHead(200, 'OK', {
    'content-type': contentType,
    'content-length': payload.length,
    connection: wantsClose ? 'close' : 'keep-alive',
    'cache-control': 'no-cache, no-store',
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Allow-Headers': 'X-Requested-With',
  });
  res.end(payload);
}

/** An XAPI-style error reply: status, connection close, no-cache, small HTML body. */
function sendHttpError(res: ServerResponse, status: number, detail = '', extra: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.socket?.destroy();
    return;
  }
  const body = htmlError(status, detail);
  res.writeHead(status, STATUS_TEXT[status] ?? 'Error', {
    ...extra,
    connection: 'close',
    'cache-control': 'no-cache, no-store',
    'content-type': 'text/html',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    const k = part.slice(0, i).trim();
    const v = part.slice(i + 1).trim();
    if (!out.has(k)) {
      try {
        out.set(k, decodeURIComponent(v));
      } catch {
        out.set(k, v);
      }
    }
  }
  return out;
}

/** "user:password" from a Basic Authorization header (never logged). */
function basicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m?.[1]) return undefined;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const i = text.indexOf(':');
  if (i < 0) return undefined;
  return { user: text.slice(0, i), password: text.slice(i + 1) };
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) over = true;
      else chunks.push(c);
    });
    req.on('end', () => resolveBody(over ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

/** Request body with byte counting and the "drop after N bytes" fault. */
class CountingBody extends Transform {
  private seen = 0;

  constructor(
    private readonly onBytes: (n: number) => void,
    private readonly dropAfter: number | undefined,
    private readonly cut: () => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.dropAfter !== undefined && this.seen + chunk.length > this.dropAfter) {
      const keep = Math.max(0, this.dropAfter - this.seen);
      this.seen += keep;
      if (keep > 0) {
        this.onBytes(keep);
        this.push(chunk.subarray(0, keep));
      }
      this.cut();
      cb(new Error('connection dropped by fault injection'));
      return;
    }
    this.seen += chunk.length;
    this.onBytes(chunk.length);
    cb(null, chunk);
  }
}

class Simulator {
  readonly registry = new MethodRegistry();
  readonly routes: SimRoute[] = [];
  private server!: Server;
  /** The local UNIX socket's server, when there is one. */
  private localServer: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private dispatcher!: RpcDispatcher;
  private events!: EventLog;
  private stopped: Promise<void> | undefined;

  constructor(
    readonly ctx: SimContext,
    private readonly opts: SimulatorOptions,
  ) {}

  async listen(tlsCert?: { cert: string; key: string }, socketPath?: string): Promise<number> {
    this.events = new EventLog(this.ctx.db, this.ctx.profile);
    registerGenericMethods(this.registry, this.ctx.profile);
    registerSessionMethods(this.registry, this.ctx.profile);
    registerTaskMethods(this.registry);
    registerStorageMethods(this.registry);
    registerVbdVmMethods(this.registry);
    registerVmLifecycleMethods(this.registry, this.ctx.profile);
    registerVmApplianceMethods(this.registry, this.ctx.profile);
    registerVmCloneMethods(this.registry, this.ctx.profile);
    registerVdiSrOpsMethods(this.registry, this.ctx.profile);
    registerEventMethods(this.registry, this.ctx.profile, this.events);
    registerSystemMethods(this.registry);
    registerHostTimeMethods(this.registry, this.ctx.profile);
    registerNetworkVifMethods(this.registry, this.ctx.profile);
    registerMessagePoolHostMethods(this.registry, this.ctx.profile);
    this.dispatcher = new RpcDispatcher(this.ctx, this.registry);
    for (const r of this.opts.routes ?? []) this.routes.push(r);

    const handlerFor = (localRoot: boolean) => (req: IncomingMessage, res: ServerResponse) => {
      void this.handle(req, res, localRoot).catch((err: unknown) => {
        if (process.env.XSCONSOLE_DR_SIM_DEBUG) process.stderr.write(`simulator: ${(err as Error).stack ?? String(err)}\n`);
        sendHttpError(res, 500, (err as Error).message);
      });
    };
    const handler = handlerFor(false);
    const track = (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    };
    this.server = tlsCert ? createHttpsServer({ cert: tlsCert.cert, key: tlsCert.key }, handler) : createHttpServer(handler);
    this.server.on('connection', track);
    // XAPI listens on its UNIX socket first, after removing a stale one (xen-api
    // ocaml/xapi/xapi.ml listen_unix_socket); plain HTTP, no TLS there.
    if (socketPath !== undefined) {
      await claimSocketPath(socketPath);
      const local = createHttpServer(handlerFor(true));
      local.on('connection', track);
      await new Promise<void>((ok, fail) => {
        local.once('error', fail);
        local.listen(socketPath, () => {
          local.off('error', fail);
          ok();
        });
      });
      this.localServer = local;
      // Root without a password for whoever can connect: owner only.
      await chmod(socketPath, 0o600).catch(async (err: unknown) => {
        await this.closeLocal();
        throw err;
      });
    }
    // TLS sockets are tracked through their underlying TCP connection above.
    try {
      await new Promise<void>((ok, fail) => {
        this.server.once('error', fail);
        this.server.listen(this.opts.port ?? 0, this.opts.host ?? '127.0.0.1', () => {
          this.server.off('error', fail);
          ok();
        });
      });
    } catch (err) {
      await this.closeLocal();
      throw err;
    }
    return (this.server.address() as AddressInfo).port;
  }

  /** Closes the UNIX socket's server, which removes the socket file. */
  private closeLocal(): Promise<void> {
    const local = this.localServer;
    if (!local) return Promise.resolve();
    return new Promise<void>((r) => local.close(() => r()));
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.events.close();
      const closed = new Promise<void>((r) => this.server.close(() => r()));
      const localClosed = this.closeLocal();
      for (const s of this.sockets) s.destroy();
      this.server.closeAllConnections?.();
      this.localServer?.closeAllConnections();
      await closed;
      await localClosed;
      await this.ctx.db.close();
    })();
    return this.stopped;
  }

  /** `localRoot`: the request came over the local UNIX socket. */
  private async handle(req: IncomingMessage, res: ServerResponse, localRoot: boolean): Promise<void> {
    const method = req.method ?? '';
    if (method === 'POST') {
      // xen-api ocaml/xapi/xapi.ml: post_jsonrpc is /jsonrpc; every other path, whatever the
      // content-type, reaches the XML-RPC callback (post_root, post_RPC2, post_json).
      const path = new URL(req.url ?? '/', 'http://simulator').pathname;
      if (path === '/jsonrpc' && hasJsonRpc(this.ctx.profile)) await this.serveRpc(req, res, JSON_RPC, localRoot);
      else await this.serveRpc(req, res, XML_RPC, localRoot);
      return;
    }
    if (method !== 'GET' && method !== 'PUT') {
      sendHttpError(res, 501, `method ${method} not implemented`);
      return;
    }
    const url = new URL(req.url ?? '/', 'http://simulator');
    const route = matchRoute(this.routes, method, url.pathname);
    if (!route) {
      sendHttpError(res, method === 'PUT' ? 403 : 404, '');
      return;
    }
    await this.handleRoute(route, req, res, url, localRoot);
  }

  /** One RPC over either protocol: read, parse (HTTP 500 when malformed), dispatch, answer. */
  private async serveRpc<C>(req: IncomingMessage, res: ServerResponse, protocol: RpcProtocol<C>, localRoot: boolean): Promise<void> {
    const body = await readBody(req, MAX_RPC_BODY);
    if (!body) {
      sendHttpError(res, 413, 'request too large');
      return;
    }
    let call: C;
    try {
      call = protocol.parse(body.toString('utf8'));
    } catch (err) {
      sendHttpError(res, 500, protocol.parseErrorText(err));
      return;
    }
    let text: string;
    try {
      const outcome = await this.dispatcher.call(protocol.method(call), protocol.params(call), { localRoot });
      text = outcome.ok ? protocol.success(call, outcome.value) : protocol.failure(call, outcome.description);
    } catch (err) {
      if (err instanceof DropConnection) {
        req.socket.destroy();
        return;
      }
      text = protocol.failure(call, errorDescription(err));
    }
    sendRpcAnswer(req, res, text, protocol.contentType);
  }


  private async handleRoute(route: SimRoute, req: IncomingMessage, res: ServerResponse, url: URL, localRoot: boolean): Promise<void> {
    const { db, tasks, auth, stats, faults } = this.ctx;
    const path = normalisePath(route.path);
    stats.recordRequest(path);
    const cookies = parseCookies(req.headers.cookie);
    const queryPairs: Array<[string, string]> = [...url.searchParams.entries()];
    const query = new Map<string, string>();
    for (const [k, v] of queryPairs) if (!query.has(k)) query.set(k, v);
    const param = (k: string) => cookies.get(k) ?? query.get(k);

    // Authentication (as in xen-api ocaml/xapi/xapi_http.ml): over the UNIX socket none, and
    // the handler runs in a session of its own whatever session_id says (with_context logs
    // in as the host and out afterwards); else session_id (cookie, then query; a local
    // session passes too), else Basic, else 401.
    const taskId = param('task_id');
    let sessionRef: Ref | undefined;
    let viaBasic = false;
    let ownSession = false;
    const sid = param('session_id');
    if (localRoot) {
      const host = masterHost(db);
      sessionRef = auth.createSession(host, 'UNIX socket', host);
      ownSession = true;
    } else if (sid !== undefined && auth.isValid(sid)) sessionRef = sid;
    if (sessionRef === undefined && sid === undefined) {
      const creds = basicCredentials(req.headers.authorization);
      if (creds && (await auth.checkPassword(creds.user, creds.password))) {
        sessionRef = auth.createSession(creds.user, 'HTTP Basic', masterHost(db));
        viaBasic = true;
        ownSession = true;
      }
    }
    if (sessionRef === undefined) {
      if (taskId !== undefined && tasks.isPending(taskId)) tasks.fail(taskId, ['SESSION_AUTHENTICATION_FAILED']);
      sendHttpError(res, 401, 'Authorisation required', { 'WWW-Authenticate': `Basic realm="${route.label}"` });
      return;
    }
    const session = sessionRef;
    if (ownSession) res.on('close', () => db.exists('session', session) && db.destroy('session', session));

    // The task: the caller's, or one of our own.
    let taskRef: Ref;
    let createdByServer = false;
    if (taskId !== undefined) {
      if (!db.exists('task', taskId)) {
        sendHttpError(res, 500, `HANDLE_INVALID task ${taskId}`);
        return;
      }
      taskRef = taskId;
    } else {
      taskRef = tasks.create(route.taskName ?? route.label, { residentOn: masterHost(db) });
      createdByServer = true;
    }
    res.setHeader('task-id', taskRef);
    const task = tasks.handlerTask(taskRef, createdByServer);

    const fault = faults.forRoute(route.method, path);
    await sleep(fault.latencyMs);
    if (fault.httpStatus !== undefined) {
      task.fail('INTERNAL_ERROR', [`injected HTTP ${fault.httpStatus}`]);
      sendHttpError(res, fault.httpStatus, 'injected fault');
      return;
    }
    if (fault.taskError) {
      const [code = 'INTERNAL_ERROR', ...params] = fault.taskError;
      task.fail(code, params);
      sendHttpError(res, 500, code);
      return;
    }

    const dropAfter = fault.dropAfterBytes;
    const cut = () => req.socket.destroy();
    const body = req.pipe(new CountingBody((n) => stats.addBytesIn(path, n), route.method === 'PUT' ? dropAfter : undefined, cut));
    req.on('error', (e) => body.destroy(e));
    let sent = 0;
    const send = async (chunk: Buffer | string): Promise<void> => {
      let buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      let drop = false;
      if (route.method === 'GET' && dropAfter !== undefined && sent + buf.length > dropAfter) {
        buf = buf.subarray(0, Math.max(0, dropAfter - sent));
        drop = true;
      }
      sent += buf.length;
      stats.addBytesOut(path, buf.length);
      if (buf.length > 0) {
        await new Promise<void>((ok, fail) => {
          res.write(buf, (err) => (err ? fail(err) : ok()));
        });
      }
      if (drop) {
        cut();
        throw new Error('connection dropped by fault injection');
      }
    };

    const ctx: HandlerContext = {
      route,
      req,
      res,
      url,
      query,
      queryPairs,
      cookies,
      db,
      session: { ref: session, user: viaBasic ? ROOT_USER : auth.userOf(session), viaBasicAuth: viaBasic },
      task,
      profile: this.ctx.profile,
      stateDir: this.ctx.stateDir,
      deviceDir: this.ctx.deviceDir,
      body,
      send,
      dropAfterBytes: dropAfter,
      httpError: (status, detail) => sendHttpError(res, status, detail ?? ''),
      srContentDir: (sr) => srContentDir(db, this.ctx.stateDir, sr),
      vdiFilePath: (vdi) => vdiFilePath(db, this.ctx.stateDir, vdi),
    };
    try {
      await route.handler(ctx);
      if (!task.done) task.fail('INTERNAL_ERROR', [`handler ${route.label} ended without completing its task`]);
      if (!res.writableEnded) {
        if (!res.headersSent) sendHttpError(res, 500, 'handler sent no response');
        else res.end();
      }
    } catch (err) {
      const [code = 'INTERNAL_ERROR', ...params] = errorDescription(err);
      if (!task.done) task.fail(code, params);
      if (!res.headersSent) sendHttpError(res, 500, code);
      else res.socket?.destroy();
    }
  }
}

/** Aligns the master's version fields with a profile (new state, or a profile change). */
function applyProfile(db: SimDb, profile: SimProfile): void {
  const host = masterHost(db);
  const sv = { ...db.get('host', host).software_version };
  Object.assign(sv, {
    product_version: profile.productVersion,
    product_brand: profile.productBrand,
    build_number: profile.buildNumber,
    xapi: `${profile.xapiMajor}.${profile.xapiMinor}`,
    date: profile.buildDate,
  });
  if (profile.platformVersion) sv.platform_version = profile.platformVersion;
  else delete sv.platform_version;
  if (profile.platformName) sv.platform_name = profile.platformName;
  else delete sv.platform_name;
  db.update('host', host, {
    API_version_major: profile.apiMajor,
    API_version_minor: profile.apiMinor,
    software_version: sv,
    control_domain: profile.hasHostControlDomain ? controlDomain(db) : 'OpaqueRef:NULL',
  });
}

/** Starts a simulator on a state folder (creating and bootstrapping it when new). */
export async function startSimulator(opts: SimulatorOptions): Promise<SimHandle> {
  const stateDir = resolve(opts.stateDir);
  const deviceDir = join(stateDir, 'dev');
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await mkdir(deviceDir, { recursive: true });
  const { db, isNew } = await SimDb.open(join(stateDir, 'db.json'));

  const storedProfile = db.getMeta(PROFILE_META);
  const profileName = opts.profile ?? (storedProfile as SimProfileName | undefined) ?? DEFAULT_PROFILE;
  const profile = simProfile(profileName);

  const faults = new SimFaults({ latencyMs: opts.latencyMs ?? 0, transferLatencyMs: opts.transferLatencyMs ?? 0 });
  const stats = new SimStats();
  const authOpts: { authDelayMs: number; supporterOf?: string } = { authDelayMs: opts.authDelayMs ?? 0 };
  if (opts.supporterOf !== undefined) authOpts.supporterOf = opts.supporterOf;
  const auth = new SimAuth(db, authOpts);
  const tasks = new TaskManager(db);
  const clock = new SimClock(opts.clock);
  const ctx: SimContext = { db, profile, stateDir, deviceDir, tasks, auth, faults, stats, clock };

  const hostname = opts.hostname ?? 'xenserver-sim';
  if (isNew) {
    db.setMeta(PROFILE_META, profile.name);
    await auth.setRootPassword(opts.rootPassword ?? DEFAULT_ROOT_PASSWORD);
    const boot = bootstrap(db, profile, { hostname, address: opts.host ?? '127.0.0.1' });
    if (opts.populate) await opts.populate(db, { ...boot, sim: ctx, profile, stateDir, deviceDir });
  } else {
    thePool(db); // a loaded state must have its pool
    if (storedProfile !== profile.name) {
      db.setMeta(PROFILE_META, profile.name);
      applyProfile(db, profile);
    }
    // Older states announced the device folder to clients; a host never does that.
    db.mapRemove('host', masterHost(db), 'other_config', 'xsconsole-dr-sim:device-dir');
  }
  await db.flush();
  const inventoryPath = join(stateDir, INVENTORY_FILE);
  await writeInventory(db, inventoryPath);

  const cert = opts.tls ? await loadOrCreateCertificate(stateDir, hostname) : undefined;
  const sim = new Simulator(ctx, opts);
  const socketPath = opts.socketPath === false ? undefined : resolve(opts.socketPath ?? join(stateDir, LOCAL_SOCKET_FILE));
  let port: number;
  try {
    port = await sim.listen(cert, socketPath);
  } catch (err) {
    await db.close();
    throw err;
  }
  const host = opts.host ?? '127.0.0.1';
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  const handle: SimHandle = {
    url: `${cert ? 'https' : 'http'}://${hostInUrl}:${port}`,
    port,
    stateDir,
    deviceDir,
    inventoryPath,
    socketPath,
    ...(cert && { fingerprint: cert.fingerprint }),
    profile,
    db,
    faults,
    stats,
    clock,
    context: ctx,
    created: isNew,
    addRoute: (r) => {
      sim.routes.push(r);
    },
    stop: () => sim.stop(),
  };
  return handle;
}

export { SIM_PROFILES };
