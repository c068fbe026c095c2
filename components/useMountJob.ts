/**
 * Work a screen starts when it appears (a search, a listing, a restore), registered with
 * the shell so Ctrl-C aborts it. The job counts as running until the service has unwound
 * (released its VBD): only then is it finished and the outcome handled. A screen that goes
 * away meanwhile aborts its job; the outcome is then dropped.
 */
import { useLayoutEffect, useRef, useState } from 'react';
import { useWork, type Job } from './work.js';

export interface MountJobHandlers<T> {
  done(value: T): void;
  failed(err: unknown): void;
  /**
   * The job was aborted (Ctrl-C, or `abort()`) and has unwound. `value` is set when the
   * work had finished all the same (the abort came too late to stop it).
   */
  aborted(value: T | undefined): void;
}

export interface MountJob {
  /** Asks the work to stop (as Ctrl-C does). */
  abort(): void;
  /** True from the abort until the work has unwound. */
  cancelling: boolean;
}

export function useMountJob<T>(label: string, run: (signal: AbortSignal) => Promise<T>, handlers: MountJobHandlers<T>): MountJob {
  const work = useWork();
  const job = useRef<Job | null>(null);
  const [cancelling, setCancelling] = useState(false);
  const latest = useRef({ run, handlers });
  latest.current = { run, handlers };

  // A layout effect: the job exists by the time the screen can get keys (the shell delivers
  // them once the screen has mounted), so an Esc typed at once finds something to stop.
  useLayoutEffect(() => {
    let mounted = true;
    const j = work.start(label);
    job.current = j;
    const onAbort = () => {
      if (mounted) setCancelling(true);
    };
    j.signal.addEventListener('abort', onAbort, { once: true });
    latest.current.run(j.signal).then(
      (value) => {
        j.finish();
        if (!mounted) return;
        if (j.signal.aborted) latest.current.handlers.aborted(value);
        else latest.current.handlers.done(value);
      },
      (err: unknown) => {
        j.finish();
        if (!mounted) return;
        if (j.signal.aborted) latest.current.handlers.aborted(undefined);
        else latest.current.handlers.failed(err);
      },
    );
    return () => {
      mounted = false;
      j.abort();
    };
    // Once per screen: the work must not restart on a re-render.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  return { abort: () => job.current?.abort(), cancelling };
}
