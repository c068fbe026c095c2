/**
 * A menu's highlighted row and scroll position as a pure reducer (testable without a
 * terminal): Up/Down wrap, PgUp/PgDn move a page, Home/End, and xsconsole's first-letter
 * jump (the next item after the highlighted one whose title starts with the letter).
 */
import type { ConsoleKey } from '../keys/decode.js';

export interface MenuState {
  index: number;
  /** First visible row. */
  offset: number;
}

export type MenuAction =
  | { type: 'up' }
  | { type: 'down' }
  | { type: 'pageUp' }
  | { type: 'pageDown' }
  | { type: 'home' }
  | { type: 'end' }
  | { type: 'letter'; letter: string }
  | { type: 'set'; index: number }
  /** Re-fit after the items or the visible rows changed. */
  | { type: 'clamp' };

export const INITIAL_MENU_STATE: MenuState = { index: 0, offset: 0 };

/** The character a title is jumped to by: its first letter or digit. */
export function jumpCharOf(title: string): string {
  const m = /[\p{L}\p{N}]/u.exec(title);
  return m ? m[0].toLowerCase() : '';
}

function fit(index: number, offset: number, count: number, rows: number): MenuState {
  if (count <= 0) return { index: 0, offset: 0 };
  const i = Math.min(Math.max(0, index), count - 1);
  const r = Math.max(1, rows);
  let o = Math.min(Math.max(0, offset), Math.max(0, count - r));
  if (i < o) o = i;
  if (i >= o + r) o = i - r + 1;
  return { index: i, offset: o };
}

export function menuReducer(state: MenuState, action: MenuAction, titles: readonly string[], rows: number): MenuState {
  const n = titles.length;
  if (n === 0) return INITIAL_MENU_STATE;
  const page = Math.max(1, rows);
  switch (action.type) {
    case 'up':
      return fit((state.index - 1 + n) % n, state.offset, n, rows);
    case 'down':
      return fit((state.index + 1) % n, state.offset, n, rows);
    case 'pageUp':
      return fit(state.index - page, state.offset - page, n, rows);
    case 'pageDown':
      return fit(state.index + page, state.offset + page, n, rows);
    case 'home':
      return fit(0, 0, n, rows);
    case 'end':
      return fit(n - 1, n, n, rows);
    case 'set':
      return fit(action.index, state.offset, n, rows);
    case 'clamp':
      return fit(state.index, state.offset, n, rows);
    case 'letter': {
      const want = action.letter.toLowerCase();
      for (let step = 1; step <= n; step++) {
        const i = (state.index + step) % n;
        if (jumpCharOf(titles[i] ?? '') === want) return fit(i, state.offset, n, rows);
      }
      return state;
    }
  }
}

/** The menu action a key means, if any. */
export function menuActionFor(key: ConsoleKey): MenuAction | null {
  switch (key.name) {
    case 'up':
      return { type: 'up' };
    case 'down':
      return { type: 'down' };
    case 'pageUp':
      return { type: 'pageUp' };
    case 'pageDown':
      return { type: 'pageDown' };
    case 'home':
      return { type: 'home' };
    case 'end':
      return { type: 'end' };
    case 'text':
      return key.text && !key.alt && /^[\p{L}\p{N}]$/u.test(key.text) ? { type: 'letter', letter: key.text } : null;
    default:
      return null;
  }
}
