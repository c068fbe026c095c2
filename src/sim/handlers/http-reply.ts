/**
 * Response heads the way XAPI's handlers write them: `Connection: close`, no `Date`,
 * sometimes no Content-Length (the body then ends with the connection, never with HTTP
 * chunked encoding), and for /export_metadata a `HTTP/1.0` status line.
 *
 * Node always writes "HTTP/1.1"; the 1.0 line is obtained by rewriting the first line
 * in ServerResponse's header serialiser for this one response. That hook is internal to
 * Node, so it is used only when present and the response stays correct (just 1.1) without.
 */
import type { ServerResponse } from 'node:http';
import type { HandlerContext } from '../http-route.js';

export type HeaderList = ReadonlyArray<readonly [string, string]>;

export interface HeadOptions {
  status: number;
  reason: string;
  /** Write "HTTP/1.0" instead of "HTTP/1.1" in the status line. */
  http10?: boolean;
  /** Headers in order. Without a content-length header the body is delimited by closing. */
  headers: HeaderList;
  /** Keep the `task-id` header the server set (default true). */
  keepTaskIdHeader?: boolean;
}

interface StoreHeaderHook {
  _storeHeader?: (firstLine: string, headers: unknown) => void;
}

function useHttp10StatusLine(res: ServerResponse): void {
  const r = res as unknown as StoreHeaderHook;
  const original = r._storeHeader;
  if (typeof original !== 'function') return;
  r._storeHeader = function (this: unknown, firstLine: string, headers: unknown) {
    return original.call(this, firstLine.replace(/^HTTP\/1\.1 /, 'HTTP/1.0 '), headers);
  };
}

/** Writes the status line and headers; the body follows through ctx.send. */
export function writeHead(ctx: HandlerContext, opts: HeadOptions): void {
  const res = ctx.res;
  if (res.headersSent) return;
  res.sendDate = false;
  const taskId = res.getHeader('task-id');
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  const hasLength = opts.headers.some(([k]) => k.toLowerCase() === 'content-length');
  // No length and no chunking: Node then delimits the body by closing the connection.
  if (!hasLength) res.removeHeader('transfer-encoding');
  res.shouldKeepAlive = false;
  if (opts.http10) useHttp10StatusLine(res);
  const list: Array<[string, string]> = opts.headers.map(([k, v]) => [k, v]);
  if (opts.keepTaskIdHeader !== false && taskId !== undefined && !list.some(([k]) => k.toLowerCase() === 'task-id')) {
    list.push(['task-id', String(taskId)]);
  }
  res.writeHead(opts.status, opts.reason, list.flat());
}

/** Ends the response (and with it the connection, as XAPI's handlers do). */
export async function endResponse(ctx: HandlerContext): Promise<void> {
  const res = ctx.res;
  if (res.writableEnded) return;
  await new Promise<void>((resolve) => {
    res.end(() => resolve());
    res.once('close', () => resolve());
  });
}

/**
 * What XAPI appends after a 200 when an import fails later: a second, stray response on
 * the same connection, which a client must ignore.
 */
export const STRAY_500 = 'HTTP/1.1 500 Internal Error\r\nconnection: close\r\ncontent-length: 0\r\n\r\n';

/** True for the query/cookie flags XAPI treats as set: exactly the string "true". */
export function flag(ctx: HandlerContext, key: string): boolean {
  return ctx.query.get(key) === 'true';
}

/** XAPI's bool_of_string for parameters with a default: "true"/"false", else the default. */
export function boolParam(ctx: HandlerContext, key: string, dflt: boolean): boolean {
  const v = ctx.query.get(key);
  if (v === undefined) return dflt;
  if (v.toLowerCase() === 'true') return true;
  if (v.toLowerCase() === 'false') return false;
  return dflt;
}
