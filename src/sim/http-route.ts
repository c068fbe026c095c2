/**
 * How an HTTP handler (/export_metadata, /import_metadata, /export_raw_vdi,
 * /import_raw_vdi, /pool/xmldbdump, …) plugs into the simulator.
 *
 * A handler is a {@link SimRoute}. The server (server.ts) does, in this order, before the
 * handler runs (as xen-api ocaml/libs/http-lib/http_svr.ml and ocaml/xapi/xapi_http.ml do):
 *  1. routing by method + longest registered path prefix (a trailing slash is harmless);
 *     an unregistered PUT → 403, an unknown HTTP method → 501; POSTs without a more
 *     specific route go to XML-RPC;
 *  2. authentication: `session_id` from the cookie, else the query; else HTTP Basic with
 *     the root password (an internal login/logout, as XAPI does); else
 *     `401` + `WWW-Authenticate: Basic realm="<label>"`. A bad session with a `task_id`
 *     fails that task with SESSION_AUTHENTICATION_FAILED (no params) before the 401;
 *  3. the task: the one named by `task_id` (cookie first, then query), else a new one the
 *     server creates (name_label = `taskName` ?? `label`); header `task-id: <ref>` is set
 *     on the response (`res.setHeader`, so a later `res.writeHead` keeps it);
 *  4. faults for this route (faults.ts): an injected HTTP status or task error is answered
 *     by the server without calling the handler; a "drop after N bytes" fault is handed to
 *     the handler through {@link HandlerContext.body} / {@link HandlerContext.send};
 *  5. transfer latency (the `transferLatencyMs` option) is waited out.
 *
 * The handler then owns the response and MUST complete the task: `ctx.task.succeed(…)` or
 * `ctx.task.fail(…)`. Throwing an ApiFailure (api-error.ts) fails the task with that code
 * and params; any other throw fails it with INTERNAL_ERROR. After a throw the server
 * answers `500` if no headers were sent yet, else cuts the connection. A handler that
 * returns without completing its task gets it failed with INTERNAL_ERROR (a bug to fix).
 *
 * Byte accounting (stats.ts) only sees bytes that go through `ctx.body` (request) and
 * `ctx.send` (response): use those instead of `req` / `res.write` for body data.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { XmlRpcValue } from './codec.js';
import type { SimDb, Ref } from './db.js';
import type { SimProfile } from './profiles.js';

export type SimRouteMethod = 'GET' | 'PUT';

export interface SimRoute {
  method: SimRouteMethod;
  /** Path without trailing slash, e.g. "/export_metadata" or "/pool/xmldbdump". */
  path: string;
  /** XAPI's name for the handler; used as the Basic realm (e.g. "get_export_metadata"). */
  label: string;
  /** name_label of the task the server creates when the request names none (default: label). */
  taskName?: string;
  handler(ctx: HandlerContext): Promise<void>;
}

/** The task a handler runs in. All methods are no-ops once the task is done. */
export interface HandlerTask {
  readonly ref: Ref;
  /** True when the server created the task (the request had no task_id). */
  readonly createdByServer: boolean;
  /** True once succeed/fail ran or the task was cancelled. */
  readonly done: boolean;
  /** Aborted when a client calls task.cancel on this task. */
  readonly signal: AbortSignal;
  /** Sets `progress` (0.0–1.0; clamped). */
  progress(fraction: number): void;
  /**
   * Completes with status success, progress 1.0. `result` is serialised as an XML-RPC
   * `<value>` string (e.g. a ref → "<value>OpaqueRef:…</value>", an array of refs for
   * metadata import); omitted → result "" (what resultless XAPI handlers leave).
   */
  succeed(result?: XmlRpcValue): void;
  /** Completes with status failure and error_info [code, …params]. */
  fail(code: string, params?: readonly string[]): void;
}

/** Who the request authenticated as. */
export interface HandlerSession {
  /** Session ref (for Basic auth: a session the server created and destroys afterwards). */
  readonly ref: Ref;
  readonly user: string;
  readonly viaBasicAuth: boolean;
}

export interface HandlerContext {
  readonly route: SimRoute;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** Request URL (base http://<host>). */
  readonly url: URL;
  /** Query parameters, first value per key (XAPI looks up keys; `vdi:<src>` keys are distinct). */
  readonly query: ReadonlyMap<string, string>;
  /** Every query pair in order, repeated keys kept. */
  readonly queryPairs: ReadonlyArray<readonly [string, string]>;
  /** Cookies of the request (session_id / task_id may come from here). */
  readonly cookies: ReadonlyMap<string, string>;
  readonly db: SimDb;
  readonly session: HandlerSession;
  readonly task: HandlerTask;
  readonly profile: SimProfile;
  /** Simulator state folder. */
  readonly stateDir: string;
  /** Folder holding the control domain's block-device symlinks (xvdb, …). */
  readonly deviceDir: string;
  /**
   * The request body (byte-counted; with a "drop after N bytes" fault it ends in an error
   * after N bytes and the connection is cut). Read it instead of `req`.
   */
  readonly body: Readable;
  /**
   * Writes response body bytes (respecting backpressure; counted). With a "drop after N
   * bytes" fault, only the first N bytes of the whole response body are written, then the
   * connection is cut and this rejects. Call `res.writeHead` (or let the first send do an
   * implicit 200) first.
   */
  send(chunk: Buffer | string): Promise<void>;
  /** N when a fault asks to cut this transfer after N body bytes, else undefined. */
  readonly dropAfterBytes: number | undefined;
  /**
   * Sends an XAPI-style error response (status line, `connection: close`,
   * `cache-control: no-cache, no-store`, `content-type: text/html`, short HTML body) if
   * headers are not sent yet; otherwise cuts the connection. Does not touch the task.
   */
  httpError(status: number, detail?: string): void;
  /** Folder holding the SR's VDI image files (see storage.ts). */
  srContentDir(sr: Ref): string;
  /** Image file of a VDI: `<srContentDir(VDI.SR)>/<VDI.location>.img`. */
  vdiFilePath(vdi: Ref): string;
}

/** Normalises a route or request path: no trailing slash (except "/"), no query. */
export function normalisePath(path: string): string {
  const noQuery = path.split('?')[0] ?? '';
  const trimmed = noQuery.replace(/\/+$/, '');
  return trimmed === '' ? '/' : trimmed;
}

/**
 * The route for (method, path): longest registered prefix on whole path segments
 * (`/export_raw_vdi/` and `/export_raw_vdi/x` reach `/export_raw_vdi`), or undefined.
 */
export function matchRoute(routes: readonly SimRoute[], method: string, path: string): SimRoute | undefined {
  const p = normalisePath(path);
  let best: SimRoute | undefined;
  let bestLen = -1;
  for (const r of routes) {
    if (r.method !== method) continue;
    const rp = normalisePath(r.path);
    const hit = rp === '/' || p === rp || p.startsWith(`${rp}/`);
    if (hit && rp.length > bestLen) {
      best = r;
      bestLen = rp.length;
    }
  }
  return best;
}
