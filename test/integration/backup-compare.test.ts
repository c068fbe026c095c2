/**
 * A backup beside the live pool: after a backup the pool is changed (a VM destroyed, one
 * renamed with another CPU count, one restored again by force, which is what raises
 * VM.version) and the comparison says each; a DR pool's own VMs are listed as only there; a restore of a chosen VM only
 * imports that VM's export.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/dr/backup.js';
import { compareBackup, type BackupComparison } from '../../src/dr/backup-compare.js';
import { runRestore } from '../../src/dr/restore.js';
import { VM, type Ref } from '../../src/xenapi/index.js';
import { join } from 'node:path';
import { attachSrFolder } from '../../src/sim/index.js';
import { startTestPool, type TestPool } from '../helpers/pool.js';

let pool: TestPool;
let srUuid: string;
let date: string;
let halted: Array<{ ref: Ref; uuid: string; name: string }>;
let before: BackupComparison;

beforeAll(async () => {
  pool = await startTestPool({ vms: 12, seed: 23 });
  const b = await runBackup(pool.session, {});
  srUuid = b.sr.uuid;
  date = b.date;
  before = await compareBackup(pool.session, { srUuid, date });
  const recs = await VM.getAllRecords(pool.session, ['uuid', 'name_label', 'power_state', 'is_a_template', 'is_a_snapshot', 'is_control_domain']);
  halted = [...recs]
    .filter(([, r]) => !r.is_a_template && !r.is_a_snapshot && !r.is_control_domain && r.power_state === 'Halted')
    .map(([ref, r]) => ({ ref, uuid: r.uuid, name: r.name_label }))
    .sort((a, b) => a.uuid.localeCompare(b.uuid));
});
afterAll(async () => {
  await pool?.close();
});

describe('a backup beside the pool it was taken of', () => {
  it('right after the backup, every VM and template of it is the same here', () => {
    expect(before.vms.length).toBeGreaterThan(3);
    expect(before.counts.same).toBe(before.vms.length);
    expect(before.onlyHere).toEqual([]);
    expect(before.vms.every((v) => v.differences.length === 0 && v.pool !== null)).toBe(true);
    expect(before.vms.some((v) => v.backup.isTemplate)).toBe(true);
  });

  describe('after the pool changed', () => {
    let after: BackupComparison;
    let restoredOnly: Awaited<ReturnType<typeof runRestore>>;

    beforeAll(async () => {
      expect(halted.length).toBeGreaterThanOrEqual(3);
      const [gone, renamed, again] = halted as [(typeof halted)[0], (typeof halted)[0], (typeof halted)[0]];
      await pool.session.invoke('VM.destroy', [gone.ref]);
      await pool.session.invoke('VM.set_name_label', [renamed.ref, `${renamed.name} (edited)`]);
      // More vCPUs and memory (the simulator has no setter for them: set in its database).
      pool.sim.db.update('VM', renamed.ref, { VCPUs_max: 4, memory_static_max: 8 * 1024 ** 3 });
      // And one network card less.
      const vifs = (await VM.getAllCompareRecords(pool.session, ['VIFs'])).get(renamed.ref)!.VIFs;
      expect(vifs.length).toBeGreaterThan(0);
      await pool.session.invoke('VIF.destroy', [vifs[0]!]);
      // A forced restore of this one VM only: the import replaces it with version + 1.
      restoredOnly = await runRestore(pool.session, { srUuid, date, force: true, vmUuids: [again.uuid] });
      after = await compareBackup(pool.session, { srUuid, date });
    });

    const of = (uuid: string) => after.vms.find((v) => v.uuid === uuid)!;

    it('the restore of a chosen VM imported that export only', () => {
      expect(restoredOnly.results.map((r) => r.vmUuid)).toEqual([halted[2]!.uuid]);
      expect(restoredOnly.restored).toBe(1);
    });

    it('says which VM is missing here, which is newer here and which changed (and how)', () => {
      expect(of(halted[0]!.uuid).status).toBe('missing');
      expect(of(halted[0]!.uuid).pool).toBeNull();
      const renamed = of(halted[1]!.uuid);
      expect(renamed.status).toBe('changed');
      expect(renamed.differences.map((d) => d.field).sort()).toEqual(['memory', 'name', 'networks', 'vcpus']);
      expect(renamed.differences.find((d) => d.field === 'name')).toEqual({ field: 'name', backup: halted[1]!.name, pool: `${halted[1]!.name} (edited)` });
      expect(renamed.differences.find((d) => d.field === 'vcpus')?.pool).toBe('4');
      expect(renamed.differences.find((d) => d.field === 'memory')?.pool).toBe('8192 MiB');
      const again = of(halted[2]!.uuid);
      expect(again.status).toBe('newerHere');
      expect(again.pool!.version).toBe(again.backup.version + 1);
      expect(after.counts).toMatchObject({ missing: 1, newerHere: 1, changed: 1, same: before.vms.length - 3, onlyHere: 0 });
      // Listed by status, what needs an eye first.
      expect(after.vms.slice(0, 3).map((v) => v.status)).toEqual(['missing', 'newerHere', 'changed']);
    });
  });
});

describe('the backup beside a DR pool that has VMs of its own', () => {
  let dr: TestPool;
  let atDr: BackupComparison;
  let own: string[];

  beforeAll(async () => {
    dr = await startTestPool({ vms: 2, seed: 5 });
    await attachSrFolder(dr.sim, join(pool.sim.stateDir, 'srs', srUuid));
    const recs = await VM.getAllRecords(dr.session, ['uuid', 'is_a_template', 'is_a_snapshot', 'is_control_domain']);
    own = [...recs.values()].filter((r) => !r.is_a_template && !r.is_a_snapshot && !r.is_control_domain).map((r) => r.uuid);
    atDr = await compareBackup(dr.session, { srUuid, date });
  });
  afterAll(async () => {
    await dr?.close();
  });

  it('every VM of the backup is missing there, and its own VMs are listed as only there', () => {
    expect(atDr.counts.missing).toBe(before.vms.length);
    expect(own.length).toBe(2);
    expect(atDr.onlyHere.filter((v) => !v.isTemplate).map((v) => v.uuid).sort()).toEqual([...own].sort());
  });
});
