/**
 * The menu reducer as a hook. The state lives in a ref (rendered through a counter) so
 * several keys arriving in one read — typeahead, a paste, a slow link — each see the
 * result of the one before, without waiting for a render.
 */
import { useCallback, useReducer, useRef } from 'react';
import type { ConsoleKey } from '../keys/decode.js';
import { INITIAL_MENU_STATE, menuActionFor, menuReducer, type MenuAction, type MenuState } from './menu-state.js';

export interface MenuControl extends MenuState {
  /** The state as of now (after keys not rendered yet); use it in key handlers. */
  current(): MenuState;
  /** Moves the highlight for navigation keys; true when the key was one of them. */
  handleKey(key: ConsoleKey): boolean;
  dispatch(action: MenuAction): void;
}

export function useMenu(titles: readonly string[], rows: number): MenuControl {
  const state = useRef<MenuState>(INITIAL_MENU_STATE);
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  const latest = useRef({ titles, rows });
  latest.current = { titles, rows };

  const current = useCallback(() => menuReducer(state.current, { type: 'clamp' }, latest.current.titles, latest.current.rows), []);

  const dispatch = useCallback((action: MenuAction) => {
    const next = menuReducer(current(), action, latest.current.titles, latest.current.rows);
    if (next.index !== state.current.index || next.offset !== state.current.offset) {
      state.current = next;
      rerender();
    }
  }, [current]);

  const handleKey = useCallback(
    (key: ConsoleKey) => {
      const action = menuActionFor(key);
      if (!action) return false;
      dispatch(action);
      return true;
    },
    [dispatch],
  );

  return { ...current(), current, handleKey, dispatch };
}
