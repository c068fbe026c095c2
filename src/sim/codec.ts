/**
 * The simulator's own XML-RPC codec (deliberately independent of the npm `xmlrpc` package
 * the client uses, so a shared misunderstanding cannot pass the tests).
 *
 * Value model ({@link XmlRpcValue}) — one JS type per XML-RPC type, so int and float and
 * string never get confused:
 *   string                 bare text, <string>, CDATA, <string/>, <value></value>
 *   bigint                 <int>, <i4>, <i8> (64-bit range)  — serialised bare, as XAPI does
 *   number                 <double>                           — serialised with %.16g
 *   boolean                <boolean>0|1</boolean>
 *   XmlRpcDateTime         <dateTime.iso8601>                 — held as "20240716T10:11:12Z"
 *   null                   <nil/> (parse only; serialised as the void `<value></value>`)
 *   XmlRpcValue[]          <array><data>…</data></array>
 *   XmlRpcStruct           <struct> (a null-prototype object; member order kept)
 *
 * Output is exactly XAPI's: one line, no whitespace, strings bare (never <string>), ints
 * bare, `<?xml version="1.0"?>` on method responses, `Status` first in the envelope, text
 * escaped for < > & " with control characters other than tab/LF/CR dropped. Struct member
 * names keep their control characters raw: XAPI's writer (the rpc library's Xmlrpc
 * add_value) puts a name out as it is, so a map key such as an other_config key with a
 * C0 control reaches clients as a character XML forbids. (XAPI does not escape < > & " in
 * names either, which would make its answer malformed; here those stay escaped.)
 *
 * Input is parsed strictly with saxes: a DOCTYPE is refused (no entity expansion possible),
 * undefined entities are errors, nesting depth and size are bounded.
 */
import { SaxesParser } from 'saxes';

export class XmlRpcDateTime {
  /** Normalised XAPI form, e.g. "20240716T10:11:12Z". */
  readonly text: string;

  constructor(text: string) {
    const t = text.trim();
    const m = /^(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):?(\d{2}):?(\d{2})(?:\.\d+)?(Z|[+-]00:?00)?$/.exec(t);
    if (!m) throw new XmlRpcParseError(`bad dateTime.iso8601 "${t}"`);
    this.text = `${m[1]}${m[2]}${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`;
  }

  /**
   * A reading without a time zone, as host.get_server_localtime sends the master's local
   * time ("20200407T07:01:28": XAPI strips the zone, ocaml/libs/clock/date.ml localtime).
   */
  static zoneless(w: { year: number; month: number; day: number; hour: number; minute: number; second: number }): XmlRpcDateTime {
    const p = (n: number, l = 2) => String(n).padStart(l, '0');
    const d = new XmlRpcDateTime(`${p(w.year, 4)}${p(w.month)}${p(w.day)}T${p(w.hour)}:${p(w.minute)}:${p(w.second)}Z`);
    (d as { text: string }).text = d.text.slice(0, -1);
    return d;
  }

  static fromDate(d: Date): XmlRpcDateTime {
    const p = (n: number) => String(n).padStart(2, '0');
    return new XmlRpcDateTime(
      `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}T${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}Z`,
    );
  }

  toDate(): Date {
    const t = this.text;
    return new Date(`${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)}T${t.slice(9, 17)}Z`);
  }
}

/**
 * A 32-bit int sent as `<i4>`: XAPI uses Rpc.Int32 only for event.from's valid_ref_counts
 * (xen-api ocaml/xapi-types/event_types.ml), which ocaml-rpc writes as `<i4>` and JSON-RPC
 * as a number. Parsing never makes one (`<i4>` reads as a bigint).
 */
export class XmlRpcInt32 {
  constructor(readonly value: number) {
    if (!Number.isInteger(value) || value < -(2 ** 31) || value >= 2 ** 31) throw new RangeError(`not an int32: ${value}`);
  }
}

export type XmlRpcValue = string | bigint | number | boolean | XmlRpcDateTime | XmlRpcInt32 | null | XmlRpcValue[] | XmlRpcStruct;
export interface XmlRpcStruct {
  [member: string]: XmlRpcValue;
}

export class XmlRpcParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XmlRpcParseError';
  }
}

/** A parsed `<methodCall>`. */
export interface MethodCall {
  methodName: string;
  params: XmlRpcValue[];
}

/** A parsed `<methodResponse>`: XAPI's Status envelope is inside `value`. */
export type MethodResponse = { kind: 'value'; value: XmlRpcValue } | { kind: 'fault'; value: XmlRpcValue };

/** Limits against hostile input. */
export const MAX_XML_CHARS = 64 * 1024 * 1024;
export const MAX_DEPTH = 128;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

// ---------------------------------------------------------------------------------------
// Helpers on values

export function isStruct(v: XmlRpcValue | undefined): v is XmlRpcStruct {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof XmlRpcDateTime) && !(v instanceof XmlRpcInt32);
}

/** A new empty struct (null prototype, so a member named __proto__ is just a member). */
export function newStruct(): XmlRpcStruct {
  return Object.create(null) as XmlRpcStruct;
}

/** Builds a struct from [name, value] pairs, keeping their order. */
export function structOf(entries: Iterable<readonly [string, XmlRpcValue]>): XmlRpcStruct {
  const s = newStruct();
  for (const [k, v] of entries) s[k] = v;
  return s;
}

// ---------------------------------------------------------------------------------------
// Serialisation

/** Anything escapeText changes or drops; most strings have none and are returned as they are. */
const NEEDS_ESCAPE = /[&<>"\u0000-\u0008\u000b\u000c\u000e-\u001f\ud800-\udfff\ufffe\uffff]/;
/** Anything escapeName changes: names keep control characters, as XAPI's writer does. */
const NAME_NEEDS_ESCAPE = /[&<>"\ud800-\udfff\ufffe\uffff]/;

/** < > & " as entities; lone surrogates, U+FFFE and U+FFFF dropped, and C0 controls except TAB/LF/CR unless kept. */
function escapeXml(s: string, keepControls: boolean): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === '&') out += '&amp;';
    else if (ch === '<') out += '&lt;';
    else if (ch === '>') out += '&gt;';
    else if (ch === '"') out += '&quot;';
    else if (!keepControls && c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) continue;
    else if (c === 0xfffe || c === 0xffff || (c >= 0xd800 && c <= 0xdfff)) continue;
    else out += ch;
  }
  return out;
}

/** XAPI's text escaping of values: control characters XML cannot hold are dropped. */
export function escapeText(s: string): string {
  return NEEDS_ESCAPE.test(s) ? escapeXml(s, false) : s;
}

/** A struct member name as XAPI writes it: control characters raw (see the header). */
export function escapeName(s: string): string {
  return NAME_NEEDS_ESCAPE.test(s) ? escapeXml(s, true) : s;
}

/** C's printf("%.16g") for a double (what XAPI uses for floats); other precisions on request. */
export function formatDouble(x: number, precision = 16): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const P = precision;
  const exp = Number(x.toExponential(P - 1).split('e')[1]);
  if (exp < -4 || exp >= P) {
    const [mant = '', e = '0'] = x.toExponential(P - 1).split('e');
    const m = mant.includes('.') ? mant.replace(/0+$/, '').replace(/\.$/, '') : mant;
    const en = Number(e);
    const sign = en < 0 ? '-' : '+';
    return `${m}e${sign}${String(Math.abs(en)).padStart(2, '0')}`;
  }
  const fixed = x.toFixed(Math.max(0, P - 1 - exp));
  return fixed.includes('.') ? fixed.replace(/0+$/, '').replace(/\.$/, '') : fixed;
}

// Built by string concatenation: V8 joins such strings lazily (ropes), which measured
// faster than pushing millions of pieces into an array and joining them (12 MB answers).
function serializeInner(v: XmlRpcValue): string {
  if (typeof v === 'string') return escapeText(v);
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return `<double>${formatDouble(v)}</double>`;
  if (typeof v === 'boolean') return v ? '<boolean>1</boolean>' : '<boolean>0</boolean>';
  if (v === null) return '';
  if (v instanceof XmlRpcDateTime) return `<dateTime.iso8601>${v.text}</dateTime.iso8601>`;
  if (v instanceof XmlRpcInt32) return `<i4>${v.value}</i4>`;
  if (Array.isArray(v)) {
    let out = '<array><data>';
    for (const e of v) out += `<value>${serializeInner(e)}</value>`;
    return `${out}</data></array>`;
  }
  let out = '<struct>';
  for (const k of Object.keys(v)) out += `<member><name>${escapeName(k)}</name><value>${serializeInner(v[k] as XmlRpcValue)}</value></member>`;
  return `${out}</struct>`;
}

/** One `<value>…</value>` on one line, XAPI style (task results, ova.xml). */
export function serializeValue(v: XmlRpcValue): string {
  return `<value>${serializeInner(v)}</value>`;
}

const RESPONSE_HEAD = '<?xml version="1.0"?><methodResponse><params><param>';
const RESPONSE_TAIL = '</param></params></methodResponse>';

/** A Success envelope: `{Status: "Success", Value: v}`. */
export function serializeSuccess(v: XmlRpcValue): string {
  return `${RESPONSE_HEAD}<value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name>${serializeValue(v)}</member></struct></value>${RESPONSE_TAIL}`;
}

/**
 * A response without the Status envelope: XAPI answers system.listMethods this way
 * (xen-api ocaml/xapi/api_server.ml writes its value straight into the methodResponse).
 */
export function serializeBare(v: XmlRpcValue): string {
  return `${RESPONSE_HEAD}${serializeValue(v)}${RESPONSE_TAIL}`;
}

/** A Failure envelope: `{Status: "Failure", ErrorDescription: [code, params…]}`. */
export function serializeFailure(description: readonly string[]): string {
  return `${RESPONSE_HEAD}<value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name>${serializeValue([...description])}</member></struct></value>${RESPONSE_TAIL}`;
}

/** A `<methodCall>` (for tools and round-trip tests; XAPI clients send the same shape). */
export function serializeMethodCall(methodName: string, params: readonly XmlRpcValue[]): string {
  let out = `<?xml version="1.0"?><methodCall><methodName>${escapeText(methodName)}</methodName><params>`;
  for (const p of params) out += `<param>${serializeValue(p)}</param>`;
  return `${out}</params></methodCall>`;
}

// ---------------------------------------------------------------------------------------
// Parsing

interface El {
  name: string;
  children: El[];
  text: string;
}

/** Strict XML → element tree (no attributes kept: XML-RPC has none). */
function parseTree(xml: string): El {
  if (xml.length > MAX_XML_CHARS) throw new XmlRpcParseError('document too large');
  const parser = new SaxesParser();
  const root: El = { name: '#root', children: [], text: '' };
  const stack: El[] = [root];
  let error: Error | undefined;
  parser.on('error', (e) => {
    error ??= new XmlRpcParseError(e.message);
  });
  parser.on('doctype', () => {
    error ??= new XmlRpcParseError('DOCTYPE is not allowed');
  });
  parser.on('opentag', (tag) => {
    if (stack.length > MAX_DEPTH) {
      error ??= new XmlRpcParseError('document nested too deeply');
      return;
    }
    const el: El = { name: tag.name, children: [], text: '' };
    stack[stack.length - 1]?.children.push(el);
    stack.push(el);
  });
  parser.on('closetag', () => {
    if (stack.length > 1) stack.pop();
  });
  const onText = (t: string) => {
    const top = stack[stack.length - 1];
    if (top) top.text += t;
  };
  parser.on('text', onText);
  parser.on('cdata', onText);
  try {
    parser.write(xml).close();
  } catch (e) {
    error ??= new XmlRpcParseError((e as Error).message);
  }
  if (error) throw error;
  const top = root.children;
  if (top.length !== 1 || !top[0]) throw new XmlRpcParseError('expected exactly one root element');
  return top[0];
}

function only(el: El, name: string): El {
  const kids = el.children.filter((c) => c.name === name);
  if (kids.length !== 1 || !kids[0]) throw new XmlRpcParseError(`<${el.name}> needs exactly one <${name}>`);
  return kids[0];
}

function noStrayText(el: El): void {
  if (el.text.trim() !== '') throw new XmlRpcParseError(`unexpected text in <${el.name}>`);
}

function noChildren(el: El): void {
  if (el.children.length > 0) throw new XmlRpcParseError(`unexpected element inside <${el.name}>`);
}

function parseInt64(text: string, tag: string): bigint {
  const t = text.trim();
  if (!/^[+-]?\d{1,20}$/.test(t)) throw new XmlRpcParseError(`bad <${tag}> "${t}"`);
  const n = BigInt(t);
  if (n < INT64_MIN || n > INT64_MAX) throw new XmlRpcParseError(`<${tag}> out of 64-bit range`);
  return n;
}

function parseDouble(text: string): number {
  const t = text.trim().toLowerCase();
  if (t === 'nan' || t === '-nan') return NaN;
  if (t === 'inf' || t === '+inf' || t === 'infinity') return Infinity;
  if (t === '-inf' || t === '-infinity') return -Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t)) throw new XmlRpcParseError(`bad <double> "${text.trim()}"`);
  return Number(t);
}

function valueOf(el: El): XmlRpcValue {
  if (el.name !== 'value') throw new XmlRpcParseError(`expected <value>, got <${el.name}>`);
  if (el.children.length === 0) return el.text; // bare string, whitespace kept
  if (el.children.length > 1) throw new XmlRpcParseError('<value> holds more than one element');
  noStrayText(el);
  const t = el.children[0] as El;
  switch (t.name) {
    case 'string':
      noChildren(t);
      return t.text;
    case 'int':
    case 'i4':
    case 'i8':
      noChildren(t);
      return parseInt64(t.text, t.name);
    case 'boolean': {
      noChildren(t);
      const b = t.text.trim().toLowerCase();
      if (b === '1' || b === 'true') return true;
      if (b === '0' || b === 'false') return false;
      throw new XmlRpcParseError(`bad <boolean> "${t.text.trim()}"`);
    }
    case 'double':
      noChildren(t);
      return parseDouble(t.text);
    case 'dateTime.iso8601':
      noChildren(t);
      return new XmlRpcDateTime(t.text);
    case 'nil':
      noChildren(t);
      noStrayText(t);
      return null;
    case 'array': {
      noStrayText(t);
      const data = only(t, 'data');
      noStrayText(data);
      return data.children.map(valueOf);
    }
    case 'struct': {
      noStrayText(t);
      const s = newStruct();
      for (const m of t.children) {
        if (m.name !== 'member') throw new XmlRpcParseError(`<struct> holds <${m.name}>`);
        noStrayText(m);
        const nameEl = only(m, 'name');
        noChildren(nameEl);
        s[nameEl.text] = valueOf(only(m, 'value'));
      }
      return s;
    }
    default:
      throw new XmlRpcParseError(`unsupported value type <${t.name}>`);
  }
}

/** Parses a standalone `<value>…</value>` (task result strings, ova.xml). */
export function parseValue(xml: string): XmlRpcValue {
  return valueOf(parseTree(xml));
}

/** Parses a `<methodCall>` request body. */
export function parseMethodCall(xml: string): MethodCall {
  const root = parseTree(xml);
  if (root.name !== 'methodCall') throw new XmlRpcParseError(`expected <methodCall>, got <${root.name}>`);
  noStrayText(root);
  const nameEl = only(root, 'methodName');
  noChildren(nameEl);
  const methodName = nameEl.text.trim();
  if (methodName === '') throw new XmlRpcParseError('empty <methodName>');
  const paramsEls = root.children.filter((c) => c.name === 'params');
  if (paramsEls.length > 1) throw new XmlRpcParseError('more than one <params>');
  const params: XmlRpcValue[] = [];
  const p = paramsEls[0];
  if (p) {
    noStrayText(p);
    for (const param of p.children) {
      if (param.name !== 'param') throw new XmlRpcParseError(`<params> holds <${param.name}>`);
      noStrayText(param);
      params.push(valueOf(only(param, 'value')));
    }
  }
  return { methodName, params };
}

/** Parses a `<methodResponse>` (test helpers, tools). */
export function parseMethodResponse(xml: string): MethodResponse {
  const root = parseTree(xml);
  if (root.name !== 'methodResponse') throw new XmlRpcParseError(`expected <methodResponse>, got <${root.name}>`);
  const fault = root.children.find((c) => c.name === 'fault');
  if (fault) return { kind: 'fault', value: valueOf(only(fault, 'value')) };
  const param = only(only(root, 'params'), 'param');
  return { kind: 'value', value: valueOf(only(param, 'value')) };
}
