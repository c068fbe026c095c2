/**
 * Raw terminal input → named keys. Ink's useInput reports F5, F8 and Insert all as an
 * empty input with no flag, so the console decodes the byte sequences itself, here, in
 * one place: CSI (`ESC [ … ~`, `ESC [ A`), SS3 (`ESC O P`, application cursor keys), the
 * Linux console's `ESC [ [ A…E` for F1–F5, and the VT100 keypad function keys
 * (`ESC O t/u/v/l/w/x` = F5…F10 in terminfo's vt100+fnkeys).
 *
 * Pure functions, no React: the hook (useConsoleKeys) feeds them what Ink read.
 */

export type FunctionKeyName = 'f1' | 'f2' | 'f3' | 'f4' | 'f5' | 'f6' | 'f7' | 'f8' | 'f9' | 'f10' | 'f11' | 'f12';

export type KeyName =
  | 'up'
  | 'down'
  | 'left'
  | 'right'
  | 'home'
  | 'end'
  | 'pageUp'
  | 'pageDown'
  | 'insert'
  | 'delete'
  | 'enter'
  | 'escape'
  | 'tab'
  | 'backTab'
  | 'backspace'
  | FunctionKeyName
  /** Printable text: one character typed, or several pasted at once (`text`). */
  | 'text'
  /** Ctrl + a letter (`letter` is lower case): Ctrl-C, Ctrl-L … */
  | 'ctrl'
  | 'unknown';

export interface ConsoleKey {
  name: KeyName;
  /** For 'text': the characters. */
  text?: string;
  /** For 'ctrl': the letter, lower case. */
  letter?: string;
  shift: boolean;
  alt: boolean;
  ctrl: boolean;
  /** The raw sequence, for diagnostics (never logged for text: it may be a password). */
  sequence: string;
}

const ESC = '\u001b';

/** Final byte of `ESC [ <n> ~` → key. */
const TILDE_KEYS: Record<number, KeyName> = {
  1: 'home',
  2: 'insert',
  3: 'delete',
  4: 'end',
  5: 'pageUp',
  6: 'pageDown',
  7: 'home', // rxvt
  8: 'end', // rxvt
  11: 'f1',
  12: 'f2',
  13: 'f3',
  14: 'f4',
  15: 'f5',
  17: 'f6',
  18: 'f7',
  19: 'f8',
  20: 'f9',
  21: 'f10',
  23: 'f11',
  24: 'f12',
};

/** Final byte of `ESC [ A` / `ESC O A` (and the modified `ESC [ 1 ; 5 A` forms). */
const LETTER_KEYS: Record<string, KeyName> = {
  A: 'up',
  B: 'down',
  C: 'right',
  D: 'left',
  H: 'home',
  F: 'end',
  P: 'f1',
  Q: 'f2',
  R: 'f3',
  S: 'f4',
  Z: 'backTab',
};

/** SS3 forms only: keypad Enter and the VT100 keypad function keys (vt100+fnkeys). */
const SS3_ONLY_KEYS: Record<string, KeyName> = {
  M: 'enter',
  t: 'f5',
  u: 'f6',
  v: 'f7',
  l: 'f8',
  w: 'f9',
  x: 'f10',
};

/** Linux console: `ESC [ [ A` … `ESC [ [ E` = F1 … F5. */
const LINUX_CONSOLE_KEYS: Record<string, KeyName> = { A: 'f1', B: 'f2', C: 'f3', D: 'f4', E: 'f5' };

function key(name: KeyName, sequence: string, mods: { shift?: boolean; alt?: boolean; ctrl?: boolean } = {}, extra: Partial<ConsoleKey> = {}): ConsoleKey {
  return { name, shift: mods.shift ?? false, alt: mods.alt ?? false, ctrl: mods.ctrl ?? false, sequence, ...extra };
}

/** xterm modifier parameter: 1 + (shift 1 | alt 2 | ctrl 4). */
function modifiers(param: string | undefined): { shift: boolean; alt: boolean; ctrl: boolean } {
  const m = Math.max(0, Number.parseInt(param ?? '1', 10) - 1) || 0;
  return { shift: (m & 1) !== 0, alt: (m & 2) !== 0, ctrl: (m & 4) !== 0 };
}

function decodeEscape(seq: string, alt: boolean): ConsoleKey {
  // ESC [ [ A … E (Linux console F1–F5)
  const linux = /^\[\[([A-E])$/.exec(seq);
  if (linux) return key(LINUX_CONSOLE_KEYS[linux[1]!]!, ESC + seq, { alt });
  // CSI: ESC [ params final
  const csi = /^\[([0-9;]*)([A-Za-z~])$/.exec(seq);
  if (csi) {
    const params = csi[1]!.split(';');
    const final = csi[2]!;
    if (final === '~') {
      const name = TILDE_KEYS[Number.parseInt(params[0] ?? '', 10)];
      const mods = modifiers(params[1]);
      return key(name ?? 'unknown', ESC + seq, { ...mods, alt: alt || mods.alt });
    }
    const name = LETTER_KEYS[final];
    if (!name) return key('unknown', ESC + seq);
    const mods = modifiers(params[1]);
    if (name === 'backTab') return key('backTab', ESC + seq, { shift: true });
    return key(name, ESC + seq, { ...mods, alt: alt || mods.alt });
  }
  // SS3: ESC O [modifier] final
  const ss3 = /^O([0-9]*)([A-Za-z])$/.exec(seq);
  if (ss3) {
    const final = ss3[2]!;
    const name = SS3_ONLY_KEYS[final] ?? LETTER_KEYS[final];
    const mods = modifiers(ss3[1] || undefined);
    return key(name ?? 'unknown', ESC + seq, { ...mods, alt: alt || mods.alt });
  }
  return key('unknown', ESC + seq);
}

/** One key sequence (as split by splitKeySequences, or as Ink reports it) → a key. */
export function decodeKey(sequence: string): ConsoleKey {
  if (sequence === '') return key('unknown', sequence);
  if (sequence === '\r' || sequence === '\n' || sequence === '\r\n') return key('enter', sequence);
  if (sequence === '\t') return key('tab', sequence);
  if (sequence === '\u007f' || sequence === '\b') return key('backspace', sequence);
  if (sequence === ESC || sequence === ESC + ESC) return key('escape', sequence);
  if (sequence.startsWith(ESC)) {
    // Meta/Alt: ESC prefixed to another sequence or a character.
    if (sequence.startsWith(ESC + ESC)) return decodeEscape(sequence.slice(2), true);
    const rest = sequence.slice(1);
    if (rest.startsWith('[') || (rest.startsWith('O') && rest.length > 1)) return decodeEscape(rest, false);
    if (rest === '\u007f' || rest === '\b') return key('backspace', sequence, { alt: true });
    if (rest.length >= 1 && !/[\u0000-\u001f]/.test(rest)) return key('text', sequence, { alt: true }, { text: rest });
    return key('unknown', sequence);
  }
  const code = sequence.charCodeAt(0);
  if (sequence.length === 1 && code >= 1 && code <= 26) {
    return key('ctrl', sequence, { ctrl: true }, { letter: String.fromCharCode(code + 96) });
  }
  if (/[\u0000-\u001f]/.test(sequence)) return key('unknown', sequence);
  return key('text', sequence, {}, { text: sequence });
}

function isCsiFinal(c: number): boolean {
  return c >= 0x40 && c <= 0x7e;
}

/**
 * A chunk of input → key sequences. Ink 6 already splits escape sequences, but a fast
 * typist (or a test) can deliver "ab\r" in one event: control characters and escape
 * sequences are cut out; runs of printable text stay together (a paste).
 */
export function splitKeySequences(chunk: string): string[] {
  const out: string[] = [];
  let i = 0;
  let text = '';
  const flushText = () => {
    if (text) out.push(text);
    text = '';
  };
  while (i < chunk.length) {
    const ch = chunk[i]!;
    const code = ch.charCodeAt(0);
    if (ch === ESC) {
      flushText();
      let j = i + 1;
      if (chunk[j] === ESC) j++; // meta prefix
      const kind = chunk[j];
      if (kind === '[') {
        j++;
        if (chunk[j] === '[') {
          // Linux console F-keys: ESC [ [ letter
          j = Math.min(chunk.length, j + 2);
        } else {
          while (j < chunk.length && !isCsiFinal(chunk.charCodeAt(j))) j++;
          j = Math.min(chunk.length, j + 1);
        }
      } else if (kind === 'O' && j + 1 < chunk.length) {
        j++;
        while (j < chunk.length && /[0-9]/.test(chunk[j]!)) j++;
        j = Math.min(chunk.length, j + 1);
      } else if (kind !== undefined && j > i + 1) {
        // ESC ESC <char>: Alt + Esc-something; keep ESC ESC as one Escape.
        j = i + 2;
      } else if (kind !== undefined) {
        j = i + 2; // Alt + character
      } else {
        j = chunk.length; // lone ESC (possibly a doubled one)
      }
      out.push(chunk.slice(i, j));
      i = j;
      continue;
    }
    if (code < 0x20 || code === 0x7f) {
      flushText();
      if (ch === '\r' && chunk[i + 1] === '\n') {
        out.push('\r\n');
        i += 2;
        continue;
      }
      out.push(ch);
      i++;
      continue;
    }
    text += ch;
    i++;
  }
  flushText();
  return out;
}

/** Human names for key help and diagnostics: "F5", "Ctrl-C", "PgDn". */
export function keyLabel(k: ConsoleKey): string {
  switch (k.name) {
    case 'text':
      return k.text ?? '';
    case 'ctrl':
      return `Ctrl-${(k.letter ?? '?').toUpperCase()}`;
    case 'pageUp':
      return 'PgUp';
    case 'pageDown':
      return 'PgDn';
    default:
      return /^f\d+$/.test(k.name) ? k.name.toUpperCase() : k.name[0]!.toUpperCase() + k.name.slice(1);
  }
}
