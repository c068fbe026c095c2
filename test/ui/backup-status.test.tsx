/**
 * The last backup and the last scheduled result in the root and "Backup, Restore and
 * Update" status panes, and the backup each SR holds in the SR picker, at 80×24 against
 * the simulated pool: the record is the one a backup leaves in its VDI's other_config,
 * written here by the test onto VDIs real backups created; no VDI is attached to read it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackup } from '../../src/dr/backup.js';
import { LAST_BACKUP_KEY, formatLastBackupRecord } from '../../src/dr/backup-record.js';
import { sampleRecord } from '../helpers/last-backup.js';
import { backupVdiUuid } from '../../src/dr/layout.js';
import { readLastScheduledResult, runScheduledBackup } from '../../src/dr/scheduled-backup.js';
import { simulatedControlDomain } from '../../src/dr/volume/control-domain.js';
import { DEMO_ROOT_PASSWORD } from '../../src/sim/index.js';
import { Session, tlsWarning, type Ref } from '../../src/xenapi/index.js';
import { createConsoleServices, type ConsoleScheduleOptions, type LiveConsoleServices } from '../../src/app/index.js';
import { BACKUP_MENU_TITLE, BACKUP_PICKER_TITLE } from '../../components/backup/feature.js';
import { controlDomainAttachments, loginAsDom0, startTestPool, type TestPool } from '../helpers/pool.js';
import { KEYS, flat, highlighted, paneTitle, press, renderConsole, waitForFrame, waitForText, type Rendered } from './helpers.js';
import { atBurMenu, highlightRow, statusPane } from './restore-helpers.js';

const MiB = 1024 ** 2;
let p: TestPool;
let dir: string;
const srs: Record<'local' | 'nfs' | 'iscsi', { ref: Ref; uuid: string; name: string }> = {} as never;
let r: Rendered | undefined;
let live: LiveConsoleServices | undefined;

const record = sampleRecord;

/** Puts `value` as the record on the SR's backup VDI (none: the record is removed). */
async function setRecord(srUuid: string, value: string | null): Promise<void> {
  const vdi = await p.session.call<Ref>('VDI.get_by_uuid', backupVdiUuid(srUuid));
  await p.session.call('VDI.remove_from_other_config', vdi, LAST_BACKUP_KEY);
  if (value !== null) await p.session.call('VDI.add_to_other_config', vdi, LAST_BACKUP_KEY, value);
}

async function srByName(name: string): Promise<{ ref: Ref; uuid: string; name: string }> {
  const [ref] = await p.session.call<Ref[]>('SR.get_by_name_label', name);
  return { ref: ref!, uuid: await p.session.call<string>('SR.get_uuid', ref), name };
}

beforeAll(async () => {
  p = await startTestPool({ vms: 2 });
  dir = await mkdtemp(join(tmpdir(), 'xsdr-ui-status-'));
  srs.local = await srByName('Local storage');
  srs.nfs = await srByName('NFS virtual disk storage');
  srs.iscsi = await srByName('iSCSI virtual disk storage');
  // Real backups make the two backup VDIs (deterministic uuids); the records are the test's.
  await runBackup(p.session, { srUuid: srs.local.uuid });
  await runBackup(p.session, { srUuid: srs.nfs.uuid });
}, 60_000);

afterAll(async () => {
  await p?.close();
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  r?.unmount();
  r = undefined;
  await live?.close();
  live = undefined;
  await p.session.call('SR.set_name_label', srs.local.ref, srs.local.name);
});

let n = 0;
async function scheduleOptions(): Promise<ConsoleScheduleOptions> {
  const root = join(dir, `root${++n}`);
  for (const f of ['daily', 'weekly', 'monthly']) await mkdir(join(root, `cron.${f}`), { recursive: true });
  return { cronRoot: root, stateDir: join(root, 'state'), poolConf: join(root, 'pool.conf'), runner: { node: process.execPath, cli: '/opt/xsconsole-dr/dist/src/cli.js' } };
}

function start(schedule?: ConsoleScheduleOptions, securityWarning?: string): Rendered {
  live = createConsoleServices({
    target: { url: p.sim.url, tls: {}, describe: 'pool', controlDomain: simulatedControlDomain(p.sim) },
    user: 'root',
    hostLabel: 'pool',
    loginHint: 'The embedded pool: the password is in the README.',
    ...(schedule && { schedule }),
    ...(securityWarning && { securityWarning }),
  });
  r = renderConsole({ services: live });
  return r;
}

/** The headline of a failed scheduled run in a pane's flattened text. */
function failedLine(code: string): RegExp {
  return new RegExp(`Scheduled backup FAILED \\(\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d\\): ${code}:`);
}

/** A schedule whose last run could not log in: the runner records the failure as it does on a host. */
async function failedScheduledRun() {
  const schedule = await scheduleOptions();
  await runScheduledBackup({
    poolConf: schedule.poolConf!,
    stateDir: schedule.stateDir!,
    connect: async () => {
      const session = await Session.login({ url: p.sim.url, user: 'root', password: 'not the password' });
      return { session, close: () => session.logout() };
    },
    loggerCommand: null,
  });
  const failed = (await readLastScheduledResult(schedule.stateDir!))!;
  expect(failed.status).toBe('failed');
  return { schedule, failed };
}

/** Root → BUR → Backup → login → the SR picker, read. */
async function openBackupPicker(rendered: Rendered): Promise<string> {
  await waitForText(rendered, 'Customize System');
  press(rendered, KEYS.enter);
  await waitForFrame(rendered, atBurMenu);
  press(rendered, 'b');
  await waitForFrame(rendered, (f) => highlighted(f) === BACKUP_MENU_TITLE);
  press(rendered, KEYS.enter);
  await waitForFrame(rendered, (f) => paneTitle(f) === 'Login');
  press(rendered, `\t${DEMO_ROOT_PASSWORD}\r`);
  return waitForFrame(rendered, (f) => paneTitle(f) === BACKUP_PICKER_TITLE && f.includes('Free') && !f.includes('Reading storage repositories'));
}

/** The picker row (marker and borders left out) that starts with `name`. */
function pickerRow(frame: string, name: string): string {
  const line = frame.split('\n').find((l) => l.replace(/^\s*│\s*>?\s*/, '').startsWith(name));
  if (!line) throw new Error(`no row for ${name} in\n${frame}`);
  return line;
}

describe('status panes: last backup and last scheduled result', () => {
  it('root: a failed scheduled run with its code and next step; after login the newest record across SRs, naming its SR', async () => {
    await setRecord(srs.local.uuid, formatLastBackupRecord(record()));
    await setRecord(srs.nfs.uuid, formatLastBackupRecord(record({ date: '2026-12-06-14-00-00', finishedAt: '2026-12-06T14:00:09.000Z' })));
    const { schedule, failed } = await failedScheduledRun();

    const rendered = start(schedule);
    let f = await waitForFrame(rendered, (fr) => paneTitle(fr) === 'Customize System' && statusPane(fr).includes('FAILED'));
    let pane = statusPane(f);
    expect(pane).toContain('Last backup: log in to see it.');
    expect(pane).toMatch(failedLine(failed.error!.code));
    expect(pane).toContain(`: ${failed.error!.code}: ${failed.error!.meaning}`);
    // Its next step comes after the last backup: the failure and the last backup come first in a short pane.
    expect(pane).toContain(`Scheduled backup: ${failed.error!.nextStep}`);
    // The item's own text is still there, above.
    expect(pane).toContain('Back up the metadata of the VMs in this pool');
    // Visible whatever item is highlighted.
    press(rendered, 'q');
    f = await waitForFrame(rendered, (fr) => highlighted(fr) === 'Quit');
    expect(statusPane(f)).toMatch(failedLine(failed.error!.code));
    press(rendered, KEYS.escape);
    await waitForFrame(rendered, (fr) => highlighted(fr) === 'Backup, Restore and Update');

    await openBackupPicker(rendered);
    press(rendered, KEYS.escape);
    f = await waitForFrame(rendered, (fr) => atBurMenu(fr) && statusPane(fr).includes('Last backup: 2026-12-07') && statusPane(fr).includes('FAILED'));
    pane = statusPane(f);
    expect(pane).toContain('Last backup: 2026-12-07 14:00 on SR "Local storage" (2000 VMs, 12 templates): 64% full, ~3 more fit.');
    expect(pane).toMatch(failedLine(failed.error!.code));
    press(rendered, KEYS.escape);
    f = await waitForFrame(rendered, (fr) => paneTitle(fr) === 'Customize System' && statusPane(fr).includes('Last backup: 2026-12-07'));
    expect(statusPane(f)).toContain('on SR "Local storage"');
    expect(statusPane(f)).toMatch(failedLine(failed.error!.code));

    // The other SR's record becomes the newest: the pane follows when the menu is shown again.
    await setRecord(srs.nfs.uuid, formatLastBackupRecord(record({ date: '2026-12-08-02-00-00', finishedAt: '2026-12-08T02:00:05.000Z', usedBytes: 950 * MiB })));
    press(rendered, KEYS.enter);
    f = await waitForFrame(rendered, (fr) => atBurMenu(fr) && statusPane(fr).includes('Last backup: 2026-12-08'));
    pane = statusPane(f);
    expect(pane).toContain('on SR "NFS virtual disk storage"');
    expect(pane).toContain('95% full; the next backup to this SR will be refused');
    expect(await controlDomainAttachments(p.sim)).toEqual({ vbds: 0, devices: [] });
  });

  it('under a long item text (Log In, with the TLS warning) the item stays whole and the failure still shows first', async () => {
    const { schedule, failed } = await failedScheduledRun();
    const rendered = start(schedule, tlsWarning({ insecure: true })!);
    await waitForText(rendered, 'Customize System');
    press(rendered, 'l');
    const f = await waitForFrame(rendered, (fr) => highlighted(fr) === 'Log In' && statusPane(fr).includes('FAILED'));
    const pane = statusPane(f);
    expect(pane).toContain(tlsWarning({ insecure: true })!);
    expect(pane).toContain('The embedded pool: the password is in the README.');
    expect(pane).toMatch(failedLine(failed.error!.code));
  });

  it('a successful scheduled run, and backup VDIs without a record', async () => {
    await setRecord(srs.local.uuid, null);
    await setRecord(srs.nfs.uuid, null);
    const schedule = await scheduleOptions();
    const run = await runScheduledBackup({
      poolConf: schedule.poolConf!,
      stateDir: schedule.stateDir!,
      srUuid: srs.local.uuid,
      connect: async () => {
        const session = await loginAsDom0(p.sim);
        return { session, close: () => session.logout() };
      },
      loggerCommand: null,
    });
    expect(run.acted && run.result.status).toBe('ok');
    // Whatever the backup itself wrote: this case is about VDIs without a record.
    await setRecord(srs.local.uuid, null);
    const rendered = start(schedule);
    await openBackupPicker(rendered);
    press(rendered, KEYS.escape);
    const f = await waitForFrame(rendered, (fr) => atBurMenu(fr) && statusPane(fr).includes('Last backup: not recorded') && statusPane(fr).includes('Last scheduled backup'));
    const pane = statusPane(f);
    expect(pane).toContain('Last backup: not recorded (2 SRs hold');
    expect(pane).toMatch(/Last scheduled backup \(\d{4}-\d\d-\d\d \d\d:\d\d, SR "Local storage"\): backup \d{4}-\d\d-\d\d \d\d:\d\d, succeeded\./);
    expect(pane).not.toContain('FAILED');
  });
});

describe('SR picker: the backup each SR holds', () => {
  it('shows how full each backup VDI is, a VDI without a record, nothing for an SR without one; rows aligned within 80 columns', async () => {
    await setRecord(srs.local.uuid, formatLastBackupRecord(record()));
    await setRecord(srs.nfs.uuid, null);
    const rendered = start();
    const f = await openBackupPicker(rendered);
    const header = pickerRow(f, 'Name');
    const local = pickerRow(f, 'Local storage');
    const nfs = pickerRow(f, 'NFS virtual disk');
    const iscsi = pickerRow(f, 'iSCSI virtual disk');
    const end = header.indexOf('Backup') + 'Backup'.length;
    expect(local.slice(0, end)).toMatch(/ 64%$/);
    expect(nfs.slice(0, end)).toMatch(/ VDI$/);
    expect(iscsi.slice(end - 6, end).trim()).toBe('');
    // Every column where its header is: Type from its start, the numbers to their end.
    const typeAt = header.indexOf('Type');
    for (const row of [local, nfs, iscsi]) expect(row.slice(typeAt - 1, typeAt + 1), row).toMatch(/^ \S/);
    for (const col of ['Size', 'Free']) {
      const colEnd = header.indexOf(col) + col.length;
      for (const row of [local, nfs, iscsi]) expect(row.slice(colEnd - 1, colEnd + 1), `${col} in ${row}`).toMatch(/^\S $/);
    }
    for (const line of f.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    expect(f.split('\n').length).toBeLessThanOrEqual(24);

    // The highlighted SR's backup spelt out under the list.
    let g = await highlightRow(rendered, 'Local storage');
    expect(flat(g)).toContain('On this SR: backup 2026-12-07 14:00, 64% full, ~3 more fit');
    g = await highlightRow(rendered, 'NFS virtual disk');
    expect(flat(g)).toContain('On this SR: backup VDI, no record');
    g = await highlightRow(rendered, 'iSCSI virtual disk');
    expect(flat(g)).not.toContain('On this SR');
    expect(g.split('\n').length).toBe(f.split('\n').length);
  });

  it('hostile records and names: shown safely or ignored', async () => {
    // Not a stock folder date (a terminal escape in it): not our record.
    await setRecord(srs.local.uuid, JSON.stringify({ v: 1, ...record(), date: '2026-12-07-14-00-00\u001b[2J' }));
    // Well-formed but absurd: shown as numbers, no hang (the forecast is computed, not looped).
    await setRecord(srs.nfs.uuid, formatLastBackupRecord(record({ usedBytes: 2 ** 52, capacityBytes: 2 ** 53 - 1, backupBytes: 1, keep: 2 ** 53 - 1, vms: 2 ** 53 - 1 })));
    // Set in the pool's database: XML-RPC cannot carry C0 controls, a pool's answer can carry C1 and bidi controls.
    p.sim.db.set('SR', srs.local.ref, 'name_label', 'Local\u009b2J\u202e storage');
    const rendered = start();
    const f = await openBackupPicker(rendered);
    const raw = rendered.lastFrame() ?? '';
    expect(raw).not.toContain('\u001b[2J');
    expect(raw).not.toMatch(/[\u009b\u202e]/);
    expect(pickerRow(f, 'Local\\u009b2J')).toMatch(/ VDI /);
    expect(pickerRow(f, 'NFS virtual disk')).toMatch(/ 50% /);
    for (const line of f.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    const g = await highlightRow(rendered, 'NFS virtual disk');
    expect(flat(g)).toContain('On this SR: backup 2026-12-07 14:00, 50% full, over 999 more fit');

    press(rendered, KEYS.escape);
    const h = await waitForFrame(rendered, (fr) => atBurMenu(fr) && statusPane(fr).includes('Last backup: 2026-12-07'));
    expect(statusPane(h)).toContain(`on SR "NFS virtual disk storage" (${2 ** 53 - 1} VMs`);
    expect(rendered.lastFrame() ?? '').not.toContain('\u001b[2J');
  });
});
