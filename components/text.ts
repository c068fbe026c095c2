/**
 * Text layout for fixed-width panes (pure): every pad, cut and wrap of a row the console
 * draws goes through here, measured in terminal cells as Ink measures them (string-width,
 * with the fast path of src/console-text-width.ts in front): a CJK character or an emoji
 * takes two cells, a combining mark none. A cut never splits a grapheme (a letter with its
 * accents, an emoji sequence), the `\uXXXX` escape that stands for an unsafe character
 * (safe-text.ts), or a uuid: a uuid is shown whole, or moved to a line of its own when
 * wrapping, or left out when a one-line cell has no room for it.
 */
import stringWidth from 'string-width';
import { narrowWidth } from '../src/console-text-width.js';
import { guardLines } from '../src/safe-text.js';

/** Cells `text` takes on a terminal (SGR colour codes excluded). */
export function textWidth(text: string): number {
  const narrow = narrowWidth(text);
  if (narrow !== undefined) return narrow;
  if (text.includes('\u001b')) return stringWidth(text);
  // string-width adds up its graphemes' widths; the graphemes are remembered (below).
  let width = 0;
  for (const u of units(text)) width += u.width;
  return width;
}

/**
 * Measuring wide text is slow (string-width runs Unicode-property regexps per grapheme,
 * about 20 µs each, and segmenting costs about 3 µs a character), and a screen draws the
 * same rows at every key: the widths of graphemes, and the units of texts, are remembered,
 * each up to this many entries (then forgotten all at once).
 */
const MEMO_LIMIT = 4096;
const graphemeWidths = new Map<string, number>();
const textUnits = new Map<string, readonly Unit[]>();

function remember<V>(memo: Map<string, V>, key: string, value: V): V {
  if (memo.size >= MEMO_LIMIT) memo.clear();
  memo.set(key, value);
  return value;
}

function graphemeWidth(g: string): number {
  return narrowWidth(g) ?? graphemeWidths.get(g) ?? remember(graphemeWidths, g, stringWidth(g));
}

/** Built on first need: building one costs 10-20 ms, and ASCII rows never need it. */
let graphemeSegmenter: Intl.Segmenter | undefined;
function segmenter(): Intl.Segmenter {
  graphemeSegmenter ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  return graphemeSegmenter;
}
/** How safe-text.ts shows a backslash or an unsafe character: one unit, never cut. */
const ESCAPE = /\\\\|\\u[0-9a-fA-F]{4}/g;
const UUID = /[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/g;

/** One unit a cut may fall after: a grapheme, or a whole escape. */
interface Unit {
  text: string;
  width: number;
  /** Offset in `text` (UTF-16 units) where the unit ends. */
  end: number;
}

function units(text: string): readonly Unit[] {
  const out: Unit[] = [];
  // Plain ASCII (most names, every uuid): a unit per character, one cell each.
  if (narrowWidth(text) === text.length && !text.includes('\\')) {
    for (let i = 0; i < text.length; i++) out.push({ text: text[i]!, width: 1, end: i + 1 });
    return out;
  }
  const known = textUnits.get(text);
  if (known) return known;
  let at = 0;
  const graphemes = (upTo: number) => {
    for (const { segment } of segmenter().segment(text.slice(at, upTo))) {
      at += segment.length;
      out.push({ text: segment, width: graphemeWidth(segment), end: at });
    }
  };
  for (const m of text.matchAll(ESCAPE)) {
    graphemes(m.index);
    at += m[0].length;
    out.push({ text: m[0], width: m[0].length, end: at });
  }
  graphemes(text.length);
  return remember(textUnits, text, out);
}

/** `text` without its last grapheme: what Backspace leaves in a field (never half an emoji). */
export function dropLastGrapheme(text: string): string {
  if (narrowWidth(text) === text.length) return text.slice(0, -1);
  let last = 0;
  for (const { index } of segmenter().segment(text)) last = index;
  return text.slice(0, last);
}

/** Where the uuids in `text` are: [start, end) offsets. */
function uuidSpans(text: string): Array<[number, number]> {
  return [...text.matchAll(UUID)].map((m) => [m.index, m.index + m[0].length]);
}

/**
 * The longest start of `text` at most `width` cells wide that ends between two units and
 * outside any uuid; '' when not even the first unit (or a uuid it starts with) fits.
 */
export function cutText(text: string, width: number): string {
  if (width <= 0) return '';
  const narrow = narrowWidth(text);
  if (narrow !== undefined && narrow <= width) return text;
  const all = units(text);
  let end = 0;
  let used = 0;
  for (const u of all) {
    if (used + u.width > width) break;
    used += u.width;
    end = u.end;
  }
  for (const [start, stop] of uuidSpans(text)) if (start < end && end < stop) end = start;
  return text.slice(0, end);
}

/** `text` followed by spaces up to `width` cells (never cut). */
export function padText(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - textWidth(text)));
}

/** Spaces then `text`, `width` cells (never cut). */
export function padTextStart(text: string, width: number): string {
  return ' '.repeat(Math.max(0, width - textWidth(text))) + text;
}

/**
 * `text` when it fits in `width` cells; else cut (as cutText) and ended with `marker`, so
 * the reader sees something is missing.
 */
export function shorten(text: string, width: number, marker = ''): string {
  if (width <= 0) return '';
  if (textWidth(text) <= width) return text;
  const m = textWidth(marker) < width ? marker : '';
  return cutText(text, width - textWidth(m)) + m;
}

/** Exactly `width` cells: `text` shortened (as `shorten`), then padded. */
export function fitText(text: string, width: number, marker = ''): string {
  return width <= 0 ? '' : padText(shorten(text, width, marker), width);
}

/** Left-aligned cell, `width` cells; a longer text is cut and ends with "~". */
export function cell(s: string, width: number): string {
  return fitText(s, width, '~');
}

/** Right-aligned cell, `width` cells; a longer text is cut. */
export function rcell(s: string, width: number): string {
  return textWidth(s) > width ? fitText(s, width) : padTextStart(s, width);
}

/**
 * The start of a word too long for a line of `room` cells: as cutText, so a uuid goes
 * whole to the next line; only when nothing fits (a uuid or a wide character wider than
 * the whole line) are units taken one by one, so the wrap always moves on.
 */
function firstPiece(word: string, room: number): string {
  const piece = cutText(word, room);
  if (piece !== '') return piece;
  let end = 0;
  let used = 0;
  for (const u of units(word)) {
    if (end > 0 && used + u.width > room) break;
    used += u.width;
    end = u.end;
  }
  return word.slice(0, end);
}

/**
 * Word-wraps `text` (paragraphs split on "\n") to `width` cells; a word longer than a line
 * is cut between graphemes, a uuid in it moved whole to the next line. Any unsafe character
 * left in the text is escaped first (so widths are those drawn); the line breaks are the
 * program's, names having been neutralised where they entered the text.
 */
export function wrapText(text: string, width: number): string[] {
  const w = Math.max(1, width);
  const out: string[] = [];
  for (const paragraph of guardLines(text).split('\n')) {
    if (paragraph.trim() === '') {
      out.push('');
      continue;
    }
    const indent = /^\s*/.exec(paragraph)![0].slice(0, Math.max(0, w - 1));
    const indentWidth = textWidth(indent);
    let line = indent;
    let used = indentWidth;
    for (const word of paragraph.trim().split(/\s+/)) {
      let rest = word;
      let restWidth = textWidth(rest);
      while (rest.length > 0) {
        const empty = used === indentWidth;
        const sep = empty ? 0 : 1;
        if (used + sep + restWidth <= w) {
          line += (empty ? '' : ' ') + rest;
          used += sep + restWidth;
          rest = '';
        } else if (!empty) {
          out.push(line);
          line = indent;
          used = indentWidth;
        } else {
          const piece = firstPiece(rest, w - indentWidth);
          out.push(line + piece);
          rest = rest.slice(piece.length);
          restWidth = textWidth(rest);
        }
      }
    }
    if (used > indentWidth) out.push(line);
  }
  return out;
}

/** "[#######.............]" `width` wide, including the brackets. */
export function progressBar(done: number, total: number, width: number): string {
  const inner = Math.max(1, width - 2);
  const ratio = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const full = Math.round(ratio * inner);
  return `[${'#'.repeat(full)}${'.'.repeat(inner - full)}]`;
}
