/**
 * XenAPI value conventions on the JS side: int64 fields arrive as decimal strings (XAPI
 * writes them as bare <value> text), so callers convert deliberately with these helpers.
 */
import { redactSecrets } from '../redact.js';

export const NULL_REF = 'OpaqueRef:NULL';

/** A XenAPI object reference (opaque; compare only within one login). */
export type Ref = string;

/** A record as XAPI returns it; fields typed loosely, read them with the helpers below. */
export type XenRecord = Record<string, unknown>;

/** True for OpaqueRef:NULL and the empty / "Ref:" forms seen on old hosts and buggy records. */
export function isNullRef(ref: unknown): boolean {
  return typeof ref !== 'string' || ref === '' || ref === NULL_REF || ref.startsWith('Ref:');
}

const INTEGER_TEXT = /^[-+]?\d+$/;

/** int64 → number; refuses values that a JS number cannot hold exactly. */
export function toInt(v: unknown): number {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'bigint') n = Number(v);
  else if (typeof v === 'string' && INTEGER_TEXT.test(v.trim())) n = Number(v.trim());
  else throw new TypeError(`not an integer: ${describe(v)}`);
  if (!Number.isSafeInteger(n) || (typeof v === 'bigint' && BigInt(n) !== v)) {
    throw new RangeError(`integer out of safe range: ${describe(v)} (use toBigInt)`);
  }
  return n;
}

/** int64 → bigint, exact for the whole 64-bit range. */
export function toBigInt(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (typeof v === 'string' && INTEGER_TEXT.test(v.trim())) return BigInt(v.trim());
  throw new TypeError(`not an integer: ${describe(v)}`);
}

/** float field → number (XAPI sends <double>; accept numeric strings too). */
export function toFloat(v: unknown): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  throw new TypeError(`not a number: ${describe(v)}`);
}

/**
 * bool → boolean. XAPI sends <boolean>; map values (other_config) hold the strings
 * "true"/"false", which XAPI's own code compares case-insensitively.
 */
export function toBool(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (s === 'true' || s === '1') return true;
    if (s === 'false' || s === '0' || s === '') return false;
  }
  if (v === 1 || v === 0) return v === 1;
  throw new TypeError(`not a boolean: ${describe(v)}`);
}

/** string field → string ("" for absent), for records read loosely. */
export function toStr(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === undefined || v === null) return '';
  throw new TypeError(`not a string: ${describe(v)}`);
}

/** set field → string[] (refs, uuids, enums). */
export function toStrArray(v: unknown): string[] {
  if (!Array.isArray(v)) throw new TypeError(`not a set: ${describe(v)}`);
  return v.map(toStr);
}

/** (string → string) map field → plain object. */
export function toStrMap(v: unknown): Record<string, string> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TypeError(`not a map: ${describe(v)}`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    Object.defineProperty(out, k, { value: toStr(val), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/**
 * Marks a value to travel as <double> even when it is integral (-1.0 for a task's
 * progress, whole-number floats). Plain JS integers always go as decimal strings.
 */
export class XenDouble {
  constructor(readonly value: number) {
    if (!Number.isFinite(value)) throw new RangeError(`not a finite double: ${value}`);
  }
}

export function xenDouble(value: number): XenDouble {
  return new XenDouble(value);
}

function describe(v: unknown): string {
  if (typeof v === 'string') {
    // Scrubbed before it is cut: a cut password would no longer be recognised.
    const t = redactSecrets(v);
    return JSON.stringify(t.length > 40 ? `${t.slice(0, 40)}…` : t);
  }
  if (typeof v === 'bigint') return `${v}n`;
  return typeof v === 'object' ? (v === null ? 'null' : Array.isArray(v) ? 'array' : 'object') : String(v);
}
