/**
 * The simulator's own JSON-RPC codec, as XAPI serves POST /jsonrpc (xen-api
 * ocaml/xapi/api_server.ml jsoncallback, the rpc library's Jsonrpc module,
 * doc/content/xen-api/wire-protocol.md):
 *
 * - A request is an object with `method`, `params` and an `id` (string or integer, never
 *   null: XAPI takes no notifications); with `"jsonrpc": "2.0"` it is a 2.0 request, whose
 *   `params` may be absent or null (no parameters). Anything else is malformed (HTTP 500).
 * - Integers are read exactly (a 64-bit range, not through doubles), numbers with a
 *   fraction or exponent as floats; values map onto the XML-RPC value model, so one
 *   dispatcher serves both protocols.
 * - 1.0 answers `{"result": …, "error": null, "id": …}` or `{"result": null, "error":
 *   [CODE, params…], "id": …}`; 2.0 answers `{"jsonrpc": "2.0", "result": …, "id": …}` or
 *   an error object `{"code": 1, "message": CODE, "data": [params…]}`.
 * - Output: int64 as a bare JSON number, floats always with a fraction or exponent (as the
 *   JSON library XAPI links writes them), dateTime as its string, void as "".
 */
import { formatDouble, newStruct, XmlRpcDateTime, XmlRpcInt32, type XmlRpcValue } from './codec.js';

export class JsonRpcParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JsonRpcParseError';
  }
}

export type JsonRpcVersion = '1.0' | '2.0';

export interface JsonRpcCall {
  version: JsonRpcVersion;
  /** The request's id, kept as its JSON text (a string or an integer). */
  idJson: string;
  method: string;
  params: XmlRpcValue[];
}

const MAX_DEPTH = 128;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A strict JSON parser onto the XML-RPC value model; keeps the top-level id's source text. */
class Parser {
  private i = 0;
  /** Source text of the top-level object's `id` member (echoed as sent). */
  idText: string | undefined;

  constructor(private readonly s: string) {}

  fail(what: string): never {
    throw new JsonRpcParseError(`${what} at offset ${this.i}`);
  }

  ws(): void {
    while (this.i < this.s.length && ' \t\n\r'.includes(this.s[this.i] as string)) this.i++;
  }

  document(): XmlRpcValue {
    this.ws();
    const value = this.value(0);
    this.ws();
    if (this.i !== this.s.length) this.fail('trailing characters');
    return value;
  }

  private value(depth: number): XmlRpcValue {
    if (depth > MAX_DEPTH) this.fail('nested too deeply');
    this.ws();
    const c = this.s[this.i];
    if (c === '{') {
      this.i++;
      const o = newStruct();
      this.ws();
      if (this.s[this.i] === '}') {
        this.i++;
        return o;
      }
      for (;;) {
        this.ws();
        if (this.s[this.i] !== '"') this.fail('expected a member name');
        const k = this.string();
        this.ws();
        if (this.s[this.i] !== ':') this.fail("expected ':'");
        this.i++;
        const start = this.i;
        const v = this.value(depth + 1);
        if (depth === 0 && k === 'id') this.idText = this.s.slice(start, this.i).trim();
        o[k] = v;
        this.ws();
        if (this.s[this.i] === ',') {
          this.i++;
          continue;
        }
        if (this.s[this.i] === '}') {
          this.i++;
          return o;
        }
        this.fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      this.i++;
      const a: XmlRpcValue[] = [];
      this.ws();
      if (this.s[this.i] === ']') {
        this.i++;
        return a;
      }
      for (;;) {
        a.push(this.value(depth + 1));
        this.ws();
        if (this.s[this.i] === ',') {
          this.i++;
          continue;
        }
        if (this.s[this.i] === ']') {
          this.i++;
          return a;
        }
        this.fail("expected ',' or ']'");
      }
    }
    if (c === '"') return this.string();
    if (this.s.startsWith('true', this.i)) {
      this.i += 4;
      return true;
    }
    if (this.s.startsWith('false', this.i)) {
      this.i += 5;
      return false;
    }
    if (this.s.startsWith('null', this.i)) {
      this.i += 4;
      return null;
    }
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.s.slice(this.i, this.i + 400));
    if (!m) this.fail('unexpected character');
    this.i += m[0].length;
    if (m[2] === undefined && m[3] === undefined) {
      const n = BigInt(m[0]);
      if (n < INT64_MIN || n > INT64_MAX) this.fail('integer out of 64-bit range');
      return n;
    }
    return Number(m[0]);
  }

  private string(): string {
    // Find the closing quote, then let the platform decode the escapes of that one token.
    const start = this.i;
    this.i++;
    for (;;) {
      const c = this.s.charCodeAt(this.i);
      if (Number.isNaN(c)) this.fail('unterminated string');
      if (c === 0x22) break;
      if (c < 0x20) this.fail('control character in a string');
      this.i += c === 0x5c ? 2 : 1;
    }
    this.i++;
    try {
      return JSON.parse(this.s.slice(start, this.i)) as string;
    } catch {
      return this.fail('bad string escape');
    }
  }
}

/** Parses a request body (XAPI's Jsonrpc.version_id_and_call_of_string). */
export function parseJsonRpcCall(body: string): JsonRpcCall {
  const parser = new Parser(body);
  const value = parser.document();
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof XmlRpcDateTime || value instanceof XmlRpcInt32) {
    throw new JsonRpcParseError('Invalid request body');
  }
  const method = value.method;
  if (typeof method !== 'string') throw new JsonRpcParseError(method === undefined ? 'Required field method is missing' : "Invalid field 'method' in request body");
  const v = value.jsonrpc;
  if (v !== undefined && v !== '2.0') throw new JsonRpcParseError("Invalid field 'jsonrpc' in request body");
  const version: JsonRpcVersion = v === '2.0' ? '2.0' : '1.0';
  const p = value.params;
  let params: XmlRpcValue[];
  if (Array.isArray(p)) params = p;
  else if (version === '2.0' && (p === undefined || p === null)) params = [];
  else if (version === '2.0' && typeof p === 'object' && p !== null && !(p instanceof XmlRpcDateTime) && !(p instanceof XmlRpcInt32)) params = [p];
  else throw new JsonRpcParseError(p === undefined ? 'Required field params is missing' : "Invalid field 'params' in request body");
  const id = value.id;
  if (typeof id !== 'string' && typeof id !== 'bigint') throw new JsonRpcParseError("Invalid field 'id' in request body");
  return { version, idJson: parser.idText ?? String(id), method, params };
}

/** A float as the JSON writer XAPI uses puts it: shortest of %.16g / %.17g, always a float. */
function jsonFloat(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  let s = formatDouble(x, 16);
  if (Number(s) !== x) s = formatDouble(x, 17);
  return /[.eEn]/.test(s) ? s : `${s}.0`;
}

/** One value as JSON text. */
export function jsonValue(v: XmlRpcValue): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return jsonFloat(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (v === null) return 'null';
  if (v instanceof XmlRpcDateTime) return JSON.stringify(v.text);
  if (v instanceof XmlRpcInt32) return String(v.value);
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) out += (i > 0 ? ',' : '') + jsonValue(v[i] as XmlRpcValue);
    return `${out}]`;
  }
  let out = '{';
  let first = true;
  for (const k of Object.keys(v)) {
    out += `${first ? '' : ','}${JSON.stringify(k)}:${jsonValue(v[k] as XmlRpcValue)}`;
    first = false;
  }
  return `${out}}`;
}

export function jsonRpcSuccess(version: JsonRpcVersion, idJson: string, value: XmlRpcValue): string {
  return version === '2.0' ? `{"jsonrpc":"2.0","result":${jsonValue(value)},"id":${idJson}}` : `{"result":${jsonValue(value)},"error":null,"id":${idJson}}`;
}

/** XAPI's error forms: 1.0 the description array, 2.0 an error object with code 1. */
export function jsonRpcFailure(version: JsonRpcVersion, idJson: string, description: readonly string[]): string {
  const [code = 'INTERNAL_ERROR', ...params] = description;
  if (version === '2.0') return `{"jsonrpc":"2.0","error":{"code":1,"message":${JSON.stringify(code)},"data":${jsonValue(params)}},"id":${idJson}}`;
  return `{"result":null,"error":${jsonValue([...description])},"id":${idJson}}`;
}
