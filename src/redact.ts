/**
 * The secrets this process holds, and the one function that removes them from text.
 *
 * A host learns the password at login and may send it back anywhere: in a fault, in an HTTP
 * error page, in an object's name. Every error made from what a host sent, every file written
 * from such text and every output sink passes through `redactSecrets`, so the password never
 * leaves the program again.
 *
 * The rule for short passwords: a secret of SHORT_SECRET_LENGTH characters or more is removed
 * wherever it occurs; a shorter one only where it stands alone, i.e. not inside a longer run of
 * letters and digits. A 4-character password removed from inside every word would make
 * ordinary text unreadable ("demonstration" for "demo") while telling nothing about the
 * password; where it stands alone ("wrong password demo", "pw=demo;") it is removed. A text
 * that is exactly the secret is always removed, whatever its length. The empty password (the
 * local XAPI socket) is no secret.
 *
 * The forms a host could echo are all covered: as typed, XML/HTML-escaped, percent-encoded and
 * JSON-escaped, and as safe-text.ts shows a name holding it (a backslash or a control escaped).
 *
 * So is a long one cut short: text is cut to a length in many places (a decoder's "got '…'"
 * message, an error page's first line), and a cut password must not show its first half. Of a
 * secret of SHORT_SECRET_LENGTH or more characters, a start of at least half of it (and at
 * least SHORT_SECRET_LENGTH characters) is removed where the text is cut: at its end, or before
 * "…" or a closing quote. Pieces elsewhere are left: a password holding a word ("wrong-password")
 * must not take that word out of every text.
 */

import { neutralise } from './safe-text.js';

export const REDACTED = '[redacted]';
/** From this length on a secret is removed wherever it occurs (see the header). */
export const SHORT_SECRET_LENGTH = 8;
/** Longer secrets are recognised whole only (the cut starts of one would make a huge pattern). */
const CUT_MAX_LENGTH = 1024;

const secrets = new Map<string, RegExp>();
/** Values documented as public (the embedded demo pool's password): never treated as secrets. */
const publicValues = new Set<string>();

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

function xmlEscaped(s: string): string[] {
  const base = s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return [base, base.replace(/"/g, '&quot;').replace(/'/g, '&#39;'), base.replace(/"/g, '&quot;').replace(/'/g, '&apos;')];
}

/** Percent-encoding of everything but RFC 3986's unreserved characters (what strict encoders send). */
function strictPercent(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The secret as typed and as a host could echo it in XML, HTML, a URL or JSON. */
function encodings(secret: string): string[] {
  const upper = [encodeURIComponent(secret), strictPercent(secret)];
  const pct = [...upper, ...upper.map((p) => p.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()))];
  const forms = new Set<string>([secret, ...xmlEscaped(secret), ...pct, ...pct.map((p) => p.replace(/%20/g, '+'))]);
  forms.add(JSON.stringify(secret).slice(1, -1));
  forms.add(neutralise(secret));
  // Longest first, so that an encoded form is removed whole rather than in part.
  return [...forms].filter((f) => f !== '').sort((a, b) => b.length - a.length);
}

/** The starts of a long secret that give half of it away, longest first (see the header). */
function cutStarts(secret: string): string[] {
  const chars = [...secret];
  const n = chars.length;
  if (n > CUT_MAX_LENGTH) return [];
  const out: string[] = [];
  for (let k = n - 1; k >= Math.max(SHORT_SECRET_LENGTH, Math.ceil(n / 2)); k--) out.push(chars.slice(0, k).join(''));
  return out;
}

function matcherFor(secret: string): RegExp {
  if ([...secret].length >= SHORT_SECRET_LENGTH) {
    const whole = encodings(secret).map(escapeRegExp).join('|');
    const starts = cutStarts(secret).map(escapeRegExp).join('|');
    const cut = starts ? `|(?:${starts})(?=…|['"]|$)` : '';
    return new RegExp(`(?:${whole})${cut}`, 'gu');
  }
  const any = encodings(secret).map(escapeRegExp).join('|');
  return new RegExp(`(?<![\\p{L}\\p{N}])(?:${any})(?![\\p{L}\\p{N}])`, 'gu');
}

/** Remembers `secret` (the password this program logs in with) until the process ends. */
export function registerSecret(secret: string): void {
  if (secret === '' || publicValues.has(secret) || secrets.has(secret)) return;
  secrets.set(secret, matcherFor(secret));
}

/**
 * Declares a value public (the embedded simulator's documented password): it is never
 * registered as a secret, and forgotten if it was.
 */
export function declarePublic(value: string): void {
  publicValues.add(value);
  secrets.delete(value);
}

/** Whether `text` holds a registered secret in any of its forms. */
export function containsSecret(text: string): boolean {
  for (const [secret, re] of secrets) {
    if (text === secret) return true;
    re.lastIndex = 0;
    if (re.test(text)) return true;
  }
  return false;
}

/** `text` with every registered secret replaced by REDACTED (see the rule in the header). */
export function redactSecrets(text: string): string {
  if (secrets.size === 0 || text === '') return text;
  let out = text;
  for (const [secret, re] of secrets) {
    if (out === secret) return REDACTED;
    re.lastIndex = 0;
    out = out.replace(re, REDACTED);
  }
  return out;
}

/**
 * A copy of a JSON-like value with every string (keys included) redacted: for files and
 * JSON output, where the text itself must stay valid JSON.
 */
export function redactDeep<T>(value: T): T {
  if (secrets.size === 0) return value;
  return walk(value, 0) as T;
}

const MAX_DEPTH = 64;

function walk(v: unknown, depth: number): unknown {
  if (typeof v === 'string') return redactSecrets(v);
  if (v === null || typeof v !== 'object' || depth > MAX_DEPTH) return v;
  if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
  if (Buffer.isBuffer(v) || v instanceof Date) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    Object.defineProperty(out, redactSecrets(k), { value: walk(x, depth + 1), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Test seam: forget every secret and public value (each test file starts clean anyway). */
export function resetSecretsForTests(): void {
  secrets.clear();
  publicValues.clear();
}
