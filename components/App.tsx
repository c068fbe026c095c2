/**
 * The console shell: status line, the screen stack, the keyboard (one reader; global keys
 * first, then the top screen), the session with its idle logout, and Ctrl-C.
 *
 * Global keys: Ctrl-C aborts running work (the screen returns to the menu once the work
 * has unwound); when nothing runs it resets the console to the root menu, its first item
 * highlighted, as stock xsconsole does (XSConsoleTerm catches KeyboardInterrupt and starts
 * over): quitting is the Quit item's. Only while the terminal is too small to show the menu
 * does Ctrl-C quit. Ctrl-L redraws the whole screen.
 */
import React, { useCallback, useEffect, useMemo, useReducer, useRef, useState } from 'react';
import { Box, useApp, useStdout } from 'ink';
import { Frame, FRAME_HEIGHT, FRAME_WIDTH, statusRightWidth } from './Frame.js';
import { shorten, textWidth } from './text.js';
import { AuthProvider, type Auth, type LogoutReason } from './auth.js';
import { ShellProvider } from './console-context.js';
import { FEATURES } from './features.js';
import { InfoDialogue } from './dialogues/InfoDialogue.js';
import { LOGIN_REQUIRED, LoginDialogue } from './dialogues/LoginDialogue.js';
import { QuestionDialogue } from './dialogues/QuestionDialogue.js';
import { createFlow } from './flow.js';
import { KeptScreensProvider, type KeptScreen, type KeptScreens } from './idle-keep.js';
import { useConsoleKeys } from './keys/useConsoleKeys.js';
import type { ConsoleKey } from './keys/decode.js';
import { MenuScreen } from './menu/MenuScreen.js';
import {
  NavigationProvider,
  ScreenHost,
  createKeyRouter,
  isBackKey,
  stackReducer,
  type Navigator,
  type ScreenEntry,
  type StackAction,
} from './navigation.js';
import { FeatureRegistry, ROOT_MENU, type FeatureRegistration } from './registry.js';
import { useServices, type ConsoleSession } from './services.js';
import { useTerminalSize } from './TerminalSize.js';
import { WorkProvider, createWorkRegistry } from './work.js';
import { PRODUCT_NAME, PRODUCT_VERSION } from '../src/version.js';
import { neutralise } from '../src/safe-text.js';

/** xsconsole's default automatic logout. */
export const DEFAULT_IDLE_LOGOUT_MS = 5 * 60 * 1000;
/** Clears the terminal (and its scrollback) and homes the cursor; Ink then redraws. */
export const CLEAR_SCREEN = '\u001b[2J\u001b[3J\u001b[H';

export interface AppProps {
  /** Feature registrations (default: FEATURES). */
  features?: readonly FeatureRegistration[];
  /** Log out after this long without a key press (default 5 minutes). */
  idleLogoutMs?: number;
  /** Called instead of Ink's exit (tests). */
  onExit?: () => void;
  /** Clock for the status line (tests). */
  now?: () => Date;
}

function useClock(now: () => Date): string {
  const [t, setT] = useState(() => now());
  useEffect(() => {
    // Minute resolution: a redraw per minute, not per second, on slow links.
    let timer: NodeJS.Timeout;
    const arm = () => {
      const d = now();
      timer = setTimeout(
        () => {
          setT(now());
          arm();
        },
        60_000 - (d.getSeconds() * 1000 + d.getMilliseconds()) + 5,
      );
      timer.unref?.();
    };
    arm();
    return () => clearTimeout(timer);
  }, [now]);
  const hh = String(t.getHours()).padStart(2, '0');
  const mm = String(t.getMinutes()).padStart(2, '0');
  return `${hh}:${mm}`;
}

export function App({ features = FEATURES, idleLogoutMs = DEFAULT_IDLE_LOGOUT_MS, onExit, now = defaultNow }: AppProps) {
  const services = useServices();
  const { exit: inkExit } = useApp();
  const { write } = useStdout();
  const size = useTerminalSize();
  const clock = useClock(now);
  const registry = useMemo(() => FeatureRegistry.from(features), [features]);

  // ---- screen stack: the ref is the truth (keys read it between renders), the state draws it
  const nextId = useRef(1);
  const stackRef = useRef<ScreenEntry[]>([]);
  const [stack, setStack] = useState<ScreenEntry[]>(() => {
    stackRef.current = [{ id: 0, element: <MenuScreen menuId={ROOT_MENU} /> }];
    return stackRef.current;
  });
  const navigator = useMemo<Navigator>(() => {
    const apply = (action: StackAction) => {
      stackRef.current = stackReducer(stackRef.current, action);
      setStack(stackRef.current);
    };
    return {
      push(element) {
        const id = nextId.current++;
        apply({ type: 'push', entry: { id, element } });
        return id;
      },
      pop: () => apply({ type: 'pop' }),
      close: (id) => apply({ type: 'close', id }),
      replace(id, element) {
        const newId = nextId.current++;
        apply({ type: 'replace', id, entry: { id: newId, element } });
        return newId;
      },
      popToRoot: () => apply({ type: 'popToRoot' }),
    };
  }, []);
  const router = useMemo(() => createKeyRouter(), []);

  // ---- activity, work, session
  const lastActivity = useRef(Date.now());
  const work = useMemo(() => createWorkRegistry(() => (lastActivity.current = Date.now())), []);
  const [session, setSession] = useState<ConsoleSession | null>(null);
  const sessionRef = useRef(session);
  sessionRef.current = session;

  // Screens that asked to survive an idle logout (an open restore preflight), by screen id.
  const kept = useRef(new Map<number, KeptScreen>());
  const keptScreens = useMemo<KeptScreens>(
    () => ({
      set(id, k) {
        if (k) kept.current.set(id, k);
        else kept.current.delete(id);
      },
    }),
    [],
  );

  const exit = useCallback(() => {
    if (onExit) onExit();
    else inkExit();
  }, [onExit, inkExit]);

  const logout = useCallback(
    async (reason: LogoutReason) => {
      const s = sessionRef.current;
      if (!s) return;
      sessionRef.current = null;
      setSession(null);
      // The topmost screen asking to be kept, taken before the stack is cleared.
      const keep = reason === 'idle' ? [...stackRef.current].reverse().map((e) => kept.current.get(e.id)).find((k) => k !== undefined) : undefined;
      navigator.popToRoot();
      const idleText = `User '${neutralise(s.user)}' was logged out after ${formatMinutes(idleLogoutMs)} without a key press.`;
      if (keep) {
        navigator.push(
          <QuestionDialogue
            title="Logged Out"
            text={`${idleText}\n\n${keptText(keep)}`}
            onAnswer={(yes) => {
              if (!yes) return;
              navigator.push(
                <LoginDialogue
                  text={LOGIN_REQUIRED}
                  onSuccess={(next) => {
                    // Only for the same user: another one starts from the menu.
                    if (next.user === s.user) keep.reopen(next, navigator, createFlow(navigator));
                  }}
                />,
              );
            }}
          />,
        );
      } else {
        navigator.push(
          reason === 'idle' ? <InfoDialogue title="Logged Out" text={idleText} /> : <InfoDialogue title="Logged Out" text={`User '${neutralise(s.user)}' logged out`} />,
        );
      }
      await s.logout().catch(() => undefined);
    },
    [navigator, idleLogoutMs],
  );

  const auth = useMemo<Auth>(
    () => ({
      session,
      signedIn(s) {
        lastActivity.current = Date.now();
        sessionRef.current = s;
        setSession(s);
      },
      logout,
    }),
    [session, logout],
  );

  // Idle logout: checked when the idle time could have run out; running work counts as activity.
  useEffect(() => {
    if (!session) return undefined;
    let timer: NodeJS.Timeout;
    const check = () => {
      const idle = Date.now() - lastActivity.current;
      if (work.busy()) lastActivity.current = Date.now();
      else if (idle >= idleLogoutMs) {
        void logout('idle');
        return;
      }
      timer = setTimeout(check, Math.max(10, idleLogoutMs - (Date.now() - lastActivity.current)));
    };
    timer = setTimeout(check, idleLogoutMs);
    return () => clearTimeout(timer);
  }, [session, idleLogoutMs, logout, work]);

  // ---- keys
  const tooSmall = size.columns < FRAME_WIDTH || size.rows < FRAME_HEIGHT;
  const tooSmallRef = useRef(tooSmall);
  tooSmallRef.current = tooSmall;
  /** Keys typed for a screen that is not mounted yet (at most a line's worth). */
  const typeahead = useRef<ConsoleKey[]>([]);
  const [, redraw] = useReducer((n: number) => n + 1, 0);

  const deliver = (key: ConsoleKey): 'done' | 'wait' => {
    const current = stackRef.current;
    const top = current[current.length - 1];
    if (!top) return 'done';
    if (!router.isMounted(top.id)) return 'wait';
    if (router.dispatch(top.id, key)) return 'done';
    if (isBackKey(key) && current.length > 1) navigator.pop();
    return 'done';
  };
  const drain = () => {
    while (typeahead.current.length > 0) {
      if (deliver(typeahead.current[0]!) === 'wait') return;
      typeahead.current.shift();
    }
  };
  router.onMount(drain);

  const onKey = (key: ConsoleKey) => {
    lastActivity.current = Date.now();
    if (key.name === 'ctrl' && key.letter === 'c') {
      typeahead.current = [];
      if (work.interrupt() !== 'idle') return;
      if (tooSmallRef.current) exit();
      // A fresh root screen: every dialogue closed, the menu's highlight back on top.
      else navigator.replace(stackRef.current[0]!.id, <MenuScreen menuId={ROOT_MENU} />);
      return;
    }
    if (key.name === 'ctrl' && key.letter === 'l') {
      // Ink clears what it drew, writes this, and draws its last frame again in full;
      // the render after it brings anything that changed meanwhile.
      write(CLEAR_SCREEN);
      redraw();
      return;
    }
    if (tooSmallRef.current) return;
    if (typeahead.current.length > 0 || deliver(key) === 'wait') {
      if (typeahead.current.length < 80) typeahead.current.push(key);
      drain();
    }
  };
  useConsoleKeys(onKey);

  // The coordinator's host name and the pool's name are the pool's to choose: shown, never
  // interpreted. Both must be seen, so that a production and a DR console cannot be
  // confused: a pool name too long for the room left beside user@host is cut, marked "~".
  let right = neutralise(services.hostLabel);
  if (session) {
    const userHost = `${neutralise(session.user)}@${neutralise(session.hostname)}`;
    const room = statusRightWidth(clock) - textWidth(userHost) - 'Pool   '.length;
    right = `Pool ${shorten(neutralise(session.poolName), room, '~')}  ${userHost}`;
  }
  return (
    <ShellProvider shell={{ registry, exit }}>
      <WorkProvider registry={work}>
        <AuthProvider auth={auth}>
          <NavigationProvider navigator={navigator} router={router}>
            <KeptScreensProvider registry={keptScreens}>
              <Frame statusLeft={`${PRODUCT_NAME} ${PRODUCT_VERSION}`} statusCentre={clock} statusRight={right}>
                {stack.map((entry, i) => {
                  const isTop = i === stack.length - 1;
                  return (
                    <Box key={entry.id} display={isTop ? 'flex' : 'none'}>
                      <ScreenHost info={{ id: entry.id, isTop }} router={router}>
                        {entry.element}
                      </ScreenHost>
                    </Box>
                  );
                })}
              </Frame>
            </KeptScreensProvider>
          </NavigationProvider>
        </AuthProvider>
      </WorkProvider>
    </ShellProvider>
  );
}

function defaultNow(): Date {
  return new Date();
}

/** What the idle logout kept, and the question whether to go back to it. */
export function keptText(keep: KeptScreen): string {
  return `You had ${keep.what} open: it was kept, and the backup VDI it read was released. Log in again and go back to it?`;
}

function formatMinutes(ms: number): string {
  const minutes = ms / 60_000;
  if (minutes >= 1 && Number.isInteger(minutes)) return `${minutes} minute${minutes === 1 ? '' : 's'}`;
  return `${Math.round(ms / 1000)} seconds`;
}
