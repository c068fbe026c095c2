/**
 * XenAPI tasks: start `Async.<method>`, poll task.get_record until the task leaves
 * `pending`, decode its result, cancel on abort, and always destroy our own tasks.
 */
import { performance } from 'node:perf_hooks';
import { redactSecrets } from '../redact.js';
import { AbortError, TransportError, XenApiError, isAbortError, throwIfAborted } from './errors.js';
import type { Session } from './session.js';
import { toFloat, toStr, toStrArray, type Ref, type XenRecord } from './values.js';
import { decodeValueXml } from './xmlrpc-codec.js';

export type TaskStatus = 'pending' | 'success' | 'failure' | 'cancelling' | 'cancelled';

export interface TaskSnapshot {
  ref: Ref;
  status: TaskStatus;
  /** 0..1 (XAPI), or -1 while an HTTP transfer task has not been taken over yet. */
  progress: number;
  /** Raw `result` text (an XML-RPC <value> serialisation or ""). */
  result: string;
  errorInfo: string[];
  nameLabel: string;
}

export interface WaitOptions {
  signal?: AbortSignal;
  /** Task progress 0..1, reported when it changes. */
  onProgress?: (fraction: number) => void;
  /** First poll interval (ms); grows ×1.5 up to maxPollMs. */
  pollMs?: number;
  maxPollMs?: number;
  /** Longest wait for the task to leave `pending` (ms, default DEFAULT_TASK_DEADLINE_MS). */
  deadlineMs?: number;
}

/**
 * A task still pending after this long is given up (and cancelled): the tasks this program
 * waits for (a VBD plug, a transfer's outcome) take seconds, and a host must not keep a
 * command waiting for ever by answering "pending".
 */
export const DEFAULT_TASK_DEADLINE_MS = 15 * 60_000;

const STATUSES = new Set<TaskStatus>(['pending', 'success', 'failure', 'cancelling', 'cancelled']);

export function snapshotOf(ref: Ref, rec: XenRecord): TaskSnapshot {
  const status = toStr(rec.status).toLowerCase() as TaskStatus;
  if (!STATUSES.has(status)) throw new TransportError(`task has unknown status ${JSON.stringify(rec.status)}`, { kind: 'protocol' });
  let progress = 0;
  try {
    progress = toFloat(rec.progress);
  } catch {
    progress = 0;
  }
  return {
    ref,
    status,
    progress,
    result: typeof rec.result === 'string' ? rec.result : '',
    errorInfo: Array.isArray(rec.error_info) ? toStrArray(rec.error_info) : [],
    nameLabel: typeof rec.name_label === 'string' ? rec.name_label : '',
  };
}

export async function getTask(session: Session, taskRef: Ref, signal?: AbortSignal): Promise<TaskSnapshot> {
  return snapshotOf(taskRef, await session.getRecord('task', taskRef, signal ? { signal } : undefined));
}

/** The error a finished-but-unsuccessful task stands for. */
export function taskError(t: TaskSnapshot, cause?: unknown): XenApiError {
  const opts = cause === undefined ? undefined : { cause };
  if (t.status === 'cancelled' || t.status === 'cancelling') {
    return new XenApiError(t.errorInfo[0] === 'TASK_CANCELLED' ? t.errorInfo : ['TASK_CANCELLED', t.ref], t.nameLabel || undefined, opts);
  }
  const info = t.errorInfo.length ? t.errorInfo : ['INTERNAL_ERROR', 'task failed without error_info'];
  return new XenApiError(info, t.nameLabel || undefined, opts);
}

/** Decodes a successful task's result: a ref, a set of refs, … or undefined for "". */
export async function decodeTaskResult<T = unknown>(t: TaskSnapshot): Promise<T> {
  try {
    return (await decodeValueXml(t.result)) as T;
  } catch (err) {
    throw new TransportError(`task ${t.nameLabel || t.ref} has an undecodable result`, {
      kind: 'protocol',
      // Scrubbed before it is cut; no cause: the result text is the host's.
      detail: redactSecrets((err as Error).message).slice(0, 200),
    });
  }
}

/** `Async.<method>(session, …)` → task ref. Fails synchronously if XAPI refuses at once. */
export async function callAsync(session: Session, method: string, ...params: unknown[]): Promise<Ref> {
  const ref = await session.call(`Async.${method}`, ...params);
  if (typeof ref !== 'string' || ref === '') throw new TransportError(`Async.${method} returned no task`, { kind: 'protocol' });
  return ref;
}

function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortError(undefined, { cause: signal.reason }));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortError(undefined, { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Asks XAPI to cancel; a task that cannot be cancelled (any more) is not an error. */
export async function cancelTask(session: Session, taskRef: Ref): Promise<void> {
  try {
    await session.call('task.cancel', taskRef);
  } catch (err) {
    if (!XenApiError.is(err, 'OPERATION_NOT_ALLOWED', 'HANDLE_INVALID')) throw err;
  }
}

/**
 * Best-effort task.destroy for `finally` blocks: never masks the real outcome. One transient
 * failure (a dropped connection, an internal error) is retried, so that it leaves no task.
 */
export async function destroyTask(session: Session, taskRef: Ref): Promise<void> {
  for (let attempt = 0; attempt < 2 && !session.closed; attempt++) {
    try {
      await session.call('task.destroy', taskRef);
      return;
    } catch (err) {
      // Gone already: done. Anything else: once more; then XAPI garbage-collects it.
      if (XenApiError.is(err, 'HANDLE_INVALID')) return;
    }
  }
}

/** Consecutive failed task polls tolerated before giving up. */
const MAX_FAILED_POLLS = 2;

/** A lost answer or a hiccup of XAPI, not a verdict on the task. */
function isTransientPollError(err: unknown): boolean {
  if (err instanceof TransportError) return !['unauthorized', 'forbidden', 'tls-untrusted', 'tls-hostname', 'tls-fingerprint-mismatch', 'tls'].includes(err.kind);
  return XenApiError.is(err, 'INTERNAL_ERROR');
}

/**
 * Polls until the task is no longer pending. Success → decoded result; failure →
 * XenApiError(error_info); cancelled → XenApiError TASK_CANCELLED. On abort the task is
 * cancelled and an AbortError thrown.
 */
export async function waitTask<T = unknown>(session: Session, taskRef: Ref, opts: WaitOptions = {}): Promise<T> {
  const { signal, onProgress } = opts;
  const maxPoll = opts.maxPollMs ?? 1000;
  let interval = Math.min(opts.pollMs ?? 100, maxPoll);
  let lastProgress = Number.NaN;
  let failedPolls = 0;
  const deadlineMs = opts.deadlineMs ?? DEFAULT_TASK_DEADLINE_MS;
  const giveUpAt = performance.now() + deadlineMs;
  let label = '';
  try {
    throwIfAborted(signal);
    for (;;) {
      if (performance.now() >= giveUpAt) {
        await cancelTask(session, taskRef).catch(() => undefined);
        throw new TransportError(`the task ${label ? `"${label}" ` : ''}was still pending after ${(deadlineMs / 1000).toFixed(deadlineMs < 10_000 ? 1 : 0)} s: given up and cancelled`, {
          kind: 'timeout',
          detail: `task deadline ${deadlineMs} ms; see xe task-list on the pool coordinator`,
        });
      }
      let t: TaskSnapshot;
      try {
        t = await getTask(session, taskRef, signal);
        failedPolls = 0;
      } catch (err) {
        // A poll is harmless to repeat, and giving up on one lost answer would report an
        // operation that went through (a VM imported, a disk plugged) as failed.
        if (isAbortError(err) || !isTransientPollError(err) || ++failedPolls > MAX_FAILED_POLLS) throw err;
        await delay(interval, signal);
        continue;
      }
      label = t.nameLabel;
      if (onProgress && t.progress >= 0 && t.progress !== lastProgress) {
        lastProgress = t.progress;
        onProgress(Math.min(1, t.progress));
      }
      if (t.status === 'success') return await decodeTaskResult<T>(t);
      if (t.status === 'failure' || t.status === 'cancelled') throw taskError(t);
      await delay(Math.max(0, Math.min(interval, Math.ceil(giveUpAt - performance.now()))), signal);
      interval = Math.min(maxPoll, Math.ceil(interval * 1.5));
    }
  } catch (err) {
    if (isAbortError(err)) {
      await cancelTask(session, taskRef).catch(() => undefined);
      throw err instanceof AbortError ? err : new AbortError(undefined, { cause: err });
    }
    throw err;
  }
}

/** `Async.<method>` + wait + task.destroy (always). */
export async function runTask<T = unknown>(
  session: Session,
  method: string,
  params: readonly unknown[],
  opts: WaitOptions = {},
): Promise<T> {
  throwIfAborted(opts.signal);
  const taskRef = await callAsync(session, method, ...params);
  try {
    return await waitTask<T>(session, taskRef, opts);
  } finally {
    await destroyTask(session, taskRef);
  }
}

/** task.create(label, description) → fn(taskRef) → task.destroy (always). */
export async function withTask<T>(
  session: Session,
  label: string,
  fn: (taskRef: Ref) => Promise<T>,
  opts: { description?: string } = {},
): Promise<T> {
  const taskRef = await session.call('task.create', label, opts.description ?? '');
  if (typeof taskRef !== 'string' || taskRef === '') throw new TransportError('task.create returned no task', { kind: 'protocol' });
  try {
    return await fn(taskRef);
  } finally {
    await destroyTask(session, taskRef);
  }
}
