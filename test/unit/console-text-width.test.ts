import { describe, expect, it } from 'vitest';
import stringWidth8 from 'string-width';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { NARROW_CHARACTERS, narrowWidth } from '../../src/console-text-width.js';

// The string-width versions the bundle puts the fast path in front of: Ink's (and
// cli-truncate's, widest-line's) and wrap-ansi's own.
const wrapAnsiDir = join(createRequire(import.meta.url).resolve('wrap-ansi'), '..');
const stringWidth7 = (await import(join(wrapAnsiDir, 'node_modules/string-width/index.js'))).default as typeof stringWidth8;
const versions = [stringWidth8, stringWidth7];

function codePointsOfSet(): number[] {
  const out: number[] = [];
  for (const [, a, b] of NARROW_CHARACTERS.matchAll(/\\u([0-9A-F]{4})-\\u([0-9A-F]{4})/g)) {
    for (let c = parseInt(a!, 16); c <= parseInt(b!, 16); c++) out.push(c);
  }
  return out;
}

describe('narrowWidth (the bundle\'s fast path before string-width)', () => {
  it('covers only characters both string-width versions measure as one column', () => {
    const set = codePointsOfSet();
    expect(set.length).toBeGreaterThan(600);
    for (const c of set) {
      const ch = String.fromCodePoint(c);
      for (const real of versions) expect([c.toString(16), real(ch)]).toEqual([c.toString(16), 1]);
      expect(narrowWidth(ch)).toBe(1);
    }
  });

  it('agrees with both versions on console-like lines, colour codes included', () => {
    const set = codePointsOfSet();
    let seed = 42;
    const next = () => (seed = (seed * 1103515245 + 12345) >>> 0);
    const sgr = ['\u001B[1m', '\u001B[22m', '\u001B[38;5;12m', '\u001B[39m', '\u001B[0m', '\u001B[7m'];
    for (let i = 0; i < 500; i++) {
      let line = '';
      const len = next() % 90;
      for (let j = 0; j < len; j++) line += next() % 7 === 0 ? sgr[next() % sgr.length] : String.fromCodePoint(set[next() % set.length]!);
      const fast = narrowWidth(line);
      expect(fast).toBeDefined();
      for (const real of versions) expect(fast).toBe(real(line));
    }
    expect(narrowWidth('│ Restored VMs (4):  → ≥ 2 – ok … │')).toBe(stringWidth8('│ Restored VMs (4):  → ≥ 2 – ok … │'));
  });

  it('leaves to string-width what it cannot know', () => {
    for (const text of ['名前', 'café\u0301', '😀 up', '©', 'soft\u00ADhyphen', 'tab\there', '\u001B]8;;https://x\u0007link', '\u009B1m', 'x\u200By']) {
      expect(narrowWidth(text), JSON.stringify(text)).toBeUndefined();
    }
    expect(narrowWidth('─┐', { ambiguousIsNarrow: false })).toBeUndefined();
    expect(narrowWidth('\u001B[1mbold', { countAnsiEscapeCodes: true })).toBeUndefined();
    expect(narrowWidth(42)).toBeUndefined();
    expect(narrowWidth('')).toBe(0);
  });
});
