/** What every screen may need from the shell besides services: the feature registry and exit. */
import React, { createContext, useContext } from 'react';
import type { FeatureRegistry } from './registry.js';

export interface ConsoleShell {
  registry: FeatureRegistry;
  /** Leaves the console (the caller logs out and stops an embedded simulator). */
  exit(): void;
}

const ShellContext = createContext<ConsoleShell | null>(null);

export function ShellProvider({ shell, children }: { shell: ConsoleShell; children: React.ReactNode }) {
  return <ShellContext.Provider value={shell}>{children}</ShellContext.Provider>;
}

export function useShell(): ConsoleShell {
  const s = useContext(ShellContext);
  if (!s) throw new Error('useShell() outside the console shell');
  return s;
}
