/**
 * The fault campaign's tools: which XAPI steps a clean run makes (from the simulator's own
 * counters), one failure injected at one of them, and waiting until the pool is quiet.
 *
 * A step is one call of a method (or one request to a handler route), named by its
 * occurrence in the run: the first and the last of each, which covers every phase a method
 * is used in without running the whole per-VM loop once per VM.
 */
import type { SimHandle } from '../../src/sim/index.js';
import type { StatsSnapshot } from '../../src/sim/stats.js';
import type { Session } from '../../src/xenapi/index.js';

export type FaultMode = 'error' | 'drop' | 'abort';

export interface Step {
  kind: 'method' | 'route';
  /** Method name as called ("Async.VBD.plug") or route path ("/export_metadata"). */
  name: string;
  /** 1-based: which call of it fails. */
  occurrence: number;
}

/** What the campaign injects as an XAPI error: a real code, with a marker in its params. */
export const INJECTED_ERROR = ['INTERNAL_ERROR', 'fault-campaign'];

export function stepName(s: Step): string {
  return `${s.name}#${s.occurrence}`;
}

/** First and last call of every method and route a clean run used (minus `skip`). */
export function stepsOf(stats: StatsSnapshot, skip: (name: string) => boolean = () => false): Step[] {
  const out: Step[] = [];
  const add = (kind: Step['kind'], name: string, n: number) => {
    if (n < 1 || skip(name)) return;
    out.push({ kind, name, occurrence: 1 });
    if (n > 1) out.push({ kind, name, occurrence: n });
  };
  for (const [name, n] of Object.entries(stats.calls)) add('method', name, n);
  for (const [name, r] of Object.entries(stats.routes)) add('route', name, r.requests);
  return out.sort((a, b) => stepName(a).localeCompare(stepName(b)));
}

/**
 * Arms one failure at `step`. For `abort`, `controller` is aborted at the very moment the
 * simulator sees that call: its fault hook is observed (the rule itself does nothing), so
 * the abort lands while the call is in flight. Returns the disarm function.
 */
export function arm(sim: SimHandle, step: Step, mode: FaultMode, controller: AbortController): () => void {
  const after = step.occurrence - 1;
  const base = step.kind === 'method' ? { method: escapeGlob(step.name) } : { route: step.name };
  let rule: Parameters<SimHandle['faults']['add']>[0];
  if (mode === 'error') rule = step.kind === 'method' ? { ...base, error: INJECTED_ERROR, after, times: 1 } : { ...base, taskError: INJECTED_ERROR, after, times: 1 };
  // Twice: the client retries a call once when a kept-alive socket turns out dead, so a
  // single drop is always survived; the second makes the loss stick.
  else if (mode === 'drop') rule = step.kind === 'method' ? { ...base, drop: true, after, times: 2 } : { ...base, dropAfterBytes: 0, after, times: 2 };
  else rule = { ...base, after, times: 1 };
  const faults = sim.faults;
  const id = faults.add(rule);
  if (mode !== 'abort') return () => faults.remove(id);

  const fired = () => (faults.list().find((r) => r.id === id)?.fired ?? 0) > 0;
  const hook = step.kind === 'method' ? 'forCall' : 'forRoute';
  const original = faults[hook];
  // Observe the dispatcher's per-call hook; behaviour is unchanged (the rule adds nothing).
  const observed = function (this: typeof faults, ...args: unknown[]) {
    const r = (original as (...a: unknown[]) => unknown).apply(this, args);
    if (fired() && !controller.signal.aborted) controller.abort(new Error(`fault campaign: abort at ${stepName(step)}`));
    return r;
  };
  Object.defineProperty(faults, hook, { value: observed, configurable: true, writable: true });
  return () => {
    delete (faults as unknown as Record<string, unknown>)[hook];
    faults.remove(id);
  };
}

/** Method names contain dots; only "*" is special in a rule's method glob. */
function escapeGlob(name: string): string {
  if (name.includes('*')) throw new Error(`method name with a "*": ${name}`);
  return name;
}

/** Polls `check` until it returns undefined (= all good) or the time is up; returns the last complaint. */
export async function settle(check: () => Promise<string | undefined> | string | undefined, timeoutMs = 1000): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const problem = await check();
    if (problem === undefined || Date.now() > deadline) return problem;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * After a step left something behind (already recorded as a failure), removes it through
 * the API so that the next step is judged on its own: unplugs and destroys control-domain
 * VBDs, destroys tasks.
 */
export async function scrubPool(sim: SimHandle, session: Session): Promise<void> {
  const db = sim.db;
  for (const [ref, vbd] of db.allRecords('VBD')) {
    if (!db.tryGet('VM', vbd.VM)?.is_control_domain) continue;
    if (vbd.currently_attached) await session.call('VBD.unplug', ref).catch(() => undefined);
    await session.call('VBD.destroy', ref).catch(() => undefined);
  }
  for (const ref of db.refs('task')) {
    // A pending task is only marked for destruction: end it first.
    await session.call('task.set_status', ref, 'cancelled').catch(() => undefined);
    await session.call('task.destroy', ref).catch(() => undefined);
  }
}
