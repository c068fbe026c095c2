/**
 * Which redirects of an HTTP handler are followed. XAPI redirects a transfer to the pool
 * member that holds the disk, and the client sends the session id and task id there (in the
 * query) and, for an upload, the body. So the new place must be verified as the first one was:
 *
 *  - the same origin (scheme, host and port): followed;
 *  - another origin over https: followed, through the connector's own TLS policy (the pinned
 *    fingerprint, CA verification or --insecure), which is checked in the TLS handshake before
 *    any HTTP byte is written (tls.ts);
 *  - https → http, or another host over plain http: refused, as is anything leaving the local
 *    XAPI socket (every request on it goes to this host's XAPI, whatever the URL says) or a
 *    scheme other than http(s).
 *
 * The check runs before the request to the new place is opened, so a refused redirect sends
 * nothing at all there.
 */
import { TransportError, describeTarget } from './errors.js';

export interface RedirectContext {
  /** Set when the connector talks over XAPI's Unix socket. */
  socketPath?: string | undefined;
}

function refuse(from: URL, to: URL, why: string): TransportError {
  const where = describeTarget(to);
  return new TransportError(`${describeTarget(from)} redirected the transfer to ${where}, ${why}: not followed, nothing was sent there`, {
    kind: 'redirect-refused',
    target: where,
    detail: why,
  });
}

/** Throws TransportError('redirect-refused') unless a redirect from `from` to `to` may be followed. */
export function checkRedirect(from: URL, to: URL, ctx: RedirectContext = {}): void {
  if (to.protocol !== 'http:' && to.protocol !== 'https:') throw refuse(from, to, `a ${to.protocol} URL`);
  if (to.origin === from.origin) return;
  if (ctx.socketPath !== undefined) throw refuse(from, to, "another host, while this program talks to the local XAPI's socket");
  if (from.protocol === 'https:' && to.protocol === 'http:') throw refuse(from, to, 'from https to plain http (unencrypted and unverified)');
  if (to.protocol === 'http:') throw refuse(from, to, 'another host over plain http (unencrypted and unverified)');
}
