/**
 * The memory bound whatever the input: the built CLI (the single-file bundle, as installed)
 * is run as a separate process on crafted input, and its peak RSS (reported by the process
 * itself as it exits: bench/report-rss.mjs, preloaded) must stay under MEMORY_BOUND_KB:
 *  - `inspect --date` of a crafted image (exports of 60 MiB, others of 15 MiB of values, one
 *    linked under twenty names);
 *  - `import --dry-run` of a crafted classic set against a simulated pool;
 *  - `preflight` and `restore --dry-run` of a crafted backup (six large exports, which a
 *    restore read eight at a time).
 * Each crafted export is a tar whose ova.xml is an array of a million short strings: cheap
 * to write, costly to decode (they held 400 MB to over 1 GB of RSS).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackup, type BackupReport } from '../../src/dr/backup.js';
import { SBIN_PATH, buildBundle, runMeasuringRss } from './commands-helpers.js';
import { startTestPool, vdiImagePath, type TestPool } from '../helpers/pool.js';
import { tarOf } from '../helpers/tar.js';

/** The documented bound of every command's peak RSS, whatever the input. */
const MEMORY_BOUND_KB = 300 * 1024;
const ENV = { ...process.env, PATH: SBIN_PATH };
const MiB = 1024 * 1024;
const uuid = (i: number) => `3c5a7e90-1b2d-4f6a-8c0e-${i.toString(16).padStart(12, '0')}`;

let work: string;
let bundle: string;

/** A .vmmeta whose ova.xml is `bytes` of an array of short strings (each decodes to a string of its own). */
async function costly(bytes: number, salt: number): Promise<Buffer> {
  const item = `<value>s${salt}</value>`;
  return tarOf('ova.xml', `<value><struct><member><name>objects</name><value><array><data>${item.repeat(Math.ceil(bytes / item.length))}</data></array></value></member></struct></value>`);
}

/** Runs the bundle with `args`; its exit code, output and peak RSS in kB. */
const measured = (args: string[], env: NodeJS.ProcessEnv = {}) => runMeasuringRss(bundle, args, { XSDR_CACHE_DIR: join(work, 'cache'), ...env });

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'xsdr-memory-'));
  bundle = buildBundle(work);
  await writeFile(join(work, 'big'), await costly(60 * MiB, 0));
  for (let i = 1; i <= 4; i++) await writeFile(join(work, `m${i}`), await costly(15 * MiB, i));
}, 120_000);
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('peak RSS of the CLI on crafted input stays under 300 MB', () => {
  it('inspect --date of a crafted image', { timeout: 180_000 }, async () => {
    const image = join(work, 'crafted.img');
    await writeFile(image, '');
    await truncate(image, 512 * MiB);
    execFileSync('mkfs.ext3', ['-q', '-F', image], { env: ENV });
    await writeFile(join(work, 'marker'), '1\n');
    const all = '/metadata/2025-01-01-00-00-00/all';
    const cmds = ['write marker /.ctxs-metadata-backup', 'mkdir /metadata', 'mkdir /metadata/2025-01-01-00-00-00', `mkdir ${all}`];
    cmds.push(`write big ${all}/${uuid(0)}.vmmeta`, `write big ${all}/${uuid(1)}.vmmeta`);
    for (let i = 1; i <= 4; i++) cmds.push(`write m${i} ${all}/${uuid(10 + i)}.vmmeta`);
    cmds.push(`expand_dir ${all}`);
    for (let k = 0; k < 20; k++) cmds.push(`ln ${all}/${uuid(11)}.vmmeta ${all}/${uuid(100 + k)}.vmmeta`);
    execFileSync('debugfs', ['-w', '-f', '-', image], { input: `${cmds.join('\n')}\n`, cwd: work, env: ENV, stdio: ['pipe', 'ignore', 'ignore'] });
    const r = await measured(['inspect', image, '--date', '2025-01-01-00-00-00', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).detail.vms).toHaveLength(26);
    expect(r.peakKb, `peak RSS ${r.peakKb} kB`).toBeLessThan(MEMORY_BOUND_KB);
  });

  describe('against a simulated pool', () => {
    let p: TestPool;
    let pw: string;
    let backup: BackupReport;
    const pool = (...args: string[]) => measured(['--host', p.sim.url, '--sim-dom0', p.sim.stateDir, '--password-file', pw, ...args]);

    beforeAll(async () => {
      p = await startTestPool({ vms: 2 });
      pw = join(p.dir, 'pw');
      await writeFile(pw, 'demo\n', { mode: 0o600 });
      backup = await runBackup(p.session, { vdiSize: 320 * MiB });
      const all = `/metadata/${backup.date}/all`;
      const cmds = [`write big ${all}/${uuid(0)}.vmmeta`, `write big ${all}/${uuid(1)}.vmmeta`];
      for (let i = 1; i <= 4; i++) cmds.push(`write m${i} ${all}/${uuid(10 + i)}.vmmeta`);
      execFileSync('debugfs', ['-w', '-f', '-', vdiImagePath(p.sim, backup.vdi.uuid)], { input: `${cmds.join('\n')}\n`, cwd: work, env: ENV, stdio: ['pipe', 'ignore', 'ignore'] });
    }, 120_000);
    afterAll(async () => {
      await p?.close();
    });

    it('import --dry-run of a crafted classic set', { timeout: 120_000 }, async () => {
      const set = join(work, 'set.xva');
      await writeFile(set, await readFile(join(work, 'big')));
      for (let i = 2; i <= 4; i++) await writeFile(`${set}${i}`, await readFile(join(work, `m${i}`)));
      await writeFile(`${set}5`, await readFile(join(work, 'big')));
      const r = await pool('import', set, '--dry-run', '--json');
      expect(r.code, r.stderr).toBe(5);
      expect(JSON.parse(r.stdout).results.map((x: { error: { code: string } }) => x.error.code)).toEqual(Array(5).fill('UNSAFE_BACKUP_FILE'));
      expect(r.peakKb, `peak RSS ${r.peakKb} kB`).toBeLessThan(MEMORY_BOUND_KB);
    });

    // Each attaches the VDI as the simulated pool's control domain and decodes its exports.
    it('preflight of a crafted backup', { timeout: 180_000 }, async () => {
      const r = await pool('preflight', '--json');
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).counts.unreadable).toBe(6);
      expect(r.peakKb, `peak RSS ${r.peakKb} kB`).toBeLessThan(MEMORY_BOUND_KB);
    });

    it('restore --dry-run of a crafted backup, eight imports at a time', { timeout: 180_000 }, async () => {
      const r = await pool('restore', '--dry-run', '--json');
      const report = JSON.parse(r.stdout);
      expect(report.results.filter((x: { error?: { code: string } }) => x.error?.code === 'UNSAFE_BACKUP_FILE')).toHaveLength(6);
      expect(r.peakKb, `peak RSS ${r.peakKb} kB`).toBeLessThan(MEMORY_BOUND_KB);
    });
  });
});
