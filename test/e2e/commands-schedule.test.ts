/**
 * schedule get/set and the scheduled runner of the built CLI, as an operator and cron run
 * them: a temporary cron root, the generated runner script run by sh with a logger
 * executable on PATH that records its argv, backup --scheduled — text, --json and exit
 * codes, against a standalone simulated pool.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST_CLI, runCli, runFile, startSim, stopSim, type Run, type SimProcess } from './commands-helpers.js';

const DATE = /\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}/;

let dir: string;
let sim: SimProcess;
let pw: string;
const json = (r: Run) => JSON.parse(r.stdout) as Record<string, any>;
const pool = (...args: string[]) => runCli(DIST_CLI, ['--host', sim.url, '--sim-dom0', sim.state, '--password-file', pw, ...args]);

beforeAll(async () => {
  if (!existsSync(DIST_CLI)) throw new Error('dist/ is missing: run `npm run build` first (npm test does).');
  dir = await mkdtemp(join(tmpdir(), 'xsdr-e2e-sched-'));
  pw = join(dir, 'pw');
  await writeFile(pw, 'demo\n', { mode: 0o600 });
  sim = await startSim(DIST_CLI, ['--state', join(dir, 'state'), '--vms', '3']);
});
afterAll(async () => {
  await stopSim(sim);
  await rm(dir, { recursive: true, force: true });
});

describe('schedule and the scheduled runner', () => {
  let root: string;
  let stateDir: string;
  let poolConf: string;
  let syslog: string;
  let bin: string;
  const sched = (...args: string[]) => runCli(DIST_CLI, ['--host', sim.url, '--password-file', pw, 'schedule', ...args, '--cron-root', root]);
  /** Runs the runner script the way cron does: sh, a small PATH, no password in the environment. */
  const cron = () => runFile('/bin/sh', [join(root, 'xsconsole-dr/backup-metadata-cron')], { PATH: `${bin}:/usr/bin:/bin` });
  const logged = async () => (await readFile(syslog, 'utf8').catch(() => '')).split('\n').filter(Boolean);

  beforeAll(async () => {
    root = join(dir, 'etc');
    for (const f of ['daily', 'weekly', 'monthly']) await mkdir(join(root, `cron.${f}`), { recursive: true });
    stateDir = join(dir, 'var-lib');
    poolConf = join(dir, 'pool.conf');
    syslog = join(dir, 'syslog');
    bin = join(dir, 'bin');
    await mkdir(bin);
    // A logger(1) stand-in: a real executable that records its arguments, one per line.
    await writeFile(join(bin, 'logger'), `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done >> '${syslog}'\n`);
    await chmod(join(bin, 'logger'), 0o755);
  });

  it('get: disabled in a fresh cron root, text and JSON, exit 0', async () => {
    const [text, asJson] = await Promise.all([sched('get', '--state-dir', stateDir), sched('get', '--state-dir', stateDir, '--json')]);
    expect(text).toMatchObject({ code: 0, stdout: 'Scheduled Metadata Backups are currently disabled.\nLast scheduled backup: none recorded.\n' });
    expect(json(asJson)).toMatchObject({ setting: 'never', entries: [], lastResult: null });
  });

  it('set refuses what cron could not run: --host without --password-file; no --host off a XenServer host', async () => {
    const noPw = await runCli(DIST_CLI, ['--host', sim.url, 'schedule', 'set', 'daily', '--cron-root', root], { env: { XSDR_PASSWORD: 'Zq9-env-secret' } });
    expect(noPw.code).toBe(1);
    expect(noPw.stderr).toMatch(/needs --password-file/);
    const local = await runCli(DIST_CLI, ['schedule', 'set', 'daily', '--cron-root', root, '--json']);
    expect(local.code).toBe(1);
    expect(json(local).error.meaning).toMatch(/not a XenServer host/);
    expect(await readdir(join(root, 'cron.daily'))).toEqual([]);
  });

  it('set: refuses the stock link without --force (exit 1), replaces it with --force and says what it was', async () => {
    await symlink('/opt/xensource/libexec/backup-metadata-cron', join(root, 'cron.monthly/backup-metadata'));
    const args = ['set', 'daily', '--state-dir', stateDir, '--pool-conf', poolConf];
    const [text, asJson] = await Promise.all([sched(...args), sched(...args, '--json')]);
    expect(text.code).toBe(1);
    expect(text.stderr).toMatch(/stock XenServer runner/);
    expect(text.stderr).toMatch(/--force/);
    expect(asJson.code).toBe(1);
    expect(json(asJson).error.code).toBe('FOREIGN_ENTRY');

    const forced = await sched(...args, '--force');
    expect(forced.code).toBe(0);
    expect(forced.stdout).toBe(
      [
        'Metadata Backup Schedule successfully changed to occur daily.',
        `Link: ${join(root, 'cron.daily/backup-metadata')} -> ${join(root, 'xsconsole-dr/backup-metadata-cron')}`,
        "SR: the pool's default SR",
        `Replaced ${join(root, 'cron.monthly/backup-metadata')} -> /opt/xensource/libexec/backup-metadata-cron (the stock XenServer runner, xe-backup-metadata -c on the default SR)`,
        '',
      ].join('\n'),
    );
    const script = await readFile(join(root, 'xsconsole-dr/backup-metadata-cron'), 'utf8');
    expect(script).toContain(`'--password-file' '${pw}'`);
    expect(script).not.toContain('demo');
  });

  it('set --json and get --json agree', async () => {
    const set = await sched('set', 'weekly', '--state-dir', stateDir, '--pool-conf', poolConf, '--json');
    expect(set.code).toBe(0);
    expect(json(set)).toMatchObject({ setting: 'weekly', previous: 'daily', sr: null, removed: [{ frequency: 'daily', kind: 'ours' }] });
    const get = await sched('get', '--json');
    expect(json(get)).toMatchObject({ setting: 'weekly', active: { kind: 'ours' }, config: { host: sim.url, passwordFile: pw, stateDir, poolConf }, stateDir });
  });

  it('the runner on a pool supporter does nothing', async () => {
    await writeFile(poolConf, 'slave:192.0.2.10\n');
    expect((await cron()).code).toBe(0);
    expect(existsSync(join(stateDir, 'last-scheduled-backup.json'))).toBe(false);
    expect(await logged()).toEqual([]);
    const direct = await pool('backup', '--scheduled', '--pool-conf', poolConf, '--state-dir', stateDir);
    expect(direct).toMatchObject({ code: 0, stdout: 'Nothing to do: This host is a pool supporter (pool coordinator: 192.0.2.10); only the coordinator backs up.\n' });
    const directJson = await pool('backup', '--scheduled', '--pool-conf', poolConf, '--state-dir', stateDir, '--json');
    expect(json(directJson)).toMatchObject({ acted: false, poolRole: { role: 'supporter', master: '192.0.2.10' } });
  });

  it('the runner on the master backs up; get shows the result', async () => {
    await writeFile(poolConf, 'master\n');
    expect((await cron()).code).toBe(0);
    expect(await logged()).toEqual([]);
    const result = JSON.parse(await readFile(join(stateDir, 'last-scheduled-backup.json'), 'utf8'));
    expect(result).toMatchObject({ status: 'ok', exitCode: 0, backup: { vdiCreated: true, vmsExported: 3 } });
    const get = await sched('get');
    expect(get.code).toBe(0);
    expect(get.stdout).toMatch(/^Scheduled Metadata Backups are currently set to occur weekly\.$/m);
    expect(get.stdout).toMatch(new RegExp(`^Last scheduled backup \\(.+\\) to SR ".+" \\([0-9a-f-]{36}\\): backup ${DATE.source}, 3 VM\\(s\\)`, 'm'));
  });

  it('a failing run logs the stock ALERT to syslog, still exits 0, and get shows the failure (never the password)', async () => {
    const wrong = join(dir, 'wrong-pw');
    await writeFile(wrong, 'Zq9-wrong-secret\n', { mode: 0o600 });
    const set = await runCli(DIST_CLI, ['--host', sim.url, '--password-file', wrong, 'schedule', 'set', 'weekly', '--cron-root', root, '--state-dir', stateDir, '--pool-conf', poolConf]);
    expect(set.code).toBe(0);
    expect((await cron()).code).toBe(0);
    expect(await logged()).toEqual(['-t', 'backup-metadata', 'ALERT exited abnormally with [1]']);
    const get = await sched('get');
    expect(get.stdout).toMatch(/^Last scheduled backup \(.+\) FAILED with exit code 1: SESSION_AUTHENTICATION_FAILED: /m);
    const recorded = await readFile(join(stateDir, 'last-scheduled-backup.json'), 'utf8');
    expect(recorded + get.stdout + get.stderr).not.toContain('Zq9-wrong-secret');
  });

  it('set never removes the link (stock "disabled")', async () => {
    const r = await sched('set', 'never');
    expect(r).toMatchObject({ code: 0, stdout: 'Metadata Backup Schedule successfully disabled\n' });
    expect((await sched('get', '--state-dir', stateDir)).stdout).toMatch(/^Scheduled Metadata Backups are currently disabled\.\n/);
  });
});

