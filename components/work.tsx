/**
 * Work in flight (a login, an SR listing, a backup), so Ctrl-C can abort it safely:
 * the shell aborts the job's AbortSignal and the service unwinds (releasing the VBD, the
 * task, the temporary VDI) before the screen returns to the menu. While a job is being
 * cancelled, further Ctrl-C presses wait rather than quit mid-cleanup.
 */
import React, { createContext, useContext } from 'react';

export interface Job {
  readonly label: string;
  readonly signal: AbortSignal;
  /** Asks the work to stop (as Ctrl-C does, for this job only). */
  abort(): void;
  /** Marks the job done (success, failure or after the abort unwound); idempotent. */
  finish(): void;
}

export type InterruptResult = 'aborted' | 'waiting' | 'idle';

export interface WorkRegistry {
  start(label: string): Job;
  /** Ctrl-C: aborts running jobs; 'waiting' while aborted ones unwind; 'idle' when none. */
  interrupt(): InterruptResult;
  busy(): boolean;
}

export class CancelledByUser extends Error {
  override name = 'AbortError';
  constructor() {
    super('Cancelled with Ctrl-C');
  }
}

export function createWorkRegistry(onChange?: () => void): WorkRegistry {
  const running = new Set<{ job: Job; controller: AbortController }>();
  return {
    start(label) {
      const controller = new AbortController();
      let done = false;
      const entry = {
        controller,
        job: {
          label,
          signal: controller.signal,
          abort() {
            if (!controller.signal.aborted) controller.abort(new CancelledByUser());
          },
          finish() {
            if (done) return;
            done = true;
            running.delete(entry);
            onChange?.();
          },
        },
      };
      running.add(entry);
      onChange?.();
      return entry.job;
    },
    interrupt() {
      if (running.size === 0) return 'idle';
      let aborted = false;
      for (const { controller } of running) {
        if (!controller.signal.aborted) {
          controller.abort(new CancelledByUser());
          aborted = true;
        }
      }
      return aborted ? 'aborted' : 'waiting';
    },
    busy() {
      return running.size > 0;
    },
  };
}

const WorkContext = createContext<WorkRegistry | null>(null);

export function WorkProvider({ registry, children }: { registry: WorkRegistry; children: React.ReactNode }) {
  return <WorkContext.Provider value={registry}>{children}</WorkContext.Provider>;
}

export function useWork(): WorkRegistry {
  const w = useContext(WorkContext);
  if (!w) throw new Error('useWork() outside the console shell');
  return w;
}
