/**
 * Fault campaign, backup to a VDI already in use: a failure (XAPI error, dropped connection,
 * operator abort) at every step a clean backup makes, one at a time, and after each run: no
 * VBD on the control domain, no task left, no partial backup listed, the earlier backups
 * byte-for-byte intact, the filesystem clean, and a failure message that names the step.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/dr/backup.js';
import { fsckReadOnly, startTestPool, vdiImagePath, type TestPool } from '../helpers/pool.js';
import { KEEP_ALL, MODES, backupWith, expectStepMessage, leftovers, seeBackups, tick } from './backup-checks.js';
import { scrubPool, stepName, stepsOf, type Step } from './inject.js';

describe('backup with a failure at each step (backup VDI already in use)', () => {
  let pool: TestPool;
  let image = '';
  const steps: Step[] = [];

  beforeAll(async () => {
    pool = await startTestPool({ vms: 1 });
    const first = await runBackup(pool.session, { now: tick, history: KEEP_ALL });
    image = vdiImagePath(pool.sim, first.vdi.uuid);
    pool.sim.stats.reset();
    await runBackup(pool.session, { now: tick, history: KEEP_ALL });
    steps.push(...stepsOf(pool.sim.stats.snapshot()));
  });
  afterAll(async () => {
    await pool?.close();
  });

  it('knows the steps of a clean backup', () => {
    const names = new Set(steps.map((s) => s.name));
    for (const expected of ['VBD.create', 'Async.VBD.plug', 'VBD.unplug', 'VBD.destroy', 'task.create', '/export_metadata', '/pool/xmldbdump', 'VM.get_all_records']) {
      expect(names).toContain(expected);
    }
  });

  for (const mode of MODES) {
    it(`${mode}: leaves nothing behind and keeps earlier backups at every step`, async () => {
      expect(steps.length).toBeGreaterThan(20);
      const problems: string[] = [];
      // The two backups made before the campaign, and the newest one at each step, are
      // compared byte for byte after every injected run.
      const protectedDates = (await seeBackups(image, [])).dates.slice(0, 2);
      let seen = await seeBackups(image);
      for (const step of steps) {
        const before = seen;
        const out = await backupWith(pool, step, mode);
        const where = `${mode} at ${stepName(step)}`;
        const left = await leftovers(pool);
        if (left) {
          problems.push(`${where}: ${left}`);
          await scrubPool(pool.sim, pool.session);
        }
        seen = await seeBackups(image, [...protectedDates, ...before.dates.slice(-1), ...(out.report ? [out.report.date] : [])]);
        expect(seen.partial, `${where}: partial folder left`).toEqual([]);
        for (const d of [...protectedDates, before.dates.at(-1)!]) expect(seen.digest.get(d), `${where}: backup ${d} changed`).toBe(before.digest.get(d));
        if (out.error !== undefined) {
          expect(seen.dates, `${where}: a failed run listed a backup`).toEqual(before.dates);
          expectStepMessage(out.error, mode, where);
        } else {
          const r = out.report!;
          expect(seen.dates, where).toEqual([...before.dates, r.date].sort());
          // Complete: every export that did not fail is there, and nothing else.
          expect(seen.files.get(r.date)?.length, where).toBe(r.vmsExported + r.templatesExported);
          for (const f of r.failures) expect(seen.files.get(r.date), where).not.toContain(`${f.uuid}.vmmeta`);
        }
        const fsck = fsckReadOnly(image);
        expect(fsck.code, `${where}: ${fsck.output}`).toBe(0);
      }
      expect(problems).toEqual([]);
    }, 120_000);
  }
});

