/**
 * The schedule in a temporary cron root (links, runner script, stock reading rule,
 * foreign entries) and the scheduled runner against the simulator (master / supporter /
 * no pool.conf, syslog alerts through a logger executable that records its argv).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ScheduleError,
  cronLinkPath,
  getSchedule,
  readCronEntries,
  runnerPath,
  runnerScript,
  scheduleConfigPath,
  setSchedule,
  shellQuote,
  type RunnerConfig,
} from '../../src/dr/schedule.js';
import { lastResultPath, readLastScheduledResult, readPoolRole, runScheduledBackup, type ScheduledRunOptions } from '../../src/dr/scheduled-backup.js';
import { backupVdiUuid } from '../../src/dr/layout.js';
import { DEMO_ROOT_PASSWORD } from '../../src/sim/index.js';
import { Session, type Ref } from '../../src/xenapi/index.js';
import { startTestPool, type TestPool } from '../helpers/pool.js';

let dir: string;
let pool: TestPool;
let defaultSr: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xsdr-schedule-'));
  pool = await startTestPool({ vms: 3 });
  const poolRef = (await pool.session.call<Ref[]>('pool.get_all'))[0]!;
  defaultSr = await pool.session.call<string>('SR.get_uuid', await pool.session.call<Ref>('pool.get_default_SR', poolRef));
});
afterAll(async () => {
  await pool.close();
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
/** A fresh cron root with the three stock folders. */
async function cronRoot(): Promise<string> {
  const root = join(dir, `root${++n}`);
  for (const f of ['daily', 'weekly', 'monthly']) await mkdir(join(root, `cron.${f}`), { recursive: true });
  return root;
}

const runner = (root: string, extra: Partial<RunnerConfig> = {}) => ({
  node: process.execPath,
  cli: '/opt/xsconsole-dr/xsconsole-dr.mjs',
  stateDir: join(root, 'state'),
  poolConf: join(root, 'pool.conf'),
  ...extra,
});

describe('schedule set / get / clear', () => {
  it('links cron.<freq>/backup-metadata to a runner script that runs backup --scheduled', async () => {
    const root = await cronRoot();
    const sr = '11111111-2222-4333-8444-555555555555';
    const r = await setSchedule({ cronRoot: root, setting: 'daily', runner: runner(root, { sr, host: 'https://pool.example', passwordFile: '/root/pw' }) });
    expect(r).toMatchObject({ setting: 'daily', previous: 'never', link: cronLinkPath(root, 'daily'), runner: runnerPath(root), sr, removed: [] });
    expect(await readlink(cronLinkPath(root, 'daily'))).toBe(runnerPath(root));
    expect((await lstat(runnerPath(root))).mode & 0o777).toBe(0o755);

    const script = await readFile(runnerPath(root), 'utf8');
    expect(script.split('\n')[0]).toBe('#!/bin/sh');
    expect(script).toContain(
      `${shellQuote(process.execPath)} '/opt/xsconsole-dr/xsconsole-dr.mjs' '--host' 'https://pool.example' '--password-file' '/root/pw' 'backup' '--scheduled' '--sr' '${sr}' '--state-dir' '${join(root, 'state')}' '--pool-conf' '${join(root, 'pool.conf')}' >/dev/null 2>&1`,
    );
    expect(script).toContain('logger -t backup-metadata "ALERT exited abnormally with [$EXITVALUE]"');
    expect(script.trimEnd().endsWith('exit 0')).toBe(true);
    // The script is valid sh.
    execFileSync('sh', ['-n', runnerPath(root)]);

    const s = await getSchedule({ cronRoot: root });
    expect(s.setting).toBe('daily');
    expect(s.active?.kind).toBe('ours');
    expect(s.sr).toBe(sr);
    expect(s.stateDir).toBe(join(root, 'state'));
    expect(s.config?.host).toBe('https://pool.example');
    expect(s.runner.exists).toBe(true);
    expect(s.lastResult).toBeNull();
    expect(s.warnings).toEqual([]);
  });

  it('moves the link when the frequency changes, and "never" removes link and runner', async () => {
    const root = await cronRoot();
    await setSchedule({ cronRoot: root, setting: 'daily', runner: runner(root) });
    const w = await setSchedule({ cronRoot: root, setting: 'weekly', runner: runner(root) });
    expect(w.previous).toBe('daily');
    expect(w.removed.map((e) => e.path)).toEqual([cronLinkPath(root, 'daily')]);
    expect((await readCronEntries(root)).map((e) => [e.frequency, e.kind])).toEqual([['weekly', 'ours']]);
    expect((await getSchedule({ cronRoot: root })).sr).toBeNull(); // default SR

    // Setting the same frequency again replaces the link in place.
    await setSchedule({ cronRoot: root, setting: 'weekly', runner: runner(root) });
    expect((await readCronEntries(root)).map((e) => e.frequency)).toEqual(['weekly']);
    expect(await readdir(join(root, 'cron.weekly'))).toEqual(['backup-metadata']); // no temporary names left

    const off = await setSchedule({ cronRoot: root, setting: 'never' });
    expect(off).toMatchObject({ setting: 'never', previous: 'weekly', link: null, runner: null });
    expect(await readCronEntries(root)).toEqual([]);
    await expect(lstat(runnerPath(root))).rejects.toThrow();
    await expect(lstat(scheduleConfigPath(root))).rejects.toThrow();
    expect((await getSchedule({ cronRoot: root })).setting).toBe('never');
  });

  it('reads several links as stock xsconsole does: the last in the order daily, weekly, monthly', async () => {
    const root = await cronRoot();
    await setSchedule({ cronRoot: root, setting: 'monthly', runner: runner(root) });
    await symlink(runnerPath(root), cronLinkPath(root, 'daily'));
    const s = await getSchedule({ cronRoot: root });
    expect(s.setting).toBe('monthly');
    expect(s.entries.map((e) => e.frequency)).toEqual(['daily', 'monthly']);
    expect(s.warnings.join()).toMatch(/Several schedule links/);
    // Setting again leaves one.
    await setSchedule({ cronRoot: root, setting: 'daily', runner: runner(root) });
    expect((await readCronEntries(root)).map((e) => e.frequency)).toEqual(['daily']);
  });

  it('refuses to replace the stock runner link or a file without force, and reports what it replaced', async () => {
    const root = await cronRoot();
    await symlink('/opt/xensource/libexec/backup-metadata-cron', cronLinkPath(root, 'weekly'));
    await writeFile(cronLinkPath(root, 'monthly'), '#!/bin/sh\necho custom\n');
    const before = await getSchedule({ cronRoot: root });
    expect(before.setting).toBe('monthly');
    expect(before.entries.map((e) => e.kind)).toEqual(['stock', 'not-a-link']);

    for (const setting of ['daily', 'never'] as const) {
      const err = await setSchedule({ cronRoot: root, setting, runner: runner(root) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ScheduleError);
      expect((err as ScheduleError).code).toBe('FOREIGN_ENTRY');
      expect((err as ScheduleError).message).toMatch(/stock XenServer runner/);
    }
    // Nothing was touched.
    expect(await readlink(cronLinkPath(root, 'weekly'))).toBe('/opt/xensource/libexec/backup-metadata-cron');
    expect(await readFile(cronLinkPath(root, 'monthly'), 'utf8')).toContain('custom');
    await expect(lstat(runnerPath(root))).rejects.toThrow();

    const r = await setSchedule({ cronRoot: root, setting: 'daily', runner: runner(root), force: true });
    expect(r.removed.map((e) => [e.kind, e.target])).toEqual([
      ['stock', '/opt/xensource/libexec/backup-metadata-cron'],
      ['not-a-link', undefined],
    ]);
    expect((await readCronEntries(root)).map((e) => [e.frequency, e.kind])).toEqual([['daily', 'ours']]);
  });

  it('needs the cron folder of the frequency, and a uuid for --sr', async () => {
    const root = join(dir, 'bare');
    await mkdir(root, { recursive: true });
    await expect(setSchedule({ cronRoot: root, setting: 'daily', runner: runner(root) })).rejects.toMatchObject({ code: 'NO_CRON_DIR' });
    const ok = await cronRoot();
    await expect(setSchedule({ cronRoot: ok, setting: 'daily', runner: runner(ok, { sr: 'default' }) })).rejects.toMatchObject({ code: 'BAD_SETTING' });
    expect(await readCronEntries(ok)).toEqual([]);
  });

  it('quotes arguments so sh passes them through literally', () => {
    const nasty = `it's $HOME "x" \`id\` ;|&`;
    expect(execFileSync('sh', ['-c', `printf '%s' ${shellQuote(nasty)}`]).toString()).toBe(nasty);
    const script = runnerScript({ version: 1, node: '/n', cli: `/a b/c'd.mjs`, stateDir: '/s', poolConf: '/p', writtenAt: '' });
    expect(script).toContain(`'/a b/c'\\''d.mjs'`);
  });
});

describe('pool.conf, as the stock cron script reads it', () => {
  it('acts only for exactly "master" (trailing newlines aside) and when there is no pool.conf', async () => {
    const f = join(dir, 'pool.conf.test');
    const role = async (content: string | null) => {
      if (content === null) await rm(f, { force: true });
      else await writeFile(f, content);
      return readPoolRole(f);
    };
    expect(await role('master')).toEqual({ role: 'master' });
    expect(await role('master\n\n')).toEqual({ role: 'master' });
    expect(await role('slave:10.0.0.1\n')).toEqual({ role: 'supporter', master: '10.0.0.1' });
    expect(await role(' master')).toEqual({ role: 'unknown', content: ' master' });
    expect(await role('')).toEqual({ role: 'unknown', content: '' });
    expect(await role(null)).toEqual({ role: 'none' });
  });
});

describe('the scheduled runner against the simulator', () => {
  let logFile: string;
  let logger: string;
  let stateDir: string;
  let poolConf: string;

  beforeAll(async () => {
    logFile = join(dir, 'syslog.txt');
    logger = join(dir, 'logger');
    // A real executable standing in for logger(1): records its argv, one per line.
    await writeFile(logger, `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done >> '${logFile}'\n`);
    await chmod(logger, 0o755);
  });
  beforeEach(async () => {
    stateDir = join(dir, `state${++n}`);
    poolConf = join(dir, `pool${n}.conf`);
    await rm(logFile, { force: true });
    pool.sim.faults.clear();
  });

  const logged = async () => (await readFile(logFile, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  const connect = (password = DEMO_ROOT_PASSWORD) => async () => {
    const session = await Session.login({ url: pool.sim.url, user: 'root', password });
    return { session, close: () => session.logout() };
  };
  const opts = (extra: Partial<ScheduledRunOptions> = {}): ScheduledRunOptions => ({ poolConf, stateDir, connect: connect(), loggerCommand: logger, ...extra });

  it('on a pool supporter does nothing: no login, no VDI, no result, no log', async () => {
    await writeFile(poolConf, 'slave:192.0.2.10\n');
    let logins = 0;
    const o = await runScheduledBackup(opts({ connect: async () => (logins++, connect()()) }));
    expect(o).toMatchObject({ acted: false, poolRole: { role: 'supporter', master: '192.0.2.10' } });
    expect(logins).toBe(0);
    expect(pool.sim.db.findRefByUuid('VDI', backupVdiUuid(defaultSr))).toBeUndefined();
    await expect(lstat(lastResultPath(stateDir))).rejects.toThrow();
    expect(await logged()).toEqual([]);
  });

  it('on the master creates the backup VDI on the default SR, backs up and records the result', async () => {
    await writeFile(poolConf, 'master');
    const o = await runScheduledBackup(opts());
    if (!o.acted) throw new Error('expected the master to act');
    expect(o.recorded).toBe(true);
    expect(o.result).toMatchObject({ status: 'ok', exitCode: 0, requestedSr: null, fellBackToDefaultSr: false, sr: { uuid: defaultSr } });
    expect(o.result.backup).toMatchObject({ vdi: backupVdiUuid(defaultSr), vdiCreated: true, failureCount: 0 });
    expect(o.result.backup!.vmsExported).toBe(3);
    expect(o.result.alert).toBeUndefined();
    expect(await logged()).toEqual([]);
    expect(pool.sim.db.findRefByUuid('VDI', backupVdiUuid(defaultSr))).toBeDefined();

    // Recorded atomically: the file and nothing else; read back as the console would.
    expect(await readdir(stateDir)).toEqual(['last-scheduled-backup.json']);
    expect(await readLastScheduledResult(stateDir)).toEqual(o.result);
    const s = await getSchedule({ cronRoot: await cronRoot(), stateDir });
    expect(s.lastResult?.backup?.date).toBe(o.result.backup!.date);
  });

  it('with no pool.conf (not a XenServer host) acts too, on the configured SR', async () => {
    const srs = pool.sim.db.where('SR', (s) => s.content_type !== 'iso' && s.uuid !== defaultSr && s.PBDs.length > 0);
    const other = srs.find((s) => s.rec.allowed_operations.includes('vdi_create'))?.rec.uuid ?? srs[0]!.rec.uuid;
    const o = await runScheduledBackup(opts({ srUuid: other }));
    if (!o.acted) throw new Error('expected to act');
    expect(o.result).toMatchObject({ status: 'ok', requestedSr: other, sr: { uuid: other }, fellBackToDefaultSr: false });
    expect(pool.sim.db.findRefByUuid('VDI', backupVdiUuid(other))).toBeDefined();
  });

  it('falls back to the default SR when the scheduled SR is gone, and says so in syslog and the result', async () => {
    await writeFile(poolConf, 'master\n');
    const gone = '99999999-9999-4999-8999-999999999999';
    const o = await runScheduledBackup(opts({ srUuid: gone }));
    if (!o.acted) throw new Error('expected to act');
    expect(o.result).toMatchObject({ status: 'ok', exitCode: 0, requestedSr: gone, fellBackToDefaultSr: true, sr: { uuid: defaultSr } });
    expect(o.result.warnings[0]).toContain(gone);
    const log = await logged();
    expect(log[0]).toBe('-t');
    expect(log[1]).toBe('backup-metadata');
    expect(log[2]).toMatch(/^WARNING The scheduled SR 9{8}-.* does not exist/);
  });

  it('a failed run logs the stock ALERT line, records the error, never the password, and still ends normally', async () => {
    await writeFile(poolConf, 'master');
    const secret = 'Wr0ng-Secret-42';
    const o = await runScheduledBackup(opts({ connect: connect(secret) }));
    if (!o.acted) throw new Error('expected to act');
    expect(o.result).toMatchObject({ status: 'failed', exitCode: 1, alert: 'ALERT exited abnormally with [1]', alertLogged: true });
    expect(o.result.error?.code).toBe('SESSION_AUTHENTICATION_FAILED');
    expect(await logged()).toEqual(['-t', 'backup-metadata', 'ALERT exited abnormally with [1]']);
    const file = await readFile(lastResultPath(stateDir), 'utf8');
    expect(file).not.toContain(secret);
    expect(JSON.parse(file).error.code).toBe('SESSION_AUTHENTICATION_FAILED');
  });

  it('a run where some VM exports fail is partial: exit code 4 logged, failures recorded', async () => {
    await writeFile(poolConf, 'master');
    pool.sim.faults.add({ route: '/export_metadata', taskError: ['VM_BAD_POWER_STATE', 'x', 'halted', 'paused'], after: 1, times: 1 });
    const o = await runScheduledBackup(opts());
    if (!o.acted) throw new Error('expected to act');
    expect(o.result).toMatchObject({ status: 'partial', exitCode: 4, alert: 'ALERT exited abnormally with [4]' });
    expect(o.result.backup?.failureCount).toBe(1);
    expect(o.result.backup?.failures[0]?.code).toBe('VM_BAD_POWER_STATE');
    expect(await logged()).toEqual(['-t', 'backup-metadata', 'ALERT exited abnormally with [4]']);
  });

  it('reports a state folder it cannot write to, in syslog and the outcome', async () => {
    await writeFile(poolConf, 'master');
    const blocked = join(dir, `blocked${++n}`);
    await writeFile(blocked, 'a file where the state folder should be');
    const o = await runScheduledBackup(opts({ stateDir: join(blocked, 'state') }));
    if (!o.acted) throw new Error('expected to act');
    expect(o.result.status).toBe('ok');
    expect(o.recorded).toBe(false);
    expect(o.recordError).toMatch(/could not record the result/);
    expect((await logged())[2]).toMatch(/^ALERT could not record the result/);
  });

  it('ignores a result file that is not one', async () => {
    await mkdir(stateDir, { recursive: true });
    await writeFile(lastResultPath(stateDir), '{"status":"ok"}');
    expect(await readLastScheduledResult(stateDir)).toBeNull();
    await writeFile(lastResultPath(stateDir), 'not json');
    expect(await readLastScheduledResult(stateDir)).toBeNull();
  });
});
