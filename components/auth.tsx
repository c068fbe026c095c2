/**
 * Who is logged in. The console starts without a session; the login dialogue makes one
 * and every DR feature reuses it until Log Out, the idle logout, or the end of the program.
 */
import React, { createContext, useContext } from 'react';
import type { ConsoleSession } from './services.js';

export type LogoutReason = 'user' | 'idle';

export interface Auth {
  session: ConsoleSession | null;
  /** Called by the login dialogue on success. */
  signedIn(session: ConsoleSession): void;
  /** Ends the session (a failing session.logout is not the operator's problem). */
  logout(reason: LogoutReason): Promise<void>;
}

const AuthContext = createContext<Auth | null>(null);

export function AuthProvider({ auth, children }: { auth: Auth; children: React.ReactNode }) {
  return <AuthContext.Provider value={auth}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const a = useContext(AuthContext);
  if (!a) throw new Error('useAuth() outside the console shell');
  return a;
}
