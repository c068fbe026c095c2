/**
 * Text that came from a pool or a backup, made safe to show to the operator.
 *
 * A name (VM, SR, VDI, network, pool, host), a file name read from a backup VDI, an XAPI
 * error parameter: each is data, never terminal input. Such a string may hold ESC or CSI
 * (U+009B) sequences that clear the screen or recolour it, bidi controls that reorder what
 * follows (U+202E), CR, LF or U+2028 that start a line of its choosing ("Backup Successful"),
 * or invisible characters that make two names look the same. Those characters are *unsafe*:
 *  - every control: C0 (TAB, LF, CR, ESC, …), DEL and C1 (U+0080–U+009F);
 *  - every format character (Unicode category Cf): the bidi embeddings, overrides, isolates
 *    and marks (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C), zero-width space,
 *    word joiner, BOM, soft hyphen, interlinear annotation, tag characters, …;
 *  - the line and paragraph separators U+2028, U+2029, and lone surrogates;
 *  - the other default-ignorable code points, invisible by definition (Hangul fillers, the
 *    combining grapheme joiner, …).
 * Kept as they are: the zero-width joiner and non-joiner, the variation selectors, the
 * Mongolian free variation selectors, and tag characters inside an emoji tag sequence
 * (🏴 + tags + cancel tag, the subdivision flags). They only change how the glyphs beside
 * them are drawn — they cannot move the cursor, start a line or reorder text — and without
 * them emoji sequences (👨‍👩‍👧, ❤️, 1️⃣) and Persian or Indic names would be spelt wrong.
 * Look-alike names stay possible, as Unicode's look-alike letters allow anyway; the uuid
 * printed beside a name is what identifies the object.
 *
 * An unsafe character is shown as a JSON-style escape of fixed width, `\uXXXX` per UTF-16
 * unit (ESC is `\u001b`, U+202E `\u202e`), which is plain ASCII: the console's fast width
 * path (console-text-width.ts) measures it like any other ASCII text.
 *
 * Three strengths, for three places:
 *  - `neutralise(value)`: a value put into operator text (a name, a uuid, a file name, a
 *    parameter). It also escapes the backslash (`\\`), so the mapping is one-to-one: a name
 *    that spells "\u001b" is shown as "\\u001b", never like a name holding ESC.
 *  - `oneLine(text)`: a piece of prose that must stay on one line (an error's meaning built
 *    from host text): unsafe characters escaped, LF included; backslashes left alone.
 *  - `guardLines(text)`: finished multi-line text at a sink: as oneLine, but the program's
 *    own line breaks (LF) are kept. Names inside were neutralised when they entered the
 *    text, so no LF in it came from a host.
 * `quote(value)` and `inertJson(value)` give JSON with exact values that is inert on a
 * terminal too (JSON.stringify leaves C1, bidi controls and U+2028 raw).
 */

/** Printable ASCII without the backslash: nothing to do (most names, every uuid). */
const PLAIN = /^[\x20-\x5b\x5d-\x7e]*$/;
/** As PLAIN, with the backslash and LF: nothing for the guards to do. */
const PLAIN_TEXT = /^[\x20-\x7e\n]*$/;

const UNSAFE_CLASS = '\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}\\p{Cs}\\p{Default_Ignorable_Code_Point}';
/** An emoji tag sequence (black flag, tag characters, cancel tag): kept whole. */
const TAG_SEQUENCE = '\\u{1F3F4}[\\u{E0020}-\\u{E007E}]+\\u{E007F}';
const VALUE_TOKEN = new RegExp(`${TAG_SEQUENCE}|[${UNSAFE_CLASS}\\\\]`, 'gu');
const TEXT_TOKEN = new RegExp(`${TAG_SEQUENCE}|[${UNSAFE_CLASS}]`, 'gu');
/** Matched by the classes above but kept: joiners and selectors that shape visible glyphs. */
const SHAPING = /^[\u200c\u200d\u180b-\u180d\u180f\ufe00-\ufe0f\u{e0100}-\u{e01ef}]$/u;

function kept(match: string): boolean {
  return match.codePointAt(0) === 0x1f3f4 || SHAPING.test(match);
}

/** `\uXXXX` for every UTF-16 unit of `ch`. */
function escapeUnits(ch: string): string {
  let out = '';
  for (let i = 0; i < ch.length; i++) out += `\\u${ch.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return out;
}

function escapeToken(match: string): string {
  if (match === '\\') return '\\\\';
  return kept(match) ? match : escapeUnits(match);
}

function guardToken(match: string): string {
  return kept(match) ? match : escapeUnits(match);
}

/** Values read from a file or a host are not always the strings their types promise. */
function asText(value: unknown): string {
  return typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value);
}

/** A value from a host or a backup, ready to be put into operator text (see the file comment). */
export function neutralise(value: unknown): string {
  const s = asText(value);
  return PLAIN.test(s) ? s : s.replace(VALUE_TOKEN, escapeToken);
}

/** Prose that must stay one line: every unsafe character escaped, LF included. */
export function oneLine(text: string): string {
  const s = asText(text);
  return PLAIN_TEXT.test(s) && !s.includes('\n') ? s : s.replace(TEXT_TOKEN, guardToken);
}

/** Finished text: every unsafe character escaped except the line breaks (LF). */
export function guardLines(text: string): string {
  const s = asText(text);
  if (PLAIN_TEXT.test(s)) return s;
  return s.replace(TEXT_TOKEN, (m) => (m === '\n' ? m : guardToken(m)));
}

/** A JSON string literal of `value`, exact and inert: `JSON.parse(quote(v)) === v`. */
export function quote(value: unknown): string {
  return `"${neutralise(value).replace(/"/g, '\\"')}"`;
}

/**
 * JSON.stringify, with the unsafe characters it leaves raw (DEL, C1, bidi controls, U+2028…)
 * written as \u escapes: the same values once parsed, nothing a terminal acts on. Its only
 * raw LFs are the layout's (strings' LFs are already \n).
 */
export function inertJson(value: unknown, space: number = 2): string {
  const json = JSON.stringify(value, null, space) ?? 'null';
  return PLAIN_TEXT.test(json) ? json : json.replace(TEXT_TOKEN, (m) => (m === '\n' ? m : guardToken(m)));
}
