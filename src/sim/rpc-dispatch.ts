/**
 * XML-RPC method registry and dispatcher, in XAPI's order of checks:
 *   fault injection (latency / error / drop) → method lookup (MESSAGE_METHOD_UNKNOWN) →
 *   parameter count (MESSAGE_PARAMETER_COUNT_MISMATCH [method, expected, received], both
 *   without the session; omitted trailing versioned parameters defaulted) → session (SESSION_INVALID) →
 *   parameter types (FIELD_TYPE_ERROR [param]) → the method.
 * `Async.<Class>.<msg>` runs the method in a new task named after the call and answers the
 * task ref at once; the task's result is the XML-RPC `<value>` of the return value (xen-api
 * ocaml/idl/ocaml_backend/gen_server.ml).
 */
import { ApiFailure, errorDescription } from './api-error.js';
import { isStruct, XmlRpcDateTime, type XmlRpcValue } from './codec.js';
import { masterHost, type SimContext } from './context.js';
import type { Ref } from './db.js';

export type ParamType = 'string' | 'int' | 'float' | 'bool' | 'ref' | 'struct' | 'stringSet' | 'datetime' | 'any';

export interface ParamSpec {
  name: string;
  type: ParamType;
  /** Value used when a client omits this (trailing, versioned) parameter. */
  default?: XmlRpcValue;
}

/** Per-call context handed to a method implementation. */
export interface CallContext {
  readonly sim: SimContext;
  /** Method name as called, without "Async.". */
  readonly method: string;
  /** The caller's session ('' for session-less calls such as login). */
  readonly session: Ref;
  /** Task of an Async call, else undefined. */
  readonly task: Ref | undefined;
  /** Aborted when the Async task is cancelled. */
  readonly signal: AbortSignal;
  /**
   * Came in over the local UNIX socket: trusted as root (xen-api ocaml/xapi/context.ml
   * `preauth`). Absent on calls the simulator makes itself (as XAPI's Internal origin).
   */
  readonly localRoot?: boolean;
}

/** Decoded arguments (after the session), by parameter name. */
export type Args = Record<string, unknown>;

export interface MethodDef {
  name: string;
  /** Parameters after the session (or all of them when `session` is false). */
  params: ParamSpec[];
  /** Takes a session ref as first parameter (default true). */
  session?: boolean;
  /** Has an Async form (default false). */
  async?: boolean;
  /** Hidden from system.listMethods. */
  hidden?: boolean;
  impl(call: CallContext, args: Args): XmlRpcValue | Promise<XmlRpcValue>;
}

/** Thrown to make the server close the connection without answering (fault injection). */
export class DropConnection extends Error {
  constructor() {
    super('connection dropped by fault injection');
    this.name = 'DropConnection';
  }
}

export type CallOutcome = { ok: true; value: XmlRpcValue } | { ok: false; description: string[] };

const INT_RE = /^[+-]?\d+$/;

function coerce(p: ParamSpec, v: XmlRpcValue): unknown {
  const bad = (): never => {
    throw new ApiFailure('FIELD_TYPE_ERROR', [p.name]);
  };
  switch (p.type) {
    case 'string':
    case 'ref':
      return typeof v === 'string' ? v : bad();
    case 'int': {
      let n: bigint | undefined;
      if (typeof v === 'bigint') n = v;
      else if (typeof v === 'string' && INT_RE.test(v.trim())) n = BigInt(v.trim());
      if (n === undefined || n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) return bad();
      return Number(n);
    }
    case 'float':
      if (typeof v === 'number') return v;
      if (typeof v === 'bigint') return Number(v);
      if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
      return bad();
    case 'bool':
      return typeof v === 'boolean' ? v : bad();
    case 'struct':
      return isStruct(v) ? v : bad();
    case 'stringSet':
      return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : bad();
    case 'datetime':
      if (v instanceof XmlRpcDateTime) return v.text;
      if (typeof v === 'string') {
        try {
          return new XmlRpcDateTime(v).text;
        } catch {
          return bad();
        }
      }
      return bad();
    case 'any':
      return v;
  }
}

export class MethodRegistry {
  private readonly defs = new Map<string, MethodDef>();

  /** Registers (or replaces: class-specific code overrides generic methods) a method. */
  add(def: MethodDef): void {
    this.defs.set(def.name, def);
  }

  /** Drops a method (a class that lacks what the generic per-class methods give every class). */
  remove(name: string): void {
    this.defs.delete(name);
  }

  get(name: string): MethodDef | undefined {
    return this.defs.get(name);
  }

  has(name: string): boolean {
    return this.defs.has(name);
  }

  /**
   * Visible method names. XAPI lists each message once, under its synchronous name (xen-api
   * ocaml/idl/ocaml_backend/gen_server.ml builds the list with `wire_name ~sync:true`).
   */
  listMethods(): string[] {
    const out: string[] = [];
    for (const d of this.defs.values()) if (!d.hidden) out.push(d.name);
    return out.sort();
  }
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

export class RpcDispatcher {
  constructor(
    private readonly sim: SimContext,
    private readonly registry: MethodRegistry,
  ) {}

  /**
   * Runs one call. Resolves with the outcome; rejects only with DropConnection (the
   * server must then close the socket without answering).
   */
  async call(methodName: string, params: XmlRpcValue[], origin: { localRoot?: boolean } = {}): Promise<CallOutcome> {
    const localRoot = origin.localRoot ?? false;
    this.sim.stats.recordCall(methodName);
    const fault = this.sim.faults.forCall(methodName);
    await sleep(fault.latencyMs);
    if (fault.drop) throw new DropConnection();
    if (fault.error) return { ok: false, description: fault.error };
    if (fault.dropAnswer) {
      // The call takes effect; only its answer is lost (a connection cut after XAPI's commit).
      await this.run(methodName, params, localRoot).catch(() => undefined);
      throw new DropConnection();
    }
    try {
      return { ok: true, value: await this.run(methodName, params, localRoot) };
    } catch (err) {
      if (err instanceof DropConnection) throw err;
      if (!(err instanceof ApiFailure) && process.env.XSCONSOLE_DR_SIM_DEBUG) {
        process.stderr.write(`simulator: ${methodName} failed: ${(err as Error).stack ?? String(err)}\n`);
      }
      return { ok: false, description: errorDescription(err) };
    }
  }

  private async run(methodName: string, params: XmlRpcValue[], localRoot: boolean): Promise<XmlRpcValue> {
    const isAsync = methodName.startsWith('Async.');
    const name = isAsync ? methodName.slice('Async.'.length) : methodName;
    const def = this.registry.get(name);
    if (!def || (isAsync && !def.async)) throw new ApiFailure('MESSAGE_METHOD_UNKNOWN', [methodName]);

    // XAPI's generated dispatcher (xen-api ocaml/idl/ocaml_backend/gen_server.ml): a message
    // with defaulted (versioned) parameters takes any count from its required ones up —
    // omitted ones get their default, extra ones are ignored; any other message takes
    // exactly its parameters. The error counts leave the session out: [method, required,
    // received - 1].
    const takesSession = def.session ?? true;
    const lead = takesSession ? 1 : 0;
    const required = def.params.filter((p) => p.default === undefined).length;
    const hasDefaults = required < def.params.length;
    const given = params.length - lead;
    if (hasDefaults ? given < required : given !== required) {
      throw new ApiFailure('MESSAGE_PARAMETER_COUNT_MISMATCH', [methodName, String(required), String(given)]);
    }
    const args = [...params.slice(0, lead + def.params.length)];
    for (let i = args.length - lead; i < def.params.length; i++) args.push(def.params[i]?.default as XmlRpcValue);

    let session = '';
    if (takesSession) session = this.sim.auth.validate(args[0]);
    const decoded: Args = {};
    def.params.forEach((p, i) => {
      decoded[p.name] = coerce(p, args[i + (takesSession ? 1 : 0)] as XmlRpcValue);
    });

    if (!isAsync) {
      return def.impl({ sim: this.sim, method: name, session, task: undefined, signal: new AbortController().signal, localRoot }, decoded);
    }

    const task = this.sim.tasks.create(methodName, { residentOn: masterHost(this.sim.db) });
    const signal = this.sim.tasks.signal(task);
    // Run after answering with the task ref, as XAPI does.
    setImmediate(() => {
      void (async () => {
        try {
          const value = await def.impl({ sim: this.sim, method: name, session, task, signal, localRoot }, decoded);
          const type = typeof value === 'string' ? (this.sim.db.classOf(value) ?? '') : '';
          this.sim.tasks.succeed(task, value, type);
        } catch (err) {
          this.sim.tasks.fail(task, errorDescription(err));
        }
      })();
    });
    return task;
  }
}
