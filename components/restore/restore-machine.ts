/**
 * The console restore, from the backup VDI found on, as one state machine: the backups
 * (dates) → the four stock choices → the preflight (a real restore) → the run → the summary.
 * Pure: the screen (BackupDates.tsx) draws the state, turns keys into actions and runs the
 * work a state asks for (listing, checking, running); the outcome comes back as an action.
 * All of it reads one held backup VDI (src/app/restore-session.ts).
 */
import type { BackupSummary } from '../../src/dr/backup-source.js';
import type { PreflightReport, RestoreProgress, RestoreReport } from '../../src/dr/restore.js';
import type { BackupListing, FailureText } from '../services.js';
import { sourceKey, type NetworkMapEntry, type PoolNetwork, type PreflightNetwork } from '../../src/dr/network-map.js';
import type { RestoreMethod } from './texts.js';
import type { BackupComparison } from '../../src/dr/backup-compare.js';

/** Per-VM progress of a run, as the screen draws it. */
export interface RunProgress {
  phase: string | null;
  vms: { done: number; total: number; errors: number; recent: Array<{ name: string; ok: boolean }> } | null;
}

interface Chosen {
  listing: BackupListing;
  backup: BackupSummary;
  method: RestoreMethod;
  /** Only these VMs (ticked beside the pool); unset: every VM of the method's scope. */
  only?: readonly string[];
}

export type RestoreState =
  /** Opening the VDI and reading its backups. */
  | { step: 'listing' }
  | { step: 'noBackups' }
  | { step: 'dates'; listing: BackupListing }
  | { step: 'methods'; listing: BackupListing; backup: BackupSummary; only?: readonly string[] }
  /** The backup beside this pool being read, then shown (VMs can be ticked there). */
  | { step: 'comparing'; listing: BackupListing; backup: BackupSummary }
  | { step: 'compare'; listing: BackupListing; backup: BackupSummary; comparison: BackupComparison }
  /** The preflight being computed (a real restore). */
  | ({ step: 'checking' } & Chosen)
  /** `kept`: shown again after an idle logout (it was made before it). */
  | ({ step: 'preflight'; report: PreflightReport; kept?: true; networkMap?: NetworkMapEntry[] } & Chosen)
  /** What force does, before a forced restore; F8 confirms. */
  | ({ step: 'confirmForce'; report: PreflightReport; networkMap?: NetworkMapEntry[] } & Chosen)
  /** The run; a dry run makes its own preflight first (preflight null). */
  | ({ step: 'running'; preflight: PreflightReport | null; force: boolean; networkMap?: NetworkMapEntry[] } & Chosen)
  | ({ step: 'summary'; report: RestoreReport; preflight: PreflightReport | null; finishedAt: Date } & Chosen)
  | { step: 'cancelled'; dryRun: boolean; progress: RunProgress | null }
  | { step: 'failed'; during: 'list' | 'compare' | 'preflight' | 'run'; failure: FailureText }
  /** The flow is left: 'close' this screen (back to what was before it), or 'cancel' the whole flow. */
  | { step: 'exit'; how: 'close' | 'cancel' };

export type RestoreAction =
  | { type: 'listed'; listing: BackupListing }
  | { type: 'chooseBackup'; backup: BackupSummary }
  /** The highlighted backup beside this pool. */
  | { type: 'compare'; backup: BackupSummary }
  | { type: 'compared'; comparison: BackupComparison }
  /** Go on to the restore choices with only these VMs. */
  | { type: 'chooseVms'; uuids: readonly string[] }
  | { type: 'chooseMethod'; method: RestoreMethod }
  | { type: 'checked'; report: PreflightReport }
  /** F8 at the preflight (as it was computed), or at the force confirmation (forced). */
  | { type: 'restore' }
  | { type: 'askForce' }
  /** A source network's VIFs go to `target` after the imports (null: as the import leaves them). */
  | { type: 'mapNetwork'; source: PreflightNetwork; target: PoolNetwork | null }
  | { type: 'finished'; report: RestoreReport; preflight: PreflightReport | null; at: Date }
  | { type: 'failed'; failure: FailureText }
  /** The work of this state was stopped (Ctrl-C, or Esc while listing or checking). */
  | { type: 'stopped'; progress?: RunProgress | null }
  /** Left. */
  | { type: 'back' }
  /** Esc, or closing a final message. */
  | { type: 'cancel' };

export const INITIAL_STATE: RestoreState = { step: 'listing' };

/**
 * XAPI errors that force lifts (xen-api ocaml/xapi/import.ml): a disk not found is skipped,
 * a running VM with the same uuid is left alone, a halted one is replaced even when it is
 * not older. Attached disks not found fail with force too.
 */
const LIFTED_BY_FORCE = ['VDI_LOCATION_MISSING', 'VDI_CONTENT_ID_MISSING', 'VM_BAD_POWER_STATE', 'VM_TO_IMPORT_IS_NOT_NEWER_VERSION'];

/** How many VMs of the preflight are expected to fail only for want of force. */
export function forceWouldHelp(report: PreflightReport): number {
  return report.vms.filter((v) => !v.error && v.expectedError !== undefined && LIFTED_BY_FORCE.some((code) => v.expectedError!.startsWith(code))).length;
}

export function restoreReducer(state: RestoreState, action: RestoreAction): RestoreState {
  switch (state.step) {
    case 'listing':
      if (action.type === 'listed') return action.listing.backups.length === 0 ? { step: 'noBackups' } : { step: 'dates', listing: action.listing };
      if (action.type === 'failed') return { step: 'failed', during: 'list', failure: action.failure };
      if (action.type === 'stopped') return { step: 'exit', how: 'cancel' };
      return state;
    case 'noBackups':
      return action.type === 'back' || action.type === 'cancel' ? { step: 'exit', how: 'close' } : state;
    case 'dates':
      if (action.type === 'chooseBackup') return { step: 'methods', listing: state.listing, backup: action.backup };
      if (action.type === 'compare') return { step: 'comparing', listing: state.listing, backup: action.backup };
      // Nothing of this flow before the list but the search: Left leaves it too.
      if (action.type === 'back') return { step: 'exit', how: 'close' };
      if (action.type === 'cancel') return { step: 'exit', how: 'cancel' };
      return state;
    case 'comparing':
      if (action.type === 'compared') return { step: 'compare', listing: state.listing, backup: state.backup, comparison: action.comparison };
      if (action.type === 'failed') return { step: 'failed', during: 'compare', failure: action.failure };
      if (action.type === 'stopped') return { step: 'dates', listing: state.listing };
      return state;
    case 'compare':
      if (action.type === 'chooseVms') return action.uuids.length ? { step: 'methods', listing: state.listing, backup: state.backup, only: action.uuids } : state;
      if (action.type === 'back') return { step: 'dates', listing: state.listing };
      if (action.type === 'cancel') return { step: 'exit', how: 'cancel' };
      return state;
    case 'methods': {
      const { listing, backup } = state;
      if (action.type === 'chooseMethod') {
        const chosen = { listing, backup, method: action.method, ...onlyOf(state) };
        return action.method.dryRun ? { step: 'running', ...chosen, preflight: null, force: false } : { step: 'checking', ...chosen };
      }
      if (action.type === 'back') return { step: 'dates', listing };
      if (action.type === 'cancel') return { step: 'exit', how: 'cancel' };
      return state;
    }
    case 'checking':
      if (action.type === 'checked') return { ...chosen(state), step: 'preflight', report: action.report };
      if (action.type === 'failed') return { step: 'failed', during: 'preflight', failure: action.failure };
      // Stopped while checking: back to the choices.
      if (action.type === 'stopped') return { step: 'methods', listing: state.listing, backup: state.backup, ...onlyOf(state) };
      return state;
    case 'preflight':
      if (action.type === 'restore') return { ...chosen(state), step: 'running', preflight: state.report, force: false, ...mapOf(state) };
      if (action.type === 'askForce') return forceWouldHelp(state.report) > 0 ? { ...chosen(state), step: 'confirmForce', report: state.report, ...mapOf(state) } : state;
      if (action.type === 'mapNetwork') return { ...state, ...mapNetwork(state.report, state.networkMap ?? [], action.source, action.target) };
      if (action.type === 'back') return { step: 'methods', listing: state.listing, backup: state.backup, ...onlyOf(state) };
      if (action.type === 'cancel') return { step: 'exit', how: 'cancel' };
      return state;
    case 'confirmForce':
      if (action.type === 'restore') return { ...chosen(state), step: 'running', preflight: state.report, force: true, ...mapOf(state) };
      if (action.type === 'back' || action.type === 'cancel') return { ...chosen(state), step: 'preflight', report: state.report, ...mapOf(state) };
      return state;
    case 'running':
      if (action.type === 'finished') return { ...chosen(state), step: 'summary', report: action.report, preflight: action.preflight, finishedAt: action.at };
      if (action.type === 'failed') return { step: 'failed', during: 'run', failure: action.failure };
      if (action.type === 'stopped') return { step: 'cancelled', dryRun: state.method.dryRun, progress: action.progress ?? null };
      // Nothing but Ctrl-C stops a run: a stray Esc or Left must not.
      return state;
    case 'summary':
      // Left: back to the choice of VMs (e.g. from a dry run to the real restore).
      if (action.type === 'back') return { step: 'methods', listing: state.listing, backup: state.backup, ...onlyOf(state) };
      if (action.type === 'cancel') return { step: 'exit', how: 'cancel' };
      return state;
    case 'failed':
      // A listing that failed leaves this screen only (as before: the search's result is below).
      if (action.type === 'back' || action.type === 'cancel') return { step: 'exit', how: state.during === 'list' ? 'close' : 'cancel' };
      return state;
    case 'cancelled':
      return action.type === 'back' || action.type === 'cancel' ? { step: 'exit', how: 'cancel' } : state;
    case 'exit':
      return state;
  }
}

function mapOf(s: { networkMap?: NetworkMapEntry[] }): { networkMap?: NetworkMapEntry[] } {
  return s.networkMap?.length ? { networkMap: s.networkMap } : {};
}

/**
 * The map after the operator picked a target for one source network: the entry names the
 * source by its uuid (by name when the export has none) and the target by uuid, and the
 * preflight's table shows where its VIFs will go.
 */
function mapNetwork(report: PreflightReport, map: NetworkMapEntry[], source: PreflightNetwork, target: PoolNetwork | null): { report: PreflightReport; networkMap: NetworkMapEntry[] } {
  const key = sourceKey({ networkUuid: source.uuid, networkName: source.name, bridge: source.bridge });
  const id = source.uuid || source.name;
  const networkMap = [...map.filter((e) => e.source !== id), ...(target ? [{ source: id, target: target.uuid, line: 0 }] : [])];
  const networks = report.networks.map((n) => {
    if (sourceKey({ networkUuid: n.uuid, networkName: n.name, bridge: n.bridge }) !== key) return n;
    const { mappedTo: _old, ...rest } = n;
    return target ? { ...rest, mappedTo: target } : rest;
  });
  return { report: { ...report, networks }, networkMap };
}

function chosen(s: Chosen): Chosen {
  return { listing: s.listing, backup: s.backup, method: s.method, ...onlyOf(s) };
}

function onlyOf(s: { only?: readonly string[] }): { only?: readonly string[] } {
  return s.only ? { only: s.only } : {};
}

/** Which work a state needs done (the screen runs it; its outcome is an action). */
export function workOf(state: RestoreState): 'list' | 'compare' | 'check' | 'run' | null {
  if (state.step === 'listing') return 'list';
  if (state.step === 'comparing') return 'compare';
  if (state.step === 'checking') return 'check';
  if (state.step === 'running') return 'run';
  return null;
}

/** A preflight left open at an idle logout: the state to come back to after the next login. */
export function resumable(state: RestoreState): RestoreState | null {
  // The map goes with the report, whose network table shows it.
  if (state.step === 'preflight' || state.step === 'confirmForce') return { ...chosen(state), step: 'preflight', report: state.report, kept: true, ...mapOf(state) };
  return null;
}

/** VMs listed under the bar (the most recent). */
const RECENT_VMS = 4;

export const NO_PROGRESS: RunProgress = { phase: null, vms: null };

/** A run's progress after one event (a VM failed when the error count went up). */
export function runProgress(p: RunProgress, e: RestoreProgress): RunProgress {
  if (e.kind === 'phase') return { ...p, phase: e.message };
  const ok = e.errors === (p.vms?.errors ?? 0);
  const recent = [...(p.vms?.recent ?? []), { name: e.current, ok }].slice(-RECENT_VMS);
  return { ...p, vms: { done: e.done, total: e.total, errors: e.errors, recent } };
}
