/**
 * A fast path for measuring terminal text, put in front of string-width by the bundle
 * (scripts/bundle.mjs). Ink measures every line it draws; string-width sends any line with a
 * character beyond ASCII — every line of a box, with its border — through Intl.Segmenter
 * and Unicode-property regexps, which cost about 60 ms before the console's first frame.
 *
 * For text made only of the characters below (after SGR colour codes are removed), each
 * character is one grapheme one column wide, so the width is the length; anything else
 * returns undefined and goes to string-width. test/unit/console-text-width.test.ts checks
 * every character of the set against both string-width versions in the bundle.
 */

/** Printable ASCII; Latin-1 but ©, ® (wide to one version) and the soft hyphen (zero);
 * dashes, quotes and …; ← ↑ → ↓; mathematical operators; box drawing and block elements. */
export const NARROW_CHARACTERS =
  '\\u0020-\\u007E\\u00A0-\\u00A8\\u00AA-\\u00AC\\u00AF-\\u00FF\\u2010-\\u2027\\u2190-\\u2193\\u2200-\\u22FF\\u2500-\\u259F';

const ONLY_NARROW = new RegExp(`^[${NARROW_CHARACTERS}]*$`);
/** SGR sequences (colours, bold…), which Ink and chalk write and string-width strips. */
const SGR = /\u001B\[[0-9;]*m/g;

export interface WidthOptions {
  ambiguousIsNarrow?: boolean;
  countAnsiEscapeCodes?: boolean;
}

/** The width of `text` when the fast path knows it, else undefined. */
export function narrowWidth(text: unknown, options?: WidthOptions): number | undefined {
  if (typeof text !== 'string') return undefined;
  // Ambiguous-width characters (box drawing among them) are wide when asked.
  if (options?.ambiguousIsNarrow === false) return undefined;
  let visible = text;
  if (text.includes('\u001B')) {
    if (options?.countAnsiEscapeCodes === true) return undefined;
    visible = text.replace(SGR, '');
  }
  return ONLY_NARROW.test(visible) ? visible.length : undefined;
}
