/**
 * A logged-in XenAPI session: login (following HOST_IS_SLAVE to the pool coordinator),
 * calls with the session ref prepended, one transparent re-login when XAPI says
 * SESSION_INVALID, logout. The password lives only in a private field and in the list of
 * secrets every error text is cleaned of (src/redact.ts), in memory.
 */
import { Connector } from './connector.js';
import { TransportError, XenApiError } from './errors.js';
import { RpcClient, type CallOptions, type RpcProtocol } from './rpc.js';
import type { TlsOptions } from './tls.js';
import { registerSecret } from '../redact.js';
import { toInt, toStrArray, toStrMap, type Ref, type XenRecord } from './values.js';

export interface LoginOptions {
  /** http(s)://host[:port]/ of a pool host; optional with socketPath (then nominal). */
  url?: string;
  user: string;
  password: string;
  /** Shown by XAPI in session records and audit logs. */
  originator?: string;
  tls?: TlsOptions;
  /** XAPI's local socket (/var/lib/xcp/xapi) instead of TCP. */
  socketPath?: string;
  /** Default deadline per call (ms). */
  timeoutMs?: number;
  /** HOST_IS_SLAVE hops followed at most (default 3). */
  maxRedirects?: number;
  maxResponseBytes?: number;
  signal?: AbortSignal;
  /** The wire protocol (default DEFAULT_TRANSPORT); see TransportChoice. */
  transport?: TransportChoice;
}

/**
 * 'auto': log in over JSON-RPC and keep it where the host has it dependably, else XML-RPC
 * (see Session.login); 'xml-rpc' / 'json-rpc': that protocol only.
 */
export type TransportChoice = 'auto' | RpcProtocol;
export const TRANSPORT_CHOICES: readonly TransportChoice[] = ['auto', 'xml-rpc', 'json-rpc'];
export const DEFAULT_TRANSPORT: TransportChoice = 'xml-rpc';

/**
 * API versions whose JSON-RPC is dependable: XenCenter switches to it for API 2.6 (XenServer
 * 7.1) and from 2.8 (7.3) only (xenapi-facts §8.4); older hosts keep XML-RPC.
 */
export function jsonRpcDependable(v: ApiVersion): boolean {
  return v.major > 2 || (v.major === 2 && (v.minor === 6 || v.minor >= 8));
}

/** A JSON-RPC login that says the host has no JSON-RPC here (an error status, or not JSON). */
function noJsonRpc(err: unknown): boolean {
  return TransportError.is(err, 'http-status', 'protocol');
}

export const DEFAULT_ORIGINATOR = 'xsconsole-dr';
/** XAPI ignores the value; its own scripts send "1.0". */
const LOGIN_VERSION = '1.0';

/** The coordinator's URL: same scheme, port and path, host replaced (IPv6 bracketed). */
export function masterUrl(current: URL, address: string): URL {
  const addr = address.trim();
  if (addr === '' || /[\s/?#@]/.test(addr)) throw new TypeError(`unusable pool coordinator address ${JSON.stringify(address)}`);
  const u = new URL(current.href);
  u.hostname = addr.includes(':') && !addr.startsWith('[') ? `[${addr}]` : addr;
  return u;
}

function validClass(cls: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(cls)) throw new TypeError(`invalid XenAPI class name: ${JSON.stringify(cls)}`);
  return cls;
}

export interface ApiVersion {
  major: number;
  minor: number;
}

export interface ProductVersion {
  /** e.g. "XenServer", "XCP-ng", "Citrix Hypervisor" ("" when the host omits it). */
  brand: string;
  /** e.g. "8.4.0" */
  version: string;
  platformVersion: string;
  /** XAPI package version "<major>.<minor>" */
  xapi: string;
  build: string;
  hostname: string;
  /** host.software_version as sent. */
  raw: Record<string, string>;
}

export class Session {
  #rpc: RpcClient;
  #ref: Ref;
  readonly #connector: Connector;
  readonly #user: string;
  #password: string;
  readonly #originator: string;
  readonly #maxRedirects: number;
  #relogin: Promise<void> | undefined;
  #closed = false;
  readonly #cleanups = new Set<Promise<void>>();

  private constructor(rpc: RpcClient, ref: Ref, opts: LoginOptions) {
    this.#rpc = rpc;
    this.#ref = ref;
    this.#connector = rpc.connector;
    this.#user = opts.user;
    this.#password = opts.password;
    this.#originator = opts.originator ?? DEFAULT_ORIGINATOR;
    this.#maxRedirects = opts.maxRedirects ?? 3;
  }

  static async login(opts: LoginOptions): Promise<Session> {
    const url = opts.url ?? (opts.socketPath ? 'http://localhost/' : undefined);
    if (!url) throw new TypeError('Session.login needs a url or a socketPath');
    const choice = opts.transport ?? DEFAULT_TRANSPORT;
    if (!TRANSPORT_CHOICES.includes(choice)) throw new TypeError(`unknown transport ${JSON.stringify(choice)}`);
    // Before the first byte is sent: an answer to this very call may echo it (see redact.ts).
    registerSecret(opts.password);
    const connector = new Connector({
      ...(opts.tls ? { tls: opts.tls } : {}),
      ...(opts.socketPath ? { socketPath: opts.socketPath } : {}),
    });
    const rpc = new RpcClient(url, {
      connector,
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      ...(opts.maxResponseBytes !== undefined ? { maxResponseBytes: opts.maxResponseBytes } : {}),
      protocol: choice === 'auto' ? 'json-rpc' : choice,
    });
    const originator = opts.originator ?? DEFAULT_ORIGINATOR;
    const maxRedirects = opts.maxRedirects ?? 3;
    try {
      let done: { rpc: RpcClient; ref: Ref };
      try {
        done = await loginFollowingRedirects(rpc, opts, originator, maxRedirects, opts.signal);
      } catch (err) {
        // A host without /jsonrpc (an error status there, as the xs41 profile's HTTP 500, or
        // an answer that is not JSON) is asked again over XML-RPC; an answer it gave in JSON
        // (a bad password) is final.
        if (choice !== 'auto' || !noJsonRpc(err)) throw err;
        done = await loginFollowingRedirects(rpc.withProtocol('xml-rpc'), opts, originator, maxRedirects, opts.signal);
      }
      const session = new Session(done.rpc, done.ref, opts);
      if (choice === 'auto' && done.rpc.protocol === 'json-rpc') {
        try {
          await session.#keepJsonRpcIfDependable(opts.signal);
        } catch (err) {
          await session.logout().catch(() => undefined);
          throw err;
        }
      }
      return session;
    } catch (err) {
      connector.close();
      throw err;
    }
  }

  /**
   * After an 'auto' login over JSON-RPC: the host's API version decides (a session is valid
   * over both protocols, so switching needs no new login). Two round trips, once per login.
   */
  async #keepJsonRpcIfDependable(signal: AbortSignal | undefined): Promise<void> {
    const opts = signal ? { signal } : {};
    const host = await this.invoke('session.get_this_host', [this.#ref], opts);
    const [major, minor] = await Promise.all([this.invoke('host.get_API_version_major', [host], opts), this.invoke('host.get_API_version_minor', [host], opts)]);
    if (!jsonRpcDependable({ major: toInt(major), minor: toInt(minor) })) this.#rpc = this.#rpc.withProtocol('xml-rpc');
  }

  /** The wire protocol in use. */
  get transport(): RpcProtocol {
    return this.#rpc.protocol;
  }

  /** The coordinator URL actually in use (after any HOST_IS_SLAVE redirect). */
  get url(): string {
    return this.#rpc.url.href;
  }

  /** The current session ref (changes after a transparent re-login). */
  get ref(): Ref {
    return this.#ref;
  }

  get user(): string {
    return this.#user;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The HTTP layer (agents, TLS policy, Unix socket), shared with handler transfers. */
  get connector(): Connector {
    return this.#connector;
  }

  /** Non-empty when TLS verification is off: the UI must show it. */
  get tlsWarning(): string | undefined {
    return this.#connector.tlsWarning;
  }

  /** `method(sessionRef, ...params)`. */
  call<T = unknown>(method: string, ...params: unknown[]): Promise<T> {
    return this.invoke<T>(method, params);
  }

  /** Like call(), with an AbortSignal and/or a deadline for this call. */
  async invoke<T = unknown>(method: string, params: readonly unknown[], opts: CallOptions = {}): Promise<T> {
    this.#assertOpen(method);
    const ref = this.#ref;
    try {
      return (await this.#rpc.call(method, [ref, ...params], opts)) as T;
    } catch (err) {
      if (!XenApiError.is(err, 'SESSION_INVALID') || this.#closed) throw err;
      await this.refresh(ref);
      this.#assertOpen(method);
      return (await this.#rpc.call(method, [this.#ref, ...params], opts)) as T;
    }
  }

  /**
   * Logs in again if `staleRef` is still the current ref (concurrent callers that saw
   * the same SESSION_INVALID share one login). Also used after a handler's 401.
   */
  async refresh(staleRef: Ref = this.#ref): Promise<void> {
    this.#assertOpen('session.login_with_password');
    if (staleRef !== this.#ref) return;
    this.#relogin ??= (async () => {
      try {
        const { rpc, ref } = await loginFollowingRedirects(
          this.#rpc,
          { user: this.#user, password: this.#password, ...(this.#connector.socketPath ? { socketPath: this.#connector.socketPath } : {}) },
          this.#originator,
          this.#maxRedirects,
          undefined,
        );
        this.#rpc = rpc;
        this.#ref = ref;
      } finally {
        this.#relogin = undefined;
      }
    })();
    await this.#relogin;
  }

  /**
   * Runs a clean-up call whose answer nothing waits for (a finished transfer's
   * task.destroy), so that it overlaps the next piece of work instead of adding a round
   * trip to it. settle() and logout() wait for every one; a failure is the clean-up's own
   * business (it must not throw).
   */
  cleanUpLater(work: () => Promise<void>): void {
    const p: Promise<void> = work()
      .catch(() => undefined)
      .finally(() => this.#cleanups.delete(p));
    this.#cleanups.add(p);
  }

  /** Waits until every clean-up started with cleanUpLater() has ended. */
  async settle(): Promise<void> {
    while (this.#cleanups.size > 0) await Promise.all([...this.#cleanups]);
  }

  /** Ends the session (after pending clean-ups); idempotent; an already-invalid session is not an error. */
  async logout(): Promise<void> {
    if (this.#closed) return;
    await this.settle();
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#rpc.call('session.logout', [this.#ref], { timeoutMs: Math.min(this.#rpc.timeoutMs, 30_000) });
    } catch (err) {
      if (!XenApiError.is(err, 'SESSION_INVALID')) throw err;
    } finally {
      this.#password = '';
      this.#connector.close();
    }
  }

  #assertOpen(method: string): void {
    if (this.#closed) {
      throw new TransportError(`${method}: the session was logged out`, { kind: 'socket', target: this.#connector.describe(this.#rpc.url) });
    }
  }

  // ---- record helpers -------------------------------------------------------------

  async getAll(cls: string, opts?: CallOptions): Promise<Ref[]> {
    return toStrArray(await this.invoke(`${validClass(cls)}.get_all`, [], opts));
  }

  async getAllRecords(cls: string, opts?: CallOptions): Promise<Record<Ref, XenRecord>> {
    return asRecordMap(await this.invoke(`${validClass(cls)}.get_all_records`, [], opts));
  }

  /** `expr` built with quoteWhere()/fieldEquals(); grammar: xen-api ocaml/database/db_filter_parse.mly. */
  async getAllRecordsWhere(cls: string, expr: string, opts?: CallOptions): Promise<Record<Ref, XenRecord>> {
    return asRecordMap(await this.invoke(`${validClass(cls)}.get_all_records_where`, [expr], opts));
  }

  async getRecord(cls: string, ref: Ref, opts?: CallOptions): Promise<XenRecord> {
    return asRecord(await this.invoke(`${validClass(cls)}.get_record`, [ref], opts));
  }

  /** The ref of the object with this uuid (UUID_INVALID when none). */
  async getByUuid(cls: string, uuid: string, opts?: CallOptions): Promise<Ref> {
    const ref = await this.invoke(`${validClass(cls)}.get_by_uuid`, [uuid], opts);
    if (typeof ref !== 'string') throw new TransportError(`${cls}.get_by_uuid returned no ref`, { kind: 'protocol' });
    return ref;
  }

  // ---- pool facts -----------------------------------------------------------------

  /** The pool coordinator's host ref (pool.get_all → pool.get_master). */
  async poolMaster(opts?: CallOptions): Promise<Ref> {
    const pools = await this.getAll('pool', opts);
    const pool = pools[0];
    if (!pool) throw new TransportError('the host reports no pool object', { kind: 'protocol' });
    return String(await this.invoke('pool.get_master', [pool], opts));
  }

  /** host.API_version_major/minor of the coordinator (1.2 = XenServer 4.1 … 2.21 = XenServer 8). */
  async apiVersion(opts?: CallOptions): Promise<ApiVersion> {
    const master = await this.poolMaster(opts);
    const [major, minor] = await Promise.all([
      this.invoke('host.get_API_version_major', [master], opts),
      this.invoke('host.get_API_version_minor', [master], opts),
    ]);
    return { major: toInt(major), minor: toInt(minor) };
  }

  /** Product brand and version of the coordinator (host.software_version). */
  async productVersion(opts?: CallOptions): Promise<ProductVersion> {
    const master = await this.poolMaster(opts);
    const raw = toStrMap(await this.invoke('host.get_software_version', [master], opts));
    return {
      brand: raw.product_brand ?? '',
      version: raw.product_version ?? '',
      platformVersion: raw.platform_version ?? '',
      xapi: raw.xapi ?? '',
      build: raw.build_number ?? '',
      hostname: raw.hostname ?? '',
      raw,
    };
  }
}

function asRecord(v: unknown): XenRecord {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TransportError('expected a record (struct)', { kind: 'protocol' });
  return v as XenRecord;
}

function asRecordMap(v: unknown): Record<Ref, XenRecord> {
  const m = asRecord(v);
  for (const r of Object.values(m)) asRecord(r);
  return m as Record<Ref, XenRecord>;
}

async function loginFollowingRedirects(
  first: RpcClient,
  creds: { user: string; password: string; socketPath?: string },
  originator: string,
  maxRedirects: number,
  signal: AbortSignal | undefined,
): Promise<{ rpc: RpcClient; ref: Ref }> {
  let rpc = first;
  // (uname, pwd, version, originator): `version` came with XenServer 4.1, `originator` with
  // 6.2; an older host answers MESSAGE_PARAMETER_COUNT_MISMATCH with the count it expects.
  let params: unknown[] = [creds.user, creds.password, LOGIN_VERSION, originator];
  for (let hop = 0; ; hop++) {
    try {
      const ref = await rpc.call('session.login_with_password', params, signal ? { signal } : {});
      if (typeof ref !== 'string' || ref === '') throw new TransportError('login returned no session ref', { kind: 'protocol' });
      return { rpc, ref };
    } catch (err) {
      const expected = XenApiError.is(err, 'MESSAGE_PARAMETER_COUNT_MISMATCH') ? Number(err.params[1]) : NaN;
      if (Number.isInteger(expected) && expected >= 2 && expected < params.length) {
        params = params.slice(0, expected);
        hop--; // not a redirect
        continue;
      }
      const canFollow = XenApiError.is(err, 'HOST_IS_SLAVE') && err.params[0] && !creds.socketPath && hop < maxRedirects;
      if (!canFollow) throw err;
      rpc = rpc.withUrl(masterUrl(rpc.url, (err as XenApiError).params[0]!));
    }
  }
}
