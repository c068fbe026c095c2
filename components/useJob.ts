/**
 * The one way a screen runs work (a search, a listing, a restore, a backup, reading or
 * changing the schedule): registered with the shell so Ctrl-C aborts it, with typed
 * progress folded by a pure reducer. The job counts as running until the service has
 * unwound (released its VBD): only then is it finished and the outcome handled. A screen
 * that goes away meanwhile aborts its job; the outcome is then dropped.
 */
import { useCallback, useLayoutEffect, useRef, useState } from 'react';
import { useWork, type Job } from './work.js';

/** How a job's progress events become what the screen draws. */
export interface ProgressReducer<E, S> {
  initial: S;
  reduce(state: S, event: E): S;
}

export interface JobSpec<A, T, E, S> {
  /** What runs, for the shell (e.g. "Restoring VM metadata"). */
  label: string;
  run(arg: A, signal: AbortSignal, emit: (event: E) => void): Promise<T>;
  progress?: ProgressReducer<E, S>;
  done(value: T): void;
  failed(err: unknown): void;
  /**
   * The job was aborted (Ctrl-C, or `abort()`) and has unwound. `value` is set when the
   * work had finished all the same (the abort came too late to stop it); `err` is what it
   * threw otherwise (a run may say there what it had cleaned up).
   */
  aborted(value: T | undefined, progress: S, err?: unknown): void;
}

export interface JobHandle<A, S> {
  /** Starts the work; false (and nothing done) while a run of it is in flight. */
  start(arg: A): boolean;
  /** Asks the work to stop (as Ctrl-C does). */
  abort(): void;
  running: boolean;
  /** True from the abort until the work has unwound. */
  cancelling: boolean;
  /** The progress as last drawn (the reducer's initial value before the first event). */
  progress: S;
}

export function useJob<A, T, E = never, S = undefined>(spec: JobSpec<A, T, E, S>): JobHandle<A, S> {
  const work = useWork();
  const latest = useRef(spec);
  latest.current = spec;
  const current = useRef<Job | null>(null);
  const mounted = useRef(true);
  const progress = useRef<S>(spec.progress?.initial as S);
  const [view, setView] = useState({ running: false, cancelling: false, progress: progress.current });

  const start = useCallback(
    (arg: A): boolean => {
      if (current.current) return false;
      const s = latest.current;
      const job = work.start(s.label);
      current.current = job;
      progress.current = s.progress?.initial as S;
      setView({ running: true, cancelling: false, progress: progress.current });
      job.signal.addEventListener('abort', () => mounted.current && setView((v) => ({ ...v, cancelling: true })), { once: true });
      const emit = (event: E) => {
        const reducer = latest.current.progress;
        if (!reducer || current.current !== job) return;
        progress.current = reducer.reduce(progress.current, event);
        if (mounted.current) setView((v) => ({ ...v, progress: progress.current }));
      };
      const settle = (outcome: () => void) => {
        job.finish();
        if (current.current === job) current.current = null;
        if (!mounted.current) return;
        setView((v) => ({ ...v, running: false, cancelling: false }));
        outcome();
      };
      let run: Promise<T>;
      try {
        run = s.run(arg, job.signal, emit);
      } catch (err) {
        run = Promise.reject(err);
      }
      run.then(
        (value) => settle(() => (job.signal.aborted ? latest.current.aborted(value, progress.current) : latest.current.done(value))),
        (err: unknown) => settle(() => (job.signal.aborted ? latest.current.aborted(undefined, progress.current, err) : latest.current.failed(err))),
      );
      return true;
    },
    [work],
  );

  useLayoutEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
      current.current?.abort();
    };
  }, []);

  return { start, abort: () => current.current?.abort(), ...view };
}

/**
 * A job that starts when its screen appears. A layout effect: the job exists by the time
 * the screen can get keys (the shell delivers them once the screen has mounted), so an Esc
 * typed at once finds something to stop.
 */
export function useMountJob<T, E = never, S = undefined>(spec: JobSpec<void, T, E, S>): JobHandle<void, S> {
  const job = useJob(spec);
  const { start } = job;
  useLayoutEffect(() => {
    start(undefined);
    // Once per screen: the work must not restart on a re-render.
  }, [start]);
  return job;
}
