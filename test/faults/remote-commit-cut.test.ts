/**
 * A workstation's backup whose upload to /import_raw_vdi is cut at many points: the
 * simulator writes what arrived (whole chunks, as XAPI's vhd-tool does) and drops the
 * connection. Afterwards the VDI must pass the stock script's fsck -a, hold every earlier
 * backup unchanged, and hold the new backup wholly or not at all; the next backup completes
 * whatever the cut left and succeeds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFile, rm } from 'node:fs/promises';
import { DEMO_ROOT_PASSWORD } from '../../src/sim/index.js';
import { Session, type Ref } from '../../src/xenapi/index.js';
import { runBackup } from '../../src/dr/backup.js';
import { backupVdiUuid } from '../../src/dr/layout.js';
import { fsckPreen, fsckReadOnly, startTestPool, vdiImagePath, type TestPool } from '../helpers/pool.js';
import { KEEP_ALL, seeBackups, tick } from './backup-checks.js';

let pool: TestPool;
/** A client on a workstation: no control domain of its own, so the VDI travels over HTTP. */
let workstation: Session;
let image: string;

beforeAll(async () => {
  pool = await startTestPool({ vms: 4, seed: 21 });
  workstation = await Session.login({ url: pool.sim.url, user: 'root', password: DEMO_ROOT_PASSWORD });
  const first = await runBackup(workstation, { vdiSize: 32 * 1024 * 1024, cacheDir: null, history: KEEP_ALL, now: tick });
  expect(first.access).toBe('remote');
  const srRef = await pool.session.call<Ref>('pool.get_default_SR', (await pool.session.call<Ref[]>('pool.get_all'))[0]!);
  image = vdiImagePath(pool.sim, backupVdiUuid(await pool.session.call<string>('SR.get_uuid', srRef)));
});
afterAll(async () => {
  await workstation.logout().catch(() => undefined);
  await pool.close();
});


describe('a remote commit cut at many points', () => {
  it('leaves a filesystem fsck -a accepts, earlier backups intact, the new one whole or absent; the next run succeeds', { timeout: 240_000 }, async () => {
    // How long a commit's upload is: one uncut run.
    const measured = await runBackup(workstation, { cacheDir: null, history: KEEP_ALL, now: tick });
    const body = measured.transfer.uploadedBytes;
    expect(measured.commit.kind).toBe('journaled');
    const cuts = [0.02, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 0.99].map((f) => Math.max(1, Math.floor(body * f)));
    const outcome = { absent: 0, whole: 0 };
    for (const at of cuts) {
      const before = await seeBackups(image);
      pool.sim.faults.add({ route: '/import_raw_vdi', dropAfterBytes: at, times: 1 });
      const cut = await runBackup(workstation, { cacheDir: null, history: KEEP_ALL, now: tick }).then(
        (r) => ({ ok: true as const, date: r.date }),
        (err: unknown) => ({ ok: false as const, err }),
      );
      // As the stock restore finds it: fsck -a first (on a copy: the VDI itself is left as the cut left it).
      const copy = `${image}.fsck`;
      await copyFile(image, copy);
      expect(fsckPreen(copy), `fsck -a after a cut at ${at} of ${body} bytes`).toBe(0);
      expect(fsckReadOnly(copy).code).toBe(0);
      const stock = await seeBackups(copy);
      await rm(copy);
      // And as we read it, without fsck.
      const ours = await seeBackups(image);
      expect(ours.dates).toEqual(stock.dates);
      for (const d of before.dates) expect(ours.digest.get(d), `backup ${d} after a cut at ${at}`).toBe(before.digest.get(d));
      const added = ours.dates.filter((d) => !before.dates.includes(d));
      expect(added.length).toBeLessThanOrEqual(1);
      if (added.length === 1) {
        expect(ours.files.get(added[0]!)).toHaveLength(measured.vmsExported + measured.templatesExported);
        outcome.whole++;
      } else {
        expect(cut.ok).toBe(false);
        outcome.absent++;
      }
      expect(ours.partial).toEqual([]);
    }
    // Both sides of the commit block were cut into.
    expect(outcome.absent).toBeGreaterThan(1);
    expect(outcome.whole).toBeGreaterThan(1);
    // The next run completes a commit the cut left in the journal, and backs up.
    const next = await runBackup(workstation, { cacheDir: null, history: KEEP_ALL, now: tick });
    const after = await seeBackups(image);
    expect(after.dates).toContain(next.date);
    expect(fsckReadOnly(image).code).toBe(0);
  });
});

describe('a first commit cut to a VDI created in the same run', () => {
  it('leaves no half filesystem: the next run formats the VDI again and backs up', { timeout: 120_000 }, async () => {
    const p = await startTestPool({ vms: 2, seed: 5 });
    const ws = await Session.login({ url: p.sim.url, user: 'root', password: DEMO_ROOT_PASSWORD });
    try {
      // The upload is cut, and the VDI cannot be destroyed afterwards (the pool went away, say).
      p.sim.faults.add({ route: '/import_raw_vdi', dropAfterBytes: 256 * 1024, times: 1 });
      p.sim.faults.add({ method: 'VDI.destroy', error: ['INTERNAL_ERROR', 'injected'], times: 1 });
      await expect(runBackup(ws, { vdiSize: 32 * 1024 * 1024, cacheDir: null })).rejects.toThrow();
      const srRef = await p.session.call<Ref>('pool.get_default_SR', (await p.session.call<Ref[]>('pool.get_all'))[0]!);
      const vdiUuid = backupVdiUuid(await p.session.call<string>('SR.get_uuid', srRef));
      const img = vdiImagePath(p.sim, vdiUuid);
      // What reached the VDI has no superblock: no tool mistakes it for a filesystem.
      expect(fsckReadOnly(img).code).toBeGreaterThanOrEqual(8);
      const r = await runBackup(ws, { cacheDir: null });
      expect(r.vdi.uuid).toBe(vdiUuid);
      expect(fsckReadOnly(img).code).toBe(0);
      expect((await seeBackups(img)).dates).toEqual([r.date]);
      const vdiRef = await p.session.call<Ref>('VDI.get_by_uuid', vdiUuid);
      expect(Object.keys(await p.session.call<Record<string, string>>('VDI.get_other_config', vdiRef))).not.toContain('xsconsole-dr-initialising');
    } finally {
      await ws.logout().catch(() => undefined);
      await p.close();
    }
  });
});
