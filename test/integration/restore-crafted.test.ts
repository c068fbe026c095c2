/**
 * A backup VDI's contents may be controlled by an attacker (a guest formats its own disk to
 * look like one, or tampers with the replicated SR). Nothing in it may make us read outside
 * the backup, expand entities, read huge files, or trust a VDI that is not the deterministic one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tarOf } from '../helpers/tar.js';
import { runBackup } from '../../src/dr/backup.js';
import { BackupSource, probeBackupVdis } from '../../src/dr/backup-source.js';
import { preflightRestore, runRestore } from '../../src/dr/restore.js';
import { makeExt3 } from '../../src/dr/volume/e2fsprogs.js';
import { openExt3 } from '../../src/dr/volume/ext3.js';
import { writeFileBytes } from '../../src/dr/volume/files.js';
import { controlDomainAttachments, startTestPool, vdiImagePath, type TestPool } from '../helpers/pool.js';
import type { Ref } from '../../src/xenapi/index.js';
import { openImageForWrite } from '../helpers/image-writer.js';

const ENV = { ...process.env, PATH: `${process.env['PATH']}:/usr/sbin:/sbin` };
let p: TestPool;
let work: string;
let srUuid: string;
let date: string;

const EVIL_UUID = '66666666-6666-4666-8666-666666666666';
const BOMB_UUID = '77777777-7777-4777-8777-777777777777';
const HUGE_UUID = '88888888-8888-4888-8888-888888888888';


beforeAll(async () => {
  p = await startTestPool({ vms: 3 });
  work = await mkdtemp(join(tmpdir(), 'xsdr-crafted-'));
  const r = await runBackup(p.session, {});
  date = r.date;
  srUuid = r.sr.uuid;
  const image = vdiImagePath(p.sim, r.vdi.uuid);
  const d = `/metadata/${date}`;
  const bomb =
    '<?xml version="1.0"?><!DOCTYPE v [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>' +
    '<value><struct><member><name>version</name><value>&c;</value></member></struct></value>';
  await writeFile(join(work, 'bomb'), await tarOf('ova.xml', bomb));
  await writeFile(join(work, 'notova'), await tarOf('../../etc/passwd', 'x'));
  await writeFile(join(work, 'small'), 'x');
  const cmds = [
    `write ${join(work, 'bomb')} ${d}/all/${BOMB_UUID}.vmmeta`,
    `write ${join(work, 'notova')} ${d}/all/${EVIL_UUID}.vmmeta`,
    `write ${join(work, 'small')} ${d}/all/${HUGE_UUID}.vmmeta`,
    // A 1 GiB file that is not really there: only its size says so.
    `sif ${d}/all/${HUGE_UUID}.vmmeta size 1073741824`,
    `write ${join(work, 'small')} ${d}/all/evil.vmmeta`,
    `symlink ${d}/by-sr/${srUuid}/${EVIL_UUID}.vmmeta /etc/passwd`,
    `symlink ${d}/by-sr/${srUuid}/${BOMB_UUID}.vmmeta ../../../../all/${BOMB_UUID}.vmmeta`,
    `symlink ${d}/by-sr/${srUuid}/${HUGE_UUID}.vmmeta ../../all/${HUGE_UUID}.vmmeta`,
  ];
  await writeFile(join(work, 'cmds'), `${cmds.join('\n')}\n`);
  execFileSync('debugfs', ['-w', '-f', join(work, 'cmds'), image], { env: ENV, stdio: 'ignore' });
});
afterAll(async () => {
  await p?.close();
  await rm(work, { recursive: true, force: true });
});

describe('a crafted backup', () => {
  it('never follows a link out of the backup, and skips names that are not <uuid>.vmmeta', async () => {
    const src = await BackupSource.open(p.session, { srUuid });
    try {
      const { entries, problems } = await src.entries(date, 'sr');
      expect(entries.map((e) => e.vmUuid)).not.toContain(EVIL_UUID);
      expect(entries.map((e) => e.vmUuid)).not.toContain(BOMB_UUID);
      expect(problems.map((x) => x.name).sort()).toEqual([`${BOMB_UUID}.vmmeta`, `${EVIL_UUID}.vmmeta`].sort());
      expect(problems.every((x) => /leaves the backup/.test(x.reason))).toBe(true);
      const all = await src.entries(date, 'all');
      expect(all.problems.map((x) => x.name)).toEqual(['evil.vmmeta']);
    } finally {
      await src.close();
    }
  });

  it('refuses entity bombs, foreign tar entries and oversized files without sending them to XAPI', async () => {
    const imports = () => p.sim.stats.snapshot().routes['/import_metadata']?.requests ?? 0;
    const before = imports();
    const pf = await preflightRestore(p.session, { srUuid, scope: 'all' });
    const byUuid = Object.fromEntries(pf.vms.map((v) => [v.uuid, v]));
    expect(byUuid[BOMB_UUID]!.error).toMatch(/DTD/);
    expect(byUuid[EVIL_UUID]!.error).toMatch(/first entry/);
    expect(byUuid[HUGE_UUID]!.error).toMatch(/1073741824 bytes/);
    const r = await runRestore(p.session, { srUuid, scope: 'all', dryRun: true });
    for (const u of [BOMB_UUID, EVIL_UUID, HUGE_UUID]) {
      expect(r.results.find((x) => x.vmUuid === u)?.error?.code).toBe('UNSAFE_BACKUP_FILE');
    }
    // Only the genuine exports reached XAPI.
    expect(imports() - before).toBe(r.results.filter((x) => x.error?.code !== 'UNSAFE_BACKUP_FILE').length);
    expect(await controlDomainAttachments(p.sim)).toEqual({ vbds: 0, devices: [] });
  });
});

describe('a look-alike VDI planted by a guest', () => {
  it('is never trusted without the legacy scan, and never chosen silently with it', async () => {
    const poolRef = (await p.session.call<Ref[]>('pool.get_all'))[0]!;
    const srRef = await p.session.call<Ref>('pool.get_default_SR', poolRef);
    const planted = await p.session.call<Ref>('VDI.create', { name_label: 'data', name_description: '', SR: srRef, virtual_size: String(64 * 1024 * 1024), type: 'user', sharable: false, read_only: false, other_config: {}, xenstore_data: {}, sm_config: {}, tags: [] });
    const plantedUuid = await p.session.call<string>('VDI.get_uuid', planted);
    const img = vdiImagePath(p.sim, plantedUuid);
    await makeExt3(img);
    const vol = await openImageForWrite(img);
    await writeFileBytes(vol.fs, '/.ctxs-metadata-backup', '1\n');
    await vol.fs.mkdir('/metadata');
    await vol.close();

    const normal = await probeBackupVdis(p.session, srUuid);
    expect(normal.found.map((f) => f.uuid)).not.toContain(plantedUuid);
    await expect(BackupSource.open(p.session, { srUuid, vdiUuid: plantedUuid })).rejects.toMatchObject({ code: 'NOT_PERMITTED' });

    const legacy = await probeBackupVdis(p.session, srUuid, { legacy: true });
    expect(legacy.found.map((f) => f.uuid)).toContain(plantedUuid);
    expect(legacy.found[0]!.trusted).toBe(true);
    expect(legacy.found.find((f) => f.uuid === plantedUuid)!.trusted).toBe(false);
    expect(await controlDomainAttachments(p.sim)).toEqual({ vbds: 0, devices: [] });
  });
});
