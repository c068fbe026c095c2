/**
 * The HTTP layer shared by XML-RPC calls and handler transfers: one keep-alive agent per
 * scheme carrying the TLS policy, an optional Unix socket (XAPI's local
 * /var/lib/xcp/xapi), and requests that can be aborted and timed out.
 *
 * Every exchange is bounded in time and size: XML-RPC calls by a fixed deadline, transfers by
 * a rate deadline (below) besides the idle timeout; every answer held in memory by its own
 * size limit and, together with the others in flight, by an answer budget (answer-budget.ts).
 */
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { AbortError, TransportError, describeTarget, toTransportError } from './errors.js';
import { sharedAnswerBudget, type AnswerBudget } from './answer-budget.js';
import { createHttpsAgent, tlsMode, tlsWarning, type TlsMode, type TlsOptions } from './tls.js';

export interface ConnectorOptions {
  tls?: TlsOptions;
  /** Talk HTTP over this Unix socket instead of TCP (URL host is then only nominal). */
  socketPath?: string;
  keepAlive?: boolean;
  /** Bytes of answers held in memory at once (default: the process-wide budget). */
  answerBudget?: AnswerBudget;
}

/**
 * A transfer must end within `floorMs` plus one second per `minBytesPerSecond` bytes it moved:
 * a host that stops, or drips a byte now and then, fails at the floor; one that keeps sending
 * at least that fast is never cut, and the largest transfer allowed (its size limit) is bounded
 * in time too.
 */
export interface RateDeadline {
  floorMs: number;
  minBytesPerSecond: number;
  /** What is transferred, for the message ("the transfer of /export_raw_vdi"). */
  what: string;
}

export interface OpenOptions {
  method: 'GET' | 'PUT' | 'POST';
  headers?: http.OutgoingHttpHeaders;
  signal?: AbortSignal;
  /** Whole-exchange deadline (XML-RPC calls). */
  deadlineMs?: number;
  /** Longest silence on the socket (streaming transfers). */
  idleMs?: number;
  /** Deadline growing with the bytes moved (handler transfers). */
  rateDeadline?: RateDeadline;
}

/**
 * One request in flight. The first failure (abort, timeout, socket error) is kept in
 * `error` so readers of the response body report the real cause rather than a generic
 * "aborted" from node.
 */
export class OpenRequest {
  readonly req: http.ClientRequest;
  readonly response: Promise<http.IncomingMessage>;
  readonly target: string;
  /** Shared by every answer held in memory (see answer-budget.ts). */
  readonly budget: AnswerBudget;
  /** TransportError / AbortError, or a RangeError for an upload body of the wrong length. */
  error: Error | undefined;
  #res: http.IncomingMessage | undefined;
  #cleanups: Array<() => void> = [];
  #moved = 0;
  readonly #started = performance.now();

  constructor(req: http.ClientRequest, target: string, opts: OpenOptions, budget: AnswerBudget = sharedAnswerBudget) {
    this.req = req;
    this.target = target;
    this.budget = budget;
    this.response = new Promise((resolve, reject) => {
      req.once('response', (res: http.IncomingMessage) => {
        // Readers attach their own handlers; this one only keeps a late socket error (after
        // we tore the request down on purpose) from becoming an uncaught exception.
        res.on('error', () => undefined);
        this.#res = res;
        resolve(res);
      });
      req.on('error', (err) => {
        this.error ??= toTransportError(err, target);
        reject(this.error);
      });
    });
    // The caller may never await `response` (e.g. after a failed write); keep node quiet.
    this.response.catch(() => undefined);

    const { signal } = opts;
    if (signal) {
      const onAbort = () => this.fail(new AbortError(undefined, { cause: signal.reason }));
      if (signal.aborted) queueMicrotask(onAbort);
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        this.#cleanups.push(() => signal.removeEventListener('abort', onAbort));
      }
    }
    if (opts.deadlineMs !== undefined) {
      const ms = opts.deadlineMs;
      const timer = setTimeout(
        () => this.fail(new TransportError(`no complete answer from ${target} within ${ms / 1000} s`, { kind: 'timeout', target, detail: `call deadline ${ms} ms` })),
        ms,
      );
      this.#cleanups.push(() => clearTimeout(timer));
    }
    if (opts.idleMs !== undefined) {
      const ms = opts.idleMs;
      req.setTimeout(ms, () =>
        this.fail(new TransportError(`${target} sent nothing for ${ms / 1000} s`, { kind: 'timeout', target, detail: `idle timeout ${ms} ms` })),
      );
    }
    if (opts.rateDeadline) this.#armRateDeadline(opts.rateDeadline);
    req.once('close', () => this.done());
  }

  /** Counts bytes received or sent (they extend the rate deadline). */
  noteBytes(n: number): void {
    this.#moved += n;
  }

  /**
   * One timer, re-armed only when it fires: the time allowed is recomputed from the bytes
   * moved by then, so counting a chunk costs an addition.
   */
  #armRateDeadline(d: RateDeadline): void {
    let timer: NodeJS.Timeout | undefined;
    const allowedMs = () => d.floorMs + (this.#moved / d.minBytesPerSecond) * 1000;
    const check = () => {
      const elapsed = performance.now() - this.#started;
      const left = allowedMs() - elapsed;
      if (left > 0) {
        timer = setTimeout(check, Math.max(1, Math.ceil(left)));
        return;
      }
      const secs = (elapsed / 1000).toFixed(1);
      this.fail(
        new TransportError(`${d.what} with ${this.target} did not finish in time: ${this.#moved} bytes in ${secs} s`, {
          kind: 'timeout',
          target: this.target,
          detail: `transfer deadline: ${(d.floorMs / 1000).toFixed(1)} s plus 1 s per ${formatRate(d.minBytesPerSecond)}; ${this.#moved} bytes moved in ${secs} s`,
        }),
      );
    };
    timer = setTimeout(check, Math.max(1, d.floorMs));
    this.#cleanups.push(() => clearTimeout(timer));
  }

  /** Tears the request down with `err` (first error wins). */
  fail(err: Error): void {
    this.error ??= err;
    if (this.#res) {
      // Once the response exists node no longer listens for socket errors, so destroying
      // with an error would surface as an uncaught exception; readers use `error` instead.
      this.#res.destroy();
      this.req.destroy();
    } else {
      this.req.destroy(this.error);
    }
    this.done();
  }

  /** Releases timers and signal listeners. */
  done(): void {
    for (const c of this.#cleanups.splice(0)) c();
  }
}

/**
 * Connections to one host at most: calls, handler transfers (one connection each: XAPI
 * closes them) and the clean-ups beside them, for up to 32 transfers in flight.
 */
const MAX_SOCKETS = 64;

function formatRate(bytesPerSecond: number): string {
  return bytesPerSecond >= 1024 * 1024 && bytesPerSecond % (1024 * 1024) === 0
    ? `${bytesPerSecond / (1024 * 1024)} MiB`
    : bytesPerSecond >= 1024 && bytesPerSecond % 1024 === 0
      ? `${bytesPerSecond / 1024} KiB`
      : `${bytesPerSecond} bytes`;
}

export class Connector {
  readonly tls: TlsOptions | undefined;
  readonly socketPath: string | undefined;
  readonly tlsMode: TlsMode;
  /** Shown by the UI when verification is off. */
  readonly tlsWarning: string | undefined;
  readonly answerBudget: AnswerBudget;
  readonly #httpAgent: http.Agent;
  #httpsAgent: https.Agent | undefined;
  #closed = false;

  constructor(opts: ConnectorOptions = {}) {
    this.tls = opts.tls;
    this.socketPath = opts.socketPath;
    this.answerBudget = opts.answerBudget ?? sharedAnswerBudget;
    this.tlsMode = tlsMode(opts.tls);
    this.tlsWarning = tlsWarning(opts.tls);
    this.#httpAgent = new http.Agent({ keepAlive: opts.keepAlive ?? true, maxSockets: MAX_SOCKETS });
    // Validate the policy now (bad fingerprint text) rather than at first https use.
    this.#httpsAgent = createHttpsAgent(opts.tls, { keepAlive: opts.keepAlive ?? true, maxSockets: MAX_SOCKETS });
  }

  /** Printable target, never with a query string. */
  describe(url: URL): string {
    return describeTarget(url, this.socketPath);
  }

  open(url: URL, opts: OpenOptions): OpenRequest {
    if (this.#closed) throw new TransportError('connection closed (logged out)', { kind: 'socket', target: this.describe(url) });
    const overUnix = this.socketPath !== undefined;
    const secure = !overUnix && url.protocol === 'https:';
    if (!overUnix && url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError(`unsupported URL scheme ${url.protocol}`);
    }
    const common: http.RequestOptions = {
      method: opts.method,
      path: `${url.pathname || '/'}${url.search}`,
      headers: { ...opts.headers },
      agent: secure ? this.#httpsAgent : this.#httpAgent,
    };
    const options: http.RequestOptions = overUnix
      ? { ...common, socketPath: this.socketPath!, headers: { host: 'localhost', ...common.headers } }
      : {
          ...common,
          protocol: url.protocol,
          hostname: url.hostname.replace(/^\[|\]$/g, ''),
          port: url.port ? Number(url.port) : secure ? 443 : 80,
        };
    const req = secure ? https.request(options) : http.request(options);
    return new OpenRequest(req, this.describe(url), opts, this.answerBudget);
  }

  close(): void {
    this.#closed = true;
    this.#httpAgent.destroy();
    this.#httpsAgent?.destroy();
    this.#httpsAgent = undefined;
  }
}

/**
 * Reads a whole response body, refusing more than `limit` bytes. Errors prefer the
 * cause recorded on the OpenRequest (abort, timeout).
 */
export async function readBody(
  res: http.IncomingMessage,
  open: OpenRequest,
  limit: number,
  onBytes?: (received: number) => void,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const size = await consumeBody(res, open, limit, (c, received) => {
    chunks.push(c);
    onBytes?.(received);
  });
  // One chunk (most metadata exports) is the body as it is: no copy, no garbage.
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

/**
 * Hands each chunk of a response body to `onChunk` as it arrives (at most `limit` bytes
 * in all); resolves with the size once the body is complete. A throwing `onChunk` ends
 * the exchange with its error. The body is held in memory by the caller, so it takes its
 * bytes from the answer budget first: when the budget is spent, reading stops until other
 * answers have finished.
 */
export function consumeBody(
  res: http.IncomingMessage,
  open: OpenRequest,
  limit: number,
  onChunk: (chunk: Buffer, received: number) => void,
  /**
   * Runs once the whole body has been delivered, while its bytes still count against the
   * budget (a JSON answer is parsed here: its text is held until then). A throw fails the body.
   */
  onEnd?: () => void,
): Promise<number> {
  return new Promise((resolve, reject) => {
    let size = 0;
    let settled = false;
    const share = open.budget.open();
    /** Chunks that arrived while waiting for the budget (in order). */
    const waiting: Buffer[] = [];
    const settle = (err: Error | null) => {
      if (settled) return;
      settled = true;
      share.release();
      waiting.length = 0;
      if (err) reject(open.error ?? err);
      else resolve(size);
    };
    const deliver = (c: Buffer): boolean => {
      try {
        onChunk(c, size);
        return true;
      } catch (err) {
        // Not read any further: the connection cannot be reused.
        const e = err instanceof Error ? err : new Error(String(err));
        settled = true;
        share.release();
        reject(e);
        res.destroy();
        return false;
      }
    };
    let ended = false;
    const finish = () => {
      if (settled) return;
      try {
        onEnd?.();
      } catch (err) {
        settle(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      settle(null);
    };
    const drainWaiting = () => {
      if (settled) return;
      if (open.error) {
        settle(open.error);
        return;
      }
      while (waiting.length > 0) {
        const c = waiting[0]!;
        if (!share.take(c.length)) {
          share.whenFreed(drainWaiting);
          return;
        }
        waiting.shift();
        if (!deliver(c)) return;
      }
      if (ended) finish();
      else res.resume();
    };
    res.on('data', (c: Buffer) => {
      if (settled) return;
      size += c.length;
      open.noteBytes(c.length);
      if (size > limit) {
        open.fail(new TransportError(`answer from ${open.target} exceeds ${limit} bytes`, { kind: 'too-large', target: open.target, detail: `more than ${limit} bytes` }));
        settle(open.error ?? new Error('too large'));
        return;
      }
      if (waiting.length > 0 || !share.take(c.length)) {
        waiting.push(c);
        if (waiting.length === 1) {
          res.pause();
          share.whenFreed(drainWaiting);
        }
        return;
      }
      deliver(c);
    });
    res.once('end', () => {
      ended = true;
      if (waiting.length === 0) finish();
    });
    res.on('error', (e) => settle(toTransportError(e, open.target)));
    res.once('close', () => {
      // Torn down (abort, deadline, size) or cut: even a body that had fully arrived but was
      // not read yet (waiting for the budget) ends here, with the first error.
      if (open.error) settle(open.error);
      else if (!res.complete) {
        settle(
          new TransportError(`connection to ${open.target} closed before the answer was complete`, {
            kind: 'connection-reset',
            target: open.target,
          }),
        );
      }
    });
  });
}
