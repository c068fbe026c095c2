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
 * hardenings for answers and files nobody vouches for:
 *  - struct members are own properties whatever their name (`__proto__` included);
 *  - a DOCTYPE is refused, so no entity can be declared, let alone expanded;
 *  - characters XML forbids (raw C0 controls: XAPI writes map keys unescaped) are decoded
 *    to their exact value instead of failing the whole answer (xml-forbidden-chars.ts);
 *  - nesting, element depth, attributes and (on request) the number of values are bounded,
 *    so a crafted answer ends with a clear error, never a stack overflow later or unbounded
 *    memory; text mixed into the markup is refused, as XAPI's own reader refuses it.
 * The same decoder reads a standalone <value> document (ova.xml, task results), with or
 * without an XML declaration.
 */
import { createRequire } from 'node:module';
import { StringDecoder } from 'node:string_decoder';
import { SaxesParser } from 'saxes';
import { countForbiddenChars, maskForbiddenChars, unmaskForbiddenChars } from './xml-forbidden-chars.js';

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
  /** The document: a <methodResponse> (default), or one standalone <value> (ova.xml, task results). */
  root?: 'methodResponse' | 'value';
  /** Most <value>s nested in one another (default MAX_VALUE_DEPTH). */
  maxDepth?: number;
  /** Most values and struct members built (default: no limit beyond the input's size). */
  maxValues?: number;
  /**
   * 'bigint': <int>, <i4> and <i8> decode to bigint, so an integer can be told from a
   * <double> and from a string (what XAPI's typed readers tell apart). Default 'number'
   * (<i8> stays a decimal string), as xmlrpc's Deserializer.
   */
  integers?: 'number' | 'bigint';
  /** Refuse a struct naming one member twice (XAPI's writer never does). */
  uniqueMembers?: boolean;
}

/**
 * XenAPI's deepest values are under ten <value>s deep (event.from: envelope, value, events,
 * event, snapshot, map field); a deeper answer is not XenAPI, and decoded values this deep
 * overflow the stack of anything that walks them (String(), JSON.stringify).
 */
export const MAX_VALUE_DEPTH = 64;
/** An element per container level is <value>, <struct>/<array>, <member>/<data>. */
const ELEMENTS_PER_LEVEL = 3;
/** XML-RPC elements have no attributes; a few are tolerated (XAPI's reader ignores them). */
const MAX_ATTRIBUTES = 16;

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
const BLANK = /^[ \t\r\n]*$/;
/** XAPI's date-times: 20200407T09:01:28Z, 20200407T07:01:28 (no zone), …+02:00. */
const XAPI_DATETIME = /^(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):?(\d{2}):?(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * XAPI's form read as XAPI reads it (ocaml/libs/clock/date.ml): a time without a zone is
 * UTC — not this machine's local time, as xmlrpc's parser takes it — so the digits of
 * host.get_server_localtime read back exactly with the getUTC* methods; an offset is
 * applied (xmlrpc's parser read "+02:00" as milliseconds). Other shapes go to xmlrpc's parser.
 */
function decodeDateTime(text: string): Date {
  return decodeXenDateTime(text) ?? dates.decodeIso8601(text);
}

/**
 * A date-time in one of XAPI's forms (see decodeDateTime), or undefined when the text has
 * another shape. JSON-RPC answers carry date-times as such strings.
 */
export function decodeXenDateTime(text: string): Date | undefined {
  const m = XAPI_DATETIME.exec(text.trim());
  if (!m) return undefined;
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

function scalarValue(tag: Scalar, text: string, bigints: boolean): unknown {
  switch (tag) {
    case 'string':
      return detach(text);
    case 'int':
    case 'i4': {
      if (bigints) {
        if (!INTEGER.test(text.trim())) throw new Error(`expected an integer but got '${text.slice(0, 40)}'`);
        return BigInt(text.trim());
      }
      const n = parseInt(text, 10);
      if (Number.isNaN(n)) throw new Error(`expected an integer but got '${text.slice(0, 40)}'`);
      return n;
    }
    case 'i8':
      if (!INTEGER.test(text.trim())) throw new Error(`expected an integer (i8) but got '${text.slice(0, 40)}'`);
      return bigints ? BigInt(text.trim()) : detach(text.trim());
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
  // XML 1.0 whatever a document declares: its rules are the ones the masking is made for.
  readonly #parser = new SaxesParser({ defaultXMLVersion: '1.0', forceXMLVersion: true });
  readonly #utf8 = new StringDecoder('utf8');
  readonly #sinks: Sink[] = [];
  /** Per open <value>: whether a typed child or a container has given it its value. */
  readonly #values: boolean[] = [];
  readonly #fields: ReadonlySet<string> | undefined;
  readonly #recordDepth: number;
  readonly #root: 'methodResponse' | 'value';
  readonly #maxDepth: number;
  readonly #maxElements: number;
  readonly #maxValues: number;
  readonly #bigints: boolean;
  readonly #uniqueMembers: boolean;
  #text = '';
  #structDepth = 0;
  #elements = 0;
  #attributes = 0;
  #built = 0;
  #forbidden = 0;
  /** While > 0: inside a member that is not kept; counts open elements below it. */
  #skipping = 0;
  #params: unknown[] = [];
  #fault: unknown;
  #sawResponse = false;
  #error: Error | undefined;

  constructor(opts: DecodeOptions = {}) {
    this.#fields = opts.recordFields;
    this.#recordDepth = opts.recordDepth ?? 2;
    this.#root = opts.root ?? 'methodResponse';
    this.#maxDepth = opts.maxDepth ?? MAX_VALUE_DEPTH;
    this.#maxElements = (this.#maxDepth + 2) * ELEMENTS_PER_LEVEL;
    this.#maxValues = opts.maxValues ?? Infinity;
    this.#bigints = opts.integers === 'bigint';
    this.#uniqueMembers = opts.uniqueMembers ?? false;
    const p = this.#parser;
    p.on('doctype', () => this.#fail(new Error('a DOCTYPE is not allowed in an XML-RPC answer')));
    // Attributes arrive before their element's opentag; counted per element, so a crafted
    // element cannot make saxes collect millions of them. (Each handler is a property saxes
    // adds to itself; one more made it three times slower, hence no opentagstart handler.)
    p.on('attribute', () => {
      if (++this.#attributes > MAX_ATTRIBUTES) this.#fail(new Error(`an element with more than ${MAX_ATTRIBUTES} attributes (XML-RPC has none)`));
    });
    p.on('opentag', (tag) => {
      this.#attributes = 0;
      this.#open(tag.name);
    });
    p.on('closetag', (tag) => this.#close(tag.name));
    p.on('text', (t) => {
      if (this.#skipping === 0) this.#text += t;
    });
    p.on('cdata', (t) => {
      if (this.#skipping === 0) this.#text += t;
    });
    p.on('error', (err) => this.#fail(err));
  }

  /** Raw characters XML forbids that were decoded leniently (see xml-forbidden-chars.ts). */
  get forbiddenChars(): number {
    return this.#forbidden;
  }

  #fail(err: Error): never {
    this.#error ??= err;
    throw this.#error;
  }

  write(chunk: Buffer | string): void {
    if (this.#error) throw this.#error;
    const text = typeof chunk === 'string' ? chunk : this.#utf8.write(chunk);
    if (text !== '') this.#feed(text);
  }

  #feed(text: string): void {
    const masked = maskForbiddenChars(text);
    if (masked !== text) this.#forbidden += countForbiddenChars(text);
    this.#parser.write(masked);
  }

  /** Ends the input; returns the response's value, or throws (XmlRpcFault for a fault). */
  end(): unknown {
    if (this.#error) throw this.#error;
    const rest = this.#utf8.end();
    if (rest !== '') this.#feed(rest);
    this.#parser.close();
    if (!this.#sawResponse) throw new Error(this.#root === 'value' ? 'not an XML-RPC <value> document' : 'not an XML-RPC method response');
    if (this.#fault !== undefined) {
      const f = (typeof this.#fault === 'object' && this.#fault !== null ? this.#fault : {}) as Record<string, unknown>;
      throw new XmlRpcFault(f['faultCode'], String(f['faultString'] ?? ''));
    }
    if (this.#params.length !== 1) throw new Error(`an XML-RPC response holds one value, this one ${this.#params.length}`);
    return this.#params[0];
  }

  #open(tag: string): void {
    if (++this.#elements > this.#maxElements) this.#fail(new Error(`elements nested more than ${this.#maxElements} deep (XenAPI nests a few)`));
    if (this.#skipping > 0) {
      this.#skipping++;
      return;
    }
    if (!BLANK.test(this.#text)) this.#fail(new Error(`text before <${tag.slice(0, 40)}> where XML-RPC has only elements`));
    this.#text = '';
    if (this.#elements === 1) this.#openRoot(tag);
    const valueBase = this.#values.length;
    switch (tag) {
      case 'value':
        if (valueBase >= this.#maxDepth) this.#fail(new Error(`values nested more than ${this.#maxDepth} deep (XenAPI's deepest are under 10)`));
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
        if (this.#elements !== 1) this.#fail(new Error('a <methodResponse> inside the document'));
        return;
      default:
        if (!SCALARS.has(tag) && !STRUCTURE.has(tag)) this.#fail(new Error(`unknown XML-RPC tag <${tag.slice(0, 40)}>`));
    }
  }

  /** The document element: <methodResponse>, or for a value document <value> (whose sink is the result). */
  #openRoot(tag: string): void {
    if (this.#root === 'value') {
      if (tag !== 'value') this.#fail(new Error(`the document is <${tag.slice(0, 40)}>, not an XML-RPC <value>`));
      this.#sinks.push({ kind: 'param', valueBase: 0 });
    } else if (tag !== 'methodResponse') {
      this.#fail(new Error(`the document is <${tag.slice(0, 40)}>, not an XML-RPC <methodResponse>`));
    }
    this.#sawResponse = true;
  }

  #close(tag: string): void {
    this.#elements--;
    if (this.#skipping > 0) {
      // The skipped member's own </member> brings the decoder back.
      if (--this.#skipping === 0 && tag !== 'member') this.#fail(new Error('malformed struct member'));
      return;
    }
    const raw = this.#text;
    this.#text = '';
    const text = unmaskForbiddenChars(raw);
    switch (tag) {
      case 'value':
        if (!this.#values.pop()) this.#give(detach(text));
        else this.#blank(raw, tag);
        return;
      case 'array': {
        this.#blank(raw, tag);
        const sink = this.#sinks.pop();
        if (sink?.kind !== 'array') this.#fail(new Error('misplaced </array>'));
        this.#give(sink.items);
        return;
      }
      case 'struct': {
        this.#blank(raw, tag);
        const sink = this.#sinks.pop();
        if (sink?.kind !== 'struct') this.#fail(new Error('misplaced </struct>'));
        this.#structDepth--;
        this.#give(sink.obj);
        return;
      }
      case 'param':
      case 'fault':
        this.#blank(raw, tag);
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
        if (this.#uniqueMembers && Object.prototype.hasOwnProperty.call(struct.obj, text)) {
          this.#fail(new Error(`a struct names member ${JSON.stringify(text.slice(0, 40))} twice`));
        }
        this.#count();
        struct.name = text;
        return;
      }
      default:
        if (!SCALARS.has(tag)) {
          this.#blank(raw, tag); // params, data, member, methodResponse
          return;
        }
        try {
          this.#give(scalarValue(tag as Scalar, text, this.#bigints));
        } catch (err) {
          this.#fail(err as Error);
        }
    }
  }

  /** Text beside elements (not inside a scalar) must be white space. */
  #blank(text: string, tag: string): void {
    if (!BLANK.test(text)) this.#fail(new Error(`text inside <${tag.slice(0, 40)}> where XML-RPC has only elements`));
  }

  #count(): void {
    if (++this.#built > this.#maxValues) this.#fail(new Error(`more than ${this.#maxValues} values`));
  }

  /** A finished value: it fills the innermost open <value> of its sink, and goes to the sink. */
  #give(v: unknown): void {
    const sink = this.#sinks[this.#sinks.length - 1];
    if (!sink) this.#fail(new Error('a value outside <param> or <fault>'));
    this.#count();
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

/** A decoded standalone <value> document, and how many forbidden characters it held. */
export interface ValueDocument {
  value: unknown;
  forbiddenChars: number;
}

/** Decodes one standalone <value> document (optionally after an XML declaration), e.g. ova.xml. */
export function decodeValueDocument(xml: Buffer | string, opts: Omit<DecodeOptions, 'root'> = {}): ValueDocument {
  const d = new MethodResponseDecoder({ ...opts, root: 'value' });
  d.write(xml);
  const value = d.end();
  return { value, forbiddenChars: d.forbiddenChars };
}
