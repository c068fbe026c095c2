/**
 * One XenAPI RPC endpoint, over either protocol:
 *  - XML-RPC: POST a <methodCall> to the host's URL, unwrap XAPI's envelope ({Status:
 *    "Success", Value} → Value; {Status: "Failure", ErrorDescription} → XenApiError);
 *  - JSON-RPC (XAPI from API 2.6): POST a JSON-RPC 2.0 request to /jsonrpc beside it; an
 *    error answer becomes the same XenApiError (jsonrpc-codec.ts).
 * Both share the HTTP layer, deadlines, size limit and answer budget. No session logic here
 * (see session.ts, which chooses the protocol).
 */
import { AbortError, TransportError, XenApiError, throwIfAborted } from './errors.js';
import { consumeBody, type Connector } from './connector.js';
import { redactSecrets } from '../redact.js';
import { statusDetail } from './error-body.js';
import { serializeMethodCall } from './xmlrpc-codec.js';
import { MethodResponseDecoder, XmlRpcFault } from './xmlrpc-decoder.js';
import { JsonAnswerReader, JsonAnswerTooLarge, JsonRpcAnswerError, keepRecordFields, serializeJsonRpcCall, unwrapJsonRpc } from './jsonrpc-codec.js';

/** The wire protocol of an RpcClient. */
export type RpcProtocol = 'xml-rpc' | 'json-rpc';

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
  /** Default 'xml-rpc' (every XAPI has it). */
  protocol?: RpcProtocol;
}

export const DEFAULT_CALL_TIMEOUT_MS = 120_000;
/**
 * A 5000-VM pool's VM.get_all_records is about 60 MB. A larger answer is refused: decoded, a
 * crafted one costs up to about twice its size (one struct of a million members), and this
 * limit with the answer budget (answer-budget.ts) is what keeps a command under 300 MB.
 */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

const NAMES: Record<RpcProtocol, string> = { 'xml-rpc': 'XML-RPC', 'json-rpc': 'JSON-RPC' };
const A_CALL: Record<RpcProtocol, string> = { 'xml-rpc': 'an XML-RPC call', 'json-rpc': 'a JSON-RPC call' };

export class RpcClient {
  /** The host's URL (XML-RPC is posted here; JSON-RPC to `jsonrpc` beside it). */
  readonly url: URL;
  readonly connector: Connector;
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  readonly protocol: RpcProtocol;
  readonly #endpoint: URL;
  #nextId = 1;

  constructor(url: string | URL, opts: RpcClientOptions) {
    this.url = new URL(url);
    this.connector = opts.connector;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.protocol = opts.protocol ?? 'xml-rpc';
    // xen-api ocaml/xapi/xapi.ml: JSON-RPC is POST /jsonrpc; relative, so a host behind a path keeps it.
    this.#endpoint = this.protocol === 'json-rpc' ? new URL('jsonrpc', this.url) : this.url;
  }

  /** The same endpoint, options and connector, speaking `protocol`. */
  withProtocol(protocol: RpcProtocol): RpcClient {
    return new RpcClient(this.url, { connector: this.connector, timeoutMs: this.timeoutMs, maxResponseBytes: this.maxResponseBytes, protocol });
  }

  /** The same options and protocol, towards another host (HOST_IS_SLAVE). */
  withUrl(url: URL): RpcClient {
    return new RpcClient(url, { connector: this.connector, timeoutMs: this.timeoutMs, maxResponseBytes: this.maxResponseBytes, protocol: this.protocol });
  }

  /** Calls `method(params…)` and returns XAPI's Value; throws XenApiError on Failure. */
  async call(method: string, params: readonly unknown[], opts: CallOptions = {}): Promise<unknown> {
    throwIfAborted(opts.signal);
    if (this.protocol === 'json-rpc') {
      const id = this.#nextId++;
      const body = Buffer.from(serializeJsonRpcCall(method, params, id), 'utf8');
      const outcome = await this.#post(body, opts, true, (answer) => {
        try {
          return unwrapJsonRpc(answer, id);
        } catch (err) {
          throw notAnAnswer(err, this.connector.describe(this.#endpoint), this.protocol);
        }
      });
      if (!outcome.ok) throw new XenApiError(outcome.description, method);
      return opts.recordFields ? keepRecordFields(outcome.value, opts.recordFields) : outcome.value;
    }
    const body = Buffer.from(serializeMethodCall(method, params), 'utf8');
    const envelope = await this.#post(body, opts, true, (v) => v);
    return unwrapEnvelope(envelope, method, this.connector.describe(this.url));
  }

  async #post<T>(body: Buffer, opts: CallOptions, mayRetryStaleSocket: boolean, read: (answer: unknown) => T): Promise<T> {
    const json = this.protocol === 'json-rpc';
    const open = this.connector.open(this.#endpoint, {
      method: 'POST',
      headers: {
        'content-type': json ? 'application/json' : 'text/xml',
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
        return this.#post(body, opts, false, read);
      }
      throw err;
    }
    try {
      if (res.statusCode !== 200) {
        throw new TransportError(`${open.target} answered HTTP ${res.statusCode} to ${A_CALL[this.protocol]}`, {
          kind: res.statusCode === 401 ? 'unauthorized' : res.statusCode === 403 ? 'forbidden' : 'http-status',
          target: open.target,
          status: res.statusCode ?? 0,
          detail: await statusDetail(res),
        });
      }
      const limit = opts.maxResponseBytes ?? this.maxResponseBytes;
      if (json) {
        // What tells a host without JSON-RPC (one answering XML or HTML with 200) from one with it.
        const type = String(res.headers['content-type'] ?? '');
        if (!/^application\/json\b/i.test(type)) {
          res.destroy();
          throw new TransportError(`${open.target} did not answer in JSON`, { kind: 'protocol', target: open.target, detail: `content-type ${JSON.stringify(type.slice(0, 60))}` });
        }
        const reader = new JsonAnswerReader({ maxDecodedBytes: limit });
        let answer: unknown;
        try {
          // Parsed before the body's bytes leave the answer budget: its text is held until then.
          await consumeBody(res, open, limit, (chunk) => reader.write(chunk), () => (answer = reader.end()));
        } catch (err) {
          throw notAnAnswer(err, open.target, this.protocol);
        }
        return read(answer);
      }
      const decoder = new MethodResponseDecoder(opts.recordFields ? { recordFields: opts.recordFields } : {});
      try {
        await consumeBody(res, open, limit, (chunk) => decoder.write(chunk));
        return read(decoder.end());
      } catch (err) {
        throw notAnAnswer(err, open.target, this.protocol);
      }
    } finally {
      open.done();
    }
  }
}

/** A decoding failure as a protocol error; transport failures (abort, reset, size) as they are. */
function notAnAnswer(err: unknown, target: string, protocol: RpcProtocol): unknown {
  if (err instanceof AbortError || err instanceof TransportError) return err;
  if (err instanceof JsonAnswerTooLarge) {
    return new TransportError(`answer from ${target} is too large to decode`, { kind: 'too-large', target, detail: err.message });
  }
  const name = NAMES[protocol];
  // Scrubbed before it is cut: a cut password would no longer be recognised.
  const detail = redactSecrets(
    err instanceof XmlRpcFault || err instanceof JsonRpcAnswerError ? err.message : `not ${protocol === 'xml-rpc' ? 'an' : 'a'} ${name} answer: ${(err as Error).message}`,
  ).slice(0, 200);
  // No cause: a fault's text is the host's and may echo the password; the detail is scrubbed.
  return new TransportError(`${target} sent an answer that is not XenAPI ${name}`, {
    kind: 'protocol',
    target,
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
