/**
 * One XenAPI XML-RPC endpoint: POST a <methodCall>, unwrap XAPI's envelope
 * ({Status: "Success", Value} → Value; {Status: "Failure", ErrorDescription} → XenApiError).
 * No session logic here (see session.ts).
 */
import { AbortError, TransportError, XenApiError, throwIfAborted } from './errors.js';
import { consumeBody, type Connector, type OpenRequest } from './connector.js';
import { redactSecrets } from '../redact.js';
import { statusDetail } from './error-body.js';
import { serializeMethodCall } from './xmlrpc-codec.js';
import { MethodResponseDecoder, XmlRpcFault } from './xmlrpc-decoder.js';

export interface CallOptions {
  signal?: AbortSignal;
  /** Deadline for this call; defaults to the client's. */
  timeoutMs?: number;
  /** Largest answer accepted for this call; defaults to the client's. */
  maxResponseBytes?: number;
  /**
   * For get_all_records(_where) answers: keep only these fields of each record (the rest
   * is parsed and dropped as it arrives, so a large pool's records never sit in memory).
   */
  recordFields?: ReadonlySet<string>;
}

export interface RpcClientOptions {
  connector: Connector;
  /** Default per-call deadline (ms), for the whole exchange. XAPI answers a bad password only after ~5 s. */
  timeoutMs?: number;
  /** Largest response accepted (bytes); get_all_records of a big pool runs to tens of MB. */
  maxResponseBytes?: number;
}

export const DEFAULT_CALL_TIMEOUT_MS = 120_000;
/**
 * A 5000-VM pool's VM.get_all_records is about 60 MB. A larger answer is refused: decoded, a
 * crafted one costs up to about twice its size (one struct of a million members), and this
 * limit with the answer budget (answer-budget.ts) is what keeps a command under 300 MB.
 */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

export class RpcClient {
  readonly url: URL;
  readonly connector: Connector;
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;

  constructor(url: string | URL, opts: RpcClientOptions) {
    this.url = new URL(url);
    this.connector = opts.connector;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  }

  /** Calls `method(params…)` and returns XAPI's Value; throws XenApiError on Failure. */
  async call(method: string, params: readonly unknown[], opts: CallOptions = {}): Promise<unknown> {
    throwIfAborted(opts.signal);
    const body = Buffer.from(serializeMethodCall(method, params), 'utf8');
    const envelope = await this.#post(body, opts, true);
    return unwrapEnvelope(envelope, method, this.connector.describe(this.url));
  }

  async #post(body: Buffer, opts: CallOptions, mayRetryStaleSocket: boolean): Promise<unknown> {
    const open = this.connector.open(this.url, {
      method: 'POST',
      headers: {
        'content-type': 'text/xml',
        'content-length': body.length,
        'user-agent': 'xsconsole-dr',
      },
      ...(opts.signal ? { signal: opts.signal } : {}),
      deadlineMs: opts.timeoutMs ?? this.timeoutMs,
    });
    open.req.end(body);
    let res;
    try {
      res = await open.response;
    } catch (err) {
      // A kept-alive socket the server closed meanwhile fails at once with a reset; node's
      // documented remedy is one retry on a fresh socket. The request never got an answer.
      if (mayRetryStaleSocket && open.req.reusedSocket && TransportError.is(err, 'connection-reset')) {
        return this.#post(body, opts, false);
      }
      throw err;
    }
    try {
      if (res.statusCode !== 200) {
        throw new TransportError(`${open.target} answered HTTP ${res.statusCode} to an XML-RPC call`, {
          kind: res.statusCode === 401 ? 'unauthorized' : res.statusCode === 403 ? 'forbidden' : 'http-status',
          target: open.target,
          status: res.statusCode ?? 0,
          detail: await statusDetail(res),
        });
      }
      const decoder = new MethodResponseDecoder(opts.recordFields ? { recordFields: opts.recordFields } : {});
      try {
        await consumeBody(res, open, opts.maxResponseBytes ?? this.maxResponseBytes, (chunk) => decoder.write(chunk));
        return decoder.end();
      } catch (err) {
        throw notXmlRpc(err, open);
      }
    } finally {
      open.done();
    }
  }
}

/** A decoding failure as a protocol error; transport failures (abort, reset, size) as they are. */
function notXmlRpc(err: unknown, open: OpenRequest): unknown {
  if (err instanceof AbortError || err instanceof TransportError) return err;
  // Scrubbed before it is cut: a cut password would no longer be recognised.
  const detail = redactSecrets(err instanceof XmlRpcFault ? err.message : `not an XML-RPC answer: ${(err as Error).message}`).slice(0, 200);
  // No cause: a fault's text is the host's and may echo the password; the detail is scrubbed.
  return new TransportError(`${open.target} sent an answer that is not XenAPI XML-RPC`, {
    kind: 'protocol',
    target: open.target,
    detail,
  });
}

/** XAPI's envelope → Value, or throws XenApiError / TransportError('protocol'). */
export function unwrapEnvelope(envelope: unknown, method: string, target: string): unknown {
  if (typeof envelope === 'object' && envelope !== null && !Array.isArray(envelope)) {
    const e = envelope as Record<string, unknown>;
    if (e.Status === 'Success') return e.Value;
    if (e.Status === 'Failure') {
      const desc = Array.isArray(e.ErrorDescription) ? e.ErrorDescription : [e.ErrorDescription];
      throw new XenApiError(desc, method);
    }
  }
  throw new TransportError(`${target} answered ${method} without a XenAPI Status`, {
    kind: 'protocol',
    target,
    detail: 'missing Status in the response struct',
  });
}
