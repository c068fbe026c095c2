/**
 * What killed and failed runs leave behind is cleaned by the next run, which says so:
 * VBDs of the backup VDI (this tool's, tagged; the stock scripts' unplugged ones), partial
 * files in the filesystem; a VBD a running stock script holds, or a guest's, is never
 * touched. Real simulator, real ext3 images checked with debugfs and e2fsck.
 */
import { explainError } from '../../src/failure/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/dr/backup.js';
import { backupText } from '../../src/commands/backup.js';
import { preflightText, restoreText } from '../../src/commands/restore.js';
import { preflightLines } from '../../components/restore/texts.js';
import { plainText } from '../../components/dialogues/TextDialogue.js';
import { backupSummaryText } from '../../components/backup/summary.js';
import { backupVdiUuid } from '../../src/dr/layout.js';
import { makeExt3 } from '../../src/dr/volume/e2fsprogs.js';
import { writeFileBytes } from '../../src/dr/volume/files.js';
import { preflightRestore, runRestore } from '../../src/dr/restore.js';
import { dumpPoolDatabase, type Ref } from '../../src/xenapi/index.js';
import { controlDomainAttachments, debugfs, fsckReadOnly, imageLs, startTestPool, vdiImagePath, type TestPool } from '../helpers/pool.js';
import { openImageForWrite } from '../helpers/image-writer.js';

const TAG = 'xsconsole-dr-vbd';
let pool: TestPool;
let srUuid: string;
let vdiRef: Ref;
let image: string;
let dom0: Ref;

function vbdRecord(vm: Ref, otherConfig: Record<string, string>) {
  return { VM: vm, VDI: vdiRef, userdevice: 'autodetect', bootable: false, mode: 'RW', type: 'Disk', unpluggable: true, empty: false, other_config: otherConfig, qos_algorithm_type: '', qos_algorithm_params: {}, device: '', currently_attached: false };
}

/** A VBD of the backup VDI, made through the API as a killed run (or the stock script) leaves it. */
async function leftoverVbd(vm: Ref, otherConfig: Record<string, string>, plugged: boolean): Promise<Ref> {
  const vbd = await pool.session.call<Ref>('VBD.create', vbdRecord(vm, otherConfig));
  if (plugged) await pool.session.call('VBD.plug', vbd);
  return vbd;
}

const vbdsOfBackupVdi = () => pool.sim.db.where('VBD', (b) => b.VDI === vdiRef).map((x) => x.ref);

beforeAll(async () => {
  pool = await startTestPool({ vms: 3 });
  const poolRef = (await pool.session.call<Ref[]>('pool.get_all'))[0]!;
  const sr = await pool.session.call<Ref>('pool.get_default_SR', poolRef);
  srUuid = await pool.session.call<string>('SR.get_uuid', sr);
  const first = await runBackup(pool.session, { vdiSize: 64 * 1024 * 1024 });
  vdiRef = pool.sim.db.refByUuid('VDI', first.vdi.uuid);
  image = vdiImagePath(pool.sim, first.vdi.uuid);
  dom0 = pool.sim.db.findRef('VM', (v) => v.is_control_domain)!;
});
afterAll(async () => {
  await pool.close();
});

describe('VBDs left by killed runs and by the stock scripts', () => {
  it("unplugs and destroys a killed run's VBD that is still plugged into dom0, and says so", async () => {
    const vbd = await leftoverVbd(dom0, { [TAG]: 'killed run' }, true);
    const uuid = pool.sim.db.get('VBD', vbd).uuid;
    expect((await controlDomainAttachments(pool.sim)).devices).toHaveLength(1);
    const r = await runBackup(pool.session, {});
    expect(r.cleaned).toContainEqual(expect.objectContaining({ kind: 'vbd', uuid, ours: true, unplugged: true }));
    expect(vbdsOfBackupVdi()).toEqual([]);
    expect(await controlDomainAttachments(pool.sim)).toEqual({ vbds: 0, devices: [] });
    // The operator is told, in the CLI's text and in the console's summary.
    const line = `Released a killed run's VBD ${uuid} of the backup VDI on "Control domain on host: xenserver-sim" (it was still plugged in).`;
    expect(backupText(r).split('\n')).toContain(line);
    expect(backupSummaryText(r).split('\n')).toContain(line);
    expect(fsckReadOnly(image).code).toBe(0);
  });

  it("destroys the stock scripts' unplugged leftovers (their cleanup before CA-393578)", async () => {
    const vbd = await leftoverVbd(dom0, {}, false);
    const uuid = pool.sim.db.get('VBD', vbd).uuid;
    const r = await runBackup(pool.session, {});
    expect(r.cleaned).toContainEqual(expect.objectContaining({ kind: 'vbd', uuid, ours: false, unplugged: false }));
    expect(vbdsOfBackupVdi()).toEqual([]);
  });

  it('waits for a VBD a running stock script has plugged, never touches it, and refuses with what to do', async () => {
    const vbd = await leftoverVbd(dom0, {}, true);
    const uuid = pool.sim.db.get('VBD', vbd).uuid;
    const before = imageLs(image, '/metadata');
    const err = await runBackup(pool.session, { lockWaitMs: 300, lockPollMs: 50 }).catch((e: unknown) => e);
    expect(explainError(err).code).toBe('BACKUP_VDI_ATTACHED');
    expect((err as Error).message).toContain(uuid);
    expect(explainError(err).nextStep).toContain(`xe vbd-unplug uuid=${uuid}`);
    expect(pool.sim.db.get('VBD', vbd).currently_attached).toBe(true);
    expect(imageLs(image, '/metadata')).toEqual(before);

    // The stock script finishes while we wait: the backup goes ahead.
    let released = false;
    const r = await runBackup(pool.session, {
      lockWaitMs: 30_000,
      lockPollMs: 50,
      onProgress: (e) => {
        if (released || e.kind !== 'lock-wait' || e.holder !== 'attached' || !/^the program that plugged/.test(e.waitingFor)) return;
        released = true;
        void pool.session.call('VBD.unplug', vbd).then(() => pool.session.call('VBD.destroy', vbd));
      },
    });
    expect(released).toBe(true);
    expect(r.waited?.for).toContain(uuid);
    expect(imageLs(image, '/metadata')).toContain(r.date);
  });

  it("never touches a guest's VBD of the backup VDI and refuses to back up", async () => {
    const guest = pool.sim.db.findRef('VM', (v) => !v.is_control_domain && !v.is_a_template && !v.is_a_snapshot)!;
    const vbd = await leftoverVbd(guest, {}, false);
    const err = await runBackup(pool.session, {}).catch((e: unknown) => e);
    expect(explainError(err).code).toBe('BACKUP_VDI_IN_VM');
    expect(pool.sim.db.exists('VBD', vbd)).toBe(true);
    await pool.session.call('VBD.destroy', vbd);
  });

  it('releases a stale VBD before a restore reads the VDI, and reports it', async () => {
    const vbd = await leftoverVbd(dom0, { [TAG]: 'killed restore' }, true);
    const uuid = pool.sim.db.get('VBD', vbd).uuid;
    const r = await runRestore(pool.session, { srUuid, dryRun: true });
    expect(r.cleaned).toContainEqual(expect.objectContaining({ uuid, ours: true, unplugged: true }));
    expect(restoreText(r)).toContain(`Released a killed run's VBD ${uuid} of the backup VDI`);
    expect(vbdsOfBackupVdi()).toEqual([]);
  });

  it('releases a stale VBD before a preflight reads the VDI, and the CLI and the console say so', async () => {
    const vbd = await leftoverVbd(dom0, { [TAG]: 'killed preflight' }, true);
    const uuid = pool.sim.db.get('VBD', vbd).uuid;
    const p = await preflightRestore(pool.session, { srUuid });
    expect(p.cleaned).toContainEqual(expect.objectContaining({ uuid, ours: true, unplugged: true }));
    const line = `Released a killed run's VBD ${uuid} of the backup VDI`;
    expect(preflightText(p)).toContain(line);
    expect(plainText(preflightLines(p, p.vdi))).toContain(line);
    expect(vbdsOfBackupVdi()).toEqual([]);
  });
});

/** The pool, its default SR and their uuids. */
async function poolIds(p: TestPool): Promise<{ poolRef: Ref; sr: Ref; sruuid: string; poolUuid: string }> {
  const poolRef = (await p.session.call<Ref[]>('pool.get_all'))[0]!;
  const sr = await p.session.call<Ref>('pool.get_default_SR', poolRef);
  return { poolRef, sr, sruuid: await p.session.call<string>('SR.get_uuid', sr), poolUuid: await p.session.call<string>('pool.get_uuid', poolRef) };
}

describe('partial files left in the filesystem', () => {
  it("removes a killed run's partial dump and unfinished folder, and reports them", async () => {
    const p = await startTestPool({ vms: 2 });
    try {
      const { sruuid, poolUuid } = await poolIds(p);
      await runBackup(p.session, { vdiSize: 32 * 1024 * 1024 });
      const img = vdiImagePath(p.sim, backupVdiUuid(sruuid));
      // A run killed while dumping a big database: the partial dump fills the VDI.
      const vol = await openImageForWrite(img);
      const partialBytes = vol.superblock.availableBytes - 1024 * 1024;
      await writeFileBytes(vol.fs, `/.${poolUuid}.db.incomplete`, Buffer.alloc(partialBytes, 7));
      await vol.fs.mkdir('/metadata/.incomplete-2025-01-01-00-00-00', 0o755);
      await writeFileBytes(vol.fs, '/metadata/.incomplete-2025-01-01-00-00-00/SRMETA.xml', 'partial');
      await vol.close();

      const r = await runBackup(p.session, {});
      expect(r.cleaned).toContainEqual({ kind: 'file', path: `/.${poolUuid}.db.incomplete`, bytes: partialBytes });
      expect(r.cleaned).toContainEqual({ kind: 'file', path: '/metadata/.incomplete-2025-01-01-00-00-00', bytes: 7 });
      expect(r.spaceBefore.usedPercent).toBeLessThan(90);
      expect(backupText(r)).toContain(`Removed /.${poolUuid}.db.incomplete, left by an interrupted run (${partialBytes} bytes).`);
      expect(imageLs(img, '/')).not.toContain(`.${poolUuid}.db.incomplete`);
      expect(imageLs(img, '/metadata').filter((n) => n.startsWith('.'))).toEqual([]);
      expect(fsckReadOnly(img).code).toBe(0);
    } finally {
      await p.close();
    }
  });

  it('a disk-full run leaves nothing that makes the next one fail', async () => {
    const p = await startTestPool({ vms: 2 });
    try {
      const { poolRef, sr, sruuid, poolUuid } = await poolIds(p);
      // A pool database of about 6 MiB (a big pool's), to be dumped to a 32 MiB backup VDI.
      p.sim.db.mapAdd('pool', poolRef, 'other_config', 'ballast', 'x'.repeat(6 * 1024 * 1024));
      const dumpSize = (await dumpPoolDatabase(p.session)).length;
      await p.session.call('VDI.create', { name_label: 'Pool Metadata Backup', name_description: '', SR: sr, virtual_size: String(32 * 1024 * 1024), type: 'user', sharable: false, read_only: false, other_config: {}, xenstore_data: {}, sm_config: {}, tags: [] });
      const img = vdiImagePath(p.sim, backupVdiUuid(sruuid));
      await makeExt3(img);
      let vol = await openImageForWrite(img);
      const sb = vol.superblock;
      const free = sb.availableBytes + sb.reservedBlocks * sb.blockSize;
      // Room for three quarters of the dump: the (forced) run fills the disk.
      await writeFileBytes(vol.fs, '/ballast', Buffer.alloc(free - Math.floor(dumpSize * 0.75), 1));
      await vol.close();
      const full = await runBackup(p.session, { force: true }).catch((e: unknown) => e);
      expect(full).toBeInstanceOf(Error);
      expect((full as Error).message).toMatch(/full|space/i);

      // The operator frees half a dump more: with the partial dump still there the disk
      // would stay over 90 % (the guard refuses); without it the dump fits.
      vol = await openImageForWrite(img);
      await vol.fs.unlink('/ballast');
      await writeFileBytes(vol.fs, '/ballast', Buffer.alloc(free - Math.floor(dumpSize * 1.25), 1));
      await vol.close();
      const r = await runBackup(p.session, {});
      expect(r.spaceBefore.usedPercent).toBeLessThanOrEqual(90);
      expect(imageLs(img, '/metadata')).toEqual([r.date]);
      expect(imageLs(img, '/')).toContain(`${poolUuid}.db`);
      expect(imageLs(img, '/')).not.toContain(`.${poolUuid}.db.incomplete`);
      // The whole dump (the database has a few more sessions and tasks by now).
      expect(Number(/Size: (\d+)/.exec(debugfs(img, `stat /${poolUuid}.db`))?.[1])).toBeGreaterThanOrEqual(dumpSize);
      expect(fsckReadOnly(img).code).toBe(0);
    } finally {
      await p.close();
    }
  });
});

