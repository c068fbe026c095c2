/**
 * Fault campaign, restore at the DR site: a failure (XAPI error, dropped connection,
 * operator abort) at every step a clean restore makes, one at a time, and after each run:
 * no VBD on the control domain, no task left, the backup VDI untouched (its image file not
 * written) and still clean, every VM either fully imported or absent, and a failure message
 * that names the step.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/dr/backup.js';
import { BackupSourceError } from '../../src/dr/backup-source.js';
import { RestoreStepError, runRestore, type RestoreReport } from '../../src/dr/restore.js';
import { attachSrFolder } from '../../src/sim/index.js';
import { isAbortError, type Ref } from '../../src/xenapi/index.js';
import { fsckReadOnly, startTestPool, vdiImagePath, type TestPool } from '../helpers/pool.js';
import { arm, scrubPool, settle, stepName, stepsOf, type FaultMode, type Step } from './inject.js';
import { controlDomainAttachments } from '../helpers/pool.js';

const MODES: FaultMode[] = ['error', 'drop', 'abort'];

let prod: TestPool;
let dr: TestPool;
let srUuid = '';
let image = '';
/** uuid → number of VBDs and VIFs of the VMs a clean restore creates. */
const complete = new Map<string, { vbds: number; vifs: number }>();
const steps: Step[] = [];

function importedVms(p: TestPool) {
  return p.sim.db.where('VM', (v) => !v.is_control_domain && !v.is_default_template && v.other_config['default_template'] !== 'true');
}

/** Removes what a restore imported, so that every run starts from the same empty DR pool. */
async function resetDrPool(p: TestPool): Promise<void> {
  for (const { ref } of importedVms(p)) await p.session.call('VM.destroy', ref);
}

async function imageState(): Promise<string> {
  const st = await stat(image);
  return `${st.size}:${st.mtimeMs}`;
}

async function leftovers(p: TestPool): Promise<string | undefined> {
  return settle(async () => {
    const att = await controlDomainAttachments(p.sim);
    if (att.vbds > 0 || att.devices.length > 0) return `VBD left on the control domain: ${JSON.stringify(att)}`;
    const tasks = [...p.sim.db.allRecords('task').values()].map((t) => `${t.name_label} (${t.status})`);
    if (tasks.length > 0) return `task(s) left: ${tasks.join(', ')}`;
    return undefined;
  });
}

async function restoreWith(step: Step, mode: FaultMode): Promise<{ report?: RestoreReport; error?: unknown }> {
  const ac = new AbortController();
  const disarm = arm(dr.sim, step, mode, ac);
  try {
    return { report: await runRestore(dr.session, { srUuid, scope: 'all', force: true, signal: ac.signal }) };
  } catch (error) {
    return { error };
  } finally {
    disarm();
  }
}

beforeAll(async () => {
  prod = await startTestPool({ vms: 1, seed: 3 });
  const poolRef = (await prod.session.call<Ref[]>('pool.get_all'))[0]!;
  srUuid = await prod.session.call<string>('SR.get_uuid', await prod.session.call<Ref>('pool.get_default_SR', poolRef));
  const backup = await runBackup(prod.session, {});
  image = vdiImagePath(prod.sim, backup.vdi.uuid);
  dr = await startTestPool({ vms: 0 });
  await attachSrFolder(dr.sim, join(prod.sim.stateDir, 'srs', srUuid));
  dr.sim.stats.reset();
  const clean = await runRestore(dr.session, { srUuid, scope: 'all', force: true });
  expect(clean.errors).toBe(0);
  for (const { rec } of importedVms(dr)) complete.set(rec.uuid, { vbds: rec.VBDs.length, vifs: rec.VIFs.length });
  steps.push(...stepsOf(dr.sim.stats.snapshot()));
  await resetDrPool(dr);
});
afterAll(async () => {
  await dr?.close();
  await prod?.close();
});

describe('restore with a failure at each step', () => {
  it('knows the steps of a clean restore', () => {
    const names = new Set(steps.map((s) => s.name));
    for (const expected of ['VBD.create', 'Async.VBD.plug', 'VBD.unplug', 'VBD.destroy', '/import_metadata', 'VDI.get_by_uuid', 'SR.set_name_label', 'VDI.set_name_description']) {
      expect(names).toContain(expected);
    }
    expect(complete.size).toBeGreaterThan(1);
  });

  for (const mode of MODES) {
    it(`${mode}: leaves nothing behind, never writes the backup, imports whole VMs or none`, async () => {
      const problems: string[] = [];
      const untouched = await imageState();
      for (const step of steps) {
        const out = await restoreWith(step, mode);
        const where = `${mode} at ${stepName(step)}`;
        const left = await leftovers(dr);
        if (left) {
          problems.push(`${where}: ${left}`);
          await scrubPool(dr.sim, dr.session);
        }
        expect(await imageState(), `${where}: the backup VDI was written`).toBe(untouched);
        // Every VM here is one of the backup's, complete (import is all or nothing).
        for (const { rec } of importedVms(dr)) {
          expect(complete.get(rec.uuid), `${where}: ${rec.name_label} imported incompletely`).toEqual({ vbds: rec.VBDs.length, vifs: rec.VIFs.length });
        }
        if (out.error !== undefined) {
          if (!(mode === 'abort' && isAbortError(out.error))) {
            // A source problem is already said in operator terms; anything else names its step.
            if (!(out.error instanceof BackupSourceError)) {
              expect(out.error, `${where}: ${String(out.error)}`).toBeInstanceOf(RestoreStepError);
              expect((out.error as Error).message, where).toMatch(/^[A-Z][a-z]+( [A-Za-z']+)* failed: /);
            }
            if (mode === 'error') expect((out.error as Error).message, where).toContain('INTERNAL_ERROR');
          }
        } else {
          const r = out.report!;
          // The report tells the truth about each VM.
          for (const res of r.results) {
            const here = dr.sim.db.findRefByUuid('VM', res.vmUuid) !== undefined;
            expect(here, `${where}: ${res.file} reported ${res.ok ? 'restored' : `failed (${res.error?.code})`}`).toBe(res.ok);
          }
        }
        await resetDrPool(dr);
      }
      expect(problems).toEqual([]);
      expect(fsckReadOnly(image).code).toBe(0);
    }, 120_000);
  }
});
