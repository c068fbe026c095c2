/**
 * Streaming GET / PUT against XAPI's HTTP handlers, bound to a task the way the xe CLI
 * does it: task.create, `?session_id=…&task_id=…`, then the task tells the outcome.
 * Follows 302 to the host XAPI names (re-adding session_id / task_id), only where
 * redirect-policy.ts allows it.
 *
 * Bounds: every transfer has a byte limit (what XAPI announced: Content-Length, a VDI's
 * virtual size; else the caller's limit) and a rate deadline (connector.ts: a floor of
 * DEFAULT_DEADLINE_FLOOR_MS plus one second per DEFAULT_MIN_BYTES_PER_SECOND moved) besides
 * the idle timeout, and the task wait after it a deadline of its own (tasks.ts).
 *
 * A handler has taken the task over once it answered 200 (imports answer before reading
 * the body). A transfer that failed before that leaves the task pending for good, so the
 * client ends it itself. (xe marks export tasks with progress -1.0 for the same purpose;
 * the status line tells it without the extra call.)
 *
 * Imports: XAPI sends "200 OK" before it reads the body, so a 200 proves nothing and a
 * dropped connection after it is not yet a failure; only the task decides. XAPI closes
 * the connection when the handler has finished, so the task is read once, after that.
 *
 * Round trips: a finished transfer's task.destroy is left to run beside the caller's next
 * step (Session.cleanUpLater); a metadata export whose whole body arrived needs no task
 * read at all (the body is the outcome).
 */
import type http from 'node:http';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { readBody, type OpenRequest, type RateDeadline } from './connector.js';
import { statusDetail } from './error-body.js';
import { AbortError, TransportError, XenApiError, isAbortError, throwIfAborted, toTransportError } from './errors.js';
import { checkRedirect } from './redirect-policy.js';
import type { Session } from './session.js';
import { cancelTask, destroyTask, getTask, taskError, waitTask } from './tasks.js';
import type { Ref } from './values.js';

export interface TransferOptions {
  signal?: AbortSignal;
  /** Bytes moved so far, and the total when known. */
  onProgress?: (bytes: number, total?: number) => void;
  /** Longest silence on the connection before giving up (ms, default 5 min). */
  idleTimeoutMs?: number;
  /** Task polling interval after the transfer (ms). */
  pollMs?: number;
  /** 302 hops followed at most (default 3). */
  maxRedirects?: number;
  /** How long a stream upload waits for the status line before sending anyway (ms, default 1000). */
  streamHoldBackMs?: number;
  /** The rate deadline's floor (ms, default DEFAULT_DEADLINE_FLOOR_MS). */
  deadlineFloorMs?: number;
  /** The rate deadline's slowest accepted average (bytes/s, default DEFAULT_MIN_BYTES_PER_SECOND). */
  minBytesPerSecond?: number;
  /** Longest wait for the transfer's task once the bytes have moved (ms, default: tasks.ts). */
  taskDeadlineMs?: number;
}

/**
 * Every transfer may take this long whatever its size: XAPI prepares some answers before the
 * first byte (a metadata export is built whole first), and a slow link needs a start.
 */
export const DEFAULT_DEADLINE_FLOOR_MS = 120_000;
/**
 * …plus one second per this many bytes moved (2 Mbit/s): a 1 GiB VDI may take 70 minutes at
 * most, a host that drips a byte now and then is cut after the floor.
 */
export const DEFAULT_MIN_BYTES_PER_SECOND = 256 * 1024;
/** A stream with no size announced or known, e.g. a raw export in another format. */
export const DEFAULT_MAX_STREAM_BYTES = 4 * 1024 ** 4;

function rateDeadline(opts: TransferOptions, what: string): RateDeadline {
  return {
    floorMs: opts.deadlineFloorMs ?? DEFAULT_DEADLINE_FLOOR_MS,
    minBytesPerSecond: opts.minBytesPerSecond ?? DEFAULT_MIN_BYTES_PER_SECOND,
    what,
  };
}

/** "the transfer of /export_raw_vdi" */
function transferName(url: URL): string {
  return `the transfer of ${url.pathname}`;
}

/** Query parameters in order; values are sent as given (booleans as "true"/"false"). */
export type Query = ReadonlyArray<readonly [string, string]>;

const DEFAULT_IDLE_MS = 5 * 60_000;
const USER_AGENT = 'xsconsole-dr';
/** How long a one-shot stream body is held back waiting for XAPI's status line (see putOnce). */
const HOLD_BACK_MS = 1000;

/** Percent-encoding that keeps ':' literal, as xe sends "OpaqueRef:…" and "vdi:<uuid>". */
function enc(s: string): string {
  return encodeURIComponent(s).replace(/%3A/gi, ':');
}

function appendQuery(url: URL, pairs: Query): void {
  const extra = pairs.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');
  if (extra === '') return;
  const cur = url.search.replace(/^\?/, '');
  url.search = cur ? `${cur}&${extra}` : extra;
}

/** `<session url><path>?session_id=S&task_id=T&<query>` */
export function handlerUrl(session: Session, path: string, taskRef: Ref, query: Query = [], sessionRef = session.ref): URL {
  const url = new URL(path, session.url);
  url.search = '';
  appendQuery(url, [['session_id', sessionRef], ['task_id', taskRef], ...query]);
  return url;
}

/** Where a 3xx points, with session_id and task_id put back if the Location lost them. */
export function redirectTarget(from: URL, location: string | undefined, sessionRef: Ref, taskRef: Ref): URL {
  if (!location) throw new TransportError('redirect without a Location', { kind: 'protocol', target: from.origin });
  const to = new URL(location, from);
  const missing: Array<[string, string]> = [];
  if (!to.searchParams.has('session_id')) missing.push(['session_id', sessionRef]);
  if (!to.searchParams.has('task_id')) missing.push(['task_id', taskRef]);
  appendQuery(to, missing);
  return to;
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/** The error for a status that is neither 200 nor a redirect, with what its body says. */
async function statusError(res: http.IncomingMessage, open: OpenRequest): Promise<TransportError> {
  const status = res.statusCode ?? 0;
  const kind = status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : 'http-status';
  return new TransportError(`${open.target} answered HTTP ${status}`, {
    kind,
    target: open.target,
    status,
    detail: await statusDetail(res),
  });
}

/** The next place of a redirect, once the policy allows it (nothing is sent before). */
function followRedirect(session: Session, from: URL, res: http.IncomingMessage, sessionRef: Ref, taskRef: Ref): URL {
  const to = redirectTarget(from, res.headers.location, sessionRef, taskRef);
  checkRedirect(from, to, { socketPath: session.connector.socketPath });
  return to;
}

export async function createTransferTask(session: Session, label: string): Promise<Ref> {
  const taskRef = await session.call('task.create', label, 'xsconsole-dr HTTP transfer');
  if (typeof taskRef !== 'string' || taskRef === '') throw new TransportError('task.create returned no task', { kind: 'protocol' });
  return taskRef;
}

/** What a transfer learnt of the handler. */
interface Handover {
  /** The handler answered 200: it has the task and will complete it. */
  answered: boolean;
}

/**
 * After a failed transfer: prefer the task's own error (XAPI fails the task before it
 * answers 500), fail a task no handler took over (no 200 came) ourselves, and
 * cancel a running one on abort. Returns the error to throw.
 */
async function settleFailedTransfer(session: Session, taskRef: Ref, err: unknown, handover: Handover): Promise<unknown> {
  if (err instanceof XenApiError || session.closed) return err;
  const aborted = isAbortError(err);
  let t;
  try {
    t = await getTask(session, taskRef);
  } catch {
    return err;
  }
  if ((t.status === 'failure' || t.status === 'cancelled') && !aborted && !TransportError.is(err, 'unauthorized', 'forbidden')) {
    return taskError(t, err);
  }
  if (t.status === 'pending') {
    try {
      if (!handover.answered) {
        const info = aborted ? ['TASK_CANCELLED', taskRef] : ['INTERNAL_ERROR', `transfer failed: ${(err as Error).message ?? String(err)}`];
        await session.call('task.set_error_info', taskRef, info);
        await session.call('task.set_status', taskRef, aborted ? 'cancelled' : 'failure');
      } else if (aborted) {
        await cancelTask(session, taskRef);
      }
    } catch {
      // Best effort: the task is destroyed next anyway.
    }
  }
  return err;
}

/**
 * Creates the transfer task, runs `fn`, settles failures, always destroys the task: after
 * a failure before returning, after success beside the caller's next step.
 */
async function inTransferTask<T>(
  session: Session,
  label: string,
  signal: AbortSignal | undefined,
  fn: (taskRef: Ref, handover: Handover) => Promise<T>,
): Promise<T> {
  throwIfAborted(signal);
  const taskRef = await createTransferTask(session, label);
  const handover: Handover = { answered: false };
  let result: T;
  try {
    result = await fn(taskRef, handover);
  } catch (err) {
    const e = await settleFailedTransfer(session, taskRef, err, handover);
    await destroyTask(session, taskRef);
    throw e;
  }
  session.cleanUpLater(() => destroyTask(session, taskRef));
  return result;
}

/**
 * A 401 means the session died between task.create and the request: log in again once
 * and repeat the whole transfer (only for bodies that can be sent twice).
 */
async function retryOnUnauthorized<T>(session: Session, attempt: () => Promise<T>): Promise<T> {
  const ref = session.ref;
  try {
    return await attempt();
  } catch (err) {
    if (!TransportError.is(err, 'unauthorized')) throw err;
    await session.refresh(ref);
    return attempt();
  }
}

/** Issues the GET, following redirects; resolves on the 200 response headers. */
async function openGet(
  session: Session,
  first: URL,
  sessionRef: Ref,
  taskRef: Ref,
  opts: TransferOptions,
  handover: Handover,
): Promise<{ res: http.IncomingMessage; open: OpenRequest }> {
  let url = first;
  for (let hop = 0; ; hop++) {
    const open = session.connector.open(url, {
      method: 'GET',
      headers: { 'user-agent': USER_AGENT },
      ...(opts.signal ? { signal: opts.signal } : {}),
      idleMs: opts.idleTimeoutMs ?? DEFAULT_IDLE_MS,
      rateDeadline: rateDeadline(opts, transferName(url)),
    });
    open.req.end();
    const res = await open.response;
    const status = res.statusCode ?? 0;
    if (status === 200) {
      handover.answered = true;
      return { res, open };
    }
    try {
      if (!isRedirect(status)) throw await statusError(res, open);
      res.resume();
      if (hop >= (opts.maxRedirects ?? 3)) {
        throw new TransportError(`too many redirects from ${open.target}`, { kind: 'http-status', target: open.target, status });
      }
      url = followRedirect(session, url, res, sessionRef, taskRef);
    } finally {
      open.done();
    }
  }
}

function contentLength(res: http.IncomingMessage): number | undefined {
  const v = res.headers['content-length'];
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  return Number(v);
}

/** Refuses, before reading it, a body announced larger than the limit. */
function refuseAnnouncedOverLimit(open: OpenRequest, total: number | undefined, limit: number, of: string): void {
  if (total === undefined || total <= limit) return;
  const err = new TransportError(`${open.target} announced ${total} bytes for ${of}, more than the ${limit} accepted`, {
    kind: 'too-large',
    target: open.target,
    detail: `Content-Length ${total}`,
  });
  open.fail(err);
  throw err;
}

export interface GetBufferResult<T = unknown> {
  body: Buffer;
  /** The task's decoded result (usually undefined for exports). */
  result: T;
}

/**
 * GET a handler's whole body into memory (metadata exports, database dumps). With
 * `bodyIsOutcome` (a handler that builds its whole answer before replying, like
 * /export_metadata), a body of exactly the announced Content-Length is the success and
 * the task is not read; otherwise the task decides.
 */
export function getBuffer<T = unknown>(
  session: Session,
  path: string,
  query: Query,
  label: string,
  opts: TransferOptions & { maxBytes: number; bodyIsOutcome?: boolean },
): Promise<GetBufferResult<T | undefined>> {
  return retryOnUnauthorized(session, () =>
    inTransferTask(session, label, opts.signal, async (taskRef, handover) => {
      const sessionRef = session.ref;
      const { res, open } = await openGet(session, handlerUrl(session, path, taskRef, query, sessionRef), sessionRef, taskRef, opts, handover);
      let body: Buffer;
      const total = contentLength(res);
      try {
        refuseAnnouncedOverLimit(open, total, opts.maxBytes, path);
        opts.onProgress?.(0, total);
        body = await readBody(res, open, opts.maxBytes, (n) => opts.onProgress?.(n, total));
        if (total !== undefined && body.length !== total) {
          throw new TransportError(`${open.target} sent ${body.length} of ${total} bytes`, { kind: 'connection-reset', target: open.target });
        }
      } finally {
        open.done();
      }
      if (opts.bodyIsOutcome && total !== undefined) return { body, result: undefined };
      const result = await waitTask<T>(session, taskRef, waitOpts(opts));
      return { body, result };
    }),
  );
}

function waitOpts(opts: TransferOptions) {
  return {
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.pollMs !== undefined ? { pollMs: opts.pollMs } : {}),
    ...(opts.taskDeadlineMs !== undefined ? { deadlineMs: opts.taskDeadlineMs } : {}),
  };
}

export interface StreamingDownload {
  /** The body; ends when XAPI closes the connection. Consume it (or destroy it to stop). */
  stream: Readable;
  /** Settles after the body ended and the task finished (rejects with the task's error). */
  done: Promise<void>;
}

export interface StreamLimits {
  /** Size for progress (e.g. a VDI's virtual size), when the handler sends no Content-Length. */
  expectedBytes?: number;
  /** Bytes accepted at most: the first byte past it fails the stream (default DEFAULT_MAX_STREAM_BYTES). */
  maxBytes?: number;
  /** The body must be exactly this long (a raw VDI export: its virtual size); shorter fails too. */
  exactBytes?: number;
  /** What the limit is, for the message ("the VDI's virtual size"). */
  limitReason?: string;
}

/**
 * GET a handler's body as a stream (raw VDI export, database dump). Rejects if the
 * request fails before the body starts; later failures surface on the stream and `done`.
 */
export async function getStream(
  session: Session,
  path: string,
  query: Query,
  label: string,
  opts: TransferOptions & StreamLimits,
): Promise<StreamingDownload> {
  throwIfAborted(opts.signal);
  const taskRef = await createTransferTask(session, label);
  const sessionRef = session.ref;
  const handover: Handover = { answered: false };
  let res: http.IncomingMessage;
  let open: OpenRequest;
  try {
    ({ res, open } = await openGet(session, handlerUrl(session, path, taskRef, query, sessionRef), sessionRef, taskRef, opts, handover));
  } catch (err) {
    const e = await settleFailedTransfer(session, taskRef, err, handover);
    await destroyTask(session, taskRef);
    throw e;
  }
  const announced = contentLength(res);
  const cap = opts.exactBytes ?? opts.maxBytes ?? DEFAULT_MAX_STREAM_BYTES;
  try {
    refuseAnnouncedOverLimit(open, announced, cap, path);
  } catch (err) {
    const e = await settleFailedTransfer(session, taskRef, err, handover);
    await destroyTask(session, taskRef);
    throw e;
  }
  const limit = Math.min(cap, announced ?? Infinity);
  const of = opts.limitReason ?? (announced !== undefined && announced <= cap ? 'its Content-Length' : 'the limit for this transfer');
  const total = announced ?? opts.exactBytes ?? opts.expectedBytes;
  let received = 0;
  opts.onProgress?.(0, total);
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      received += chunk.length;
      open.noteBytes(chunk.length);
      if (received > limit) {
        // Refused at the first byte past it: nothing beyond the limit reaches the reader.
        const err = new TransportError(`${open.target} sent more than ${limit} bytes (${of}) for ${path}: refused at byte ${limit + 1}`, {
          kind: 'too-large',
          target: open.target,
          detail: `more than ${limit} bytes`,
        });
        open.fail(err);
        cb(err);
        return;
      }
      opts.onProgress?.(received, total);
      cb(null, chunk);
    },
    flush(cb: TransformCallback) {
      if (opts.exactBytes !== undefined && received < opts.exactBytes) {
        cb(new TransportError(`${open.target} ended ${path} after ${received} of ${opts.exactBytes} bytes (${of})`, { kind: 'connection-reset', target: open.target }));
        return;
      }
      cb();
    },
  });
  const flowing = pipeline(res, counter).catch((err: unknown) => {
    // The consumer destroying the stream counts as cancelling the transfer.
    const cause = open.error ?? (counter.destroyed && !counter.readableEnded && !res.destroyed ? new AbortError('download stream closed by the reader') : err);
    const e = cause instanceof AbortError || cause instanceof TransportError ? cause : toTransportError(cause, open.target);
    open.fail(e);
    throw e;
  });
  const done = (async () => {
    try {
      await flowing;
      await waitTask(session, taskRef, waitOpts(opts));
    } catch (err) {
      throw await settleFailedTransfer(session, taskRef, err, handover);
    } finally {
      open.done();
      await destroyTask(session, taskRef);
    }
  })();
  // Callers that only read the stream still see errors there; avoid an unhandled rejection.
  done.catch(() => undefined);
  return { stream: counter, done };
}

/** Sends the body with backpressure, counting bytes and holding it to the declared length. */
function writeBody(open: OpenRequest, body: Buffer | Readable, length: number, onProgress?: (n: number, total?: number) => void): Promise<void> {
  let sent = 0;
  // Recorded on the request first, so whichever side notices the teardown reports this.
  const lengthError = (e: RangeError) => {
    open.fail(e);
    return e;
  };
  const source = Buffer.isBuffer(body)
    ? Readable.from(
        (function* slices() {
          for (let i = 0; i < body.length; i += 64 * 1024) yield body.subarray(i, i + 64 * 1024);
        })(),
      )
    : body;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      sent += chunk.length;
      open.noteBytes(chunk.length);
      if (sent > length) return cb(lengthError(new RangeError(`upload body is longer than the declared ${length} bytes`)));
      onProgress?.(sent, length);
      cb(null, chunk);
    },
    flush(cb: TransformCallback) {
      cb(sent === length ? null : lengthError(new RangeError(`upload body ended after ${sent} of the declared ${length} bytes`)));
    },
  });
  onProgress?.(0, length);
  return pipeline(source, meter, open.req).catch((err: unknown) => {
    throw open.error ?? (err instanceof RangeError ? err : toTransportError(err, open.target));
  });
}

type PutOutcome = { redirect: URL } | { ok: true; ended: Promise<void> };

/** How long a finished upload waits for XAPI to close the connection before reading the task. */
const CLOSE_WAIT_MS = 2000;

/** Waits for `p`, but no longer than `ms` or until `signal` aborts (never rejects). */
async function settledOrAfter(p: Promise<void>, ms: number, signal: AbortSignal | undefined): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    await Promise.race([
      p,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ms);
        onAbort = resolve;
        signal?.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

/** Resolves when the response has ended or its connection closed (never rejects). */
function endOf(res: http.IncomingMessage): Promise<void> {
  if (res.complete || res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    res.once('end', resolve);
    res.once('close', resolve);
    res.once('error', () => resolve());
  });
}

/**
 * One PUT attempt. A Buffer body is written at once (it can be replayed after a 302). A
 * one-shot stream is held back until XAPI's status line arrives — XAPI answers 200 or
 * 302 before reading — or HOLD_BACK_MS passes (for servers that read first), so that a
 * redirect does not swallow the stream.
 */
async function putOnce(
  session: Session,
  url: URL,
  body: Buffer | Readable,
  length: number,
  sessionRef: Ref,
  taskRef: Ref,
  opts: TransferOptions,
  handover: Handover,
): Promise<PutOutcome> {
  const open = session.connector.open(url, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': length, 'user-agent': USER_AGENT },
    ...(opts.signal ? { signal: opts.signal } : {}),
    idleMs: opts.idleTimeoutMs ?? DEFAULT_IDLE_MS,
    rateDeadline: rateDeadline(opts, transferName(url)),
  });
  open.req.flushHeaders();
  let writing: Promise<void> | undefined;
  const start = () => {
    if (writing) return;
    writing = writeBody(open, body, length, opts.onProgress);
    writing.catch(() => undefined);
  };
  let holdTimer: NodeJS.Timeout | undefined;
  if (Buffer.isBuffer(body)) start();
  else holdTimer = setTimeout(start, opts.streamHoldBackMs ?? HOLD_BACK_MS);
  try {
    const res = await open.response;
    const status = res.statusCode ?? 0;
    if (status !== 200 && !isRedirect(status)) {
      // What the error page says, read before the request is torn down.
      const err = await statusError(res, open);
      open.fail(new AbortError('request superseded'));
      throw err;
    }
    res.resume(); // XAPI sends no body with a 200 or a redirect: ignore any.
    const ended = endOf(res);
    if (status === 200) handover.answered = true;
    if (status !== 200) {
      open.fail(new AbortError('request superseded'));
      if (writing && !Buffer.isBuffer(body)) {
        throw new TransportError(`${open.target} redirected after the upload stream had started`, { kind: 'http-status', target: open.target, status });
      }
      return { redirect: followRedirect(session, url, res, sessionRef, taskRef) };
    }
    start();
    try {
      await writing;
    } catch (err) {
      if (isAbortError(err) || err instanceof RangeError) throw err;
      // The 200 is in and XAPI stopped reading: whether that is a failure is the task's call.
    }
    return { ok: true, ended };
  } finally {
    clearTimeout(holdTimer);
    open.done();
  }
}

/** PUT `body` (exactly `length` bytes, Content-Length always sent) and return the task's result. */
export async function putBody<T = unknown>(
  session: Session,
  path: string,
  query: Query,
  label: string,
  body: Buffer | Readable,
  length: number,
  opts: TransferOptions,
): Promise<T> {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`invalid upload length ${length}`);
  const attempt = () =>
    inTransferTask(session, label, opts.signal, async (taskRef, handover) => {
      const sessionRef = session.ref;
      let url = handlerUrl(session, path, taskRef, query, sessionRef);
      for (let hop = 0; ; hop++) {
        const outcome = await putOnce(session, url, body, length, sessionRef, taskRef, opts, handover);
        if ('ok' in outcome) {
          // XAPI closes once the handler is done: then one task read tells the outcome.
          await settledOrAfter(outcome.ended, CLOSE_WAIT_MS, opts.signal);
          break;
        }
        if (hop >= (opts.maxRedirects ?? 3)) throw new TransportError('too many redirects', { kind: 'http-status', target: url.origin });
        url = outcome.redirect;
      }
      return waitTask<T>(session, taskRef, waitOpts(opts));
    });
  // A stream cannot be sent twice, so only a Buffer upload survives a 401 re-login.
  return Buffer.isBuffer(body) ? retryOnUnauthorized(session, attempt) : attempt();
}
