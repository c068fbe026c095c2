/**
 * Screens reach the domain only through this context, so tests can hand them services
 * bound to an in-process simulator and screens never speak XML-RPC themselves.
 * The interfaces live in src/app/ (no Ink there); this file is the
 * React side: the provider and the hook.
 */
import React, { createContext, useContext } from 'react';

export { failureLines } from '../src/app/index.js';
export type {
  ConsoleServices,
  ConsoleSession,
  SrChoice,
  SrFilter,
  BackupRunOptions,
  FailureText,
  BackupVdiChoice,
  BackupVdiSearch,
  BackupVdiRef,
  BackupListing,
  RestoreSession,
  RestoreChoice,
  SrLabel,
  ConsoleSchedule,
} from '../src/app/index.js';
import type { ConsoleServices } from '../src/app/index.js';

const Ctx = createContext<ConsoleServices | null>(null);

export function ServicesProvider({ services, children }: { services: ConsoleServices; children: React.ReactNode }) {
  return <Ctx.Provider value={services}>{children}</Ctx.Provider>;
}

export function useServices(): ConsoleServices {
  const s = useContext(Ctx);
  if (!s) throw new Error('useServices() outside <ServicesProvider>');
  return s;
}
