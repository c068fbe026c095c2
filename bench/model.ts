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
 * The client's per-VM patterns (src/xenapi/transfer.ts, src/dr/restore.ts), in round trips.
 * `calls` are all the calls an item makes; `depth` those on its critical path (a finished
 * transfer's task.destroy runs beside the worker's next item, so it is off the path).
 */
export interface ItemPattern {
  calls: number;
  transfers: number;
  depth: RoundTrips;
}

/** Metadata export: task.create, GET, task.destroy (no task read: the whole body is the outcome). */
export const EXPORT_PATTERN: ItemPattern = { calls: 2, transfers: 1, depth: { calls: 1, transfers: 1 } };
/** Metadata import: task.create, PUT, task.get_record (after XAPI closed), task.destroy. */
export const IMPORT_PATTERN: ItemPattern = { calls: 3, transfers: 1, depth: { calls: 2, transfers: 1 } };

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

/** Work done `concurrency` items at a time: ceil(items / concurrency) items in a row. */
export interface ParallelGroup {
  name: string;
  items: number;
  /** Calls and transfers the group made in all (taken out of the sequential rest). */
  calls: number;
  transfers: number;
  /** Round trips of one item on the critical path. */
  depth: RoundTrips;
  concurrency: number;
}

/** A group of `items` made with `pattern` (counted as the client makes them). */
export function patternGroup(name: string, items: number, pattern: ItemPattern, concurrency: number): ParallelGroup {
  return { name, items, calls: items * pattern.calls, transfers: items * pattern.transfers, depth: pattern.depth, concurrency };
}

export interface LowerBoundInput {
  counts: ServerCounts;
  groups: ParallelGroup[];
  callLatencyMs: number;
  transferLatencyMs: number;
}

export interface LowerBound {
  /** Round trips outside the groups, all counted as sequential. */
  fixed: RoundTrips;
  /** Items in a row on the critical path, per group. */
  waves: Record<string, number>;
  ms: number;
}

/**
 * latency × critical path. Of the R round trips the run made, the parallel groups account
 * for theirs; the rest (F) is counted as sequential (a handful of them actually run two
 * at a time, so the bound is a little high there), and each group costs
 * ceil(items / concurrency) × its per-item depth:
 *   bound = F.calls·Lcall + F.transfers·Ltransfer + Σ ceil(n/c)·(d.calls·Lcall + d.transfers·Ltransfer)
 * CPU, disk and bandwidth cost nothing in this bound: the ratio to it is the client's overhead.
 */
export function lowerBound(input: LowerBoundInput): LowerBound {
  const { counts, callLatencyMs: lc, transferLatencyMs: lt } = input;
  const fixed = { calls: counts.totalCalls, transfers: totalTransfers(counts) };
  const waves: Record<string, number> = {};
  let ms = 0;
  for (const g of input.groups) {
    if (!Number.isInteger(g.concurrency) || g.concurrency < 1) throw new RangeError('concurrency must be a whole number ≥ 1');
    fixed.calls -= g.calls;
    fixed.transfers -= g.transfers;
    waves[g.name] = Math.ceil(g.items / g.concurrency);
    ms += waves[g.name]! * (g.depth.calls * lc + g.depth.transfers * lt);
  }
  if (fixed.calls < 0 || fixed.transfers < 0) {
    const want = input.groups.map((g) => `${g.name}: ${g.calls} calls, ${g.transfers} transfers`).join('; ');
    throw new Error(`the counters do not fit the client's patterns (${want}; made: ${counts.totalCalls} calls, ${totalTransfers(counts)} transfers)`);
  }
  ms += fixed.calls * lc + fixed.transfers * lt;
  return { fixed, waves, ms };
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
