/**
 * Decodes an XML-RPC <methodResponse> as it arrives, on the strict `saxes` parser.
 *
 * Why not npm xmlrpc's Deserializer (still used for requests' Serializer): measured on a
 * 1000-VM pool, it took 2.8 s for VM.get_all_records (12 MB) where this decoder takes a
 * fraction of that, and it needs the whole answer as one string first. This one is fed
 * chunk by chunk from the socket, and can keep only the record fields a caller asks for
 * (`recordFields`), so a 5000-VM pool's records never sit in memory whole.
 *
 * Values decode as xmlrpc's Deserializer decodes them (bare <value> and <string> →
 * string, <i8> → decimal string, <int>/<i4> → number, <double>, <boolean>, <nil/>,
 * <base64> → Buffer, <dateTime.iso8601> → Date read as XAPI reads it: no zone = UTC), with
 * two hardenings: struct members are own properties whatever their name (`__proto__`
 * included), and a DOCTYPE is refused, so no entity can be declared, let alone expanded.
 */
import { createRequire } from 'node:module';
import { StringDecoder } from 'node:string_decoder';
import { SaxesParser } from 'saxes';

const require = createRequire(import.meta.url);
const dates = require('xmlrpc/lib/date_formatter.js') as { decodeIso8601(text: string): Date };

/** A fault inside <methodResponse><fault> (XAPI never sends one; a proxy might). */
export class XmlRpcFault extends Error {
  override name = 'XmlRpcFault';
  constructor(
    readonly faultCode: unknown,
    readonly faultString: string,
  ) {
    super(`XML-RPC fault ${String(faultCode)}: ${faultString}`);
  }
}

export interface DecodeOptions {
  /**
   * Keep only these members of the structs nested `recordDepth` structs deep (default 2:
   * the envelope struct, then get_all_records' ref → record map, then each record).
   * The other members are parsed but never built.
   */
  recordFields?: ReadonlySet<string>;
  recordDepth?: number;
}

type Scalar = 'string' | 'int' | 'i4' | 'i8' | 'double' | 'boolean' | 'base64' | 'dateTime.iso8601' | 'nil';

/**
 * Where finished values go: an array's items, a struct member, the response's param or
 * fault. `valueBase` = open <value> elements when the sink opened: a value finished while
 * more are open fills the innermost of them.
 */
type Sink = { valueBase: number } & (
  | { kind: 'array'; items: unknown[] }
  | { kind: 'struct'; obj: Record<string, unknown>; name: string | undefined; depth: number }
  | { kind: 'param' }
  | { kind: 'fault' }
);

const SCALARS = new Set<string>(['string', 'int', 'i4', 'i8', 'double', 'boolean', 'base64', 'dateTime.iso8601', 'nil']);
const STRUCTURE = new Set<string>(['methodResponse', 'params', 'param', 'fault', 'data', 'member', 'name']);
const INTEGER = /^[+-]?\d+$/;
/** XAPI's date-times: 20200407T09:01:28Z, 20200407T07:01:28 (no zone), …+02:00. */
const XAPI_DATETIME = /^(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):?(\d{2}):?(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * XAPI's form read as XAPI reads it (ocaml/libs/clock/date.ml): a time without a zone is
 * UTC — not this machine's local time, as xmlrpc's parser takes it — so the digits of
 * host.get_server_localtime read back exactly with the getUTC* methods; an offset is
 * applied (xmlrpc's parser read "+02:00" as milliseconds). Other shapes go to xmlrpc's parser.
 */
function decodeDateTime(text: string): Date {
  const m = XAPI_DATETIME.exec(text.trim());
  if (!m) return dates.decodeIso8601(text);
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  // An impossible time is an Invalid Date, as xmlrpc's parser gives (never a shifted one).
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return new Date(NaN);
  const ms = m[7] ? Number(m[7].slice(0, 3).padEnd(3, '0')) : 0;
  const zone = (m[8] ?? 'Z').toUpperCase();
  // Z, ±hh, ±hhmm or ±hh:mm
  const offsetMin = zone === 'Z' ? 0 : (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + (zone.length > 3 ? Number(zone.slice(-2)) : 0));
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s, ms) - offsetMin * 60_000);
}

/**
 * A copy of `s` that does not point into the parser's input. V8 makes a substring of 13 or
 * more characters a slice of its parent, and saxes's text is cut out of each 64 KiB chunk:
 * keeping a record's uuid kept the whole chunk alive (a 5000-VM pool's records held 139 MB
 * after GC). Concatenation makes a new flat string; the slice of it is then of that copy.
 */
function detach(s: string): string {
  return s.length < 13 ? s : (' ' + s).slice(1);
}

function scalarValue(tag: Scalar, text: string): unknown {
  switch (tag) {
    case 'string':
      return detach(text);
    case 'int':
    case 'i4': {
      const n = parseInt(text, 10);
      if (Number.isNaN(n)) throw new Error(`expected an integer but got '${text.slice(0, 40)}'`);
      return n;
    }
    case 'i8':
      if (!INTEGER.test(text.trim())) throw new Error(`expected an integer (i8) but got '${text.slice(0, 40)}'`);
      return detach(text.trim());
    case 'double': {
      const n = parseFloat(text);
      if (Number.isNaN(n)) throw new Error(`expected a double but got '${text.slice(0, 40)}'`);
      return n;
    }
    case 'boolean':
      if (text === '1') return true;
      if (text === '0') return false;
      throw new Error(`illegal boolean value '${text.slice(0, 40)}'`);
    case 'base64':
      return Buffer.from(text, 'base64');
    case 'dateTime.iso8601':
      return decodeDateTime(text);
    case 'nil':
      return null;
  }
}

/** Incremental decoder: write() chunks, then end() for the single returned value. */
export class MethodResponseDecoder {
  readonly #parser = new SaxesParser();
  readonly #utf8 = new StringDecoder('utf8');
  readonly #sinks: Sink[] = [];
  /** Per open <value>: whether a typed child or a container has given it its value. */
  readonly #values: boolean[] = [];
  readonly #fields: ReadonlySet<string> | undefined;
  readonly #recordDepth: number;
  #text = '';
  #structDepth = 0;
  /** While > 0: inside a member that is not kept; counts open elements below it. */
  #skipping = 0;
  #params: unknown[] = [];
  #fault: unknown;
  #sawResponse = false;
  #error: Error | undefined;

  constructor(opts: DecodeOptions = {}) {
    this.#fields = opts.recordFields;
    this.#recordDepth = opts.recordDepth ?? 2;
    const p = this.#parser;
    p.on('doctype', () => this.#fail(new Error('a DOCTYPE is not allowed in an XML-RPC answer')));
    p.on('opentag', (tag) => this.#open(tag.name));
    p.on('closetag', (tag) => this.#close(tag.name));
    p.on('text', (t) => {
      if (this.#skipping === 0) this.#text += t;
    });
    p.on('cdata', (t) => {
      if (this.#skipping === 0) this.#text += t;
    });
    p.on('error', (err) => this.#fail(err));
  }

  #fail(err: Error): never {
    this.#error ??= err;
    throw this.#error;
  }

  write(chunk: Buffer | string): void {
    if (this.#error) throw this.#error;
    const text = typeof chunk === 'string' ? chunk : this.#utf8.write(chunk);
    if (text !== '') this.#parser.write(text);
  }

  /** Ends the input; returns the response's value, or throws (XmlRpcFault for a fault). */
  end(): unknown {
    if (this.#error) throw this.#error;
    const rest = this.#utf8.end();
    if (rest !== '') this.#parser.write(rest);
    this.#parser.close();
    if (!this.#sawResponse) throw new Error('not an XML-RPC method response');
    if (this.#fault !== undefined) {
      const f = (typeof this.#fault === 'object' && this.#fault !== null ? this.#fault : {}) as Record<string, unknown>;
      throw new XmlRpcFault(f['faultCode'], String(f['faultString'] ?? ''));
    }
    if (this.#params.length !== 1) throw new Error(`an XML-RPC response holds one value, this one ${this.#params.length}`);
    return this.#params[0];
  }

  #open(tag: string): void {
    if (this.#skipping > 0) {
      this.#skipping++;
      return;
    }
    this.#text = '';
    const valueBase = this.#values.length;
    switch (tag) {
      case 'value':
        this.#values.push(false);
        return;
      case 'array':
        this.#sinks.push({ kind: 'array', items: [], valueBase });
        return;
      case 'struct':
        this.#sinks.push({ kind: 'struct', obj: {}, name: undefined, depth: this.#structDepth++, valueBase });
        return;
      case 'param':
      case 'fault':
        this.#sinks.push({ kind: tag, valueBase });
        return;
      case 'methodResponse':
        if (this.#sawResponse) this.#fail(new Error('a second <methodResponse>'));
        this.#sawResponse = true;
        return;
      default:
        if (!SCALARS.has(tag) && !STRUCTURE.has(tag)) this.#fail(new Error(`unknown XML-RPC tag <${tag.slice(0, 40)}>`));
    }
  }

  #close(tag: string): void {
    if (this.#skipping > 0) {
      // The skipped member's own </member> brings the decoder back.
      if (--this.#skipping === 0 && tag !== 'member') this.#fail(new Error('malformed struct member'));
      return;
    }
    const text = this.#text;
    this.#text = '';
    switch (tag) {
      case 'value':
        if (!this.#values.pop()) this.#give(detach(text));
        return;
      case 'array': {
        const sink = this.#sinks.pop();
        if (sink?.kind !== 'array') this.#fail(new Error('misplaced </array>'));
        this.#give(sink.items);
        return;
      }
      case 'struct': {
        const sink = this.#sinks.pop();
        if (sink?.kind !== 'struct') this.#fail(new Error('misplaced </struct>'));
        this.#structDepth--;
        this.#give(sink.obj);
        return;
      }
      case 'param':
      case 'fault':
        this.#sinks.pop();
        return;
      case 'name': {
        const struct = this.#sinks[this.#sinks.length - 1];
        if (struct?.kind !== 'struct' || this.#values.length !== struct.valueBase) this.#fail(new Error('<name> outside a struct member'));
        if (this.#fields && struct.depth === this.#recordDepth && !this.#fields.has(text)) {
          // Skip the rest of this member: its </member> is one level up.
          this.#skipping = 1;
          return;
        }
        struct.name = text;
        return;
      }
      default:
        if (!SCALARS.has(tag)) return; // params, data, member, methodResponse
        try {
          this.#give(scalarValue(tag as Scalar, text));
        } catch (err) {
          this.#fail(err as Error);
        }
    }
  }

  /** A finished value: it fills the innermost open <value> of its sink, and goes to the sink. */
  #give(v: unknown): void {
    const sink = this.#sinks[this.#sinks.length - 1];
    if (!sink) this.#fail(new Error('a value outside <param> or <fault>'));
    const open = this.#values.length - 1;
    if (open >= sink.valueBase) {
      if (this.#values[open]) this.#fail(new Error('a <value> holds more than one value'));
      this.#values[open] = true;
    }
    switch (sink.kind) {
      case 'array':
        sink.items.push(v);
        return;
      case 'struct':
        if (sink.name === undefined) this.#fail(new Error('a struct member without a <name>'));
        Object.defineProperty(sink.obj, sink.name, { value: v, enumerable: true, writable: true, configurable: true });
        sink.name = undefined;
        return;
      case 'param':
        this.#params.push(v);
        return;
      case 'fault':
        this.#fault = v;
    }
  }
}

/** Decodes a complete response document. */
export function decodeMethodResponse(xml: Buffer | string, opts: DecodeOptions = {}): unknown {
  const d = new MethodResponseDecoder(opts);
  d.write(xml);
  return d.end();
}
