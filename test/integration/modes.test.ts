/**
 * Stock's file modes on the backup VDI (read back with debugfs from a real image) and
 * owner-only modes for the local files that hold pool data (fs.stat).
 *   xe pool-dump-database / xe vm-export write 0600 (ocaml/xe-cli/newcli.ml); the stock
 *   script's folders (mkdir -p), conf file, marker and SRMETA.xml follow root's umask 022;
 *   by-sr entries are symbolic links.
 */
import { chmod, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/dr/backup.js';
import { saveTextFile } from '../../src/app/index.js';
import { exportClassic } from '../../src/dr/legacy.js';
import { lastResultPath, runScheduledBackup } from '../../src/dr/scheduled-backup.js';
import { DEMO_ROOT_PASSWORD } from '../../src/sim/index.js';
import { Session, type Ref } from '../../src/xenapi/index.js';
import { debugfs, imageLs, startTestPool, vdiImagePath, type TestPool } from '../helpers/pool.js';
import { openImageForWrite } from '../helpers/image-writer.js';

let pool: TestPool;
let dir: string;

beforeAll(async () => {
  pool = await startTestPool({ vms: 3 });
  dir = await mkdtemp(join(tmpdir(), 'xsdr-modes-'));
});
afterAll(async () => {
  await pool.close();
  await rm(dir, { recursive: true, force: true });
});

/** Type and permission bits of a path in the image, as debugfs shows them. */
function imageMode(image: string, path: string): { type: string; mode: string } {
  const out = debugfs(image, `stat "${path}"`);
  const m = /Type: (\S+)\s+Mode:\s+(\d+)/.exec(out);
  if (!m) throw new Error(`no stat for ${path}: ${out.slice(0, 200)}`);
  return { type: m[1]!, mode: m[2]! };
}

const localMode = async (path: string) => ((await stat(path)).mode & 0o7777).toString(8).padStart(4, '0');

describe('modes on the backup VDI', () => {
  it('dumps (every generation) and .vmmeta 0600, folders 0755, conf, marker and SRMETA.xml 0644, links as symlinks', async () => {
    const first = await runBackup(pool.session, { vdiSize: 64 * 1024 * 1024 });
    const image = vdiImagePath(pool.sim, first.vdi.uuid);
    const db = `/${first.pool.uuid}.db`;
    // A dump left 0644 by an older version of this tool: rotated, it must end up 0600 too.
    const vol = await openImageForWrite(image);
    await vol.fs.chmod(db, 0o644);
    await vol.close();
    const r = await runBackup(pool.session, {});
    const d = `/metadata/${r.date}`;
    expect(imageMode(image, db)).toEqual({ type: 'regular', mode: '0600' });
    expect(imageMode(image, `${db}.1`)).toEqual({ type: 'regular', mode: '0600' });
    for (const f of imageLs(image, `${d}/all`)) expect(imageMode(image, `${d}/all/${f}`)).toEqual({ type: 'regular', mode: '0600' });
    for (const folder of ['/metadata', '/conf', d, `${d}/all`, `${d}/by-sr`, ...imageLs(image, `${d}/by-sr`).map((s) => `${d}/by-sr/${s}`)]) {
      expect(imageMode(image, folder)).toEqual({ type: 'directory', mode: '0755' });
    }
    for (const file of [`/conf/${r.vdi.uuid}`, '/.ctxs-metadata-backup', `${d}/SRMETA.xml`]) expect(imageMode(image, file)).toEqual({ type: 'regular', mode: '0644' });
    const sr = imageLs(image, `${d}/by-sr`)[0]!;
    for (const link of imageLs(image, `${d}/by-sr/${sr}`)) expect(imageMode(image, `${d}/by-sr/${sr}/${link}`)).toEqual({ type: 'symlink', mode: '0777' });
  });
});

describe('local files holding pool data are owner-only', () => {
  it('the scheduled runner writes its state file 0600', async () => {
    const stateDir = join(dir, 'state');
    const poolConf = join(dir, 'pool.conf');
    await writeFile(poolConf, 'master');
    const o = await runScheduledBackup({
      poolConf,
      stateDir,
      loggerCommand: null,
      connect: async () => {
        const session = await Session.login({ url: pool.sim.url, user: 'root', password: DEMO_ROOT_PASSWORD });
        return { session, close: () => session.logout() };
      },
    });
    expect(o.acted && o.recorded).toBe(true);
    expect(await localMode(lastResultPath(stateDir))).toBe('0600');
  });

  it('a saved summary is 0600, also when it replaces a readable file', async () => {
    const path = join(dir, 'summary.txt');
    await writeFile(path, 'old');
    await chmod(path, 0o644);
    await saveTextFile(dir, 'summary.txt', 'VM names…', true);
    expect(await localMode(path)).toBe('0600');
    await saveTextFile(dir, 'new-summary.txt', 'VM names…');
    expect(await localMode(join(dir, 'new-summary.txt'))).toBe('0600');
  });

  it('classic export files are 0600 (as xe vm-export writes them), whatever was in the way', async () => {
    const out = join(dir, 'vms.xva');
    const vm = pool.sim.db.findRef('VM', (v) => !v.is_control_domain && !v.is_a_template && !v.is_a_snapshot) as Ref;
    const uuid = pool.sim.db.get('VM', vm).uuid;
    // A readable leftover under the temporary name this process would use.
    await writeFile(`${out}.${process.pid}.partial`, 'stale');
    await chmod(`${out}.${process.pid}.partial`, 0o644);
    const r = await exportClassic(pool.session, { vmUuid: uuid, out });
    expect(r.exported).toBe(1);
    expect(await localMode(out)).toBe('0600');
    expect((await readdir(dir)).filter((n) => n.includes('.partial'))).toEqual([]);
  });
});
