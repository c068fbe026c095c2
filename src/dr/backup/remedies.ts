/**
 * The remedies a full backup VDI offers (SpaceGuardError's next step), as plans a front end
 * can state truthfully before the operator confirms: retention runs only after the new
 * backup is complete, so keeping fewer still needs the guard passed (the new backup goes into
 * the space free now); the older backups beyond the number kept are removed after it.
 */
import { newestFirst } from '../layout.js';
import type { SpaceGuardFacts } from './errors.js';

export interface KeepFewerPlan {
  /** Backups kept, the new one included. */
  keep: number;
  /** The backups present now that go once the new one is complete, newest first. */
  removed: string[];
}

/** Keeping `keep` (the new one included): the newest keep-1 present stay, the rest go. */
export function keepFewerPlan(facts: SpaceGuardFacts, keep: number): KeepFewerPlan {
  return { keep, removed: newestFirst(facts.backups).slice(Math.max(0, keep - 1)) };
}

/** The choices that remove at least one backup and keep fewer than the run would have: newest-kept counts, largest first. */
export function keepFewerChoices(facts: SpaceGuardFacts): KeepFewerPlan[] {
  const out: KeepFewerPlan[] = [];
  const most = Math.min(facts.backups.length, facts.keep - 1);
  for (let keep = most; keep >= 1; keep--) out.push(keepFewerPlan(facts, keep));
  return out;
}
