/**
 * "Schedule Virtual Machine Metadata" in a temporary cron root: the stock prompt and
 * results, the link and runner it writes, the SR and the last scheduled run it shows, a
 * stock schedule replaced only when the operator agrees, and a console that cannot set one.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { lstat, mkdir, mkdtemp, readlink, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_ROOT_PASSWORD } from '../../src/sim/index.js';
import { simulatedControlDomain } from '../../src/dr/volume/control-domain.js';
import { createConsoleServices, type ConsoleScheduleOptions, type LiveConsoleServices } from '../../src/app/index.js';
import { cronLinkPath, runnerPath } from '../../src/dr/schedule.js';
import { runScheduledBackup } from '../../src/dr/scheduled-backup.js';
import { Session, type Ref } from '../../src/xenapi/index.js';
import { SCHEDULE_TITLE } from '../../components/schedule/texts.js';
import { startTestPool, type TestPool } from '../helpers/pool.js';
import { KEYS, flat, highlighted, paneTitle, press, renderConsole, waitForFrame, waitForText, type Rendered } from './helpers.js';
import { BUR, atBurMenu, highlightRow, statusPane } from './restore-helpers.js';

let p: TestPool;
let dir: string;
let defaultSr: { uuid: string; name: string };
let r: Rendered | undefined;
let live: LiveConsoleServices | undefined;

beforeAll(async () => {
  p = await startTestPool({ vms: 2 });
  dir = await mkdtemp(join(tmpdir(), 'xsdr-ui-schedule-'));
  const poolRef = (await p.session.call<Ref[]>('pool.get_all'))[0]!;
  const ref = await p.session.call<Ref>('pool.get_default_SR', poolRef);
  defaultSr = { uuid: await p.session.call<string>('SR.get_uuid', ref), name: await p.session.call<string>('SR.get_name_label', ref) };
});

afterAll(async () => {
  await p?.close();
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  r?.unmount();
  r = undefined;
  await live?.close();
  live = undefined;
});

let n = 0;
/** A fresh cron root with the three stock folders. */
async function cronRoot(): Promise<string> {
  const root = join(dir, `root${++n}`);
  for (const f of ['daily', 'weekly', 'monthly']) await mkdir(join(root, `cron.${f}`), { recursive: true });
  return root;
}

function scheduleOptions(root: string, extra: Partial<ConsoleScheduleOptions> = {}): ConsoleScheduleOptions {
  return {
    cronRoot: root,
    stateDir: join(root, 'state'),
    poolConf: join(root, 'pool.conf'),
    runner: { node: process.execPath, cli: '/opt/xsconsole-dr/dist/src/cli.js', simState: join(root, 'sim') },
    ...extra,
  };
}

/** The console with a schedule service; logged in; at the schedule dialogue. */
async function openSchedule(schedule: ConsoleScheduleOptions, loggedIn = false): Promise<string> {
  if (!loggedIn) {
    live = createConsoleServices({ target: { url: p.sim.url, tls: {}, describe: 'pool', controlDomain: simulatedControlDomain(p.sim) }, user: 'root', hostLabel: 'pool', schedule });
    r = renderConsole({ services: live });
    await waitForText(r, 'Customize System');
    press(r, KEYS.enter);
    await waitForFrame(r, atBurMenu);
  }
  press(r!, 's');
  await waitForFrame(r!, (f) => highlighted(f) === 'Schedule Virtual Machine Metadata');
  press(r!, KEYS.enter);
  if (!loggedIn) {
    await waitForFrame(r!, (f) => paneTitle(f) === 'Login');
    press(r!, `\t${DEMO_ROOT_PASSWORD}\r`);
  }
  return waitForFrame(r!, (f) => paneTitle(f) === SCHEDULE_TITLE && flat(f).includes('Please select the desired frequency:'));
}

async function choose(label: string): Promise<string> {
  await highlightRow(r!, label);
  press(r!, KEYS.enter);
  return waitForFrame(r!, (f) => paneTitle(f) === SCHEDULE_TITLE && !flat(f).includes('Please select the desired frequency:'));
}

describe('schedule', () => {
  it('is the first item of Backup, Restore and Update, with the stock status pane', async () => {
    const root = await cronRoot();
    live = createConsoleServices({ target: { url: p.sim.url, tls: {}, describe: 'pool', controlDomain: simulatedControlDomain(p.sim) }, user: 'root', hostLabel: 'pool', schedule: scheduleOptions(root) });
    r = renderConsole({ services: live });
    await waitForText(r, 'Customize System');
    press(r, KEYS.enter);
    const f = await waitForFrame(r, atBurMenu);
    expect(f).toMatch(/Schedule Virtual Machine Metadata[\s\S]*Backup Virtual Machine Metadata[\s\S]*Restore Virtual Machine Metadata/);
    expect(highlighted(f)).toBe('Schedule Virtual Machine Metadata');
    expect(statusPane(f)).toContain('Schedule Virtual Machine Metadata Backup');
    expect(statusPane(f)).toContain('Press <Enter> to select how to schedule regular Virtual Machine metadata backups.');
    expect(f).toContain('<Enter> Change Schedule');
  });

  it('sets weekly (link to the runner), reads it back as stock does, then disables it', async () => {
    const root = await cronRoot();
    let f = await openSchedule(scheduleOptions(root));
    expect(flat(f)).toContain('Scheduled Metadata Backups are currently disabled. Please select the desired frequency:');
    expect(f).toMatch(/Daily[\s\S]*Weekly[\s\S]*Monthly[\s\S]*Never/);
    expect(flat(f)).toContain(`A new schedule backs up to: SR "${defaultSr.name}" (${defaultSr.uuid}), the pool's default SR.`);
    expect(flat(f)).toContain('Last scheduled backup: none recorded.');

    f = await choose('Weekly');
    expect(flat(f)).toContain('Metadata Backup Schedule successfully changed to occur weekly.');
    expect(await readlink(cronLinkPath(root, 'weekly'))).toBe(runnerPath(root));
    expect((await lstat(runnerPath(root))).isFile()).toBe(true);
    press(r!, KEYS.enter);
    await waitForFrame(r!, atBurMenu);

    f = await openSchedule(scheduleOptions(root), true);
    expect(flat(f)).toContain('Scheduled Metadata Backups are currently set to occur weekly. Please select the desired frequency:');
    expect(flat(f)).toContain(`Backs up to: SR "${defaultSr.name}" (${defaultSr.uuid}), the pool's default SR.`);
    f = await choose('Never');
    expect(flat(f)).toContain('Metadata Backup Schedule successfully disabled');
    await expect(lstat(cronLinkPath(root, 'weekly'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(lstat(runnerPath(root))).rejects.toMatchObject({ code: 'ENOENT' });
    press(r!, KEYS.enter);
    await waitForFrame(r!, atBurMenu);
    // Esc leaves the dialogue unchanged.
    await openSchedule(scheduleOptions(root), true);
    press(r!, KEYS.escape);
    await waitForFrame(r!, (fr) => paneTitle(fr) === BUR);
  });

  it('shows the last scheduled run the runner recorded', async () => {
    const root = await cronRoot();
    const opts = scheduleOptions(root);
    const outcome = await runScheduledBackup({
      poolConf: opts.poolConf!,
      stateDir: opts.stateDir!,
      loggerCommand: null,
      connect: async () => {
        const session = await Session.login({ url: p.sim.url, user: 'root', password: DEMO_ROOT_PASSWORD });
        return { session, close: () => session.logout() };
      },
    });
    expect(outcome.acted && outcome.result.status).toBe('ok');
    const f = await openSchedule(opts);
    const date = outcome.acted ? outcome.result.backup!.date : '';
    expect(flat(f)).toMatch(new RegExp(`Last scheduled backup \\(\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d\\) to SR "${defaultSr.name}": backup ${date}, 2 VM\\(s\\) and \\d+ template\\(s\\)\\.`));
  });

  it('replaces a stock schedule only when the operator agrees', async () => {
    const root = await cronRoot();
    const stock = '/usr/lib/xcp/lib/backup-metadata-cron';
    await symlink(stock, cronLinkPath(root, 'daily'));
    let f = await openSchedule(scheduleOptions(root));
    expect(flat(f)).toContain('currently set to occur daily.');
    expect(flat(f)).toContain("as the stock runner (xe-backup-metadata -c) does");
    expect(flat(f)).toContain("Warning: The schedule is not xsconsole-dr's");

    await highlightRow(r!, 'Monthly');
    press(r!, KEYS.enter);
    f = await waitForText(r!, 'The current schedule was not written by this console:');
    expect(flat(f)).toContain(`${cronLinkPath(root, 'daily')} -> ${stock} (the stock XenServer runner`);
    press(r!, KEYS.escape);
    await waitForFrame(r!, (fr) => flat(fr).includes('Please select the desired frequency:'));
    expect(await readlink(cronLinkPath(root, 'daily'))).toBe(stock);

    press(r!, KEYS.enter);
    await waitForText(r!, 'The current schedule was not written by this console:');
    press(r!, KEYS.f8);
    f = await waitForText(r!, 'successfully changed to occur monthly.');
    expect(await readlink(cronLinkPath(root, 'monthly'))).toBe(runnerPath(root));
    await expect(lstat(cronLinkPath(root, 'daily'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('says why it cannot set a schedule (no runner, no cron folder); Never still works', async () => {
    const root = await cronRoot();
    const why = 'the password was typed at login; cron needs --password-file';
    let f = await openSchedule(scheduleOptions(root, { runner: null, unavailable: why }));
    expect(flat(f)).toContain(`Only "Never" can be chosen here: ${why}`);
    f = await choose('Daily');
    expect(flat(f)).toContain(`The schedule was not changed: ${why}`);
    press(r!, KEYS.enter);
    f = await waitForFrame(r!, (fr) => flat(fr).includes('Please select the desired frequency:'));
    f = await choose('Never');
    expect(flat(f)).toContain('Metadata Backup Schedule successfully disabled');
    press(r!, KEYS.enter);
    await waitForFrame(r!, atBurMenu);

    const bare = join(dir, `bare${++n}`);
    await mkdir(bare);
    r!.unmount();
    await live!.close();
    f = await openSchedule(scheduleOptions(bare));
    f = await choose('Weekly');
    expect(flat(f)).toContain('Failed to create metadata schedule link:');
    expect(flat(f)).toContain(`${join(bare, 'cron.weekly')} does not exist`);
  });
});
