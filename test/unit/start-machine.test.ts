/** The console's Start Restored VMs state machine and its progress reducer, without a terminal. */
import { describe, expect, it } from 'vitest';
import { INITIAL_START_STATE, START_PROGRESS, restoredVmUuids, startReducer, type StartState } from '../../components/restore/start-machine.js';
import type { PlannedVm, StartPlan } from '../../src/dr/start-vms.js';

const vm = (name: string, order: number): PlannedVm => ({ ref: `OpaqueRef:${name}`, uuid: `uuid-${name}`, name, vApp: null, order, startDelay: 0 });
const plan: StartPlan = {
  groups: [
    { vApp: { uuid: 'app', name: 'shop' }, order: 0, vms: [vm('db', 0)] },
    { vApp: null, order: 1, vms: [vm('web', 1), vm('lb', 1)] },
  ],
  skipped: [{ uuid: 'uuid-on', name: 'on', vApp: null, order: 0, startDelay: 0, status: 'skipped', reason: 'already running' }],
};

function choose(): Extract<StartState, { step: 'choose' }> {
  const s = startReducer(INITIAL_START_STATE, { type: 'planned', plan });
  if (s.step !== 'choose') throw new Error(s.step);
  return s;
}

describe('startReducer', () => {
  it('every startable VM chosen at first, the cursor on the first, mode start', () => {
    const s = choose();
    expect([...s.chosen]).toEqual(['uuid-db', 'uuid-web', 'uuid-lb']);
    expect(s).toMatchObject({ cursor: 0, mode: 'start' });
  });

  it('Space unchooses the highlighted VM; A chooses all, or none when all were; P switches the mode; moves stay in the list', () => {
    let s: StartState = choose();
    s = startReducer(s, { type: 'move', by: 1 });
    s = startReducer(s, { type: 'toggle' });
    expect(s.step === 'choose' && [...s.chosen]).toEqual(['uuid-db', 'uuid-lb']);
    s = startReducer(s, { type: 'toggleAll' });
    expect(s.step === 'choose' && s.chosen.size).toBe(3);
    s = startReducer(s, { type: 'toggleAll' });
    expect(s.step === 'choose' && s.chosen.size).toBe(0);
    s = startReducer(s, { type: 'move', by: 99 });
    expect(s.step === 'choose' && s.cursor).toBe(2);
    s = startReducer(s, { type: 'move', by: -99 });
    expect(s.step === 'choose' && s.cursor).toBe(0);
    s = startReducer(s, { type: 'toggleMode' });
    expect(s.step === 'choose' && s.mode).toBe('paused');
  });

  it('F8 with nothing chosen does nothing; else runs the chosen ones in plan order', () => {
    let s: StartState = startReducer(choose(), { type: 'toggleAll' });
    s = startReducer(s, { type: 'toggleAll' });
    s = startReducer(s, { type: 'move', by: 1 });
    s = startReducer(s, { type: 'toggle' });
    expect(startReducer(startReducer(choose(), { type: 'toggleAll' }), { type: 'start' }).step).toBe('choose');
    s = startReducer(s, { type: 'start' });
    expect(s).toMatchObject({ step: 'running', uuids: ['uuid-db', 'uuid-lb'], mode: 'start' });
    // Only the job's outcome ends a run (Ctrl-C aborts the job; its report comes back).
    expect(startReducer(s, { type: 'cancel' })).toBe(s);
  });

  it('the progress counts started and failed per VM, keeps the newest rows, and records what was in flight at Ctrl-C', () => {
    let p = START_PROGRESS.reduce(START_PROGRESS.initial, { kind: 'planned', plan });
    expect(p.total).toBe(3);
    const db = { uuid: 'uuid-db', name: 'db' };
    p = START_PROGRESS.reduce(p, { kind: 'vm', vm: db, status: 'starting' });
    p = START_PROGRESS.reduce(p, { kind: 'vm', vm: db, status: 'started' });
    p = START_PROGRESS.reduce(p, { kind: 'vm', vm: { uuid: 'uuid-web', name: 'web' }, status: 'failed' });
    p = START_PROGRESS.reduce(p, { kind: 'cancelling', inFlight: [db] });
    expect(p).toMatchObject({ started: 1, failed: 1, inFlightAtCancel: [db] });
    expect(p.recent.map((r) => `${r.vm.name}:${r.status}`)).toEqual(['db:started', 'web:failed']);
  });

  it('the restore\'s VMs to offer: created by exports that succeeded, not templates', () => {
    expect(
      restoredVmUuids([
        { ok: true, kind: 'vm', created: [{ uuid: 'a' }] },
        { ok: true, kind: 'template', created: [{ uuid: 't' }] },
        { ok: false, kind: 'vm', created: [] },
      ]),
    ).toEqual(['a']);
  });
});
