/**
 * Bounded concurrency for the per-VM steps (exports, imports, renames).
 */
import { setMaxListeners } from 'node:events';
import { throwIfAborted } from '../xenapi/index.js';

/** Transfers in flight at once unless asked otherwise; XAPI serves each in its own thread. */
export const DEFAULT_CONCURRENCY = 8;
export const MAX_CONCURRENCY = 32;

export function clampConcurrency(n: number | undefined): number {
  const c = n ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(c) || c < 1) throw new RangeError('concurrency must be a whole number of at least 1');
  return Math.min(c, MAX_CONCURRENCY);
}

/**
 * Runs `work` for every item, at most `concurrency` at a time, starting them in order.
 * After a failure (or an abort) no new item starts, and every started one is waited for
 * before the first failure is thrown: nothing is still running when this returns, so the
 * caller may release the disk and the session at once.
 */
export async function forEachConcurrently<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const i = next++;
      try {
        throwIfAborted(signal);
        await work(items[i]!, i);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  if (failure) throw failure.err;
}

export interface ChildAbort {
  readonly signal: AbortSignal;
  abort(reason?: unknown): void;
  /** Stops following the parent. */
  dispose(): void;
}

/**
 * A signal for concurrent work: aborted with `parent`, or on its own (one failing part
 * stopping the others). Every request in flight listens on it, so it takes more listeners
 * than Node's leak warning (10) expects.
 */
export function childAbort(parent?: AbortSignal): ChildAbort {
  const ac = new AbortController();
  setMaxListeners(8 * MAX_CONCURRENCY, ac.signal);
  const follow = () => ac.abort(parent?.reason);
  if (parent?.aborted) follow();
  else parent?.addEventListener('abort', follow, { once: true });
  return {
    signal: ac.signal,
    abort: (reason) => ac.abort(reason),
    dispose: () => parent?.removeEventListener('abort', follow),
  };
}
