/**
 * The neutraliser (src/safe-text.ts) checked against a definition of its own here: the
 * characters the brief names as able to move the cursor, recolour, reorder text or start a
 * line, and the invisible ones it chose to escape. Every code point is tried.
 */
import { describe, expect, it } from 'vitest';
import { guardLines, inertJson, neutralise, oneLine, quote } from '../../src/safe-text.js';
import { narrowWidth } from '../../src/console-text-width.js';

/** What must never reach a terminal raw (LF only where a guard keeps the program's own). */
const FORBIDDEN: Array<[number, number]> = [
  [0x00, 0x1f], // C0, TAB, LF, CR, ESC
  [0x7f, 0x9f], // DEL, C1 (U+009B CSI, U+0085 NEL, U+009D OSC)
  [0xad, 0xad], // soft hyphen (invisible)
  [0x061c, 0x061c], // Arabic letter mark
  [0x180e, 0x180e], // Mongolian vowel separator
  [0x200b, 0x200b], // zero-width space
  [0x200e, 0x200f], // LRM, RLM
  [0x2028, 0x2029], // line / paragraph separator
  [0x202a, 0x202e], // embeddings, overrides
  [0x2060, 0x2064], // word joiner, invisible operators
  [0x2066, 0x2069], // isolates
  [0x206a, 0x206f], // deprecated format characters
  [0x3164, 0x3164], // Hangul filler
  [0xfeff, 0xfeff], // BOM / zero-width no-break space
  [0xfff9, 0xfffb], // interlinear annotation
  [0xd800, 0xdfff], // lone surrogates
  [0xe0000, 0xe007f], // tag characters (outside an emoji tag sequence)
];

function forbidden(cp: number, allowLf = false): boolean {
  if (allowLf && cp === 0x0a) return false;
  return FORBIDDEN.some(([lo, hi]) => cp >= lo && cp <= hi);
}

/** Code points (lone surrogates as themselves) of `s` that must not be there; a flag's tag sequence may. */
function rawForbidden(text: string, allowLf = false): string[] {
  const s = text.replace(/\u{1f3f4}[\u{e0020}-\u{e007e}]+\u{e007f}/gu, '');
  const out: string[] = [];
  for (let i = 0; i < s.length; i++) {
    const cp = s.codePointAt(i)!;
    if (cp > 0xffff) i++;
    if (forbidden(cp, allowLf)) out.push(`U+${cp.toString(16).padStart(4, '0')}`);
  }
  return out;
}

/** The inverse of neutralise: decodes `\\` and `\uXXXX`; throws on anything else after a backslash. */
function decode(shown: string): string {
  let out = '';
  for (let i = 0; i < shown.length; i++) {
    const c = shown[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const next = shown[i + 1];
    if (next === '\\') {
      out += '\\';
      i++;
    } else if (next === 'u' && /^[0-9a-f]{4}$/.test(shown.slice(i + 2, i + 6))) {
      out += String.fromCharCode(parseInt(shown.slice(i + 2, i + 6), 16));
      i += 5;
    } else throw new Error(`stray backslash at ${i} in ${JSON.stringify(shown)}`);
  }
  return out;
}

const HOSTILE = [
  '\r\nBackup Successful',
  '\nBackup Successful',
  '\u001b[2J\u001b[H',
  '\u009b31mred',
  '\u009d0;title\u009c',
  '\u202eevil\u202c',
  'a\u2066b\u2069c',
  'lone\rCR',
  'tab\there',
  'nul-free C0 \u0001\u0007\u0008\u000b\u000c\u001f',
  'del\u007f',
  'line\u2028sep\u2029',
  'zero\u200bwidth\ufeff',
  '\u{e0041}\u{e0042}hidden tags',
  'half \ud800 surrogate',
  'a\\u001bb',
  'back\\slash',
];

const ORDINARY = [
  'Pool Metadata Backup',
  'Crème brûlée – Übersicht (Zürich)',
  '日本語のVM 虚拟机 가상 머신',
  'Ελληνικά и кириллица',
  '👨‍👩‍👧 family ❤️ 1️⃣ 🇫🇷 🏴󠁧󠁢󠁳󠁣󠁴󠁿',
  'می‌خواهم', // Persian with a zero-width non-joiner
  'क्‍ष', // Devanagari with a zero-width joiner
  'e\u0301 combining accent',
  '葛\u{e0100} ideographic variation',
];

describe('neutralise', () => {
  it('escapes every forbidden code point, each as fixed-width \\uXXXX units', () => {
    const wrong: string[] = [];
    const check = (cp: number) => {
      const shown = neutralise(String.fromCodePoint(cp));
      const escape = cp > 0xffff ? /^\\u[0-9a-f]{4}\\u[0-9a-f]{4}$/ : /^\\u[0-9a-f]{4}$/;
      if ((forbidden(cp) && !escape.test(shown)) || rawForbidden(shown).length > 0) wrong.push(`U+${cp.toString(16)} → ${JSON.stringify(shown)}`);
    };
    for (let cp = 0; cp <= 0xffff; cp++) check(cp);
    for (let cp = 0xe0000; cp <= 0xe01ef; cp++) check(cp);
    for (const cp of [0x1bca0, 0x1d173, 0x13430, 0x1f600, 0x10ffff]) check(cp);
    expect(wrong).toEqual([]);
  });

  it('leaves ordinary Unicode (accents, CJK, emoji sequences, joiners of other scripts) as it is', () => {
    for (const s of ORDINARY) expect(neutralise(s)).toBe(s);
  });

  it('returns plain ASCII names and uuids unchanged (the same string)', () => {
    for (const s of ['vm-01 (web)', 'b0c1d2e3-1111-4222-8333-444455556666', '', '~!@#$%^&*()_+`[]{};:\'",.<>/?|']) expect(neutralise(s)).toBe(s);
  });

  it('is one-to-one: every output decodes back to exactly its input (an escape cannot pose as another name)', () => {
    for (const s of [...HOSTILE, ...ORDINARY]) expect(decode(neutralise(s))).toBe(s);
    // A name spelling an escape and a name holding the character are shown differently.
    expect(neutralise('a\\u001bb')).not.toBe(neutralise('a\u001bb'));
    expect(neutralise('\\\\')).toBe('\\\\\\\\');
    // Random strings over a mix of hostile and ordinary characters.
    const pool = [...'ab\\u0019 \n\r\t', '\u001b', '\u009b', '\u202e', '\u2028', '\u200d', '\ufe0f', '\ud83d', '\ude00', 'é', '日', '\u{e0041}', '\u{1f3f4}', '\u{e007f}'];
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let k = 0; k < 3000; k++) {
      let s = '';
      for (let i = rnd(12); i > 0; i--) s += pool[rnd(pool.length)];
      const shown = neutralise(s);
      expect(decode(shown)).toBe(s);
      expect(rawForbidden(shown)).toEqual([]);
    }
  });

  it('output is narrow ASCII where the input was: the console width fast path still measures it', () => {
    for (const s of HOSTILE.filter((h) => !/[^\u0000-\u00ff\u2028-\u202e\u2066-\u2069\u200b\ufeff\ud800-\udfff\u{e0000}-\u{e007f}]/u.test(h))) {
      const shown = neutralise(s);
      expect(narrowWidth(shown), JSON.stringify(s)).toBe(shown.length);
    }
  });

  it('turns non-strings into text', () => {
    expect(neutralise(undefined)).toBe('');
    expect(neutralise(null)).toBe('');
    expect(neutralise(42)).toBe('42');
  });
});

describe('oneLine and guardLines', () => {
  it('oneLine: no line break survives, backslashes stay', () => {
    for (const s of HOSTILE) {
      const out = oneLine(s);
      expect(rawForbidden(out)).toEqual([]);
      expect(out).not.toMatch(/[\n\r\u2028\u2029\u0085]/);
    }
    expect(oneLine('C:\\VMs')).toBe('C:\\VMs');
    expect(oneLine('x\ny')).toBe('x\\u000ay');
  });

  it('guardLines: keeps the program\'s LFs and escapes everything else', () => {
    const text = `Backup done\nSR: ${'\u001b[2J'}\u009b1m\r\nok`;
    const out = guardLines(text);
    expect(rawForbidden(out, true)).toEqual([]);
    expect(out.split('\n')).toEqual(['Backup done', 'SR: \\u001b[2J\\u009b1m\\u000d', 'ok']);
  });

  it('both are idempotent and leave neutralised text as it is', () => {
    for (const s of [...HOSTILE, ...ORDINARY]) {
      expect(oneLine(oneLine(s))).toBe(oneLine(s));
      expect(guardLines(guardLines(s))).toBe(guardLines(s));
      expect(oneLine(neutralise(s))).toBe(neutralise(s));
      expect(guardLines(neutralise(s))).toBe(neutralise(s));
    }
  });
});

describe('quote and inertJson', () => {
  it('quote gives a JSON string literal with the exact value and nothing raw', () => {
    for (const s of [...HOSTILE, ...ORDINARY, '"quoted"', '\\"']) {
      const q = quote(s);
      expect(JSON.parse(q)).toBe(s);
      expect(rawForbidden(q)).toEqual([]);
    }
  });

  it('inertJson keeps exact values but writes no C1, bidi control, DEL or separator raw', () => {
    const value = { names: HOSTILE, ordinary: ORDINARY, nested: { ['\u202ekey']: '\\\u009b' } };
    const plain = JSON.stringify(value, null, 2);
    expect(rawForbidden(plain, true).length).toBeGreaterThan(0); // what JSON.stringify alone leaves
    const json = inertJson(value);
    expect(rawForbidden(json, true)).toEqual([]);
    expect(JSON.parse(json)).toEqual(value);
    expect(inertJson(undefined)).toBe('null');
  });
});
