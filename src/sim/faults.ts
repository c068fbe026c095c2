/**
 * Fault and latency injection, used in-process by tests (`sim.faults.add(…)`) and from a
 * JSON file (`xsconsole-dr sim --faults f.json` → `sim.faults.load(json)`).
 *
 * JSON form (every key optional):
 *   {
 *     "latencyMs": 20,                                   // added to every XML-RPC call
 *     "transferLatencyMs": 0,                            // added before every HTTP transfer
 *     "rules": [
 *       { "method": "VDI.create", "error": ["SR_FULL", "2", "1"], "after": 2, "times": 1 },
 *       { "method": "VBD.plug", "latencyMs": 500 },
 *       { "method": "VM.get_all_records", "drop": true, "times": 1 },
 *       { "method": "VDI.add_to_other_config", "dropAnswer": true, "times": 1 },
 *       { "route": "/import_raw_vdi", "httpStatus": 500, "times": 1 },
 *       { "route": "/export_metadata", "taskError": ["VDI_IO_ERROR", "device"] },
 *       { "route": "/export_raw_vdi", "dropAfterBytes": 1048576 }
 *     ]
 *   }
 * A rule matches a method by exact name, or by name without the "Async." prefix, or by a
 * glob with "*" ("VM.*"); a route by path (trailing slash ignored) and optionally
 * "httpMethod": "GET"|"PUT". It lets the first `after` matching calls through (default 0),
 * then fires `times` times (default: every time), then stays inert.
 *
 * Effects: `latencyMs` delays; `error` answers the call with a Failure [code, params…];
 * `drop` closes the connection without an answer; `dropAnswer` runs the call first (its
 * effect stays, the caller never hears of it); for routes `httpStatus` answers with
 * that status (task failed with INTERNAL_ERROR), `taskError` fails the task with that error
 * (HTTP 500), `dropAfterBytes` makes the handler cut the connection after N body bytes.
 */
import { normalisePath } from './http-route.js';

export interface FaultRule {
  /** Method name or glob ("VDI.create", "VM.*"); either this or `route`. */
  method?: string;
  /** HTTP route path ("/export_raw_vdi"). */
  route?: string;
  /** Restrict a route rule to one HTTP method. */
  httpMethod?: 'GET' | 'PUT';
  /** Matching calls let through before the rule fires (default 0). */
  after?: number;
  /** How many times it fires (default unlimited). */
  times?: number;
  latencyMs?: number;
  error?: string[];
  drop?: boolean;
  /** Runs the call, then closes the connection without answering (the answer is lost). */
  dropAnswer?: boolean;
  httpStatus?: number;
  taskError?: string[];
  dropAfterBytes?: number;
}

export interface FaultsFile {
  latencyMs?: number;
  transferLatencyMs?: number;
  rules?: FaultRule[];
}

/** What to do with one XML-RPC call. */
export interface CallFault {
  latencyMs: number;
  error?: string[];
  drop?: boolean;
  dropAnswer?: boolean;
}

/** What to do with one HTTP handler request. */
export interface RouteFault {
  latencyMs: number;
  httpStatus?: number;
  taskError?: string[];
  dropAfterBytes?: number;
}

interface ActiveRule {
  id: number;
  rule: FaultRule;
  re?: RegExp;
  seen: number;
  fired: number;
}

function globToRegExp(glob: string): RegExp {
  const esc = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${esc}$`);
}

function checkRule(r: unknown, where: string): FaultRule {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new Error(`${where}: a rule must be an object`);
  const o = r as Record<string, unknown>;
  const known = new Set(['method', 'route', 'httpMethod', 'after', 'times', 'latencyMs', 'error', 'drop', 'dropAnswer', 'httpStatus', 'taskError', 'dropAfterBytes']);
  for (const k of Object.keys(o)) if (!known.has(k)) throw new Error(`${where}: unknown key "${k}"`);
  const isStr = (k: string) => o[k] === undefined || typeof o[k] === 'string';
  const isNat = (k: string) => o[k] === undefined || (typeof o[k] === 'number' && Number.isInteger(o[k]) && (o[k] as number) >= 0);
  const isStrArr = (k: string) =>
    o[k] === undefined || (Array.isArray(o[k]) && (o[k] as unknown[]).length > 0 && (o[k] as unknown[]).every((x) => typeof x === 'string'));
  if (!isStr('method') || !isStr('route')) throw new Error(`${where}: method/route must be strings`);
  if ((o.method === undefined) === (o.route === undefined)) throw new Error(`${where}: give exactly one of "method" or "route"`);
  if (o.httpMethod !== undefined && o.httpMethod !== 'GET' && o.httpMethod !== 'PUT') throw new Error(`${where}: httpMethod must be GET or PUT`);
  for (const k of ['after', 'times', 'latencyMs', 'httpStatus', 'dropAfterBytes']) if (!isNat(k)) throw new Error(`${where}: ${k} must be a non-negative integer`);
  for (const k of ['error', 'taskError']) if (!isStrArr(k)) throw new Error(`${where}: ${k} must be a non-empty array of strings`);
  if (o.drop !== undefined && typeof o.drop !== 'boolean') throw new Error(`${where}: drop must be a boolean`);
  if (o.dropAnswer !== undefined && typeof o.dropAnswer !== 'boolean') throw new Error(`${where}: dropAnswer must be a boolean`);
  if (o.method !== undefined && (o.httpStatus !== undefined || o.taskError !== undefined || o.dropAfterBytes !== undefined)) {
    throw new Error(`${where}: httpStatus/taskError/dropAfterBytes apply to routes only`);
  }
  if (o.route !== undefined && (o.error !== undefined || o.drop !== undefined || o.dropAnswer !== undefined)) {
    throw new Error(`${where}: error/drop/dropAnswer apply to methods only (use taskError/httpStatus/dropAfterBytes)`);
  }
  if (o.httpStatus !== undefined && ((o.httpStatus as number) < 400 || (o.httpStatus as number) > 599)) {
    throw new Error(`${where}: httpStatus must be 400–599`);
  }
  return o as FaultRule;
}

export class SimFaults {
  /** Added to every XML-RPC call. */
  latencyMs = 0;
  /** Added before every HTTP handler transfer. */
  transferLatencyMs = 0;
  private rules: ActiveRule[] = [];
  private nextId = 1;

  constructor(opts: { latencyMs?: number; transferLatencyMs?: number } = {}) {
    this.latencyMs = opts.latencyMs ?? 0;
    this.transferLatencyMs = opts.transferLatencyMs ?? 0;
  }

  /** Adds a rule; returns its id (for remove). Throws on a malformed rule. */
  add(rule: FaultRule): number {
    const r = checkRule(rule, 'fault rule');
    const active: ActiveRule = { id: this.nextId++, rule: { ...r }, seen: 0, fired: 0 };
    if (r.method !== undefined) active.re = globToRegExp(r.method);
    this.rules.push(active);
    return active.id;
  }

  remove(id: number): void {
    this.rules = this.rules.filter((r) => r.id !== id);
  }

  /** Removes every rule and resets latencies to 0. */
  clear(): void {
    this.rules = [];
    this.latencyMs = 0;
    this.transferLatencyMs = 0;
  }

  /** Adds the rules and latencies of a faults file (parsed JSON); throws on malformed input. */
  load(json: unknown): void {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('faults: expected a JSON object');
    const f = json as Record<string, unknown>;
    for (const k of Object.keys(f)) if (!['latencyMs', 'transferLatencyMs', 'rules'].includes(k)) throw new Error(`faults: unknown key "${k}"`);
    for (const k of ['latencyMs', 'transferLatencyMs']) {
      const v = f[k];
      if (v !== undefined && !(typeof v === 'number' && Number.isInteger(v) && v >= 0)) throw new Error(`faults: ${k} must be a non-negative integer`);
    }
    if (f.rules !== undefined && !Array.isArray(f.rules)) throw new Error('faults: rules must be an array');
    const rules = ((f.rules as unknown[] | undefined) ?? []).map((r, i) => checkRule(r, `faults: rules[${i}]`));
    if (typeof f.latencyMs === 'number') this.latencyMs = f.latencyMs;
    if (typeof f.transferLatencyMs === 'number') this.transferLatencyMs = f.transferLatencyMs;
    for (const r of rules) this.add(r);
  }

  /** Current rules with their counters (for debugging and tests). */
  list(): Array<FaultRule & { id: number; seen: number; fired: number }> {
    return this.rules.map((r) => ({ ...r.rule, id: r.id, seen: r.seen, fired: r.fired }));
  }

  /** Consulted by the dispatcher once per XML-RPC call. */
  forCall(method: string): CallFault {
    const base = method.startsWith('Async.') ? method.slice('Async.'.length) : method;
    const out: CallFault = { latencyMs: this.latencyMs };
    for (const r of this.rules) {
      if (!r.re || !(r.re.test(method) || r.re.test(base))) continue;
      if (!this.fires(r)) continue;
      out.latencyMs += r.rule.latencyMs ?? 0;
      if (r.rule.drop) out.drop = true;
      if (r.rule.dropAnswer) out.dropAnswer = true;
      if (r.rule.error && !out.error) out.error = [...r.rule.error];
    }
    return out;
  }

  /** Consulted by the server once per HTTP handler request. */
  forRoute(httpMethod: string, path: string): RouteFault {
    const p = normalisePath(path);
    const out: RouteFault = { latencyMs: this.transferLatencyMs };
    for (const r of this.rules) {
      if (r.rule.route === undefined || normalisePath(r.rule.route) !== p) continue;
      if (r.rule.httpMethod !== undefined && r.rule.httpMethod !== httpMethod) continue;
      if (!this.fires(r)) continue;
      out.latencyMs += r.rule.latencyMs ?? 0;
      if (r.rule.httpStatus !== undefined && out.httpStatus === undefined) out.httpStatus = r.rule.httpStatus;
      if (r.rule.taskError && !out.taskError) out.taskError = [...r.rule.taskError];
      if (r.rule.dropAfterBytes !== undefined && out.dropAfterBytes === undefined) out.dropAfterBytes = r.rule.dropAfterBytes;
    }
    return out;
  }

  private fires(r: ActiveRule): boolean {
    r.seen++;
    if (r.seen <= (r.rule.after ?? 0)) return false;
    if (r.fired >= (r.rule.times ?? Infinity)) return false;
    r.fired++;
    return true;
  }
}
