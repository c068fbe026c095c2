/**
 * The three ways a XenAPI operation can fail, as separate classes so callers can tell
 * "XAPI said no" (XenApiError: code + params exactly as XAPI sent them) from "we never
 * got a proper answer" (TransportError) and "the operator cancelled" (AbortError).
 *
 * Messages never contain a password or a session ref: URLs are shown without their query
 * string because handler URLs carry session_id there, and whatever text a host sent (fault
 * parameters, an error page, a Location) passes through redactSecrets() as the error is made,
 * so no error object carries the password a host echoed.
 */
import { redactSecrets } from '../redact.js';

export class XenApiError extends Error {
  override name = 'XenApiError';
  /** The error code, first element of ErrorDescription / error_info. */
  readonly code: string;
  /** The remaining elements, as strings. */
  readonly params: string[];
  /** The XenAPI method whose call failed, when known. */
  readonly method?: string;

  constructor(description: readonly unknown[], method?: string, options?: { cause?: unknown }) {
    const [code, ...params] = description.map((d) => redactSecrets(typeof d === 'string' ? d : String(d)));
    const c = code && code.length > 0 ? code : 'UNKNOWN_XENAPI_ERROR';
    super(`${method ? `${method}: ` : ''}${c}${params.length ? ` [${params.join(', ')}]` : ''}`, options);
    this.code = c;
    this.params = params;
    if (method !== undefined) this.method = method;
  }

  /** True when `err` is a XenApiError (optionally with one of the given codes). */
  static is(err: unknown, ...codes: string[]): err is XenApiError {
    return err instanceof XenApiError && (codes.length === 0 || codes.includes(err.code));
  }
}

export type TransportErrorKind =
  | 'connection-refused'
  | 'connection-reset'
  | 'unreachable'
  | 'dns'
  | 'timeout'
  | 'tls-untrusted'
  | 'tls-hostname'
  | 'tls-fingerprint-mismatch'
  | 'tls'
  | 'http-status'
  | 'unauthorized'
  | 'forbidden'
  | 'protocol'
  | 'too-large'
  | 'redirect-refused'
  | 'socket';

export interface TransportErrorInit {
  kind: TransportErrorKind;
  /** Where we were talking to, WITHOUT query string (it may carry a session ref). */
  target?: string;
  status?: number;
  /** Extra detail safe to show (an errno code, a fingerprint, a content-type). */
  detail?: string;
  cause?: unknown;
}

export class TransportError extends Error {
  override name = 'TransportError';
  readonly kind: TransportErrorKind;
  readonly target?: string;
  readonly status?: number;
  readonly detail?: string;

  constructor(message: string, init: TransportErrorInit) {
    super(redactSecrets(message), init.cause === undefined ? undefined : { cause: init.cause });
    this.kind = init.kind;
    if (init.target !== undefined) this.target = redactSecrets(init.target);
    if (init.status !== undefined) this.status = init.status;
    if (init.detail !== undefined) this.detail = redactSecrets(init.detail);
  }

  static is(err: unknown, ...kinds: TransportErrorKind[]): err is TransportError {
    return err instanceof TransportError && (kinds.length === 0 || kinds.includes(err.kind));
  }
}

/** Thrown when an AbortSignal fired; `name` is 'AbortError' like fetch's. */
export class AbortError extends Error {
  override name = 'AbortError';
  readonly code = 'ABORTED';
  constructor(message = 'The operation was cancelled', options?: { cause?: unknown }) {
    super(message, options);
  }
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

/** Throws AbortError if the signal has already fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
}

/** A URL as safe to print: scheme, host, port and path only. */
export function describeTarget(url: URL | string, socketPath?: string): string {
  const u = typeof url === 'string' ? new URL(url) : url;
  const where = `${u.protocol}//${u.host}${u.pathname}`;
  return socketPath ? `${where} via unix socket ${socketPath}` : where;
}

const TLS_UNTRUSTED_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
]);

/**
 * Maps a Node socket / TLS error onto a TransportError. Already-classified errors pass
 * through unchanged.
 */
export function toTransportError(err: unknown, target: string): TransportError | AbortError {
  if (err instanceof TransportError || err instanceof AbortError) return err;
  const e = err as NodeJS.ErrnoException & { code?: string };
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const base = { target, cause: err, ...(code ? { detail: code } : {}) };
  switch (true) {
    case code === 'ECONNREFUSED':
      return new TransportError(`connection refused by ${target}`, { kind: 'connection-refused', ...base });
    case code === 'ECONNRESET' || code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE':
      return new TransportError(`connection to ${target} was dropped`, { kind: 'connection-reset', ...base });
    case code === 'ENOTFOUND' || code === 'EAI_AGAIN':
      return new TransportError(`cannot resolve the host name of ${target}`, { kind: 'dns', ...base });
    case code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ETIMEDOUT' || code === 'ENOENT':
      return new TransportError(`cannot reach ${target}`, { kind: 'unreachable', ...base });
    case code === 'ERR_TLS_CERT_ALTNAME_INVALID':
      return new TransportError(`the certificate of ${target} is for another host name`, { kind: 'tls-hostname', ...base });
    case code !== undefined && TLS_UNTRUSTED_CODES.has(code):
      return new TransportError(`the certificate of ${target} is not trusted (${code})`, { kind: 'tls-untrusted', ...base });
    case code !== undefined && (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS')):
      return new TransportError(`TLS handshake with ${target} failed (${code})`, { kind: 'tls', ...base });
    default: {
      const msg = err instanceof Error ? err.message : String(err);
      if (/socket hang up/i.test(msg)) {
        return new TransportError(`connection to ${target} was dropped`, { kind: 'connection-reset', ...base });
      }
      return new TransportError(`connection to ${target} failed: ${msg}`, { kind: 'socket', ...base });
    }
  }
}
