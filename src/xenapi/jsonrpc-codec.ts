/**
 * XenAPI over JSON-RPC (POST /jsonrpc, XAPI from API 2.6): the request text, and the answer
 * read within the same bounds as an XML-RPC one.
 *
 * Requests are JSON-RPC 2.0 (XAPI's Jsonrpc module answers either version; 2.0 errors carry
 * the code apart from its params). Values follow XAPI's JSON forms: int64 as a bare JSON
 * number (a bigint is written digit for digit, never through a double), floats with a
 * fraction, dateTime as XAPI's string form; XAPI has no binary type in JSON.
 *
 * Answers: JSON.parse needs the whole text, so the text is checked as it arrives, chunk by
 * chunk (its size already counts against the answer's limit and the answer budget, see
 * connector.ts consumeBody): containers nested deeper than XenAPI's values are refused, and so
 * is an answer whose parsed values would take more memory than the answer's size limit (a
 * body of `[{},{},…]` is 3 bytes of text per 64-byte object). Only then is it parsed.
 *
 * int64 beyond 2^53: JSON.parse would round them. The scan notes every integer long enough
 * to be beyond it; such an integer is read as its exact decimal string, the form an XML-RPC
 * answer gives every int64 (so toBigInt reads it exactly and toInt refuses it, whichever the
 * transport). Integers within 2^53 are numbers, which every int reader accepts.
 */
import { StringDecoder } from 'node:string_decoder';
import { MAX_VALUE_DEPTH } from './xmlrpc-decoder.js';
import { XenDouble } from './values.js';
import { formatXenDate } from './xmlrpc-codec.js';

/** A JSON-RPC answer that is not one (malformed, nested too deep): a protocol error upstream. */
export class JsonRpcAnswerError extends Error {
  override name = 'JsonRpcAnswerError';
}

/** An answer that would take more memory parsed than its limit allows: too large upstream. */
export class JsonAnswerTooLarge extends JsonRpcAnswerError {
  override name = 'JsonAnswerTooLarge';
}

// ---- requests ------------------------------------------------------------------------

function jsonFloat(x: number, path: string): string {
  if (!Number.isFinite(x)) throw new TypeError(`${path}: cannot send ${x} over JSON-RPC`);
  const s = String(x);
  // XAPI's reader takes a number without fraction or exponent as an int.
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/** One parameter as JSON text under XenAPI's conventions. */
export function jsonParam(v: unknown, path = 'param'): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      return v.toString();
    case 'number':
      if (Number.isInteger(v)) {
        if (!Number.isSafeInteger(v)) throw new RangeError(`${path}: integer ${v} is not exact; pass a bigint`);
        return String(v);
      }
      return jsonFloat(v, path);
    case 'undefined':
      throw new TypeError(`${path}: undefined cannot be sent (use null, "" or omit the struct field)`);
    case 'object': {
      if (v === null) return 'null';
      if (v instanceof XenDouble) return jsonFloat(v.value, path);
      if (v instanceof Date) return JSON.stringify(formatXenDate(v));
      if (Buffer.isBuffer(v)) throw new TypeError(`${path}: XenAPI's JSON-RPC has no binary type`);
      if (Array.isArray(v)) return `[${v.map((x, i) => jsonParam(x, `${path}[${i}]`)).join(',')}]`;
      const entries = v instanceof Map ? [...v.entries()] : Object.entries(v);
      const members: string[] = [];
      for (const [k, val] of entries) {
        // Optional struct fields: leaving them out is how XenAPI callers say "default".
        if (val === undefined) continue;
        members.push(`${JSON.stringify(String(k))}:${jsonParam(val, `${path}.${String(k)}`)}`);
      }
      return `{${members.join(',')}}`;
    }
    default:
      throw new TypeError(`${path}: cannot send a ${typeof v} over JSON-RPC`);
  }
}

/** The complete JSON-RPC 2.0 request for `method(params…)`. */
export function serializeJsonRpcCall(method: string, params: readonly unknown[], id: number): string {
  if (!/^[A-Za-z0-9_.]+$/.test(method)) throw new TypeError(`invalid XenAPI method name: ${JSON.stringify(method)}`);
  const ps = params.map((p, i) => jsonParam(p, `${method} param ${i + 1}`));
  return `{"jsonrpc":"2.0","method":${JSON.stringify(method)},"params":[${ps.join(',')}],"id":${id}}`;
}

// ---- answers ------------------------------------------------------------------------

/**
 * What a parsed answer is estimated to cost in memory, counted while its text arrives: each
 * object or array DECODED_CONTAINER_BYTES, each key, scalar or array slot DECODED_SLOT_BYTES,
 * each string DECODED_STRING_BYTES plus its length. V8 is near these figures (an empty
 * object 56 bytes, a slot 8, a string header 16-24) and the estimate never falls below them,
 * so the densest text (`[{},{},…]`: 3 bytes for a 64-byte object) is refused long before it
 * is parsed. XenAPI records estimate at 2–3 × their JSON text (checked on the simulator's
 * records in test/integration/client-jsonrpc.test.ts), so with the cost capped at the answer's size limit a JSON
 * answer holds as large a pool as an XML-RPC one (whose text is 2.8 × longer) within the same
 * limit.
 */
export const DECODED_CONTAINER_BYTES = 64;
export const DECODED_SLOT_BYTES = 8;
export const DECODED_STRING_BYTES = 16;
/** The envelope object, then XenAPI's own values (see MAX_VALUE_DEPTH). */
const MAX_JSON_DEPTH = MAX_VALUE_DEPTH + 1;
/** Integers of this many digits may be beyond 2^53 (9007199254740991 has 16). */
const LONG_INTEGER_DIGITS = 16;

/** Character codes the scan looks at. */
const C = {
  Quote: 0x22,
  Backslash: 0x5c,
  Open: 0x7b,
  Close: 0x7d,
  OpenArray: 0x5b,
  CloseArray: 0x5d,
  Minus: 0x2d,
  Zero: 0x30,
  Nine: 0x39,
  Dot: 0x2e,
  LowerE: 0x65,
  UpperE: 0x45,
  Plus: 0x2b,
} as const;

export interface JsonAnswerOptions {
  /** Largest estimated cost of the parsed answer (bytes); see DECODED_CONTAINER_BYTES. */
  maxDecodedBytes: number;
  /** Most containers nested in one another (default: the envelope + MAX_VALUE_DEPTH). */
  maxDepth?: number;
}

/**
 * Collects a JSON answer's text chunk by chunk, checking it as it comes (nesting, estimated
 * decoded cost), and parses it at the end.
 */
export class JsonAnswerReader {
  readonly #decoder = new StringDecoder('utf8');
  readonly #pieces: string[] = [];
  readonly #maxDepth: number;
  readonly #maxCost: number;
  /** Characters seen so far (offsets of long integers are into the whole text). */
  #length = 0;
  #depth = 0;
  #cost = 0;
  #inString = false;
  #escaped = false;
  /** Inside a number token: its start offset, digits so far, and whether it is still an integer. */
  #numberStart = -1;
  #numberDigits = 0;
  #numberIsInteger = true;
  /** [start, end) of integer tokens long enough to be beyond 2^53. */
  readonly #longIntegers: number[] = [];

  constructor(opts: JsonAnswerOptions) {
    this.#maxDepth = opts.maxDepth ?? MAX_JSON_DEPTH;
    this.#maxCost = opts.maxDecodedBytes;
  }

  write(chunk: Buffer): void {
    const text = this.#decoder.write(chunk);
    if (text.length === 0) return;
    this.#scan(text);
    this.#pieces.push(text);
    this.#length += text.length;
  }

  #scan(s: string): void {
    const base = this.#length;
    const n = s.length;
    let cost = this.#cost;
    let i = 0;
    while (i < n) {
      if (this.#inString) {
        if (this.#escaped) {
          this.#escaped = false;
          i++;
          continue;
        }
        // Skip to the closing quote in native code (JSON.parse checks what is in between).
        const q = s.indexOf('"', i);
        if (q < 0) {
          cost += n - i;
          this.#escaped = backslashesBefore(s, i, n) % 2 === 1;
          break;
        }
        cost += q - i;
        if (backslashesBefore(s, i, q) % 2 === 1) {
          i = q + 1; // an escaped quote
          continue;
        }
        this.#inString = false;
        i = q + 1;
        continue;
      }
      const c = s.charCodeAt(i);
      if (this.#numberStart >= 0) {
        if (c >= C.Zero && c <= C.Nine) {
          this.#numberDigits++;
          i++;
          continue;
        }
        if (c === C.Dot || c === C.LowerE || c === C.UpperE || c === C.Plus || c === C.Minus) {
          this.#numberIsInteger = false;
          i++;
          continue;
        }
        this.#endNumber(base + i);
      }
      switch (c) {
        case C.Quote:
          this.#inString = true;
          cost += DECODED_SLOT_BYTES + DECODED_STRING_BYTES;
          break;
        case C.Open:
        case C.OpenArray:
          cost += DECODED_SLOT_BYTES + DECODED_CONTAINER_BYTES;
          if (++this.#depth > this.#maxDepth) throw new JsonRpcAnswerError(`values nested more than ${this.#maxDepth - 1} deep (XenAPI's deepest are under 10)`);
          break;
        case C.Close:
        case C.CloseArray:
          this.#depth--;
          break;
        default:
          if (c === C.Minus || (c >= C.Zero && c <= C.Nine)) {
            cost += DECODED_SLOT_BYTES;
            this.#numberStart = base + i;
            this.#numberDigits = c === C.Minus ? 0 : 1;
            this.#numberIsInteger = true;
          } else if (c === 0x74 || c === 0x66 || c === 0x6e) {
            // true, false, null (JSON.parse checks the rest of the word)
            cost += DECODED_SLOT_BYTES;
          }
      }
      i++;
    }
    this.#cost = cost;
    if (cost > this.#maxCost) {
      throw new JsonAnswerTooLarge(`the answer would take more than ${this.#maxCost} bytes of memory once parsed (about ${cost} by ${this.#length + n} characters)`);
    }
  }

  #endNumber(end: number): void {
    if (this.#numberIsInteger && this.#numberDigits >= LONG_INTEGER_DIGITS) this.#longIntegers.push(this.#numberStart, end);
    this.#numberStart = -1;
  }

  /** Estimated memory of the parsed answer so far (bytes). */
  get decodedCost(): number {
    return this.#cost;
  }

  /** The parsed answer; throws JsonRpcAnswerError when it is not complete, valid JSON. */
  end(): unknown {
    const rest = this.#decoder.end();
    if (rest.length > 0) {
      this.#scan(rest);
      this.#pieces.push(rest);
      this.#length += rest.length;
    }
    if (this.#numberStart >= 0) this.#endNumber(this.#length);
    if (this.#inString || this.#depth !== 0) throw new JsonRpcAnswerError('the JSON answer ends before it is complete');
    let text = this.#pieces.length === 1 ? this.#pieces[0]! : this.#pieces.join('');
    this.#pieces.length = 0;
    if (this.#longIntegers.length > 0) text = quoteUnsafeIntegers(text, this.#longIntegers);
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new JsonRpcAnswerError(`not JSON: ${(err as Error).message}`);
    }
  }
}

/** How many backslashes stand right before offset `end`, counting back no further than `from`. */
function backslashesBefore(s: string, from: number, end: number): number {
  let k = end;
  while (k > from && s.charCodeAt(k - 1) === C.Backslash) k--;
  return end - k;
}

/** The text with each integer token beyond 2^53 (of those listed) put in quotes. */
function quoteUnsafeIntegers(text: string, spans: readonly number[]): string {
  const out: string[] = [];
  let at = 0;
  for (let k = 0; k < spans.length; k += 2) {
    const start = spans[k]!;
    const end = spans[k + 1]!;
    const token = text.slice(start, end);
    if (!/^-?\d+$/.test(token) || Number.isSafeInteger(Number(token))) continue;
    out.push(text.slice(at, start), '"', token, '"');
    at = end;
  }
  if (at === 0) return text;
  out.push(text.slice(at));
  return out.join('');
}

/** What a JSON-RPC answer says: the result, or XAPI's error description [CODE, params…]. */
export type JsonRpcOutcome = { ok: true; value: unknown } | { ok: false; description: unknown[] };

/**
 * XAPI's two answer forms (1.0: `{result, error: null | [CODE, params…], id}`; 2.0:
 * `{jsonrpc: "2.0", result | error: {code, message: CODE, data: [params…]}, id}`), for the
 * request numbered `id`. Anything else throws JsonRpcAnswerError.
 */
export function unwrapJsonRpc(answer: unknown, id: number): JsonRpcOutcome {
  if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) throw new JsonRpcAnswerError('the answer is not a JSON-RPC object');
  const a = answer as Record<string, unknown>;
  const own = (k: string) => Object.prototype.hasOwnProperty.call(a, k);
  if (a.id !== id) throw new JsonRpcAnswerError(`the answer is for request ${JSON.stringify(a.id)}, not ${id}`);
  const error = own('error') ? a.error : null;
  if (error !== null && error !== undefined) {
    if (Array.isArray(error)) return { ok: false, description: error };
    if (typeof error === 'object') {
      const e = error as Record<string, unknown>;
      if (typeof e.message === 'string') {
        const data = e.data;
        return { ok: false, description: [e.message, ...(Array.isArray(data) ? data : data === undefined || data === null ? [] : [data])] };
      }
    }
    throw new JsonRpcAnswerError('the answer has an error XenAPI does not send');
  }
  if (!own('result')) throw new JsonRpcAnswerError('the answer has neither a result nor an error');
  return { ok: true, value: a.result };
}

/**
 * Keeps only `fields` of each record in a get_all_records(_where) result (ref → record), as
 * the XML-RPC decoder does while it reads: the rest is let go at once.
 */
export function keepRecordFields(value: unknown, fields: ReadonlySet<string>): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [ref, rec] of Object.entries(value)) {
    let kept: unknown = rec;
    if (typeof rec === 'object' && rec !== null && !Array.isArray(rec)) {
      const r: Record<string, unknown> = {};
      for (const f of fields) if (Object.prototype.hasOwnProperty.call(rec, f)) define(r, f, (rec as Record<string, unknown>)[f]);
      kept = r;
    }
    define(out, ref, kept);
  }
  return out;
}

/** An own property whatever its name (`__proto__` included), as the XML-RPC decoder makes them. */
function define(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}
