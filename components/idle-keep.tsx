/**
 * A screen the operator should not lose to an idle logout (the restore's preflight): it
 * registers how to show itself again, and after the logout the shell offers to log in and
 * go back to it. The screen itself goes with the session (its backup VDI is released).
 */
import React, { createContext, useContext, useLayoutEffect } from 'react';
import type { Flow } from './flow.js';
import { useScreen, type Navigator } from './navigation.js';
import type { ConsoleSession } from './services.js';

export interface KeptScreen {
  /** For the logout message: "the restore preflight of backup …". */
  what: string;
  /** Shows the screen again on a new session, as part of a new flow. */
  reopen(session: ConsoleSession, nav: Pick<Navigator, 'push'>, flow: Flow): void;
}

export interface KeptScreens {
  set(screenId: number, kept: KeptScreen | null): void;
}

const Ctx = createContext<KeptScreens | null>(null);

export function KeptScreensProvider({ registry, children }: { registry: KeptScreens; children: React.ReactNode }) {
  return <Ctx.Provider value={registry}>{children}</Ctx.Provider>;
}

/** Registers (or, with null, withdraws) what this screen keeps over an idle logout. */
export function useKeptOverIdleLogout(kept: KeptScreen | null): void {
  const registry = useContext(Ctx);
  const { id } = useScreen();
  useLayoutEffect(() => {
    if (!registry) return undefined;
    registry.set(id, kept);
    return () => registry.set(id, null);
  }, [registry, id, kept]);
}
