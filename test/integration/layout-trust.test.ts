/**
 * Layout trust: only the shapes the stock xe-backup-metadata writes are accepted. A backup
 * whose all/ or by-sr/<sr>/ is a symbolic link to a folder, whose dated folder is a link,
 * whose marker is a link or a folder, or whose exports have a second name, is not read
 * through them (restore, preflight, list, inspect); a backup into an existing VDI whose
 * conf/ is a link refuses clearly instead of writing through it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackup, type BackupReport } from '../../src/dr/backup.js';
import { BackupSource, probeBackupVdis } from '../../src/dr/backup-source.js';
import { inspectImage } from '../../src/dr/inspect.js';
import { preflightRestore } from '../../src/dr/restore.js';
import { explainError } from '../../src/failure/index.js';
import { controlDomainAttachments, debugfs, imageLs, startTestPool, vdiImagePath, type TestPool } from '../helpers/pool.js';

const ENV = { ...process.env, PATH: `${process.env['PATH']}:/usr/sbin:/sbin` };
const LINKED_ALL = '2030-01-01-00-00-00';
const LINKED_DATE = '2031-01-01-00-00-00';
const SECOND_NAME = '55555555-5555-4555-8555-555555555555';

let p: TestPool;
let work: string;
let report: BackupReport;
let image: string;
let real: string;

function craft(cmds: string[]): void {
  execFileSync('debugfs', ['-w', '-f', '-', image], { input: `${cmds.join('\n')}\n`, env: ENV, stdio: ['pipe', 'ignore', 'ignore'] });
}

beforeAll(async () => {
  p = await startTestPool({ vms: 3 });
  work = await mkdtemp(join(tmpdir(), 'xsdr-layout-'));
  report = await runBackup(p.session, {});
  image = vdiImagePath(p.sim, report.vdi.uuid);
  real = `/metadata/${report.date}`;
  const sr = report.sr.uuid;
  const first = imageLs(image, `${real}/all`)[0]!;
  craft([
    // A newer dated folder whose all/ and by-sr/<sr>/ are links to the real backup's folders.
    `mkdir /metadata/${LINKED_ALL}`,
    `symlink /metadata/${LINKED_ALL}/all ${real}/all`,
    `mkdir /metadata/${LINKED_ALL}/by-sr`,
    `symlink /metadata/${LINKED_ALL}/by-sr/${sr} ${real}/by-sr/${sr}`,
    // A dated folder that is itself a link.
    `symlink /metadata/${LINKED_DATE} ${real}`,
    // A second name for one export.
    `ln ${real}/all/${first} ${real}/all/${SECOND_NAME}.vmmeta`,
  ]);
});
afterAll(async () => {
  await p?.close();
  await rm(work, { recursive: true, force: true });
});

describe('restore and list', () => {
  it('never list a dated folder that is a link, nor count exports through linked folders', async () => {
    const src = await BackupSource.open(p.session, { srUuid: report.sr.uuid });
    try {
      const dates = await src.listDates();
      expect(dates).toContain(LINKED_ALL);
      expect(dates).not.toContain(LINKED_DATE);
      const sums = Object.fromEntries((await src.summaries()).map((x) => [x.date, x]));
      expect(sums[LINKED_ALL]).toMatchObject({ vms: 0, vmsOnSr: 0 });
      expect(sums[report.date]!.vms).toBeGreaterThan(0);
    } finally {
      await src.close();
    }
  });

  it('refuse a backup whose all/ or by-sr/<sr>/ is a link, naming it', async () => {
    const src = await BackupSource.open(p.session, { srUuid: report.sr.uuid });
    try {
      await expect(src.entries(LINKED_ALL, 'all')).rejects.toMatchObject({ code: 'NOT_A_BACKUP', message: expect.stringMatching(new RegExp(`/metadata/${LINKED_ALL}/all is a symbolic link, not what the stock backup writes there`)) });
      await expect(src.entries(LINKED_ALL, 'sr')).rejects.toMatchObject({ code: 'NOT_A_BACKUP', message: expect.stringMatching(/by-sr\/[0-9a-f-]{36} is a symbolic link/) });
    } finally {
      await src.close();
    }
    await expect(preflightRestore(p.session, { srUuid: report.sr.uuid, date: LINKED_ALL })).rejects.toMatchObject({ code: 'NOT_A_BACKUP' });
    expect(await controlDomainAttachments(p.sim)).toEqual({ vbds: 0, devices: [] });
  });

  it('read an export with a second name once', async () => {
    const src = await BackupSource.open(p.session, { srUuid: report.sr.uuid });
    try {
      const { entries, problems } = await src.entries(report.date, 'all');
      expect(entries.map((e) => e.vmUuid)).not.toContain(SECOND_NAME);
      expect(problems).toEqual([{ name: `${SECOND_NAME}.vmmeta`, reason: expect.stringMatching(/^the same file as [0-9a-f-]{36}\.vmmeta \(a second name for it\); ignored$/) }]);
    } finally {
      await src.close();
    }
  });
});

describe('inspect', () => {
  it('counts only real folders, names the linked ones, and ignores a linked dated folder', async () => {
    const r = await inspectImage(image);
    const by = Object.fromEntries(r.backups.map((b) => [b.date, b]));
    expect(by[LINKED_DATE]).toBeUndefined();
    expect(r.ignored).toContain(LINKED_DATE);
    expect(by[LINKED_ALL]).toMatchObject({ vms: 0, bySr: [{ sr: report.sr.uuid, vms: 0 }] });
    expect(by[LINKED_ALL]!.problems!.join('\n')).toMatch(/all is a symbolic link/);
    expect(by[report.date]!.problems).toBeUndefined();
    await expect(inspectImage(image, { date: LINKED_ALL })).rejects.toMatchObject({ code: 'NOT_A_BACKUP', message: expect.stringMatching(/does not hold a metadata backup in the stock layout: .*all is a symbolic link/) });
    const detail = await inspectImage(image, { date: report.date });
    expect(detail.detail!.vms.find((v) => v.uuid === SECOND_NAME)!.error).toMatch(/the same file as/);
  });
});

describe('backup into an existing VDI', () => {
  it('refuses when conf/ is a link, and writes nothing through it', async () => {
    const conf = imageLs(image, '/conf');
    craft([...conf.map((n) => `rm /conf/${n}`), 'rmdir /conf', 'symlink /conf /metadata']);
    const before = imageLs(image, '/metadata').sort();
    const err = await runBackup(p.session, {}).catch((e: unknown) => e);
    expect(explainError(err)).toMatchObject({ code: 'BAD_BACKUP_LAYOUT', meaning: expect.stringMatching(/\/conf is a symbolic link, not what the stock backup writes there; nothing was written to the backup VDI/) });
    expect(imageLs(image, '/metadata').sort()).toEqual(before);
    expect(debugfs(image, 'stat /conf')).toMatch(/Type: symlink/);
    expect(await controlDomainAttachments(p.sim)).toEqual({ vbds: 0, devices: [] });
  });
});

describe('the marker', () => {
  for (const [what, cmds] of [
    ['a symbolic link', ['rm /.ctxs-metadata-backup', 'symlink /.ctxs-metadata-backup /metadata']],
    ['a folder', ['rm /.ctxs-metadata-backup', 'mkdir /.ctxs-metadata-backup']],
  ] as const) {
    it(`is refused when it is ${what}`, async () => {
      craft(['rm /.ctxs-metadata-backup', 'rmdir /.ctxs-metadata-backup', ...cmds]);
      await expect(BackupSource.open(p.session, { srUuid: report.sr.uuid })).rejects.toMatchObject({ code: 'NOT_A_BACKUP', message: expect.stringMatching(/no \/\.ctxs-metadata-backup file/) });
      expect((await probeBackupVdis(p.session, report.sr.uuid)).found).toEqual([]);
      await expect(inspectImage(image)).rejects.toMatchObject({ code: 'NOT_A_BACKUP' });
      expect(await controlDomainAttachments(p.sim)).toEqual({ vbds: 0, devices: [] });
    });
  }
  it('is accepted again as the regular file the stock script writes', async () => {
    await writeFile(join(work, 'marker'), '1\n');
    craft(['rmdir /.ctxs-metadata-backup', 'rm /.ctxs-metadata-backup', `write ${join(work, 'marker')} /.ctxs-metadata-backup`]);
    const src = await BackupSource.open(p.session, { srUuid: report.sr.uuid });
    await src.close();
  });
});
