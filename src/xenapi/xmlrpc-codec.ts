/**
 * XML-RPC encoding, built on the npm `xmlrpc` package's Serializer (we drive HTTP
 * ourselves, see connector.ts, so we can abort, time out and limit response sizes, which
 * its Client cannot). Answers are decoded by xmlrpc-decoder.ts.
 *
 * Outgoing values follow the XenAPI int64 convention: every JS integer travels as a
 * decimal string (XAPI parses ints from strings; npm xmlrpc would send <int>, and JS
 * numbers above 2^53 lose precision).
 */
import { createRequire } from 'node:module';
import { XenDouble } from './values.js';
import { decodeMethodResponse, type DecodeOptions } from './xmlrpc-decoder.js';

export { XmlRpcFault } from './xmlrpc-decoder.js';

interface XmlBuilderNode {
  ele(name: string): XmlBuilderNode;
  txt(text: string): XmlBuilderNode;
}
interface SerializerModule {
  serializeMethodCall(method: string, params: unknown[], encoding?: string): string;
}
type CustomTypeCtor = new (raw: string) => { raw: string; tagName: string; serialize(xml: XmlBuilderNode): XmlBuilderNode };

const require = createRequire(import.meta.url);
const Serializer = require('xmlrpc/lib/serializer.js') as SerializerModule;
const CustomType = require('xmlrpc/lib/customtype.js') as CustomTypeCtor;

/** A scalar with an explicit XML-RPC tag (xmlrpc's CustomType mechanism). */
function tagged(tagName: string, raw: string): InstanceType<CustomTypeCtor> {
  const v = new CustomType(raw);
  v.tagName = tagName;
  return v;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** XAPI's own datetime form, always UTC (npm xmlrpc would send local time without zone). */
export function formatXenDate(d: Date): string {
  if (Number.isNaN(d.getTime())) throw new RangeError('invalid Date');
  return `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(
    d.getUTCMinutes(),
  )}:${pad(d.getUTCSeconds())}Z`;
}

/** Converts a JS value into what the Serializer should emit under XenAPI conventions. */
export function prepareParam(v: unknown, path = 'param'): unknown {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'bigint':
      return v.toString();
    case 'number':
      if (!Number.isFinite(v)) throw new TypeError(`${path}: cannot send ${v} over XML-RPC`);
      if (Number.isInteger(v)) {
        if (!Number.isSafeInteger(v)) throw new RangeError(`${path}: integer ${v} is not exact; pass a bigint`);
        return String(v);
      }
      return v;
    case 'undefined':
      throw new TypeError(`${path}: undefined cannot be sent (use null, "" or omit the struct field)`);
    case 'object': {
      if (v === null) return null;
      if (v instanceof XenDouble) return tagged('double', Number.isInteger(v.value) ? v.value.toFixed(1) : String(v.value));
      if (v instanceof Date) return tagged('dateTime.iso8601', formatXenDate(v));
      if (Buffer.isBuffer(v)) return v;
      if (Array.isArray(v)) return v.map((x, i) => prepareParam(x, `${path}[${i}]`));
      const entries = v instanceof Map ? [...v.entries()] : Object.entries(v);
      const out: Record<string, unknown> = {};
      for (const [k, val] of entries) {
        // Optional struct fields: leaving them out is how XenAPI callers say "default".
        if (val === undefined) continue;
        Object.defineProperty(out, String(k), {
          value: prepareParam(val, `${path}.${String(k)}`),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    default:
      throw new TypeError(`${path}: cannot send a ${typeof v} over XML-RPC`);
  }
}

/** The complete <methodCall> document for `method(params…)`. */
export function serializeMethodCall(method: string, params: readonly unknown[]): string {
  if (!/^[A-Za-z0-9_.]+$/.test(method)) throw new TypeError(`invalid XenAPI method name: ${JSON.stringify(method)}`);
  return Serializer.serializeMethodCall(
    method,
    params.map((p, i) => prepareParam(p, `${method} param ${i + 1}`)),
  );
}

/** Parses a complete <methodResponse> document into its single value (see xmlrpc-decoder.ts). */
export async function parseMethodResponse(xml: Buffer | string, opts: DecodeOptions = {}): Promise<unknown> {
  return decodeMethodResponse(xml, opts);
}

/**
 * Decodes a task's `result` field: a string holding one XML-RPC <value> serialisation
 * ("" → undefined, text without markup → that text, as some old hosts store refs bare).
 */
export async function decodeValueXml(text: string): Promise<unknown> {
  const t = text.trim();
  if (t === '') return undefined;
  if (!t.startsWith('<')) return t;
  if (!/^<value[\s>/]/.test(t)) throw new Error('task result is not an XML-RPC <value>');
  return parseMethodResponse(`<?xml version="1.0"?><methodResponse><params><param>${t}</param></params></methodResponse>`);
}
