import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { runBackup, SpaceGuardError, BackupStepError, BackupCancelledError } from '../../src/dr/backup.js';
import { LAST_BACKUP_KEY, parseLastBackupRecord } from '../../src/dr/backup-record.js';
import { describeFailure } from '../../src/failure/index.js';
import { isAbortError } from '../../src/xenapi/index.js';
import { NoBackupVdiError } from '../../src/dr/backup-vdi.js';
import { backupVdiUuid, isBackupDate } from '../../src/dr/layout.js';
import { parseSrMeta } from '../../src/dr/srmeta.js';
import { readVmmeta } from '../../src/dr/vmmeta.js';
import { openExt3 } from '../../src/dr/volume/ext3.js';
import { makeExt3 } from '../../src/dr/volume/e2fsprogs.js';
import { readFileBytes, writeFileBytes } from '../../src/dr/volume/files.js';
import { controlDomainAttachments, debugfs, fsckReadOnly, imageLs, startTestPool, vdiImagePath, type TestPool } from '../helpers/pool.js';
import type { Ref } from '../../src/xenapi/index.js';
import { openImageForWrite } from '../helpers/image-writer.js';

const SBIN = { ...process.env, PATH: `${process.env['PATH']}:/usr/sbin:/sbin` };
let pool: TestPool;
let srUuid: string;
let image: string;

beforeAll(async () => {
  pool = await startTestPool();
  const poolRef = (await pool.session.call<Ref[]>('pool.get_all'))[0]!;
  const sr = await pool.session.call<Ref>('pool.get_default_SR', poolRef);
  srUuid = await pool.session.call<string>('SR.get_uuid', sr);
});
afterAll(async () => {
  await pool.close();
});

let clock = Date.UTC(2025, 0, 1, 12, 0, 0);
const tick = () => new Date((clock += 3_600_000));

describe('backup to the default SR (attach backend)', () => {
  it('refuses without creation when there is no backup VDI (stock exit 3)', async () => {
    await expect(runBackup(pool.session, { create: false })).rejects.toBeInstanceOf(NoBackupVdiError);
    expect(pool.sim.db.findRefByUuid('VDI', backupVdiUuid(srUuid))).toBeUndefined();
  });

  it('creates the deterministic VDI and writes the stock layout', async () => {
    const r = await runBackup(pool.session, { now: tick });
    expect(r.vdi).toEqual({ uuid: backupVdiUuid(srUuid), created: true, deterministicUuid: true });
    expect(r.access).toBe('attach');
    expect(r.failures).toEqual([]);
    image = vdiImagePath(pool.sim, r.vdi.uuid);
    expect(isBackupDate(r.date)).toBe(true);

    const vdiRec = pool.sim.db.get('VDI', pool.sim.db.refByUuid('VDI', r.vdi.uuid));
    expect(vdiRec.name_label).toBe('Pool Metadata Backup');
    expect(vdiRec.other_config['ctxs-pool-backup']).toBe('true');
    expect(await controlDomainAttachments(pool.sim)).toEqual({ vbds: 0, devices: [] });

    expect(fsckReadOnly(image).code).toBe(0);
    expect(debugfs(image, 'cat /.ctxs-metadata-backup')).toBe('1\n');
    expect(debugfs(image, `cat /conf/${r.vdi.uuid}`)).toBe(
      `/var/run/pool-backup-${r.vdi.uuid}/${r.pool.uuid}.db {\n    rotate 12\n    missingok\n}\n`,
    );
    expect(debugfs(image, `cat /${r.pool.uuid}.db`)).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\s*<database>/);

    // Every non-control-domain, non-snapshot VM and every custom template, nothing else.
    const expected = pool.sim.db.where('VM', (v) => !v.is_control_domain && !v.is_a_snapshot && (!v.is_a_template || (!v.is_default_template && v.other_config['default_template'] !== 'true')));
    const all = imageLs(image, `/metadata/${r.date}/all`).sort();
    expect(all).toEqual(expected.map((v) => `${v.rec.uuid}.vmmeta`).sort());
    expect(r.vmsExported + r.templatesExported).toBe(expected.length);
    expect(r.templatesExported).toBeGreaterThan(0);

    // A .vmmeta is the export tar; ova.xml names the VM.
    const first = expected[0]!.rec;
    const vol = await openExt3(image, { write: false });
    const meta = await readVmmeta(await readFileBytes(vol.fs, `/metadata/${r.date}/all/${first.uuid}.vmmeta`, 1 << 24));
    const srmeta = parseSrMeta(await vol.fs.readFile(`/metadata/${r.date}/SRMETA.xml`));
    await vol.close();
    expect(meta.vms.find((v) => v.uuid === first.uuid)?.name).toBe(first.name_label);
    expect(srmeta.srs.map((s) => s.uuid).sort()).toEqual([...pool.sim.db.allRecords('SR').values()].map((s) => s.uuid).sort());

    // by-sr/<sr>/<vm>.vmmeta → ../../all/<vm>.vmmeta for each SR a VM's disks are on.
    const bySr = imageLs(image, `/metadata/${r.date}/by-sr`);
    expect(bySr).toContain(srUuid);
    const links = imageLs(image, `/metadata/${r.date}/by-sr/${srUuid}`);
    expect(links.length).toBeGreaterThan(0);
    for (const link of links) {
      const st = debugfs(image, `stat /metadata/${r.date}/by-sr/${srUuid}/${link}`);
      expect(st).toMatch(/Type: symlink/);
      expect(st).toContain(`Fast link dest: "../../all/${link}"`);
    }
  });

  it('rotates the database dump and keeps the history asked for', async () => {
    const dates: string[] = [];
    for (let i = 0; i < 3; i++) dates.push((await runBackup(pool.session, { now: tick, history: 2 })).date);
    const listed = imageLs(image, '/metadata').sort().reverse();
    expect(listed).toEqual(dates.slice(-2).reverse());
    const root = imageLs(image, '/');
    const poolUuid = pool.sim.db.get('pool', pool.sim.db.refs('pool')[0]!).uuid;
    // conf says rotate 12 (set at first use), so all four dumps are kept: .db, .db.1-.db.3
    expect(root.filter((n) => n.startsWith(`${poolUuid}.db`)).sort()).toEqual([`${poolUuid}.db`, `${poolUuid}.db.1`, `${poolUuid}.db.2`, `${poolUuid}.db.3`]);
    expect(fsckReadOnly(image).code).toBe(0);
  });

  it('reports a VM whose export fails, links only what was exported, and carries on', async () => {
    pool.sim.faults.add({ route: '/export_metadata', taskError: ['VM_BAD_POWER_STATE', 'x', 'halted', 'paused'], after: 1, times: 1 });
    const r = await runBackup(pool.session, { now: tick, concurrency: 1 });
    expect(r.failures).toHaveLength(1);
    expect(r.failures[0]!.code).toBe('VM_BAD_POWER_STATE');
    const failedUuid = r.failures[0]!.uuid;
    expect(imageLs(image, `/metadata/${r.date}/all`)).not.toContain(`${failedUuid}.vmmeta`);
    for (const sr of imageLs(image, `/metadata/${r.date}/by-sr`)) {
      expect(imageLs(image, `/metadata/${r.date}/by-sr/${sr}`)).not.toContain(`${failedUuid}.vmmeta`);
    }
  });

  it('leaves no partial folder and no VBD when aborted or when a step fails', async () => {
    const before = imageLs(image, '/metadata').sort();
    const ac = new AbortController();
    const p = runBackup(pool.session, {
      now: tick,
      concurrency: 1,
      signal: ac.signal,
      onProgress: (e) => {
        if (e.kind === 'vm' && e.done === 2) ac.abort(new Error('operator pressed Ctrl-C'));
      },
    });
    await expect(p).rejects.toThrow();
    expect(imageLs(image, '/metadata').sort()).toEqual(before);
    expect(await controlDomainAttachments(pool.sim)).toEqual({ vbds: 0, devices: [] });

    pool.sim.faults.add({ route: '/pool/xmldbdump', httpStatus: 500, times: 1 });
    await expect(runBackup(pool.session, { now: tick })).rejects.toBeInstanceOf(BackupStepError);
    expect(imageLs(image, '/metadata').sort()).toEqual(before);
    expect(await controlDomainAttachments(pool.sim)).toEqual({ vbds: 0, devices: [] });
    expect(fsckReadOnly(image).code).toBe(0);
  });
});

describe('dropped connections', () => {
  it('reports an export cut off mid-transfer for that VM, and fails cleanly when a call is dropped', async () => {
    pool.sim.faults.add({ route: '/export_metadata', dropAfterBytes: 700, times: 1 });
    const r = await runBackup(pool.session, { now: tick, concurrency: 1 });
    expect(r.failures).toHaveLength(1);
    const before = imageLs(image, '/metadata').sort();
    // Twice: a call dropped on a reused keep-alive socket is retried once on a fresh one (rpc.ts).
    pool.sim.faults.add({ method: 'VBD.get_all_records', drop: true, times: 2 });
    const err = await runBackup(pool.session, { now: tick }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupStepError);
    expect((err as Error).message).toMatch(/^Backing up VM metadata failed/);
    expect(imageLs(image, '/metadata').sort()).toEqual(before);
    expect(await controlDomainAttachments(pool.sim)).toEqual({ vbds: 0, devices: [] });
    expect(fsckReadOnly(image).code).toBe(0);
  });
});

describe('creation faults', () => {
  it('destroys a new VDI whose attach fails, and leaves no VBD', async () => {
    const p = await startTestPool({ vms: 2 });
    try {
      p.sim.faults.add({ method: 'VBD.plug', error: ['DEVICE_ALREADY_ATTACHED', 'x'], times: 1 });
      await expect(runBackup(p.session, {})).rejects.toBeInstanceOf(BackupStepError);
      expect(p.sim.db.where('VDI', (v) => v.name_label === 'Pool Metadata Backup')).toHaveLength(0);
      expect(await controlDomainAttachments(p.sim)).toEqual({ vbds: 0, devices: [] });
      p.sim.faults.add({ method: 'VDI.create', error: ['SR_FULL', '1073741824', '0'], times: 1 });
      const err = await runBackup(p.session, {}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BackupStepError);
      expect((err as Error).message).toContain('SR_FULL');
    } finally {
      await p.close();
    }
  });
});

describe('space guard', () => {
  it('refuses above 90 % unless forced, writing nothing', async () => {
    const p = await startTestPool({ vms: 2 });
    try {
      const poolRef = (await p.session.call<Ref[]>('pool.get_all'))[0]!;
      const sr = await p.session.call<Ref>('pool.get_default_SR', poolRef);
      const sruuid = await p.session.call<string>('SR.get_uuid', sr);
      // A small backup VDI made the stock way, then nearly filled.
      await p.session.call('VDI.create', { name_label: 'Pool Metadata Backup', name_description: '', SR: sr, virtual_size: String(32 * 1024 * 1024), type: 'user', sharable: false, read_only: false, other_config: {}, xenstore_data: {}, sm_config: {}, tags: [] });
      const img = vdiImagePath(p.sim, backupVdiUuid(sruuid));
      await makeExt3(img);
      const vol = await openImageForWrite(img);
      await writeFileBytes(vol.fs, '/ballast', Buffer.alloc(23 * 1024 * 1024, 1));
      await vol.close();
      const err = await runBackup(p.session, {}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SpaceGuardError);
      expect((err as SpaceGuardError).usedPercent).toBeGreaterThan(90);
      expect(imageLs(img, '/metadata')).toEqual([]);
      const forced = await runBackup(p.session, { force: true });
      expect(forced.spaceBefore.usedPercent).toBeGreaterThan(90);
      expect(imageLs(img, '/metadata')).toEqual([forced.date]);
    } finally {
      await p.close();
    }
  });
});

describe('remote backend', () => {
  it('writes the same layout through raw VDI transfers, reusing a verified local copy', async () => {
    const p = await startTestPool({ vms: 3 });
    const cacheDir = join(p.dir, 'cache');
    const GiB = 128 * 1024 * 1024; // the VDI's size: a small one keeps the test quick
    const CHECK = 2 * 1024 * 1024;
    try {
      const first = await runBackup(p.session, { access: 'remote', cacheDir, now: tick, vdiSize: GiB });
      expect(first.access).toBe('remote');
      expect(first.transfer.downloadedBytes).toBe(0); // a new VDI is all zeros: nothing fetched
      expect(first.transfer.uploadedBytes).toBeGreaterThan(0);
      expect(first.transfer.uploadedBytes).toBeLessThan(64 * 1024 * 1024);
      const img = vdiImagePath(p.sim, first.vdi.uuid);
      expect(fsckReadOnly(img).code).toBe(0);

      // Unchanged since our commit: only the check bytes are fetched.
      const second = await runBackup(p.session, { access: 'remote', cacheDir, now: tick });
      expect(second.transfer.downloadedBytes).toBe(CHECK);
      expect(second.transfer.uploadedBytes).toBeLessThan(8 * 1024 * 1024);
      expect(fsckReadOnly(img).code).toBe(0);
      expect(imageLs(img, '/metadata').sort()).toEqual([first.date, second.date].sort());

      // A killed run's slot (its process gone) does not keep the cache from later runs.
      const dead = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).toString());
      await writeFile(join(cacheDir, `${first.vdi.uuid}.lock`), `${dead}\n`);
      const afterKill = await runBackup(p.session, { access: 'remote', cacheDir, now: tick });
      expect(afterKill.transfer.downloadedBytes).toBe(CHECK);

      // Another tool wrote to the VDI: the copy is stale and is fetched again whole.
      execFileSync('debugfs', ['-w', '-R', 'mkdir /touched-by-stock-tools', img], { env: SBIN, stdio: 'ignore' });
      const third = await runBackup(p.session, { access: 'remote', cacheDir, now: tick });
      expect(third.transfer.downloadedBytes).toBe(CHECK + GiB);
      expect(imageLs(img, '/')).toContain('touched-by-stock-tools');

      // A failed commit leaves no trusted copy behind.
      p.sim.faults.add({ route: '/import_raw_vdi', httpStatus: 500, times: 1 });
      await expect(runBackup(p.session, { access: 'remote', cacheDir, now: tick })).rejects.toBeInstanceOf(BackupStepError);
      const fifth = await runBackup(p.session, { access: 'remote', cacheDir, now: tick });
      expect(fifth.transfer.downloadedBytes).toBe(GiB);
      expect(fsckReadOnly(img).code).toBe(0);
      expect(imageLs(img, '/metadata')).toContain(fifth.date);

      // Without a cache, the whole VDI every time.
      const uncached = await runBackup(p.session, { access: 'remote', cacheDir: null, now: tick });
      expect(uncached.transfer.downloadedBytes).toBe(GiB);
      expect(await controlDomainAttachments(p.sim)).toEqual({ vbds: 0, devices: [] });
    } finally {
      await p.close();
    }
  });
});

describe('a host older than deterministic backup VDI uuids (XenServer 7.1 profile)', () => {
  it('creates one backup VDI with a random uuid and keeps using it', async () => {
    const p = await startTestPool({ vms: 2, profile: 'xs71' });
    try {
      const first = await runBackup(p.session, { now: tick, vdiSize: 64 * 1024 * 1024 });
      expect(first.vdi.created).toBe(true);
      expect(first.vdi.deterministicUuid).toBe(false);
      const second = await runBackup(p.session, { now: tick });
      expect(second.vdi).toEqual({ uuid: first.vdi.uuid, created: false, deterministicUuid: false });
      expect(p.sim.db.where('VDI', (v) => v.name_label === 'Pool Metadata Backup')).toHaveLength(1);
      expect(imageLs(vdiImagePath(p.sim, first.vdi.uuid), '/metadata')).toHaveLength(2);
    } finally {
      await p.close();
    }
  });
});

describe('one pool lookup per run', () => {
  it('reads the pool object once (one pool.get_all_records), creating the VDI or not', async () => {
    const p = await startTestPool({ vms: 2 });
    try {
      const poolCalls = () => Object.entries(p.sim.stats.snapshot().calls).filter(([m]) => m.startsWith('pool.'));
      for (const run of ['creates the VDI', 'uses the VDI']) {
        const before = new Map(poolCalls());
        await runBackup(p.session, { now: tick });
        const made = poolCalls()
          .map(([m, n]) => [m, n - (before.get(m) ?? 0)] as const)
          .filter(([, n]) => n > 0);
        expect(made, run).toEqual([['pool.get_all_records', 1]]);
      }
    } finally {
      await p.close();
    }
  });
});

describe('the record of the last backup on its VDI', () => {
  it('is written after each backup (replacing the last), with the figures of the report', async () => {
    const p = await startTestPool({ vms: 2 });
    try {
      const otherConfig = (uuid: string) => p.sim.db.get('VDI', p.sim.db.refByUuid('VDI', uuid)).other_config as Record<string, string>;
      const first = await runBackup(p.session, { now: tick, history: 3 });
      expect(first.recordWritten).toBe(true);
      const second = await runBackup(p.session, { now: tick, history: 3 });
      const rec = parseLastBackupRecord(otherConfig(second.vdi.uuid)[LAST_BACKUP_KEY]);
      expect(rec).toMatchObject({
        date: second.date,
        vms: second.vmsExported,
        templates: second.templatesExported,
        failures: 0,
        usedBytes: second.spaceAfter.usedBytes,
        capacityBytes: second.spaceAfter.usedBytes + second.spaceAfter.availableBytes,
        keep: 3,
      });
      expect(rec!.backupBytes).toBeGreaterThanOrEqual(second.bytesWritten);
      // Two kept of three: the third fits, then retention keeps the use level.
      expect(second.forecast).toEqual({ backupsThatFit: 'unlimited', nextRefused: false, lastThatFits: false });
    } finally {
      await p.close();
    }
  });

  it('a backup that succeeded still succeeds when its record cannot be written, with a warning', async () => {
    const p = await startTestPool({ vms: 2 });
    try {
      await runBackup(p.session, { now: tick });
      const r = await runBackup(p.session, {
        now: tick,
        // Once the backup is being written to the VDI, the record's add is refused.
        onProgress: (e) => e.kind === 'phase' && e.phase === 'commit' && p.sim.faults.add({ method: 'VDI.add_to_other_config', error: ['INTERNAL_ERROR', 'refused by the test'], times: 1 }),
      });
      expect(r.recordWritten).toBe(false);
      expect(r.warnings.join('\n')).toMatch(/its record could not be written on the backup VDI \(INTERNAL_ERROR/);
      expect(imageLs(vdiImagePath(p.sim, r.vdi.uuid), '/metadata')).toContain(r.date);
    } finally {
      await p.close();
    }
  });
});

describe('cancelled by the operator', () => {
  it('says what was exported and what was cleaned, from what the run did', async () => {
    const p = await startTestPool({ vms: 4 });
    try {
      const first = await runBackup(p.session, { now: tick });
      const image = vdiImagePath(p.sim, first.vdi.uuid);
      const before = imageLs(image, '/metadata');
      // The first export answers, the others hang: Ctrl-C lands mid-VMs.
      p.sim.faults.add({ route: '/export_metadata', latencyMs: 60_000, after: 1 });
      const ac = new AbortController();
      const err = await runBackup(p.session, { now: tick, concurrency: 1, signal: ac.signal, onProgress: (e) => e.kind === 'vm' && ac.abort(new Error('Ctrl-C')) }).catch((e: unknown) => e);
      p.sim.faults.clear();
      expect(err).toBeInstanceOf(BackupCancelledError);
      const c = (err as BackupCancelledError).facts;
      expect(c).toMatchObject({ step: 'vms', vms: { exported: 1 }, vdi: 'unchanged', access: { mode: 'attach', released: true }, createdVdi: null, lockReleased: true });
      expect(c.vms!.total).toBeGreaterThan(1);
      expect(isAbortError(err)).toBe(true);
      const f = describeFailure(err);
      expect(f.kind).toBe('cancelled');
      expect(f.meaning).toBe(
        `Backup cancelled while backing up VM metadata: 1 of ${c.vms!.total} VMs and templates had been exported. ` +
          'Nothing was written to the backup VDI: the run is written to it only once complete, and the partial run was dropped. The VBD was unplugged and destroyed.',
      );
      expect(imageLs(image, '/metadata')).toEqual(before);
      expect(await controlDomainAttachments(p.sim)).toEqual({ vbds: 0, devices: [] });
    } finally {
      await p.close();
    }
  });

  it('a VDI created by the cancelled run is destroyed again, and says so', async () => {
    const p = await startTestPool({ vms: 2 });
    try {
      const ac = new AbortController();
      const err = await runBackup(p.session, { now: tick, signal: ac.signal, onProgress: (e) => e.kind === 'phase' && e.phase === 'srmeta' && ac.abort(new Error('Ctrl-C')) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BackupCancelledError);
      const c = (err as BackupCancelledError).facts;
      expect(c.createdVdi).toEqual({ uuid: backupVdiUuid(srUuidOf(p)), destroyed: true });
      expect((err as Error).message).toContain(`The backup VDI ${backupVdiUuid(srUuidOf(p))} created by this run was destroyed again.`);
      expect(p.sim.db.where('VDI', (v) => v.name_label === 'Pool Metadata Backup')).toHaveLength(0);
    } finally {
      await p.close();
    }
  });
});

describe('cancelled while the backup is written to the VDI', () => {
  it('says this backup is absent or held in the journal, and earlier backups are intact', async () => {
    const p = await startTestPool({ vms: 2 });
    try {
      const first = await runBackup(p.session, { access: 'remote', cacheDir: null, now: tick, vdiSize: 32 * 1024 * 1024 });
      // The upload of the second run is held: Ctrl-C lands while it is under way.
      p.sim.faults.add({ route: '/import_raw_vdi', latencyMs: 5_000 });
      const uploads = () => p.sim.stats.snapshot().routes['/import_raw_vdi']?.requests ?? 0;
      const before = uploads();
      const ac = new AbortController();
      const running = runBackup(p.session, { access: 'remote', cacheDir: null, now: tick, signal: ac.signal }).catch((e: unknown) => e);
      const deadline = Date.now() + 20_000;
      while (uploads() === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      ac.abort(new Error('Ctrl-C'));
      const err = await running;
      p.sim.faults.clear();
      expect(err).toBeInstanceOf(BackupCancelledError);
      expect((err as BackupCancelledError).facts).toMatchObject({ step: 'commit', vdi: 'journal', access: { mode: 'remote', released: true }, lockReleased: true });
      expect((err as Error).message).toContain('The write-back to the backup VDI was cut: earlier backups are intact; this one is absent or held in the journal');
      expect((err as Error).message).toContain('The local copy of the VDI was deleted.');
      // The next backup completes whatever the journal holds, and the first backup is still there.
      const next = await runBackup(p.session, { access: 'remote', cacheDir: null, now: tick });
      expect(next.backupsKept).toContain(first.date);
    } finally {
      await p.close();
    }
  });
});

function srUuidOf(p: TestPool): string {
  const pool = [...p.sim.db.allRecords('pool').values()][0]!;
  return p.sim.db.get('SR', pool.default_SR).uuid;
}
