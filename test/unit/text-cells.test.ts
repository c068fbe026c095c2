/**
 * The console's layout helpers measure terminal cells (as Ink does), not UTF-16 units or
 * code points: wide (CJK, emoji) and combining text keeps columns aligned, a cut never
 * splits a grapheme, an escape standing for an unsafe character, or a uuid. And the line
 * glyphs follow the locale's character set as the C library picks it.
 */
import { describe, expect, it } from 'vitest';
import stringWidth from 'string-width';
import { cell, cutText, dropLastGrapheme, fitText, rcell, shorten, textWidth, wrapText } from '../../components/text.js';
import { bottomBorder, statusLineText, titledTopBorder } from '../../components/Frame.js';
import { ASCII_GLYPHS, COLOUR_THEME, MONO_THEME, UNICODE_GLYPHS, ctypeLocale, localeIsUtf8, themeFromEnv } from '../../components/theme.js';
import { neutralise } from '../../src/safe-text.js';

const CJK = '日本語のストレージ';
const COMBINING = 'Cafe\u0301 re\u0301sume\u0301'; // "Café résumé", decomposed: 11 cells
const FAMILY = '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}'; // one grapheme, two cells
const FLAG = '\u{1F1EF}\u{1F1F5}'; // regional indicators JP: one grapheme
const UUID = 'b0c1d2e3-1111-4222-8333-444455556666';
const graphemes = (s: string) => [...new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(s)].map((g) => g.segment);

describe('cells, not characters', () => {
  it('measures as Ink does', () => {
    expect(textWidth(CJK)).toBe(18);
    expect(textWidth(COMBINING)).toBe(11);
    expect(COMBINING.length).toBe(14);
    expect(textWidth(FAMILY)).toBe(2);
    expect(textWidth('\u001b[1mbold\u001b[22m')).toBe(4);
    // Added up grapheme by grapheme (and remembered), as string-width does for the whole.
    const more = ['\u1100\u1161\u11a8한글', '1\u20e3#\u20e3', '\u2764\ufe0f', '\u{1F44D}\u{1F3FD}', 'ｶﾀｶﾅ', 'ﾃﾞ', 'a\u0308\u0301', '\u0e01\u0e33', `${CJK}${FAMILY}${FLAG}${COMBINING}`];
    for (const s of [CJK, COMBINING, FAMILY, FLAG, 'plain', ...more]) {
      expect(textWidth(s), s).toBe(stringWidth(s));
      expect(textWidth(s), s).toBe(stringWidth(s)); // again, from memory
    }
  });

  it('pads and cuts cells to their exact width, whole graphemes only, "~" when cut', () => {
    for (const s of [CJK, COMBINING, FAMILY.repeat(9), FLAG.repeat(9), `${CJK}${FAMILY}${COMBINING}`]) {
      for (let w = 1; w <= 24; w++) {
        const c = cell(s, w);
        expect(textWidth(c), `${s} @${w}`).toBe(w);
        expect(textWidth(rcell(s, w)), `${s} @${w}`).toBe(w);
        expect(textWidth(fitText(s, w))).toBe(w);
        // What is kept is a run of the original graphemes.
        const kept = graphemes(cutText(s, w));
        expect(kept).toEqual(graphemes(s).slice(0, kept.length));
        if (textWidth(s) > w) expect(c.trimEnd().endsWith('~') || w === 1).toBe(true);
      }
    }
    // An odd width before a wide character: the cell ends with a space, not half a glyph.
    expect(cell(CJK, 6)).toBe('日本~ ');
    expect(cell(COMBINING, 6)).toBe('Cafe\u0301 ~');
    expect(cell('short', 8)).toBe('short   ');
    expect(rcell('12 GiB', 8)).toBe('  12 GiB');
  });

  it('never cuts through an escape or a uuid', () => {
    const escaped = neutralise('ab\u001b[2J');
    expect(escaped).toBe('ab\\u001b[2J');
    expect(cutText(escaped, 5)).toBe('ab');
    expect(cutText(escaped, 8)).toBe('ab\\u001b');
    expect(cutText(`VM ${UUID} ok`, 20)).toBe('VM ');
    expect(cutText(`VM ${UUID} ok`, 40)).toBe(`VM ${UUID} `);
    expect(shorten(`disk ${UUID}`, 30, '~')).toBe('disk ~');
  });

  it('Backspace takes a whole grapheme, and only one', () => {
    expect(dropLastGrapheme(`a${FAMILY}`)).toBe('a');
    expect(dropLastGrapheme('Cafe\u0301')).toBe('Caf');
    expect(dropLastGrapheme(`x${FLAG}`)).toBe('x');
    expect(dropLastGrapheme('a\\u0041')).toBe('a\\u004'); // typed text: a backslash is a character like any other
    expect(dropLastGrapheme('ab')).toBe('a');
    expect(dropLastGrapheme('')).toBe('');
  });

  it('wraps to cells: CJK without spaces is cut between graphemes, a uuid moves whole to the next line', () => {
    const rows = wrapText(`${CJK.repeat(3)} ${FAMILY.repeat(20)} ${COMBINING}`, 20);
    for (const row of rows) expect(textWidth(row), row).toBeLessThanOrEqual(20);
    expect(graphemes(rows.join('').replace(/ /g, ''))).toEqual(graphemes(`${CJK.repeat(3)}${FAMILY.repeat(20)}${COMBINING}`.replace(/ /g, '')));
    expect(wrapText(`The backup VDI "${UUID}" is attached`, 40)).toEqual(['The backup VDI', `"${UUID}"`, 'is attached']);
    expect(wrapText(`x:"${UUID}"`, 38)).toEqual(['x:"', `${UUID}"`]);
    // Narrower than a uuid: cut anyway, the wrap moves on.
    expect(wrapText(UUID, 20).join('')).toBe(UUID);
    // A wide character on a one-cell line still gets a row of its own.
    expect(wrapText('日本', 1)).toEqual(['日', '本']);
  });

  it('lays the status line and the borders out in cells', () => {
    const line = statusLineText(`xsconsole-dr ${CJK}`, '12:34', `Pool ${CJK.repeat(3)}  root@${FAMILY}`, 80);
    expect(textWidth(line)).toBe(80);
    expect(line.endsWith(FAMILY)).toBe(false); // cut at its cell budget…
    expect(graphemes(line).every((g) => textWidth(g) <= 2)).toBe(true); // …between graphemes
    const top = titledTopBorder(CJK.repeat(5), 40);
    expect(textWidth(top)).toBe(40);
    expect(top.endsWith('─┐')).toBe(true);
    expect(textWidth(titledTopBorder(`Restore ${COMBINING}`, 30))).toBe(30);
  });
});

describe('line glyphs follow the locale', () => {
  it('takes LC_ALL, then LC_CTYPE, then LANG; empty counts as unset', () => {
    expect(ctypeLocale({ LC_ALL: 'C', LC_CTYPE: 'en_US.UTF-8', LANG: 'en_US.UTF-8' })).toBe('C');
    expect(ctypeLocale({ LC_ALL: '', LC_CTYPE: 'de_DE.UTF-8', LANG: 'C' })).toBe('de_DE.UTF-8');
    expect(ctypeLocale({ LANG: 'fr_FR.utf8' })).toBe('fr_FR.utf8');
    expect(ctypeLocale({})).toBe('');
  });

  it('is UTF-8 only when the codeset says so', () => {
    for (const l of ['en_US.UTF-8', 'C.UTF-8', 'C.utf8', 'de_DE.utf-8@euro', 'ja_JP.UTF8']) expect(localeIsUtf8({ LANG: l }), l).toBe(true);
    for (const l of ['', 'C', 'POSIX', 'en_US', 'en_US.ISO-8859-1', 'ja_JP.eucJP', 'en_US@utf8']) expect(localeIsUtf8({ LANG: l }), l).toBe(false);
    expect(localeIsUtf8({ LC_ALL: 'C', LANG: 'en_US.UTF-8' })).toBe(false);
    expect(localeIsUtf8({ LC_CTYPE: 'en_US.UTF-8', LANG: 'C' })).toBe(true);
  });

  it('gives the start-up theme ASCII boxes and arrows outside UTF-8, whatever the palette', () => {
    expect(themeFromEnv({}).glyphs).toBe(ASCII_GLYPHS);
    expect(themeFromEnv({ LANG: 'C', NO_COLOR: '1' })).toEqual({ ...MONO_THEME, glyphs: ASCII_GLYPHS });
    expect(themeFromEnv({ LANG: 'en_GB.UTF-8' })).toEqual({ ...COLOUR_THEME, glyphs: UNICODE_GLYPHS });
    for (const g of Object.values(ASCII_GLYPHS)) expect(g).toMatch(/^[\x20-\x7e]$/);
    expect(titledTopBorder('Menu', 12, ASCII_GLYPHS)).toBe('+- Menu ---+');
    expect(bottomBorder(6, ASCII_GLYPHS)).toBe('+----+');
    expect(bottomBorder(6)).toBe('└────┘');
  });
});
