/** The non-Ink service layer the screens use: SR choice, error texts, live login/close. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemoSimulator, type SimHandle } from '../../src/sim/index.js';
import { simulatedControlDomain } from '../../src/dr/volume/control-domain.js';
import { FileExistsError, createConsoleSchedule, scheduleRunnerFor, createConsoleServices, operatorFailure, isCancellation, saveTextFile, selectSrChoices } from '../../src/app/index.js';
import { BackupSourceError } from '../../src/dr/backup-source.js';
import { ScheduleError, cronLinkPath, readRunnerConfig, setSchedule } from '../../src/dr/schedule.js';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { SpaceGuardError } from '../../src/dr/backup.js';
import { BackupTargetError, NoBackupVdiError } from '../../src/dr/backup-vdi.js';
import { AbortError, XenApiError } from '../../src/xenapi/index.js';
import { backupFailureText } from '../../components/backup/summary.js';
import { attachFailure, srRecord } from './fake-pool.js';

describe('selectSrChoices', () => {
  const host = 'OpaqueRef:h1';
  const srs = new Map(Object.entries({
    'OpaqueRef:z': srRecord('00000000-0000-4000-8000-00000000000a', 'zeta'),
    'OpaqueRef:Z': srRecord('00000000-0000-4000-8000-00000000000b', 'Zeta'),
    'OpaqueRef:iso': srRecord('00000000-0000-4000-8000-00000000000c', 'ISOs', { content_type: 'iso' }),
    'OpaqueRef:far': srRecord('00000000-0000-4000-8000-00000000000d', 'Elsewhere'),
    'OpaqueRef:shared': srRecord('00000000-0000-4000-8000-00000000000e', 'Shared', { shared: true }),
  }));
  const pbds = new Map(Object.entries({
    p1: { SR: 'OpaqueRef:far', host: 'OpaqueRef:h2' },
    p2: { SR: 'OpaqueRef:shared', host: 'OpaqueRef:h2' },
    p3: { SR: 'OpaqueRef:shared', host },
  }));

  it('keeps SRs with a PBD on this host or none, sorted by name as bytes (stock cmp)', () => {
    const got = selectSrChoices({ srs, pbds, thisHost: host, defaultSr: 'OpaqueRef:Z' }, { mode: 'rw', capability: 'vdi_create' });
    expect(got.map((s) => s.nameLabel)).toEqual(['Shared', 'Zeta', 'zeta']);
    expect(got.find((s) => s.nameLabel === 'Zeta')?.isDefault).toBe(true);
    expect(got[0]).toMatchObject({ ref: 'OpaqueRef:shared', shared: true, physicalSize: 100 * 1024 ** 3, physicalUtilisation: 25 * 1024 ** 3 });
  });

  it("'any' mode keeps ISO libraries; a capability filters on allowed_operations", () => {
    const any = selectSrChoices({ srs, pbds, thisHost: host, defaultSr: '' }, { mode: 'any' });
    expect(any.map((s) => s.nameLabel)).toContain('ISOs');
    const none = selectSrChoices({ srs, pbds, thisHost: host, defaultSr: '' }, { mode: 'any', capability: 'vdi_introduce' });
    expect(none).toEqual([]);
  });
});

describe('operatorFailure', () => {
  it('names the step of a backup failure and explains the XAPI cause', () => {
    const e = operatorFailure(attachFailure());
    expect(e).toMatchObject({ code: 'VDI_IN_USE', step: 'Attaching the backup VDI' });
    expect(backupFailureText(e)).toMatch(/^Metadata Backup failed: VDI_IN_USE: Attaching the backup VDI failed: Disk OpaqueRef:vdi is in use/);
  });

  it('has operator texts for the backup guard and the target errors', () => {
    expect(operatorFailure(new SpaceGuardError(95))).toMatchObject({ code: 'BACKUP_VDI_FULL' });
    expect(operatorFailure(new SpaceGuardError(95)).meaning).toContain('95% full');
    expect(operatorFailure(new NoBackupVdiError({ ref: 'r', uuid: 'u', nameLabel: 'SR one' }, 'x')).code).toBe('NO_BACKUP_VDI');
    expect(operatorFailure(new BackupTargetError('Invalid SR UUID')).code).toBe('BACKUP_TARGET');
    expect(operatorFailure(new XenApiError(['SR_FULL', '10', '5'])).meaning).toContain('10 bytes requested');
    const bug = operatorFailure(new TypeError('plain'), { recordBug: () => ({ path: '/var/log/xsconsole-dr/errors.log' }) });
    expect(bug).toMatchObject({ kind: 'bug', code: 'INTERNAL_BUG', log: '/var/log/xsconsole-dr/errors.log' });
    expect(bug.meaning).toContain('TypeError: plain');
    expect(bug.nextStep).toContain('/var/log/xsconsole-dr/errors.log');
  });

  it('explains restore, schedule and file errors with a next step', () => {
    expect(operatorFailure(new BackupSourceError('NO_BACKUP_VDI', 'No backup VDI x on SR "y".'))).toMatchObject({ code: 'NO_BACKUP_VDI', meaning: 'No backup VDI x on SR "y".' });
    expect(operatorFailure(new BackupSourceError('NO_ENTRIES', 'none')).nextStep).toContain('Restore all VM metadata');
    expect(operatorFailure(new ScheduleError('NO_CRON_DIR', '/x/cron.daily does not exist'))).toMatchObject({ code: 'NO_CRON_DIR' });
    expect(operatorFailure(new FileExistsError('/tmp/a.txt'))).toMatchObject({ code: 'FILE_EXISTS', meaning: '/tmp/a.txt already exists.' });
    const enoent = Object.assign(new Error("ENOENT: no such file or directory, open '/nope/x'"), { code: 'ENOENT', syscall: 'open' });
    expect(operatorFailure(enoent)).toMatchObject({ code: 'ENOENT', kind: 'expected' });
  });

  it('recognises cancellations', () => {
    expect(isCancellation(new AbortError())).toBe(true);
    expect(isCancellation(new XenApiError(['TASK_CANCELLED', 'OpaqueRef:t']))).toBe(true);
    expect(isCancellation(new XenApiError(['SR_FULL']))).toBe(false);
  });
});

describe('createConsoleServices against the simulated pool', () => {
  let dir: string;
  let sim: SimHandle;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'xsdr-ui-svc-'));
    sim = await startDemoSimulator({ stateDir: join(dir, 'state'), vms: 1, rootPassword: 'svc-pw', hostname: 'svc-master' });
  });
  afterAll(async () => {
    await sim.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const make = () => createConsoleServices({ target: { url: sim.url, tls: {}, describe: 'sim', controlDomain: simulatedControlDomain(sim) }, user: 'root', hostLabel: 'h' });
  const sessions = () => sim.db.allRecords('session').size;

  it('logs in with the coordinator host name, lists SRs, and logs everything out on close', async () => {
    const services = make();
    const before = sessions();
    const a = await services.login('root', 'svc-pw');
    const b = await services.login('root', 'svc-pw');
    expect(a.hostname).toBe('svc-master');
    expect(a.user).toBe('root');
    expect(sessions()).toBe(before + 2);
    const srs = await a.listSrs({ mode: 'rw', capability: 'vdi_create' });
    expect(srs.map((s) => s.nameLabel)).toEqual(['Local storage', 'NFS virtual disk storage', 'iSCSI virtual disk storage']);
    await b.logout();
    expect(sessions()).toBe(before + 1);
    await services.close();
    await services.close();
    expect(sessions()).toBe(before);
  });

  it('refuses a wrong password with XAPI\'s code and never echoes the password', async () => {
    const services = make();
    const err = await services.login('root', 'not-the-password').catch((e: unknown) => e);
    expect(XenApiError.is(err, 'SESSION_AUTHENTICATION_FAILED')).toBe(true);
    const text = services.explain(err);
    expect(text.code).toBe('SESSION_AUTHENTICATION_FAILED');
    expect(JSON.stringify(text)).not.toContain('not-the-password');
    expect(String((err as Error).message)).not.toContain('not-the-password');
  });

  it('stops a login when its signal is aborted', async () => {
    const services = make();
    const ac = new AbortController();
    ac.abort();
    const err = await services.login('root', 'svc-pw', ac.signal).catch((e: unknown) => e);
    expect(isCancellation(err)).toBe(true);
  });
});

describe('saving a report and the console schedule (files only)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'xsdr-ui-files-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates the file exclusively, owner-only, relative to the save folder; replaces only when told', async () => {
    const path = await saveTextFile(dir, 'summary.txt', 'first');
    expect(path).toBe(join(dir, 'summary.txt'));
    expect(await readFile(path, 'utf8')).toBe('first\n');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    await expect(saveTextFile(dir, 'summary.txt', 'second')).rejects.toBeInstanceOf(FileExistsError);
    expect(await readFile(path, 'utf8')).toBe('first\n');
    await saveTextFile(dir, path, 'second\n', true);
    expect(await readFile(path, 'utf8')).toBe('second\n');
  });

  it('tells the runner how to reach the console\'s pool, or why it cannot (never a password)', () => {
    const exe = { node: '/usr/bin/node', cli: '/opt/x/cli.js' };
    expect(scheduleRunnerFor({ kind: 'local', ...exe, user: 'root' })).toEqual({ runner: exe });
    // The simulated host of --sim-dom0 (no --host): the runner must reach it, not this machine's XAPI.
    expect(scheduleRunnerFor({ kind: 'local', ...exe, user: 'root', simDom0: '/srv/sim' })).toEqual({ runner: { ...exe, simDom0: '/srv/sim' } });
    expect(scheduleRunnerFor({ kind: 'embedded', ...exe, simState: '/srv/state' })).toEqual({ runner: { ...exe, simState: '/srv/state' } });
    expect(scheduleRunnerFor({ kind: 'embedded', ...exe })).toMatchObject({ runner: null, unavailable: expect.stringContaining('--sim-state') });
    expect(scheduleRunnerFor({ kind: 'remote', ...exe, host: 'https://pool', user: 'root' })).toMatchObject({ runner: null, unavailable: expect.stringContaining('--password-file') });
    expect(scheduleRunnerFor({ kind: 'remote', ...exe, host: 'https://pool', user: 'ops', passwordFile: '/root/pw', fingerprint: 'AB:CD' })).toEqual({
      runner: { ...exe, host: 'https://pool', user: 'ops', passwordFile: '/root/pw', fingerprint: 'AB:CD' },
    });
  });

  it('keeps the SR a schedule was given when the frequency changes; refuses a frequency without a runner', async () => {
    const root = join(dir, 'cron');
    for (const f of ['daily', 'weekly']) await mkdir(join(root, `cron.${f}`), { recursive: true });
    const runner = { node: process.execPath, cli: '/opt/x/cli.js' };
    const sr = '3f6e8a10-0000-4000-8000-000000000001';
    await setSchedule({ cronRoot: root, setting: 'daily', runner: { ...runner, sr, stateDir: join(dir, 'state'), poolConf: join(dir, 'pool.conf') } });
    const schedule = createConsoleSchedule({ cronRoot: root, runner });
    expect(schedule.cannotSet).toBeNull();
    const report = await schedule.set('weekly');
    expect(report).toMatchObject({ setting: 'weekly', previous: 'daily', sr });
    expect(await readRunnerConfig(root)).toMatchObject({ sr, stateDir: join(dir, 'state'), poolConf: join(dir, 'pool.conf') });
    expect((await schedule.status()).setting).toBe('weekly');

    const readOnly = createConsoleSchedule({ cronRoot: root, runner: null, unavailable: 'typed password' });
    expect(readOnly.cannotSet).toBe('typed password');
    await expect(readOnly.set('daily')).rejects.toMatchObject({ code: 'BAD_SETTING', message: 'typed password' });
    expect((await readOnly.set('never')).setting).toBe('never');
    await expect(stat(cronLinkPath(root, 'weekly'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
