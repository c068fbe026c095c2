/**
 * Start after restore in the console, as one pure state machine: the plan is read → the
 * operator chooses VMs and mode → F8 → the starts with live progress → the result. The
 * screen (StartVms.tsx) draws the state, turns keys into actions and runs the work a state
 * asks for; the outcome comes back as an action.
 */
import type { PlannedVm, StartEvent, StartMode, StartPlan, StartReport, Named } from '../../src/dr/start-vms.js';
import type { FailureText } from '../services.js';

export type StartState =
  | { step: 'planning' }
  | { step: 'choose'; plan: StartPlan; chosen: ReadonlySet<string>; cursor: number; mode: StartMode }
  | { step: 'running'; plan: StartPlan; uuids: string[]; mode: StartMode }
  | { step: 'result'; report: StartReport }
  | { step: 'failed'; failure: FailureText }
  | { step: 'exit' };

export type StartAction =
  | { type: 'planned'; plan: StartPlan }
  | { type: 'failed'; failure: FailureText }
  | { type: 'move'; by: number }
  | { type: 'toggle' }
  /** All chosen, or none when all were. */
  | { type: 'toggleAll' }
  | { type: 'toggleMode' }
  /** F8. */
  | { type: 'start' }
  | { type: 'finished'; report: StartReport }
  | { type: 'cancel' };

export const INITIAL_START_STATE: StartState = { step: 'planning' };

/** The VMs of the plan in the order they would start (the rows of the list). */
export function planRows(plan: StartPlan): PlannedVm[] {
  return plan.groups.flatMap((g) => g.vms);
}

export function startReducer(state: StartState, action: StartAction): StartState {
  switch (state.step) {
    case 'planning':
      if (action.type === 'planned') {
        // Every startable VM chosen at first: after a failover, all of them are wanted.
        return { step: 'choose', plan: action.plan, chosen: new Set(planRows(action.plan).map((v) => v.uuid)), cursor: 0, mode: 'start' };
      }
      if (action.type === 'failed') return { step: 'failed', failure: action.failure };
      if (action.type === 'cancel') return { step: 'exit' };
      return state;
    case 'choose': {
      const rows = planRows(state.plan);
      switch (action.type) {
        case 'move':
          return rows.length ? { ...state, cursor: Math.min(rows.length - 1, Math.max(0, state.cursor + action.by)) } : state;
        case 'toggle': {
          const vm = rows[state.cursor];
          if (!vm) return state;
          const chosen = new Set(state.chosen);
          if (chosen.has(vm.uuid)) chosen.delete(vm.uuid);
          else chosen.add(vm.uuid);
          return { ...state, chosen };
        }
        case 'toggleAll':
          return { ...state, chosen: new Set(state.chosen.size === rows.length ? [] : rows.map((v) => v.uuid)) };
        case 'toggleMode':
          return { ...state, mode: state.mode === 'start' ? 'paused' : 'start' };
        case 'start': {
          const uuids = rows.filter((v) => state.chosen.has(v.uuid)).map((v) => v.uuid);
          return uuids.length ? { step: 'running', plan: state.plan, uuids, mode: state.mode } : state;
        }
        case 'cancel':
          return { step: 'exit' };
        default:
          return state;
      }
    }
    case 'running':
      if (action.type === 'finished') return { step: 'result', report: action.report };
      if (action.type === 'failed') return { step: 'failed', failure: action.failure };
      // Only Ctrl-C stops the starts (the shell aborts the job; its report comes back).
      return state;
    case 'result':
    case 'failed':
      return action.type === 'cancel' ? { step: 'exit' } : state;
    case 'exit':
      return state;
  }
}

/** Live progress as the screen draws it. */
export interface StartProgress {
  group: { index: number; of: number; vApp: Named | null; order: number } | null;
  total: number;
  started: number;
  failed: number;
  /** The last VMs that changed, newest last. */
  recent: Array<{ vm: Named; status: string }>;
  /** Set once cancelled: the starts let finish. */
  inFlightAtCancel: Named[] | null;
}

const RECENT = 6;

export const START_PROGRESS = {
  initial: { group: null, total: 0, started: 0, failed: 0, recent: [], inFlightAtCancel: null } as StartProgress,
  reduce(p: StartProgress, e: StartEvent): StartProgress {
    switch (e.kind) {
      case 'planned':
        return { ...p, total: planRows(e.plan).length };
      case 'group':
        return { ...p, group: { index: e.index, of: e.of, vApp: e.vApp, order: e.order } };
      case 'cancelling':
        return { ...p, inFlightAtCancel: e.inFlight };
      case 'vm': {
        if (e.status === 'not-started') return p;
        const recent = [...p.recent.filter((r) => r.vm.uuid !== e.vm.uuid), { vm: e.vm, status: e.status }].slice(-RECENT);
        return {
          ...p,
          recent,
          started: p.started + (e.status === 'started' || e.status === 'paused' ? 1 : 0),
          failed: p.failed + (e.status === 'failed' ? 1 : 0),
        };
      }
    }
  },
};

/** The VMs a restore created (not its templates: nothing to start), from its per-export results. */
export function restoredVmUuids(results: ReadonlyArray<{ ok: boolean; kind: string; created: ReadonlyArray<{ uuid: string }> }>): string[] {
  return results.filter((r) => r.ok && r.kind === 'vm').flatMap((r) => r.created.map((c) => c.uuid));
}
