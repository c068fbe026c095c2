/**
 * TLS policy for talking to XAPI. XenServer hosts ship a self-signed certificate, so
 * besides normal verification we support pinning its SHA-256 fingerprint (checked
 * before a single request byte is written) and an explicit, loudly-flagged insecure mode.
 */
import https from 'node:https';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { isIP } from 'node:net';
import { AbortError, TransportError, describeTarget, toTransportError } from './errors.js';

export interface TlsOptions {
  /** Accept any certificate. Never silent: see tlsWarning(). */
  insecure?: boolean;
  /** SHA-256 fingerprint(s) to pin ("AB:CD:…", with or without colons, any case). */
  fingerprint?: string | readonly string[];
  /** Extra CA certificates (PEM) for normal verification. */
  ca?: string | Buffer | ReadonlyArray<string | Buffer>;
}

export type TlsMode = 'verify' | 'pinned' | 'insecure';

/** Canonical form "AB:CD:…" (32 upper-case hex pairs); throws on anything else. */
export function normalizeFingerprint(fp: string): string {
  const hex = fp.trim().replace(/^sha-?256[:= ]*/i, '').replace(/[:\s]/g, '').toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) throw new TypeError('a SHA-256 fingerprint has 64 hex digits (colons optional)');
  return hex.match(/../g)!.join(':');
}

function pinnedList(opts: TlsOptions | undefined): string[] {
  const fp = opts?.fingerprint;
  if (fp === undefined) return [];
  return (typeof fp === 'string' ? [fp] : [...fp]).map(normalizeFingerprint);
}

export function tlsMode(opts: TlsOptions | undefined): TlsMode {
  if (pinnedList(opts).length > 0) return 'pinned';
  return opts?.insecure ? 'insecure' : 'verify';
}

/** Text the UI must show when verification is weakened; undefined when it is not. */
export function tlsWarning(opts: TlsOptions | undefined): string | undefined {
  if (tlsMode(opts) !== 'insecure') return undefined;
  return 'TLS certificate verification is OFF: anyone on the network path could impersonate the host and capture the password.';
}

/**
 * An https.Agent that hands a socket to the HTTP layer only after the peer certificate
 * matched a pinned fingerprint, so a wrong host never receives the request (or password).
 */
class PinnedAgent extends https.Agent {
  readonly #pins: Set<string>;

  constructor(pins: string[], options: https.AgentOptions) {
    // Chain checks are replaced by the pin; session resumption is off so every new
    // connection shows its certificate.
    super({ ...options, rejectUnauthorized: false, maxCachedSessions: 0 });
    this.#pins = new Set(pins);
  }

  override createConnection(
    options: https.RequestOptions,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    const socket = super.createConnection(options) as tls.TLSSocket;
    const target = `https://${options.host ?? options.hostname ?? 'host'}:${options.port ?? 443}`;
    const onError = (err: Error) => {
      socket.removeListener('secureConnect', onSecure);
      callback?.(err, socket);
    };
    const onSecure = () => {
      socket.removeListener('error', onError);
      const presented = socket.getPeerCertificate()?.fingerprint256 ?? '';
      if (presented && this.#pins.has(presented.toUpperCase())) {
        callback?.(null, socket);
        return;
      }
      socket.destroy();
      callback?.(
        new TransportError(`the certificate of ${target} does not match the pinned fingerprint`, {
          kind: 'tls-fingerprint-mismatch',
          target,
          detail: presented || 'no certificate',
        }),
        socket,
      );
    };
    socket.once('error', onError);
    socket.once('secureConnect', onSecure);
    // Returning nothing makes the Agent wait for the callback (node's createSocket).
    return undefined;
  }
}

export interface AgentSettings {
  keepAlive?: boolean;
  maxSockets?: number;
}

/** The https agent implementing a TLS policy (keep-alive by default). */
export function createHttpsAgent(opts: TlsOptions | undefined, settings: AgentSettings = {}): https.Agent {
  const base: https.AgentOptions = {
    keepAlive: settings.keepAlive ?? true,
    maxSockets: settings.maxSockets ?? 16,
    ...(opts?.ca ? { ca: opts.ca as https.AgentOptions['ca'] } : {}),
  };
  const pins = pinnedList(opts);
  if (pins.length > 0) return new PinnedAgent(pins, base);
  if (opts?.insecure) return new https.Agent({ ...base, rejectUnauthorized: false });
  return new https.Agent({ ...base, rejectUnauthorized: true });
}

export interface PeerCertificateInfo {
  /** "AB:CD:…" */
  fingerprint256: string;
  subject: string;
  issuer: string;
  validFrom: string;
  validTo: string;
  /** Whether normal verification (system CAs + `ca`) would accept it. */
  trusted: boolean;
  /** Why not, when not trusted (e.g. DEPTH_ZERO_SELF_SIGNED_CERT). */
  untrustedReason?: string;
}

function dn(x: unknown): string {
  if (!x || typeof x !== 'object') return '';
  return Object.entries(x as Record<string, unknown>)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`)
    .join(', ');
}

/**
 * Connects, completes the TLS handshake without trusting anything, reads the peer
 * certificate and hangs up without sending a byte of HTTP.
 */
export function fetchPeerCertificate(
  url: string | URL,
  opts: { timeoutMs?: number; signal?: AbortSignal; ca?: TlsOptions['ca'] } = {},
): Promise<PeerCertificateInfo> {
  const u = typeof url === 'string' ? new URL(url) : url;
  if (u.protocol !== 'https:') return Promise.reject(new TypeError('fetchPeerCertificate needs an https: URL'));
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = u.port ? Number(u.port) : 443;
  const target = describeTarget(u);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host,
      port,
      rejectUnauthorized: false,
      ...(isIP(host) ? {} : { servername: host }),
      ...(opts.ca ? { ca: opts.ca as tls.ConnectionOptions['ca'] } : {}),
    });
    const finish = (err: Error | null, info?: PeerCertificateInfo) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (err) reject(err);
      else resolve(info!);
    };
    const onAbort = () => finish(new AbortError(undefined, { cause: opts.signal?.reason }));
    const timer = setTimeout(
      () => finish(new TransportError(`no TLS handshake from ${target}`, { kind: 'timeout', target })),
      opts.timeoutMs ?? 15_000,
    );
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', (err) => finish(toTransportError(err, target)));
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate();
      if (!cert || !cert.fingerprint256) {
        finish(new TransportError(`${target} presented no certificate`, { kind: 'tls', target }));
        return;
      }
      const reason = socket.authorizationError;
      finish(null, {
        fingerprint256: cert.fingerprint256.toUpperCase(),
        subject: dn(cert.subject),
        issuer: dn(cert.issuer),
        validFrom: cert.valid_from,
        validTo: cert.valid_to,
        trusted: socket.authorized,
        ...(reason ? { untrustedReason: String(reason) } : {}),
      });
    });
  });
}

/** "the host presents SHA256 XX:…": the fingerprint a UI asks the operator to confirm. */
export async function fetchPeerFingerprint(
  url: string | URL,
  opts: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<string> {
  return (await fetchPeerCertificate(url, opts)).fingerprint256;
}
