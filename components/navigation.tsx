/**
 * The screen stack, as xsconsole's dialogue stack: push, pop, replace. Every screen stays
 * mounted (so a menu keeps its highlighted row while a dialogue is on top) but only the
 * top one is shown and gets keys. Keys reach screens through one router: the shell reads
 * the keyboard once, handles the global keys, then offers the key to the top screen;
 * a key the screen leaves unhandled gets the default (Esc/Left pops).
 */
import React, { createContext, useContext, useLayoutEffect, useRef } from 'react';
import type { ConsoleKey } from './keys/decode.js';

export interface ScreenEntry {
  id: number;
  element: React.ReactElement;
}

export type StackAction =
  | { type: 'push'; entry: ScreenEntry }
  /** Removes the top screen (never the root). */
  | { type: 'pop' }
  /** Removes screen `id` and every screen above it (never the root). */
  | { type: 'close'; id: number }
  /** Puts `entry` where screen `id` was, dropping the screens above it. */
  | { type: 'replace'; id: number; entry: ScreenEntry }
  | { type: 'popToRoot' };

/** Pure: the stack after an action. A screen that is gone makes close/replace no-ops. */
export function stackReducer(stack: readonly ScreenEntry[], action: StackAction): ScreenEntry[] {
  switch (action.type) {
    case 'push':
      return [...stack, action.entry];
    case 'pop':
      return stack.length > 1 ? stack.slice(0, -1) : [...stack];
    case 'close': {
      const at = stack.findIndex((s) => s.id === action.id);
      return at > 0 ? stack.slice(0, at) : [...stack];
    }
    case 'replace': {
      const at = stack.findIndex((s) => s.id === action.id);
      return at >= 0 ? [...stack.slice(0, at), action.entry] : [...stack];
    }
    case 'popToRoot':
      return stack.slice(0, 1);
  }
}

export interface Navigator {
  push(element: React.ReactElement): number;
  pop(): void;
  close(id: number): void;
  replace(id: number, element: React.ReactElement): number;
  popToRoot(): void;
}

/** Returns true when the key was handled; false lets the default (Esc/Left = back) run. */
export type ScreenKeyHandler = (key: ConsoleKey) => boolean;

export interface KeyRouter {
  register(screenId: number, handler: { current: ScreenKeyHandler }): () => void;
}

/**
 * The shell's side of the router: handlers by screen id, and which screens have mounted.
 * A key for a screen that is pushed but not mounted yet waits (typeahead), so "\r\r"
 * typed quickly opens a menu and then its first item, as in xsconsole.
 */
export interface ShellKeyRouter extends KeyRouter {
  dispatch(screenId: number, key: ConsoleKey): boolean;
  isMounted(screenId: number): boolean;
  /** Called by the screen host once the screen (and its key handlers) are in place. */
  mount(screenId: number): () => void;
  /** Runs after every mount (the shell delivers keys that waited). */
  onMount(listener: () => void): void;
}

export function createKeyRouter(): ShellKeyRouter {
  const handlers = new Map<number, Array<{ current: ScreenKeyHandler }>>();
  const mounted = new Set<number>();
  let listener: () => void = () => undefined;
  return {
    register(screenId, handler) {
      handlers.set(screenId, [...(handlers.get(screenId) ?? []), handler]);
      return () => {
        const left = (handlers.get(screenId) ?? []).filter((h) => h !== handler);
        if (left.length) handlers.set(screenId, left);
        else handlers.delete(screenId);
      };
    },
    dispatch(screenId, key) {
      for (const h of handlers.get(screenId) ?? []) if (h.current(key)) return true;
      return false;
    },
    isMounted: (id) => mounted.has(id),
    mount(screenId) {
      mounted.add(screenId);
      listener();
      return () => {
        mounted.delete(screenId);
      };
    },
    onMount(l) {
      listener = l;
    },
  };
}

const NavigatorContext = createContext<Navigator | null>(null);
const RouterContext = createContext<KeyRouter | null>(null);

export interface ScreenInfo {
  id: number;
  isTop: boolean;
}
const ScreenContext = createContext<ScreenInfo>({ id: 0, isTop: true });

export function NavigationProvider({ navigator, router, children }: { navigator: Navigator; router: KeyRouter; children: React.ReactNode }) {
  return (
    <NavigatorContext.Provider value={navigator}>
      <RouterContext.Provider value={router}>{children}</RouterContext.Provider>
    </NavigatorContext.Provider>
  );
}

/**
 * Hosts one screen of the stack. Its layout effect runs after the screen's own (children
 * first), so when it reports the mount, the screen's key handlers are registered.
 */
export function ScreenHost({ info, router, children }: { info: ScreenInfo; router: ShellKeyRouter; children: React.ReactNode }) {
  const { id } = info;
  useLayoutEffect(() => router.mount(id), [router, id]);
  return <ScreenContext.Provider value={info}>{children}</ScreenContext.Provider>;
}

export function useNavigator(): Navigator {
  const nav = useContext(NavigatorContext);
  if (!nav) throw new Error('useNavigator() outside the console shell');
  return nav;
}

/** This screen's place in the stack, and operations relative to it. */
export function useScreen() {
  const info = useContext(ScreenContext);
  const nav = useNavigator();
  return {
    id: info.id,
    isTop: info.isTop,
    /** Removes this screen (and anything above it). */
    close: () => nav.close(info.id),
    /** Puts another screen in this one's place. */
    replace: (element: React.ReactElement) => nav.replace(info.id, element),
    push: (element: React.ReactElement) => nav.push(element),
  };
}

/** Keys for this screen while it is on top. */
export function useScreenKeys(handler: ScreenKeyHandler): void {
  const router = useContext(RouterContext);
  const { id } = useContext(ScreenContext);
  const latest = useRef(handler);
  latest.current = handler;
  // A layout effect: registered in the same commit that draws the screen, so a key typed
  // as soon as the screen is visible already reaches it.
  useLayoutEffect(() => {
    if (!router) return undefined;
    return router.register(id, latest);
  }, [router, id]);
}

/** Esc and Left mean "back" everywhere. */
export function isBackKey(key: ConsoleKey): boolean {
  return key.name === 'escape' || key.name === 'left';
}

/** Enter and Right mean "select". */
export function isSelectKey(key: ConsoleKey): boolean {
  return key.name === 'enter' || key.name === 'right';
}
