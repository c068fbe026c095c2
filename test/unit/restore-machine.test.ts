/** The console restore's state machine, without a terminal. */
import { describe, expect, it } from 'vitest';
import {
  INITIAL_STATE,
  NO_PROGRESS,
  forceWouldHelp,
  restoreReducer,
  resumable,
  runProgress,
  workOf,
  type RestoreAction,
  type RestoreState,
} from '../../components/restore/restore-machine.js';
import type { BackupListing } from '../../src/app/index.js';
import type { PreflightReport, PreflightVm, RestoreReport } from '../../src/dr/restore.js';

const backup = { date: '2025-06-02-08-30-00', vms: 3, vmsOnSr: 2, skipped: 0, skippedOnSr: 0, hasSrMeta: true };
const listing: BackupListing = { vdi: { uuid: 'v', trusted: true }, backups: [backup, { ...backup, date: '2025-06-01-08-30-00' }] };
const real = { scope: 'sr' as const, dryRun: false };
const dry = { scope: 'all' as const, dryRun: true };

function vm(over: Partial<PreflightVm> = {}): PreflightVm {
  return { file: 'a.vmmeta', uuid: 'a', name: 'a', powerState: 'Halted', isTemplate: false, clash: null, missingDisks: [], newNetworks: [], ...over };
}

function preflight(vms: PreflightVm[]): PreflightReport {
  const zero = { exports: 0, vms: 0, templates: 0, unreadable: 0, skipped: 0, clashes: 0, missingDisks: 0, newNetworks: 0, expectedErrors: 0, namesToSet: 0 };
  return { sr: { uuid: 's', name: 'S' }, vdi: { uuid: 'v', trusted: true }, date: backup.date, scope: 'sr', force: false, vms, skipped: [], names: [], cleaned: [], counts: zero, networks: [], poolNetworks: [], macClashes: [], macPolicy: '' };
}

const report = { dryRun: false, restored: 1, errors: 0 } as RestoreReport;
const failure = { kind: 'expected' as const, code: 'X', meaning: 'm', nextStep: 'n' };

function run(...actions: RestoreAction[]): RestoreState {
  return actions.reduce(restoreReducer, INITIAL_STATE);
}

const toMethods: RestoreAction[] = [
  { type: 'listed', listing },
  { type: 'chooseBackup', backup },
];
const toPreflight = (vms: PreflightVm[] = [vm()]): RestoreAction[] => [...toMethods, { type: 'chooseMethod', method: real }, { type: 'checked', report: preflight(vms) }];

describe('restore state machine', () => {
  it('goes list → date → method → preflight → run → summary for a real restore, asking for work on the way', () => {
    const steps: string[] = [];
    const works: Array<string | null> = [];
    let s = INITIAL_STATE;
    for (const a of [...toPreflight(), { type: 'restore' } as const, { type: 'finished', report, preflight: preflight([]), at: new Date(0) } as const]) {
      works.push(workOf(s));
      s = restoreReducer(s, a);
      steps.push(s.step);
    }
    expect(steps).toEqual(['dates', 'methods', 'checking', 'preflight', 'running', 'summary']);
    expect(works).toEqual(['list', null, null, 'check', null, 'run']);
    expect(s).toMatchObject({ step: 'summary', method: real, backup });
  });

  it('a dry run goes from the choice straight to the run, which makes its own preflight', () => {
    const s = run(...toMethods, { type: 'chooseMethod', method: dry });
    expect(s).toMatchObject({ step: 'running', preflight: null, force: false, method: dry });
  });

  it('Left goes back one step; Esc cancels the whole flow', () => {
    expect(run({ type: 'listed', listing }, { type: 'back' })).toEqual({ step: 'exit', how: 'close' });
    expect(run({ type: 'listed', listing }, { type: 'cancel' })).toEqual({ step: 'exit', how: 'cancel' });
    expect(run(...toMethods, { type: 'back' })).toEqual({ step: 'dates', listing });
    expect(run(...toMethods, { type: 'cancel' })).toEqual({ step: 'exit', how: 'cancel' });
    expect(run(...toPreflight(), { type: 'back' })).toEqual({ step: 'methods', listing, backup });
    expect(run(...toPreflight(), { type: 'cancel' })).toEqual({ step: 'exit', how: 'cancel' });
    const summary = [...toPreflight(), { type: 'restore' } as const, { type: 'finished', report, preflight: null, at: new Date(0) } as const];
    expect(run(...summary, { type: 'back' })).toEqual({ step: 'methods', listing, backup });
    expect(run(...summary, { type: 'cancel' })).toEqual({ step: 'exit', how: 'cancel' });
  });

  it('a run ignores Left and Esc; a stop says how far it came; a finished run that was stopped too late is a summary', () => {
    const running = run(...toPreflight(), { type: 'restore' });
    expect(restoreReducer(running, { type: 'back' })).toBe(running);
    expect(restoreReducer(running, { type: 'cancel' })).toBe(running);
    const progress = { phase: null, vms: { done: 1, total: 3, errors: 0, recent: [] } };
    expect(restoreReducer(running, { type: 'stopped', progress })).toEqual({ step: 'cancelled', dryRun: false, progress });
    expect(restoreReducer(running, { type: 'finished', report, preflight: null, at: new Date(0) }).step).toBe('summary');
  });

  it('stopping the listing leaves the flow; stopping the preflight goes back to the choice', () => {
    expect(run({ type: 'stopped' })).toEqual({ step: 'exit', how: 'cancel' });
    expect(run(...toMethods, { type: 'chooseMethod', method: real }, { type: 'stopped' })).toEqual({ step: 'methods', listing, backup });
  });

  it('an empty VDI and failures are messages; closing one leaves the flow', () => {
    expect(run({ type: 'listed', listing: { ...listing, backups: [] } })).toEqual({ step: 'noBackups' });
    expect(run({ type: 'listed', listing: { ...listing, backups: [] } }, { type: 'cancel' })).toEqual({ step: 'exit', how: 'close' });
    expect(run({ type: 'failed', failure }, { type: 'cancel' })).toEqual({ step: 'exit', how: 'close' });
    const failedRun = run(...toPreflight(), { type: 'restore' }, { type: 'failed', failure });
    expect(failedRun).toEqual({ step: 'failed', during: 'run', failure });
    expect(restoreReducer(failedRun, { type: 'back' })).toEqual({ step: 'exit', how: 'cancel' });
  });

  it('force is offered only where VMs fail for want of it, confirmed with F8, and Esc goes back to the preflight', () => {
    const missing = vm({ expectedError: 'VDI_CONTENT_ID_MISSING', missingDisks: [{ vdiUuid: 'd', location: 'l', srUuid: 's', vdiName: 'disk', srName: 'S', srInPool: true, attached: false }] });
    const clash = vm({ uuid: 'b', expectedError: 'VM_TO_IMPORT_IS_NOT_NEWER_VERSION (unless the backup is newer)', clash: { name: 'b', powerState: 'Halted' } });
    const attached = vm({ uuid: 'c', expectedError: 'IMPORT_ERROR_ATTACHED_DISKS_NOT_FOUND' });
    expect(forceWouldHelp(preflight([missing, clash, attached, vm()]))).toBe(2);
    expect(forceWouldHelp(preflight([attached, vm()]))).toBe(0);

    const plain = run(...toPreflight([attached]));
    expect(restoreReducer(plain, { type: 'askForce' })).toBe(plain);

    const asking = run(...toPreflight([missing]), { type: 'askForce' });
    expect(asking.step).toBe('confirmForce');
    expect(restoreReducer(asking, { type: 'cancel' }).step).toBe('preflight');
    expect(restoreReducer(asking, { type: 'back' }).step).toBe('preflight');
    expect(restoreReducer(asking, { type: 'restore' })).toMatchObject({ step: 'running', force: true });
    // F8 at the preflight itself is the stock, unforced restore.
    expect(run(...toPreflight([missing]), { type: 'restore' })).toMatchObject({ step: 'running', force: false });
  });

  it('only an open preflight is kept over an idle logout, as a preflight', () => {
    expect(resumable(run(...toMethods))).toBeNull();
    expect(resumable(run(...toPreflight()))).toMatchObject({ step: 'preflight', backup, method: real, kept: true });
    const missing = vm({ expectedError: 'VDI_LOCATION_MISSING' });
    expect(resumable(run(...toPreflight([missing]), { type: 'askForce' }))?.step).toBe('preflight');
    expect(resumable(run(...toPreflight(), { type: 'restore' }))).toBeNull();
  });

  it('folds run progress: the phase, the counts, and the last four VMs with whether each failed', () => {
    let p = runProgress(NO_PROGRESS, { kind: 'phase', message: 'Restoring 6...' });
    expect(p).toEqual({ phase: 'Restoring 6...', vms: null });
    for (let i = 1; i <= 6; i++) p = runProgress(p, { kind: 'vm', done: i, total: 6, current: `vm${i}`, errors: i >= 5 ? 1 : 0 });
    expect(p.vms).toEqual({
      done: 6,
      total: 6,
      errors: 1,
      recent: [
        { name: 'vm3', ok: true },
        { name: 'vm4', ok: true },
        { name: 'vm5', ok: false },
        { name: 'vm6', ok: true },
      ],
    });
  });
});

describe('network map in the preflight', () => {
  const vlan = { uuid: 'n-vlan', name: 'VLAN', bridge: 'xapi1', mtu: 1500, vifs: 2, match: 'new' as const, target: null };
  const eth0 = { uuid: '', name: 'eth0', bridge: 'xenbr0', mtu: null, vifs: 1, match: 'name' as const, target: { uuid: 'p0', name: 'eth0', bridge: 'xenbr0' } };
  const storage = { uuid: 'p-st', name: 'DR storage', bridge: 'xapi7' };
  const withNets = (): RestoreAction[] => [...toMethods, { type: 'chooseMethod', method: real }, { type: 'checked', report: { ...preflight([vm()]), networks: [vlan, eth0], poolNetworks: [storage] } }];

  it('a mapping is shown in the table and carried into the run, by source uuid (name when none) and target uuid', () => {
    const s = run(...withNets(), { type: 'mapNetwork', source: vlan, target: storage }, { type: 'mapNetwork', source: eth0, target: storage });
    expect(s.step === 'preflight' && s.report.networks.map((n) => n.mappedTo?.name)).toEqual(['DR storage', 'DR storage']);
    const running = restoreReducer(s, { type: 'restore' });
    expect(running.step === 'running' && running.networkMap).toEqual([
      { source: 'n-vlan', target: 'p-st', line: 0 },
      { source: 'eth0', target: 'p-st', line: 0 },
    ]);
    // Kept over an idle logout with its table: what is shown is what the run applies.
    const kept = resumable(s)!;
    expect(kept.step === 'preflight' && kept.networkMap?.length).toBe(2);
  });

  it('no mapping takes one back; the map survives the force confirmation', () => {
    let s = run(...withNets(), { type: 'mapNetwork', source: vlan, target: storage }, { type: 'mapNetwork', source: vlan, target: null });
    expect(s.step === 'preflight' && s.report.networks[0]!.mappedTo).toBeUndefined();
    expect(restoreReducer(s, { type: 'restore' })).not.toHaveProperty('networkMap');
    s = restoreReducer(s, { type: 'mapNetwork', source: vlan, target: storage });
    const forced = { ...s, report: { ...(s as Extract<RestoreState, { step: 'preflight' }>).report, vms: [vm({ expectedError: 'VDI_LOCATION_MISSING' })] } } as RestoreState;
    const confirm = restoreReducer(forced, { type: 'askForce' });
    expect(confirm.step).toBe('confirmForce');
    const running = restoreReducer(confirm, { type: 'restore' });
    expect(running.step === 'running' && running.force && running.networkMap?.map((e) => e.source)).toEqual(['n-vlan']);
  });
});

describe('the backup beside the pool, and VMs ticked there', () => {
  const comparison = { sr: { uuid: 's', name: 'S' }, date: backup.date, vms: [], onlyHere: [], unreadable: [], counts: { missing: 0, newerHere: 0, olderHere: 0, changed: 0, same: 0, onlyHere: 0, unreadable: 0 } };
  const toCompare: RestoreAction[] = [{ type: 'listed', listing }, { type: 'compare', backup }];

  it('compare asks for its work, shows the comparison, and Left goes back to the dates', () => {
    expect(workOf(run(...toCompare))).toBe('compare');
    expect(run(...toCompare, { type: 'compared', comparison })).toMatchObject({ step: 'compare', comparison, backup });
    expect(run(...toCompare, { type: 'compared', comparison }, { type: 'back' })).toMatchObject({ step: 'dates' });
    expect(run(...toCompare, { type: 'stopped' })).toMatchObject({ step: 'dates' });
    expect(run(...toCompare, { type: 'failed', failure })).toMatchObject({ step: 'failed', during: 'compare' });
  });

  it('the ticked VMs go with the choice to the preflight, the run and back; none ticked stays put', () => {
    const ticked = [...toCompare, { type: 'compared', comparison } as const];
    expect(run(...ticked, { type: 'chooseVms', uuids: [] })).toMatchObject({ step: 'compare' });
    const only = ['u1', 'u2'];
    const steps = [...ticked, { type: 'chooseVms', uuids: only } as const];
    expect(run(...steps)).toMatchObject({ step: 'methods', only });
    const checking = run(...steps, { type: 'chooseMethod', method: real });
    expect(checking).toMatchObject({ step: 'checking', only });
    const atPreflight = [...steps, { type: 'chooseMethod', method: real } as const, { type: 'checked', report: preflight([vm()]) } as const];
    expect(run(...atPreflight, { type: 'restore' })).toMatchObject({ step: 'running', only });
    expect(run(...atPreflight, { type: 'back' })).toMatchObject({ step: 'methods', only });
    expect(run(...steps, { type: 'chooseMethod', method: dry })).toMatchObject({ step: 'running', only });
    // The plain way from the dates chooses no VMs: the whole scope, as stock.
    expect(run(...toMethods)).not.toHaveProperty('only');
    expect(run(...steps, { type: 'back' })).toEqual({ step: 'dates', listing });
  });
});
