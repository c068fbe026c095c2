/**
 * The restore flow against the DR story: a production pool backs up to its default SR; a
 * second, empty simulated pool attaches that SR's folder (the replicated SR at the DR site)
 * and the console there restores from it. Real XML-RPC, control-domain attach, metadata
 * imports; the pool's state is compared before and after.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { runBackup } from '../../src/dr/backup.js';
import { preflightRestore } from '../../src/dr/restore.js';
import { DEMO_ROOT_PASSWORD } from '../../src/sim/index.js';
import { simulatedControlDomain } from '../../src/dr/volume/control-domain.js';
import { createConsoleServices, type LiveConsoleServices } from '../../src/app/index.js';
import { FORCED_SUMMARY_LINE, SAVE_SUMMARY_TITLE } from '../../components/restore/RestoreSummary.js';
import { KEPT_PREFLIGHT_NOTE, SAVE_PREFLIGHT_TITLE } from '../../components/restore/Preflight.js';
import { LISTING_BANNER, PREFLIGHT_BANNER, RESTORE_MENU_TITLE, RESTORING_BANNER, SEARCH_BANNER } from '../../components/restore/texts.js';
import { controlDomainAttachments, defaultSr, drSiteOf, startTestPool, type TestPool } from '../helpers/pool.js';
import { backupVdiUuid } from '../../src/dr/layout.js';
import { KEYS, flat, highlighted, paneTitle, press, renderConsole, waitForFrame, waitForText, type Rendered } from './helpers.js';
import { atBurMenu, chooseSrAndListBackups, highlightRow, highlightSr, noneAttached as noneAttachedTo, openRestorePicker, readAllPages, statusPane } from './restore-helpers.js';

let prod: TestPool;
let dr: TestPool;
let sr: { uuid: string; name: string };
const OLDER = '2025-06-01-08-30-00';
const NEWER = '2025-06-02-08-30-00';
/** VM exports (VMs and custom templates, each a VM to XAPI) in the newer backup. */
let exported = 0;
let r: Rendered | undefined;
let live: LiveConsoleServices | undefined;

/** VMs, networks and SR/VDI names of the DR pool, comparable. */
function drState() {
  const db = dr.sim.db;
  const sorted = (xs: string[]) => xs.sort();
  return {
    vms: sorted([...db.allRecords('VM').values()].map((v) => `${v.uuid}:${v.name_label}:${v.power_state}`)),
    nets: sorted([...db.allRecords('network').values()].map((n) => n.name_label)),
    vdis: sorted([...db.allRecords('VDI').values()].map((v) => `${v.uuid}:${v.name_label}`)),
    srs: sorted([...db.allRecords('SR').values()].map((s) => `${s.uuid}:${s.name_label}`)),
  };
}

function noneAttached(): Promise<void> {
  return noneAttachedTo(dr.sim);
}

/** Counts the VBDs created for the backup VDI from now on (each one is an attach). */
function countBackupVdiAttaches(): { count(): number; stop(): void } {
  const db = dr.sim.db;
  const vdi = db.refByUuid('VDI', backupVdiUuid(sr.uuid));
  let n = 0;
  const stop = db.onChange((c) => {
    if (c.cls === 'VBD' && c.operation === 'add' && db.tryGet('VBD', c.ref)?.VDI === vdi) n++;
  });
  return { count: () => n, stop };
}

/** The console on the DR pool, logged in, at the SR picker; the attached SR (its current name or uuid). */
async function startAtPicker(props: { idleLogoutMs?: number } = {}): Promise<Rendered> {
  live = createConsoleServices({ target: { url: dr.sim.url, tls: {}, describe: 'DR pool', controlDomain: simulatedControlDomain(dr.sim) }, user: 'root', hostLabel: 'dr', saveDir: dr.dir });
  const rendered = renderConsole({ services: live, ...props });
  await openRestorePicker(rendered, DEMO_ROOT_PASSWORD);
  return rendered;
}

/**
 * Imports slowed so the progress banner can be seen: imports run concurrently and would all
 * end together (too soon for a frame showing some done), so one of them takes longer.
 */
function slowImportsOneSlowest(): void {
  dr.sim.faults.add({ route: '/import_metadata', latencyMs: 100 });
  dr.sim.faults.add({ route: '/import_metadata', latencyMs: 900, times: 1 });
}

/** The restoring banner with at least one import done and at least one still running. */
function showsImportProgress(frame: string): boolean {
  const m = /VMs: (\d+) of (\d+)/.exec(frame);
  return frame.includes(RESTORING_BANNER) && m !== null && Number(m[1]) >= 1 && Number(m[1]) < Number(m[2]);
}

function srNow() {
  return { uuid: sr.uuid, name: dr.sim.db.get('SR', dr.sim.db.refByUuid('SR', sr.uuid)).name_label };
}

/** From the backup list: the newer backup → its four choices → the one labelled `method`. */
async function chooseMethod(rendered: Rendered, method: string): Promise<void> {
  await highlightRow(rendered, NEWER);
  press(rendered, KEYS.enter);
  await waitForFrame(rendered, (f) => paneTitle(f) === `Restore Backup from ${NEWER}`);
  await highlightRow(rendered, `${method}  `, `${method} `);
  press(rendered, KEYS.enter);
}

beforeAll(async () => {
  prod = await startTestPool({ vms: 6, seed: 7 });
  sr = await defaultSr(prod);
  await runBackup(prod.session, { srUuid: sr.uuid, now: () => new Date(2025, 5, 1, 8, 30, 0) });
  const newer = await runBackup(prod.session, { srUuid: sr.uuid, now: () => new Date(2025, 5, 2, 8, 30, 0) });
  exported = newer.vmsExported + newer.templatesExported;
  dr = await drSiteOf(prod, sr.uuid);
}, 30_000);

afterAll(async () => {
  await dr?.close();
  await prod?.close();
});

afterEach(async () => {
  r?.unmount();
  r = undefined;
  await live?.close();
  live = undefined;
  dr.sim.faults.clear();
});

describe('restore at the DR site', () => {
  it('is the third item of Backup, Restore and Update, with the stock status text', async () => {
    live = createConsoleServices({ target: { url: dr.sim.url, tls: {}, describe: 'DR pool', controlDomain: simulatedControlDomain(dr.sim) }, user: 'root', hostLabel: 'dr' });
    r = renderConsole({ services: live });
    await waitForText(r, 'Customize System');
    press(r, KEYS.enter);
    let f = await waitForFrame(r, atBurMenu);
    expect(f).toMatch(/Backup Virtual Machine Metadata[\s\S]*Restore Virtual Machine Metadata/);
    press(r, 'r');
    f = await waitForFrame(r, (fr) => highlighted(fr) === RESTORE_MENU_TITLE);
    expect(statusPane(f)).toContain('Press <Enter> to restore Virtual Machine metadata from a Storage Repository.');
    expect(f).toContain('<Enter> Restore');
  });

  it('finds the backup VDI, lists the backups newest first with VM counts, and offers the four stock choices', async () => {
    // Slow attaches, so the search and listing banners stay up long enough to be seen.
    dr.sim.faults.add({ method: 'VBD.plug', latencyMs: 250, times: 2 });
    r = await startAtPicker();
    // The SR introduced at the DR site has no name yet: "(no name)", its uuid shown whole below.
    let f = await highlightSr(r, sr.uuid);
    expect(highlighted(f)).toMatch(/^\(no name\)\s+nfs\b/);
    press(r, KEYS.enter);
    f = await waitForText(r, 'Searching for backup VDI...', 'Ctrl-C to abort');
    expect(flat(f)).toContain(flat(SEARCH_BANNER));
    f = await waitForText(r, LISTING_BANNER);
    f = await waitForFrame(r, (fr) => paneTitle(fr) === 'Available Metadata Backups');
    const rows = f.split('\n').filter((l) => /\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d\s+\d+ VM exports?, \d+ on this SR/.test(l));
    expect(rows.map((l) => /(\d{4}(?:-\d\d){5})/.exec(l)?.[1])).toEqual([NEWER, OLDER]);
    expect(rows[0]).toMatch(new RegExp(`${exported} VM exports, \\d+ on this SR`));
    expect(f).not.toContain('found by the scan');
    press(r, KEYS.enter);
    f = await waitForFrame(r, (fr) => paneTitle(fr) === `Restore Backup from ${NEWER}`);
    expect(f).toContain(`Select the set of VMs to restore from ${NEWER}`);
    const methods = f.split('\n').map((l) => /(Only VMs on This SR(?: \(Dry Run\))?|All VM Metadata(?: \(Dry Run\))?)\s+\d+ VM exports?/.exec(l)?.[1]).filter(Boolean);
    expect(methods).toEqual(['Only VMs on This SR', 'All VM Metadata', 'Only VMs on This SR (Dry Run)', 'All VM Metadata (Dry Run)']);
    expect(f).toContain('<Enter> Restore VMs');
    // The restore holds its backup VDI from the listing on, and releases it when left.
    expect((await controlDomainAttachments(dr.sim)).vbds).toBe(1);
    press(r, KEYS.escape);
    await waitForFrame(r, atBurMenu);
    await noneAttached();
  });

  it('Only VMs on This SR (Dry Run): progress, then what would be restored; nothing changes; the summary is saved', async () => {
    const before = drState();
    slowImportsOneSlowest();
    r = await startAtPicker();
    const attaches = countBackupVdiAttaches();
    await chooseSrAndListBackups(r, srNow());
    await chooseMethod(r, 'Only VMs on This SR (Dry Run)');
    let f = await waitForFrame(r, showsImportProgress);
    expect(f).toContain(`Backup ${NEWER}, only VMs on this SR (dry run)`);
    expect(f).toMatch(/checked {2}\S/);
    f = await waitForFrame(r, (fr) => /^(Metadata Restore|Dry run: )/.test(paneTitle(fr) ?? ''), 15_000);
    expect(paneTitle(f)).toMatch(/^(Metadata Restore (Completed|Failed) \(Dry Run\)|Dry run: \d+ of \d+ VMs would be restored, \d+ would fail)$/);
    let text = flat(f);
    expect(text).toMatch(/Would restore \d+ VM\(s\), and \d+ error\(s\); nothing was changed/);
    expect(text).not.toMatch(/Restored \d+ VM/);
    expect(text).toContain(`Backup ${NEWER} on SR`);
    expect(text).toContain('Nothing was changed.');
    expect(text).toMatch(/VMs that would be restored \(\d+\):/);
    expect(drState()).toEqual(before);
    await noneAttached();
    // One attach for the whole restore: the search opens the SR's own backup VDI (checking its
    // marker), and the listing, the preflight and the run read that attachment.
    expect(attaches.count()).toBe(1);
    attaches.stop();

    // Everything in the summary, scrolled to the end: names and the network warnings.
    press(r, KEYS.end);
    f = await waitForText(r, 'Warnings (');
    text = flat(f);
    expect(text).toMatch(/would be put on new internal network\(s\) for "/);
    expect(f).toContain('<S> Save');

    // Save: the default name in the console's save folder; then never overwritten unasked.
    press(r, 's');
    f = await waitForFrame(r, (fr) => paneTitle(fr) === SAVE_SUMMARY_TITLE);
    const path = /(\/\S*xsconsole-dr-restore-dry-run-\d{4}(?:-\d\d){5}\.txt)_/.exec(flat(f).replace(/ /g, ''))?.[1];
    expect(path?.startsWith(dr.dir)).toBe(true);
    press(r, KEYS.enter);
    f = await waitForText(r, 'The restore summary was saved to');
    expect(flat(f).replace(/ /g, '')).toContain(path!);
    const saved = await readFile(path!, 'utf8');
    expect(saved).toMatch(/^(Metadata Restore (Completed|Failed) \(Dry Run\)|Dry run: .*)\n\nWould restore \d+ VM\(s\)/);
    expect(saved).toContain('SR and VDI names that would be set');
    press(r, KEYS.enter);
    await waitForFrame(r, (fr) => /\(Dry Run\)$|^Dry run: /.test(paneTitle(fr) ?? ''));

    await writeFile(path!, 'kept\n');
    press(r, 'S');
    await waitForFrame(r, (fr) => paneTitle(fr) === SAVE_SUMMARY_TITLE);
    press(r, KEYS.enter);
    f = await waitForText(r, 'already exists. Do you want to replace it?');
    press(r, KEYS.escape);
    f = await waitForText(r, 'Not replaced.');
    expect(await readFile(path!, 'utf8')).toBe('kept\n');
    press(r, KEYS.enter);
    await waitForText(r, 'already exists');
    press(r, KEYS.f8);
    await waitForText(r, 'The restore summary was saved to');
    expect(await readFile(path!, 'utf8')).toBe(saved);
    press(r, KEYS.enter);
    await waitForFrame(r, (fr) => /\(Dry Run\)$|^Dry run: /.test(paneTitle(fr) ?? ''));

    // Another name: typed over the default (Ctrl-U clears); Esc leaves the dialogue.
    press(r, 's');
    await waitForFrame(r, (fr) => paneTitle(fr) === SAVE_SUMMARY_TITLE);
    press(r, '\u0015');
    await waitForFrame(r, (fr) => /│\s*_\s*│/.test(fr));
    press(r, 'no-such-dir/x.txt');
    press(r, KEYS.enter);
    f = await waitForText(r, 'Could not save: ENOENT');
    press(r, KEYS.escape);
    await waitForFrame(r, (fr) => /\(Dry Run\)$|^Dry run: /.test(paneTitle(fr) ?? ''));
    await rm(path!);

    // Left: back to the choice of VMs (to run the real restore next); Enter there is a new run.
    press(r, KEYS.left);
    f = await waitForFrame(r, (fr) => paneTitle(fr) === `Restore Backup from ${NEWER}`);
    press(r, KEYS.escape);
    await waitForFrame(r, atBurMenu);
  });

  it('All VM Metadata (Dry Run) names each VM XAPI would refuse, with its code', async () => {
    const expected = await preflightRestore(dr.session, { srUuid: sr.uuid, scope: 'all' });
    const failing = expected.vms.filter((v) => v.expectedError);
    expect(failing.length).toBeGreaterThan(0);
    r = await startAtPicker();
    await chooseSrAndListBackups(r, srNow());
    await chooseMethod(r, 'All VM Metadata (Dry Run)');
    const ok = expected.vms.length - failing.length;
    const title = ok ? `Dry run: ${ok} of ${expected.vms.length} VMs would be restored, ${failing.length} would fail` : 'Metadata Restore Failed (Dry Run)';
    const f = await waitForFrame(r, (fr) => paneTitle(fr) === title, 15_000);
    expect(flat(f)).toContain(`Would restore ${ok} VM(s), and ${failing.length} error(s); nothing was changed`);
    const all = await readAllPages(r);
    expect(all).toContain(`Errors (${failing.length}):`);
    const errors = all.slice(all.indexOf('Errors ('), all.indexOf('What to do:'));
    for (const v of failing) expect(errors).toMatch(new RegExp(`${v.uuid} +${v.expectedError!.split(' ')[0]}: `));
    expect(errors).toMatch(/VDI_CONTENT_ID_MISSING: A disk recorded in the backup/);
    expect(all.slice(all.indexOf('What to do:'))).toMatch(/VDI_CONTENT_ID_MISSING: Rescan the SR/);
    press(r, KEYS.enter);
    await waitForFrame(r, atBurMenu);
    await noneAttached();
  });

  it('a real restore shows the preflight first: Left and Esc leave it, F8 restores with progress', async () => {
    const before = drState();
    r = await startAtPicker();
    await chooseSrAndListBackups(r, srNow());
    await chooseMethod(r, 'Only VMs on This SR');
    let f = await waitForFrame(r, (fr) => paneTitle(fr) === `Confirm Restore from ${NEWER}` && fr.includes('<F8> Restore'), 10_000);
    let text = flat(f);
    expect(text).toContain(`Restore only the VMs on this SR from backup ${NEWER}`);
    expect(text).toMatch(/\d+ VMs? and \d+ templates? to import \(halted, keeping their uuids\)/);
    expect(f).toContain('<F8> Restore  <F> Force  <S> Save  <Esc> Cancel');
    press(r, KEYS.left);
    await waitForFrame(r, (fr) => paneTitle(fr) === `Restore Backup from ${NEWER}`);
    await highlightRow(r, 'Only VMs on This SR  ');
    press(r, KEYS.enter);
    await waitForFrame(r, (fr) => paneTitle(fr) === `Confirm Restore from ${NEWER}` && fr.includes('<F8> Restore'), 10_000);
    press(r, KEYS.escape);
    await waitForFrame(r, atBurMenu);
    expect(drState()).toEqual(before);

    // Again, and F8; the imports are slowed so the progress can be seen (and Esc ignored).
    slowImportsOneSlowest();
    press(r, KEYS.enter);
    await waitForFrame(r, (fr) => paneTitle(fr) === 'Select Storage Repository to Restore From' && !fr.includes('Reading'));
    const attaches = countBackupVdiAttaches();
    await chooseSrAndListBackups(r, srNow());
    await chooseMethod(r, 'Only VMs on This SR');
    await waitForFrame(r, (fr) => paneTitle(fr) === `Confirm Restore from ${NEWER}` && fr.includes('<F8> Restore'), 10_000);
    expect((await controlDomainAttachments(dr.sim)).vbds).toBe(1);
    press(r, KEYS.f8);
    f = await waitForFrame(r, showsImportProgress);
    press(r, KEYS.escape);
    f = await waitForFrame(r, (fr) => /^(Metadata Restore|Restore partly|Dry run: )/.test(paneTitle(fr) ?? ''), 15_000);
    text = flat(f);
    expect(text).toMatch(/^.*Restored \d+ VM\(s\), and \d+ error\(s\)/);
    expect(text).not.toContain('Dry run');
    await noneAttached();
    // One attach: the search, the listing, the preflight and the restore.
    expect(attaches.count()).toBe(1);
    attaches.stop();
    const restored = [...dr.sim.db.allRecords('VM').values()].filter((v) => !v.is_control_domain && !before.vms.some((b) => b.startsWith(v.uuid)));
    expect(restored.length).toBeGreaterThan(0);
    expect(text).toContain(`Restored VMs (${restored.length}):`);
    for (const v of restored.slice(0, 3)) expect(text).toContain(v.uuid);
    expect(restored.every((v) => v.power_state === 'Halted')).toBe(true);
    // The SR got its production name back, as SRMETA.xml says.
    expect(srNow().name).toBe(sr.name);
    text = await readAllPages(r);
    expect(text).toMatch(/SR and VDI names set \((\d+) of \1\):/);
    expect(text).toMatch(/is on new internal network\(s\) for ".*", not found in this pool: connect it to a real network before starting it\./);
    press(r, KEYS.enter);
    await waitForFrame(r, atBurMenu);
    await noneAttached();
  });

  it('All VM Metadata after that: the preflight names the clashes, the summary the errors and warnings', async () => {
    r = await startAtPicker();
    await chooseSrAndListBackups(r, srNow());
    await chooseMethod(r, 'All VM Metadata');
    let f = await waitForFrame(r, (fr) => paneTitle(fr) === `Confirm Restore from ${NEWER}` && fr.includes('<F8> Restore'), 10_000);
    expect(flat(f)).toMatch(/Of these: \d+ expected to fail, \d+ already in this pool/);
    // Every page: the network section sits between the groups and the closing line.
    let seen = await readAllPages(r);
    expect(seen).toContain('a VM with this uuid is already here');
    press(r, KEYS.f8);
    await waitForFrame(r, (fr) => /^(Metadata Restore Failed|Restore partly completed: \d+ of \d+ VMs restored, \d+ failed)$/.test(paneTitle(fr) ?? ''), 15_000);
    seen = await readAllPages(r);
    expect(seen).toContain('VM_TO_IMPORT_IS_NOT_NEWER_VERSION');
    expect(seen).toMatch(/a VM with this uuid was already in this pool \(".*", Halted\)/);
    press(r, KEYS.escape);
    await waitForFrame(r, atBurMenu);
    await noneAttached();
  });

  it('Esc and Left on every restore screen', async () => {
    r = await startAtPicker();
    // SR picker: Left back to the menu.
    press(r, KEYS.left);
    await waitForFrame(r, atBurMenu);

    // Search banner: Esc, then Left, stop the search (the VBD is released) and leave.
    for (const key of [KEYS.escape, KEYS.left]) {
      dr.sim.faults.add({ method: 'VBD.plug', latencyMs: 300, times: 1 });
      press(r, KEYS.enter);
      await waitForFrame(r, (fr) => paneTitle(fr) === 'Select Storage Repository to Restore From' && !fr.includes('Reading'));
      await highlightRow(r, srNow().name);
      press(r, KEYS.enter);
      await waitForText(r, 'Searching for backup VDI...');
      press(r, key);
      await waitForFrame(r, atBurMenu, 10_000);
      await noneAttached();
    }

    const toDates = async () => {
      press(r!, KEYS.enter);
      await waitForFrame(r!, (fr) => paneTitle(fr) === 'Select Storage Repository to Restore From' && !fr.includes('Reading'));
      await chooseSrAndListBackups(r!, srNow());
    };
    // Backup list: Left and Esc both leave (nothing before it but the search).
    await toDates();
    press(r, KEYS.left);
    await waitForFrame(r, atBurMenu);
    await toDates();
    press(r, KEYS.escape);
    await waitForFrame(r, atBurMenu);

    // Choices: Left back to the list, Esc out of the restore.
    await toDates();
    press(r, KEYS.enter);
    await waitForFrame(r, (fr) => paneTitle(fr)?.startsWith('Restore Backup from') === true);
    press(r, KEYS.left);
    await waitForFrame(r, (fr) => paneTitle(fr) === 'Available Metadata Backups');
    press(r, KEYS.enter);
    await waitForFrame(r, (fr) => paneTitle(fr)?.startsWith('Restore Backup from') === true);
    press(r, KEYS.escape);
    await waitForFrame(r, atBurMenu);

    // Preflight, while computing (slowed: it reads the pool's networks): Esc stops it, goes
    // back to the choices, and the VDI is released.
    dr.sim.faults.add({ method: 'network.get_all_records', latencyMs: 400, times: 1 });
    await toDates();
    await chooseMethod(r, 'All VM Metadata');
    await waitForText(r, PREFLIGHT_BANNER);
    press(r, KEYS.escape);
    await waitForText(r, `Select the set of VMs to restore from ${NEWER}`);
    await noneAttached();
    press(r, KEYS.escape);
    await waitForFrame(r, atBurMenu);
    await noneAttached();

    // The preflight shown: Esc leaves the restore, Ctrl-C (nothing running) resets the console
    // to the root menu; either way the backup VDI it held is released.
    const toPreflight = async () => {
      await toDates();
      await chooseMethod(r!, 'Only VMs on This SR');
      await waitForFrame(r!, (fr) => paneTitle(fr) === `Confirm Restore from ${NEWER}` && fr.includes('<F8> Restore'), 10_000);
      expect((await controlDomainAttachments(dr.sim)).vbds).toBe(1);
    };
    await toPreflight();
    press(r, KEYS.escape);
    await waitForFrame(r, atBurMenu);
    await noneAttached();
    await toPreflight();
    press(r, KEYS.ctrlC);
    await waitForFrame(r, (fr) => paneTitle(fr) === 'Customize System');
    await noneAttached();
  });

  it('Ctrl-C during a restore stops it, releases the backup VDI, and says what was done', async () => {
    // The first import answers at once, the others hang until the abort.
    dr.sim.faults.add({ route: '/import_metadata', latencyMs: 60_000, after: 1 });
    r = await startAtPicker();
    await chooseSrAndListBackups(r, srNow());
    await chooseMethod(r, 'All VM Metadata');
    await waitForFrame(r, (fr) => paneTitle(fr) === `Confirm Restore from ${NEWER}` && fr.includes('<F8> Restore'), 10_000);
    press(r, KEYS.f8);
    await waitForText(r, 'VMs: 1 of');
    expect(dr.sim.db.allRecords('VBD').size).toBeGreaterThan(0);
    press(r, KEYS.ctrlC);
    const f = await waitForFrame(r, (fr) => paneTitle(fr) === 'Restore Cancelled', 10_000);
    expect(flat(f)).toMatch(/The restore was stopped with Ctrl-C after 1 of \d+ VM\(s\) \(\d restored, \d failed\)\./);
    expect(flat(f)).toContain('The backup VDI was released.');
    await noneAttached();
    expect(await dr.session.call<string[]>('task.get_all')).toEqual([]);
    press(r, KEYS.enter);
    await waitForFrame(r, atBurMenu);
  });

  it('the preflight is saved like the summary, and offers a forced restore, said and confirmed', async () => {
    // (Before the console holds the backup VDI: this read would wait for its lock.)
    const failing = (await preflightRestore(dr.session, { srUuid: sr.uuid, scope: 'all' })).vms.filter((v) => v.expectedError && !v.expectedError.startsWith('IMPORT_ERROR_ATTACHED'));
    expect(failing.length).toBeGreaterThan(0);
    r = await startAtPicker();
    await chooseSrAndListBackups(r, srNow());
    await chooseMethod(r, 'All VM Metadata');
    let f = await waitForFrame(r, (fr) => paneTitle(fr) === `Confirm Restore from ${NEWER}` && fr.includes('<F> Force'), 10_000);
    const pages = await readAllPages(r);
    expect(pages).toContain(`${failing.length} VM(s) would fail only because the restore is not forced`);

    // S: saved to a file of the console's save folder; back at the preflight after.
    press(r, 's');
    f = await waitForFrame(r, (fr) => paneTitle(fr) === SAVE_PREFLIGHT_TITLE);
    const path = /(\/\S*xsconsole-dr-preflight-\d{4}(?:-\d\d){5}\.txt)_/.exec(flat(f).replace(/ /g, ''))?.[1];
    expect(path?.startsWith(dr.dir)).toBe(true);
    press(r, KEYS.enter);
    f = await waitForText(r, 'The restore preflight was saved to');
    const saved = await readFile(path!, 'utf8');
    expect(saved).toMatch(new RegExp(`^Confirm Restore from ${NEWER}\n\nRestore all VM metadata from backup ${NEWER}`));
    // Grouped, and whole: the count of each expected error, and every VM that would fail by name.
    expect(saved).toMatch(/Expected to fail: \d+ \(/);
    expect(saved).toContain(`${failing[0]!.expectedError}: `);
    for (const v of failing) expect(saved).toContain(v.name);
    await rm(path!);
    press(r, KEYS.enter);
    await waitForFrame(r, (fr) => paneTitle(fr) === `Confirm Restore from ${NEWER}`);

    // F: what force does, before anything is done; Esc back to the preflight.
    const before = drState();
    press(r, 'f');
    f = await waitForFrame(r, (fr) => paneTitle(fr) === `Forced Restore from ${NEWER}`);
    let text = flat(f);
    expect(text).toContain(`Restore with force? ${failing.length} VM(s) of this backup would fail without it.`);
    expect(text).toContain('The stock console never forces a restore.');
    expect(text).toContain('/import_metadata, force=true');
    expect(f).toContain('<F8> Restore with force');
    press(r, KEYS.escape);
    await waitForFrame(r, (fr) => paneTitle(fr) === `Confirm Restore from ${NEWER}`);
    expect(drState()).toEqual(before);

    press(r, 'F');
    await waitForFrame(r, (fr) => paneTitle(fr) === `Forced Restore from ${NEWER}`);
    press(r, KEYS.f8);
    f = await waitForFrame(r, (fr) => /^(Metadata Restore|Restore partly)/.test(paneTitle(fr) ?? ''), 15_000);
    text = flat(f);
    expect(text).toContain(FORCED_SUMMARY_LINE);
    // The VMs whose disks are not here are in the pool now (created without those disks).
    const missingDisks = failing.filter((v) => v.missingDisks.length > 0 && !v.clash);
    expect(missingDisks.length).toBeGreaterThan(0);
    for (const v of missingDisks) expect(dr.sim.db.findRefByUuid('VM', v.uuid)).toBeDefined();
    press(r, KEYS.enter);
    await waitForFrame(r, atBurMenu);
    await noneAttached();
  });

  it('an idle logout keeps an open preflight: after logging in again it is shown, and F8 restores from it', async () => {
    r = await startAtPicker({ idleLogoutMs: 2500 });
    await chooseSrAndListBackups(r, srNow());
    await chooseMethod(r, 'Only VMs on This SR (Dry Run)');
    await waitForFrame(r, (fr) => /^(Metadata Restore|Dry run: )/.test(paneTitle(fr) ?? ''), 15_000);
    press(r, KEYS.left);
    await waitForFrame(r, (fr) => paneTitle(fr) === `Restore Backup from ${NEWER}`);
    await highlightRow(r, 'Only VMs on This SR  ');
    press(r, KEYS.enter);
    await waitForFrame(r, (fr) => paneTitle(fr) === `Confirm Restore from ${NEWER}` && fr.includes('<F8> Restore'), 10_000);
    const report = await readAllPages(r);
    expect(report).toContain('Restore only the VMs on this SR');

    // Nothing pressed: logged out, the VDI released, the preflight kept.
    let f = await waitForFrame(r, (fr) => paneTitle(fr) === 'Logged Out', 10_000);
    expect(flat(f)).toContain(`the restore preflight of backup ${NEWER} open: it was kept`);
    await noneAttached();

    press(r, KEYS.f8);
    await waitForFrame(r, (fr) => paneTitle(fr) === 'Login');
    press(r, `\t${DEMO_ROOT_PASSWORD}\r`);
    f = await waitForFrame(r, (fr) => paneTitle(fr) === `Confirm Restore from ${NEWER}` && fr.includes('<F8> Restore'), 10_000);
    expect(flat(f)).toContain(KEPT_PREFLIGHT_NOTE);
    expect(await readAllPages(r)).toContain(report);
    // Shown from what was kept: the VDI is opened again only by the restore itself.
    expect((await controlDomainAttachments(dr.sim)).vbds).toBe(0);
    const attaches = countBackupVdiAttaches();
    press(r, KEYS.f8);
    f = await waitForFrame(r, (fr) => /^(Metadata Restore|Restore partly)/.test(paneTitle(fr) ?? ''), 15_000);
    expect(flat(f)).toMatch(/Restored \d+ VM\(s\), and \d+ error\(s\)/);
    expect(attaches.count()).toBe(1);
    attaches.stop();
    await noneAttached();
  });
});
