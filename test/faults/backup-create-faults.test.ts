/**
 * Fault campaign, the first backup of an SR (the backup VDI is created, attached and
 * formatted in the run): a failure at each creation and attach step, one at a time, and
 * after each run: no VBD on the control domain, no task left, and a VDI left behind only
 * if it holds a clean, initialised filesystem listing no backup.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/dr/backup.js';
import { backupVdiUuid } from '../../src/dr/layout.js';
import type { Ref } from '../../src/xenapi/index.js';
import { fsckReadOnly, startTestPool, vdiImagePath, type TestPool } from '../helpers/pool.js';
import { MODES, backupWith, expectStepMessage, leftovers, seeBackups, tick } from './backup-checks.js';
import { scrubPool, stepName, stepsOf, type Step } from './inject.js';

describe('backup that creates its VDI, with a failure at each creation and attach step', () => {
  let pool: TestPool;
  let srUuid = '';
  const steps: Step[] = [];
  const creationStep = (s: Step) => s.occurrence === 1 && /^(VDI\.|VBD\.|Async\.VBD\.|task\.)/.test(s.name);

  /** Removes the backup VDI (as if the SR never had one) for the next run. */
  async function dropBackupVdi(p: TestPool): Promise<void> {
    const ref = p.sim.db.findRefByUuid('VDI', backupVdiUuid(srUuid));
    if (ref !== undefined) await p.session.call('VDI.destroy', ref);
  }

  beforeAll(async () => {
    pool = await startTestPool({ vms: 1 });
    const poolRef = (await pool.session.call<Ref[]>('pool.get_all'))[0]!;
    srUuid = await pool.session.call<string>('SR.get_uuid', await pool.session.call<Ref>('pool.get_default_SR', poolRef));
    pool.sim.stats.reset();
    await runBackup(pool.session, { now: tick });
    steps.push(...stepsOf(pool.sim.stats.snapshot()).filter(creationStep));
    await dropBackupVdi(pool);
  });
  afterAll(async () => {
    await pool?.close();
  });

  for (const mode of MODES) {
    it(`${mode}: a VDI left behind always holds an initialised, clean filesystem`, async () => {
      expect(steps.map((s) => s.name)).toContain('VDI.create');
      const problems: string[] = [];
      for (const step of steps) {
        const out = await backupWith(pool, step, mode);
        const where = `${mode} at ${stepName(step)}`;
        const left = await leftovers(pool);
        if (left) {
          problems.push(`${where}: ${left}`);
          await scrubPool(pool.sim, pool.session);
        }
        const ref = pool.sim.db.findRefByUuid('VDI', backupVdiUuid(srUuid));
        if (out.error !== undefined) {
          expectStepMessage(out.error, mode, where);
          if (ref !== undefined) {
            const image = vdiImagePath(pool.sim, backupVdiUuid(srUuid));
            const fsck = fsckReadOnly(image);
            expect(fsck.code, `${where}: a VDI was left with a broken filesystem: ${fsck.output}`).toBe(0);
            const seen = await seeBackups(image).catch(() => null);
            expect(seen?.dates ?? [], `${where}: a failed run listed a backup`).toEqual([]);
            expect(seen?.partial ?? [], where).toEqual([]);
          }
        } else {
          expect(ref, where).toBeDefined();
        }
        await dropBackupVdi(pool);
      }
      expect(problems).toEqual([]);
    }, 120_000);
  }
});
