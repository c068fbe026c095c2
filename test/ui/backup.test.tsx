/**
 * The backup flow: SR picker → banner → per-VM progress → summary or failure, and Ctrl-C.
 * Against the simulated pool (real XML-RPC, HTTP exports, control-domain attach), plus a
 * hand-made pool for what must happen on cue (an empty SR list, a backup held mid-run).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemoSimulator, type SimHandle } from '../../src/sim/index.js';
import { simulatedControlDomain } from '../../src/dr/volume/control-domain.js';
import { createConsoleServices, type ConsoleServices, type LiveConsoleServices } from '../../src/app/index.js';
import { backupVdiUuid } from '../../src/dr/layout.js';
import { BACKUP_PICKER_TITLE } from '../../components/backup/feature.js';
import { BACKUP_BANNER, BACKUP_CANCELLING } from '../../components/backup/BackupRun.js';
import { BACKUP_CANCELLED_TITLE, BACKUP_FULL_TITLE } from '../../components/backup/summary.js';
import { FORCE_CHOICE, KEEP_FEWER_CHOICE, KEEP_FEWER_TITLE } from '../../components/backup/SpaceOffer.js';
import { runBackup } from '../../src/dr/backup.js';
import { Session } from '../../src/xenapi/index.js';
import { writeFileBytes } from '../../src/dr/volume/files.js';
import { openImageForWrite } from '../helpers/image-writer.js';
import { NO_SUITABLE_SRS } from '../../components/dialogues/SrPicker.js';
import { controlDomainAttachments, imageLs, vdiImagePath } from '../helpers/pool.js';
import { FakePool, attachFailure, srRecord } from './fake-pool.js';
import { KEYS, flat, highlighted, paneTitle, press, renderConsole, waitForFrame, waitForText, waitUntil, type Rendered } from './helpers.js';

const PASSWORD = 'backup-test-pw';
let r: Rendered | undefined;
let live: LiveConsoleServices | undefined;

afterEach(async () => {
  r?.unmount();
  r = undefined;
  await live?.close();
  live = undefined;
});

/** Root → Backup, Restore and Update → Backup → (login) → SR picker. */
async function openPicker(rendered: Rendered, password: string): Promise<string> {
  await waitForText(rendered, 'Customize System');
  press(rendered, KEYS.enter);
  await waitForFrame(rendered, (f) => paneTitle(f) === 'Backup, Restore and Update');
  press(rendered, KEYS.enter);
  await waitForFrame(rendered, (f) => paneTitle(f) === 'Login');
  press(rendered, KEYS.tab);
  await waitForFrame(rendered, (f) => /Password\s+_/.test(f));
  press(rendered, password);
  await waitForFrame(rendered, (f) => /Password\s+\*+_/.test(f));
  press(rendered, KEYS.enter);
  return waitForFrame(rendered, (f) => paneTitle(f) === BACKUP_PICKER_TITLE && !f.includes('Reading storage repositories'));
}

/** Moves the picker's highlight to the row starting with `name`. */
async function highlightSr(rendered: Rendered, name: string): Promise<void> {
  for (let i = 0; i < 10; i++) {
    const f = await waitForFrame(rendered, (fr) => highlighted(fr) !== undefined);
    if (highlighted(f)!.startsWith(name)) return;
    const before = highlighted(f);
    press(rendered, KEYS.down);
    await waitForFrame(rendered, (fr) => highlighted(fr) !== before);
  }
  throw new Error(`no SR row ${name}`);
}

describe('backup against the simulated pool', () => {
  let dir: string;
  let sim: SimHandle;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'xsdr-ui-backup-'));
    sim = await startDemoSimulator({ stateDir: join(dir, 'state'), vms: 3, rootPassword: PASSWORD });
  });
  afterAll(async () => {
    await sim.stop();
    await rm(dir, { recursive: true, force: true });
  });
  afterEach(() => sim.faults.clear());

  const services = (): ConsoleServices => {
    live = createConsoleServices({ target: { url: sim.url, tls: {}, describe: 'simulated pool', controlDomain: simulatedControlDomain(sim) }, user: 'root', hostLabel: 'sim' });
    return live;
  };

  it('lists usable SRs by name with type, size, free space and the default flag; F5 re-reads', async () => {
    r = renderConsole({ services: services() });
    let f = await openPicker(r, PASSWORD);
    expect(f).toContain('Please select a Storage Repository');
    expect(f).toMatch(/Name\s+Type\s+Size\s+Free/);
    const rows = f.split('\n').filter((l) => /(storage)\s+(lvm|nfs|lvmoiscsi)\s/.test(l));
    expect(rows.map((l) => /│\s*>?\s*(\S.*?storage)/.exec(l)?.[1])).toEqual(['Local storage', 'NFS virtual disk storage', 'iSCSI virtual disk storage']);
    expect(f).toMatch(/NFS virtual disk storage\s+nfs\s+8\.0 TiB\s+\d\.\d TiB\s+default\s*│/);
    expect(f).toMatch(/Local storage\s+lvm\s+900 GiB\s+900 GiB\s*│/);
    expect(f).not.toContain('Tools');
    expect(f).not.toContain('DVD drives');
    expect(f).toContain('<F5> Refresh');

    sim.db.create('SR', {
      uuid: 'a1b2c3d4-0000-4000-8000-00000000f5f5',
      name_label: 'Added after F5',
      type: 'ext',
      content_type: 'user',
      physical_size: 1024 ** 3,
      allowed_operations: ['vdi_create'],
    });
    press(r, KEYS.f5);
    f = await waitForText(r, 'Added after F5');
    expect(f).toMatch(/Added after F5\s+ext\s+1\.0 GiB/);
    press(r, KEYS.escape);
    await waitForFrame(r, (fr) => paneTitle(fr) === 'Backup, Restore and Update');
  });

  it('backs up: banner while the VDI is prepared, progress, then the summary; the VBD is released', async () => {
    sim.faults.add({ method: 'VBD.plug', latencyMs: 300, times: 1 });
    r = renderConsole({ services: services() });
    await openPicker(r, PASSWORD);
    await highlightSr(r, 'Local storage');
    press(r, KEYS.enter);
    let f = await waitForText(r, BACKUP_BANNER);
    expect(paneTitle(f)).toBe('Backup Virtual Machine Metadata');
    expect(f).toContain('SR: Local storage');
    expect(f).toContain('<Ctrl-C> Abort');
    f = await waitForText(r, 'Backup Successful');
    const text = flat(f);
    const localSr = [...sim.db.allRecords('SR').values()].find((s) => s.name_label === 'Local storage')!;
    expect(text).toContain('written to SR "Local storage"');
    expect(text).toContain(`Backup VDI: ${backupVdiUuid(localSr.uuid)} (created by this backup)`);
    expect(text).toMatch(/VMs exported: 3, templates: \d+/);
    expect(text).toContain('Failures: none');
    expect(text).toMatch(/Space used on the backup VDI: \d+%/);
    expect(text).toMatch(/Backups kept: 1 \(\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d\)/);
    expect(await controlDomainAttachments(sim)).toEqual({ vbds: 0, devices: [] });
    press(r, KEYS.enter);
    f = await waitForFrame(r, (fr) => paneTitle(fr) === 'Backup, Restore and Update');
    expect(highlighted(f)).toBe('Backup Virtual Machine Metadata');
  });

  it('shows "Metadata Backup failed:" with the step, XAPI code, meaning and next step', async () => {
    sim.faults.add({ method: 'VDI.create', error: ['SR_FULL', '1073741824', '0'], times: 1 });
    r = renderConsole({ services: services() });
    await openPicker(r, PASSWORD);
    await highlightSr(r, 'iSCSI virtual disk storage');
    press(r, KEYS.enter);
    const f = await waitForText(r, 'Metadata Backup failed:');
    const text = flat(f);
    expect(paneTitle(f)).toBe('Metadata Backup Failed');
    expect(text).toContain('SR_FULL: Finding or creating the backup VDI failed: The storage repository is full');
    expect(text).toContain('Free space on the SR or choose another SR.');
    expect(await controlDomainAttachments(sim)).toEqual({ vbds: 0, devices: [] });
    press(r, KEYS.escape);
    await waitForFrame(r, (fr) => paneTitle(fr) === 'Backup, Restore and Update');
  });

  it('aborts a running backup on Ctrl-C, releases the VBD and returns to the menu', async () => {
    // The first export answers at once, the others hang: the run is caught mid-VMs.
    sim.faults.add({ route: '/export_metadata', latencyMs: 60_000, after: 1 });
    r = renderConsole({ services: services() });
    await openPicker(r, PASSWORD);
    await highlightSr(r, 'Local storage');
    press(r, KEYS.enter);
    await waitForFrame(r, (f) => /VMs and templates: 1 of \d+/.test(f));
    expect(sim.db.allRecords('VBD').size).toBeGreaterThan(0);
    press(r, KEYS.ctrlC);
    // What was cancelled and cleaned, as the run reported it.
    let f = await waitForFrame(r, (fr) => paneTitle(fr) === BACKUP_CANCELLED_TITLE, 10_000);
    expect(flat(f)).toMatch(/Backup cancelled while backing up VM metadata: 1 of \d+ VMs and templates had been exported\./);
    expect(flat(f)).toContain('Nothing was written to the backup VDI');
    expect(flat(f)).toContain('The VBD was unplugged and destroyed.');
    expect(await controlDomainAttachments(sim)).toEqual({ vbds: 0, devices: [] });
    press(r, KEYS.enter);
    f = await waitForFrame(r, (fr) => paneTitle(fr) === 'Backup, Restore and Update');
    expect(highlighted(f)).toBe('Backup Virtual Machine Metadata');
  });

  it('a full backup VDI: offers keeping fewer (saying which go, after the new one) and backing up anyway', async () => {
    const nfs = [...sim.db.allRecords('SR').values()].find((s) => s.name_label === 'NFS virtual disk storage')!;
    const session = await Session.login({ url: sim.url, user: 'root', password: PASSWORD });
    const d1 = '2025-01-01-10-00-00';
    const d2 = '2025-01-02-10-00-00';
    try {
      await runBackup(session, { srUuid: nfs.uuid, vdiSize: 32 * 1024 * 1024, access: 'remote', cacheDir: null, now: () => new Date(2025, 0, 1, 10) });
      await runBackup(session, { srUuid: nfs.uuid, access: 'remote', cacheDir: null, now: () => new Date(2025, 0, 2, 10) });
    } finally {
      await session.logout();
    }
    const image = vdiImagePath(sim, backupVdiUuid(nfs.uuid));
    const vol = await openImageForWrite(image);
    // Over the guard, with room left for a backup of this small pool.
    await writeFileBytes(vol.fs, '/ballast', Buffer.alloc(vol.superblock.availableBytes - 2 * 1024 * 1024, 1));
    await vol.close();

    r = renderConsole({ services: services() });
    await openPicker(r, PASSWORD);
    await highlightSr(r, 'NFS virtual disk storage');
    press(r, KEYS.enter);
    let f = await waitForFrame(r, (fr) => paneTitle(fr) === BACKUP_FULL_TITLE, 10_000);
    expect(flat(f)).toContain('BACKUP_VDI_FULL');
    expect(flat(f)).toContain('2 backup(s) on the VDI, up to 12 kept.');
    expect(highlighted(f)).toBe(KEEP_FEWER_CHOICE);
    expect(f).toContain(FORCE_CHOICE);
    press(r, KEYS.enter);
    f = await waitForFrame(r, (fr) => paneTitle(fr) === KEEP_FEWER_TITLE);
    expect(highlighted(f)).toBe('Keep 2: removes 1 older backup');
    press(r, KEYS.down);
    await waitForFrame(r, (fr) => highlighted(fr) === 'Keep 1: removes 2 older backups');
    press(r, KEYS.enter);
    f = await waitForText(r, '<F8> Yes');
    expect(flat(f)).toContain('The new backup is written first');
    expect(flat(f)).toContain(`Only once it is complete are 2 older backup(s) removed: ${d2}, ${d1}.`);
    expect(flat(f)).toContain('If it does not fit, the backup fails and nothing on the backup VDI changes.');
    press(r, KEYS.f8);
    f = await waitForFrame(r, (fr) => fr.includes('Backup Successful'), 20_000, 'the summary');
    expect(flat(f)).toContain(`Removed as too old: ${d2}, ${d1}`);
    const kept = imageLs(image, '/metadata');
    expect(kept).toHaveLength(1);
    expect(kept).not.toContain(d1);
    press(r, KEYS.enter);
    await waitForFrame(r, (fr) => paneTitle(fr) === 'Backup, Restore and Update');

    // Still over the guard: back up anyway, past it, after the question.
    press(r, KEYS.enter);
    await waitForFrame(r, (fr) => paneTitle(fr) === BACKUP_PICKER_TITLE && !fr.includes('Reading storage repositories'));
    await highlightSr(r, 'NFS virtual disk storage');
    press(r, KEYS.enter);
    f = await waitForFrame(r, (fr) => paneTitle(fr) === BACKUP_FULL_TITLE, 10_000);
    press(r, KEYS.down);
    await waitForFrame(r, (fr) => highlighted(fr) === FORCE_CHOICE);
    press(r, KEYS.enter);
    f = await waitForText(r, '<F8> Yes');
    expect(flat(f)).toMatch(/Back up anyway, past the 90% guard \(\d+% used\)\?/);
    expect(flat(f)).toContain('No backup is removed: with this one there are 2, within the 12 kept.');
    press(r, KEYS.f8);
    f = await waitForFrame(r, (fr) => fr.includes('Backup Successful'), 20_000, 'the summary');
    // The summary warns that the next one will be refused (a page down when it is below the first).
    if (!flat(f).includes('The next backup will be refused')) {
      press(r, KEYS.pageDown);
      f = await waitForFrame(r, (fr) => flat(fr).includes('The next backup will be refused'), 5000, 'the space warning');
    }
    expect(flat(f)).toContain('Warning: The next backup will be refused');
    expect(imageLs(image, '/metadata')).toHaveLength(2);
  });
});

describe('backup flow on a hand-made pool', () => {
  function pool(): FakePool {
    const p = new FakePool();
    p.srs = {
      'OpaqueRef:sr-b': srRecord('bbbbbbbb-0000-4000-8000-000000000002', 'Bravo SR', { shared: true }),
      'OpaqueRef:sr-a': srRecord('aaaaaaaa-0000-4000-8000-000000000001', 'Alpha SR'),
      'OpaqueRef:iso': srRecord('cccccccc-0000-4000-8000-000000000003', 'ISO library', { content_type: 'iso' }),
      'OpaqueRef:ro': srRecord('dddddddd-0000-4000-8000-000000000004', 'No VDI create', { allowed_operations: ['scan'] }),
      'OpaqueRef:other': srRecord('eeeeeeee-0000-4000-8000-000000000005', 'Other host SR'),
    };
    p.pbds = { 'OpaqueRef:pbd-o': { SR: 'OpaqueRef:other', host: 'OpaqueRef:host-2' }, 'OpaqueRef:pbd-a': { SR: 'OpaqueRef:sr-a', host: p.thisHost } };
    p.defaultSr = 'OpaqueRef:sr-b';
    return p;
  }

  it('says "<No suitable SRs available>" when no SR fits, and Enter does nothing there', async () => {
    const p = pool();
    p.srs = { 'OpaqueRef:iso': srRecord('cccccccc-0000-4000-8000-000000000003', 'ISO library', { content_type: 'iso' }) };
    r = renderConsole({ services: p });
    let f = await openPicker(r, p.password);
    expect(f).toContain(NO_SUITABLE_SRS);
    expect(f).not.toContain('ISO library');
    press(r, KEYS.enter);
    press(r, KEYS.f5);
    await waitUntil(() => p.srListings === 2, 5000, 'the F5 re-read');
    f = await waitForText(r, NO_SUITABLE_SRS);
    expect(paneTitle(f)).toBe(BACKUP_PICKER_TITLE);
    expect(p.backupsRunning + p.backupsReleased).toBe(0);
    press(r, KEYS.left);
    await waitForFrame(r, (fr) => paneTitle(fr) === 'Backup, Restore and Update');
  });

  it('keeps only SRs visible from this host, writable, with VDI creation; default marked; letter jump works', async () => {
    const p = pool();
    r = renderConsole({ services: p });
    const f = await openPicker(r, p.password);
    expect(f).toContain('Alpha SR');
    expect(f).toMatch(/Bravo SR\s+lvm\s+100 GiB\s+75 GiB\s+default\s*│/);
    for (const hidden of ['ISO library', 'No VDI create', 'Other host SR']) expect(f).not.toContain(hidden);
    expect(highlighted(f)).toMatch(/^Alpha SR/);
    expect(f).toContain('UUID aaaaaaaa-0000-4000-8000-000000000001');
    press(r, 'b');
    const g = await waitForFrame(r, (fr) => /^Bravo SR/.test(highlighted(fr) ?? ''));
    expect(g).toContain('UUID bbbbbbbb-0000-4000-8000-000000000002, shared');
  });

  it('shows per-VM progress, ignores Esc during the run, and aborts on Ctrl-C only once cleanup is done', async () => {
    const p = pool();
    p.backup = { vms: ['web-01', 'db-01', 'mail-01'], stepped: true, slowCleanup: true };
    let exits = 0;
    r = renderConsole({ services: p, onExit: () => exits++ });
    await openPicker(r, p.password);
    press(r, KEYS.enter);
    let f = await waitForText(r, BACKUP_BANNER, 'Attaching the backup VDI...');
    expect(f).toContain('SR: Alpha SR');
    p.advance();
    f = await waitForText(r, 'VMs and templates: 1 of 3', 'Last: web-01');
    expect(f).toMatch(/\[#+\.+\] 33%/);
    press(r, KEYS.escape);
    p.advance();
    f = await waitForText(r, 'VMs and templates: 2 of 3', 'Last: db-01');
    expect(paneTitle(f)).toBe('Backup Virtual Machine Metadata');

    press(r, KEYS.ctrlC);
    f = await waitForText(r, BACKUP_CANCELLING, 'Please wait...');
    // A second Ctrl-C while the backup unwinds neither quits nor leaves the screen.
    press(r, KEYS.ctrlC);
    press(r, 'x');
    f = await waitForText(r, BACKUP_CANCELLING);
    expect(exits).toBe(0);
    expect(p.backupsRunning).toBe(1);
    p.releaseCleanup();
    f = await waitForFrame(r, (fr) => paneTitle(fr) === 'Backup, Restore and Update');
    expect(p.backupsRunning).toBe(0);
    expect(p.backupsReleased).toBe(1);
    expect(highlighted(f)).toBe('Backup Virtual Machine Metadata');
    expect(exits).toBe(0);
  });

  it('lists failed VMs in the summary and scrolls a long one', async () => {
    const p = pool();
    const vms = Array.from({ length: 20 }, (_, i) => `vm-${String(i).padStart(2, '0')}`);
    p.backup = { vms, failingVms: vms.slice(0, 14) };
    r = renderConsole({ services: p });
    await openPicker(r, p.password);
    press(r, KEYS.enter);
    let f = await waitForText(r, 'Backup Completed With Failures');
    expect(flat(f)).toContain('Failures: 14');
    expect(f).toContain('VM "vm-00": VDI_IO_ERROR');
    expect(f).toContain('<PgUp/PgDn> Scroll');
    expect(f).not.toContain('Finished in');
    press(r, KEYS.pageDown);
    f = await waitForText(r, 'Finished in 1.5 s.');
    expect(f).not.toContain('VM "vm-00"');
    press(r, KEYS.pageUp);
    await waitForText(r, 'VM "vm-00"');
    press(r, KEYS.enter);
    await waitForFrame(r, (fr) => paneTitle(fr) === 'Backup, Restore and Update');
  });

  it('names the failed step of a backup', async () => {
    const p = pool();
    p.backup = { vms: ['a'], failWith: attachFailure() };
    r = renderConsole({ services: p });
    await openPicker(r, p.password);
    press(r, KEYS.enter);
    const f = await waitForText(r, 'Metadata Backup failed:');
    expect(flat(f)).toContain('Metadata Backup failed: VDI_IN_USE: Attaching the backup VDI failed: Disk OpaqueRef:vdi is in use (operation attach).');
    expect(flat(f)).toContain('Detach the disk from whatever uses it');
    expect(p.backupsReleased).toBe(1);
    press(r, KEYS.left);
    const back = await waitForFrame(r, (fr) => paneTitle(fr) === 'Backup, Restore and Update');
    expect(highlighted(back)).toBe('Backup Virtual Machine Metadata');
  });
});
