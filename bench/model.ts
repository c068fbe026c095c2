/**
 * The figures the benchmark derives from the simulator's counters: round trips, the
 * latency lower bound of a run, and the targets of the README. Pure functions (unit-tested).
 */

export interface RouteCounters {
  requests: number;
  bytesIn: number;
  bytesOut: number;
}

/** What the simulator counted during one scenario (its StatsSnapshot). */
export interface ServerCounts {
  totalCalls: number;
  calls: Record<string, number>;
  routes: Record<string, RouteCounters>;
}

export interface RoundTrips {
  calls: number;
  transfers: number;
}

/**
 * One HTTP handler transfer the way the client (and xe) makes it: task.create,
 * task.set_progress(-1), the GET/PUT, task.get_record (once: the handler has completed the
 * task when the body ends), task.destroy.
 */
export const TRANSFER_ROUND_TRIPS: RoundTrips = { calls: 4, transfers: 1 };

export function totalTransfers(c: ServerCounts): number {
  return Object.values(c.routes).reduce((n, r) => n + r.requests, 0);
}

export function httpBytes(c: ServerCounts): { toPool: number; fromPool: number } {
  let toPool = 0;
  let fromPool = 0;
  for (const r of Object.values(c.routes)) {
    toPool += r.bytesIn;
    fromPool += r.bytesOut;
  }
  return { toPool, fromPool };
}

export interface LowerBoundInput {
  counts: ServerCounts;
  /** The handler route of the per-VM step ("/export_metadata" or "/import_metadata"). */
  itemRoute: string;
  concurrency: number;
  callLatencyMs: number;
  transferLatencyMs: number;
}

export interface LowerBound {
  items: number;
  /** Round trips outside the per-VM transfers, all counted as sequential. */
  fixed: RoundTrips;
  perItem: RoundTrips;
  /** Per-VM transfers in a row on the critical path: ceil(items / concurrency). */
  waves: number;
  ms: number;
}

/**
 * latency × critical path. The run made R round trips; V of its transfers were the per-VM
 * step, each costing TRANSFER_ROUND_TRIPS. The rest (F = R − V·k) is counted as sequential
 * (a handful of them actually run two at a time, so the bound is a little high there), and
 * the V per-VM steps run `concurrency` at a time: ceil(V / c) of them in a row.
 *   bound = F.calls·Lcall + F.transfers·Ltransfer + ceil(V/c)·(k.calls·Lcall + k.transfers·Ltransfer)
 * CPU, disk and bandwidth cost nothing in this bound: the ratio to it is the client's overhead.
 */
export function lowerBound(input: LowerBoundInput): LowerBound {
  const { counts, itemRoute, callLatencyMs: lc, transferLatencyMs: lt } = input;
  if (!Number.isInteger(input.concurrency) || input.concurrency < 1) throw new RangeError('concurrency must be a whole number ≥ 1');
  const items = counts.routes[itemRoute]?.requests ?? 0;
  const k = TRANSFER_ROUND_TRIPS;
  const fixed = { calls: counts.totalCalls - items * k.calls, transfers: totalTransfers(counts) - items * k.transfers };
  if (fixed.calls < 0 || fixed.transfers < 0) {
    throw new Error(`the counters do not fit the transfer pattern: ${items} ${itemRoute} transfers need ${items * k.calls} calls, ${counts.totalCalls} were made`);
  }
  const waves = Math.ceil(items / input.concurrency);
  const ms = fixed.calls * lc + fixed.transfers * lt + waves * (k.calls * lc + k.transfers * lt);
  return { items, fixed, perItem: k, waves, ms };
}

/** "met" or how far off, for a figure that must stay at or under `limit`. */
export function atMost(value: number, limit: number): string {
  if (value <= limit) return 'met';
  return `missed by ${(((value - limit) / limit) * 100).toFixed(0)} %`;
}

/** "met" or how far off, for a figure that must reach at least `limit`. */
export function atLeast(value: number, limit: number): string {
  if (value >= limit) return 'met';
  return `missed: ${value.toFixed(1)} of ${limit}`;
}
