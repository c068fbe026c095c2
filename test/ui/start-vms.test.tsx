/**
 * Start Restored VMs from the restore summary, at 80×24 against the DR story: a production
 * pool backs up; a DR pool attaches the SR and the console restores it; the summary's <T>
 * lists the restored VMs in start order, all chosen; F8 starts them with live progress;
 * one VM too large for every host fails with each host's reason; Ctrl-C stops launching.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/dr/backup.js';
import { DEMO_ROOT_PASSWORD } from '../../src/sim/index.js';
import { simulatedControlDomain } from '../../src/dr/volume/control-domain.js';
import { createConsoleServices, type LiveConsoleServices } from '../../src/app/index.js';
import { START_CHOOSE_KEYS, START_TITLE, STARTING_BANNER } from '../../components/restore/StartVms.js';
import { SUMMARY_START_KEYS } from '../../components/restore/RestoreSummary.js';
import { defaultSr, drSiteOf, startTestPool, type TestPool } from '../helpers/pool.js';
import { KEYS, flat, highlighted, paneTitle, press, renderConsole, waitForFrame, waitForText, type Rendered } from './helpers.js';
import { atBurMenu, chooseSrAndListBackups, highlightRow, openRestorePicker } from './restore-helpers.js';

const TiB = 1024 ** 4;
let prod: TestPool;
let dr: TestPool;
let sr: { uuid: string; name: string };
let r: Rendered | undefined;
let live: LiveConsoleServices | undefined;

/** The restored VMs (not templates) in the DR pool. */
const restored = () => [...dr.sim.db.allRecords('VM')].filter(([, v]) => !v.is_a_template && !v.is_control_domain && !v.is_a_snapshot);

beforeAll(async () => {
  prod = await startTestPool({ vms: 6, seed: 11 });
  sr = await defaultSr(prod);
  await runBackup(prod.session, { srUuid: sr.uuid, now: () => new Date(2025, 5, 2, 8, 30, 0) });
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

/** Console on the DR pool → restore of all VM metadata → its summary. */
async function restoreToSummary(): Promise<Rendered> {
  live = createConsoleServices({ target: { url: dr.sim.url, tls: {}, describe: 'DR pool', controlDomain: simulatedControlDomain(dr.sim) }, user: 'root', hostLabel: 'dr', saveDir: dr.dir });
  const rendered = renderConsole({ services: live });
  await openRestorePicker(rendered, DEMO_ROOT_PASSWORD);
  await chooseSrAndListBackups(rendered, { uuid: sr.uuid, name: '' });
  press(rendered, KEYS.enter);
  await waitForFrame(rendered, (f) => paneTitle(f)?.startsWith('Restore Backup from') === true);
  await highlightRow(rendered, 'All VM Metadata  ', 'All VM Metadata ');
  press(rendered, KEYS.enter);
  await waitForFrame(rendered, (f) => paneTitle(f)?.startsWith('Confirm Restore from') === true && f.includes('<F8> Restore'), 10_000);
  press(rendered, KEYS.f8);
  await waitForFrame(rendered, (f) => f.includes(SUMMARY_START_KEYS), 15_000);
  return rendered;
}

describe('Start Restored VMs', () => {
  it('from the summary: the restored VMs in start order, all chosen; F8 starts them; a VM too large for every host fails with each host\'s reason', async () => {
    r = await restoreToSummary();
    // The restore brings VMs back halted, or suspended when their suspend image came too.
    const vms = restored().filter(([, v]) => v.power_state === 'Halted');
    const suspended = restored().length - vms.length;
    expect(vms.length).toBeGreaterThanOrEqual(2);
    // Sequencing as the restore re-applied it: one VM first, the rest after it.
    const [first, ...rest] = vms;
    dr.sim.db.set('VM', first![0], 'order', 0);
    for (const [ref] of rest) dr.sim.db.set('VM', ref, 'order', 1);
    // One VM larger than any host: XAPI gives a placement failure without the host's reason.
    const big = rest[0]!;
    dr.sim.db.update('VM', big[0], { memory_static_max: TiB, memory_dynamic_max: TiB, memory_dynamic_min: TiB, memory_static_min: TiB });

    press(r, 't');
    let f = await waitForFrame(r, (fr) => paneTitle(fr) === START_TITLE && fr.includes(START_CHOOSE_KEYS));
    const n = vms.length;
    expect(flat(f)).toContain(`${n} of ${n} chosen`);
    if (suspended) expect(flat(f)).toContain(`${suspended} not to start: suspended: resume it rather than start it.`);
    // The first row is the order-0 VM, highlighted.
    expect(highlighted(f)).toMatch(new RegExp(`^\\[x\\] ${first![1].name_label}\\s+order 0`));
    // Space unchooses the highlighted one; A chooses all again.
    press(r, ' ');
    f = await waitForText(r, `${n - 1} of ${n} chosen`);
    expect(highlighted(f)).toMatch(/^\[ \] /);
    press(r, 'a');
    await waitForText(r, `${n} of ${n} chosen`);

    dr.sim.faults.add({ method: 'VM.start', latencyMs: 300 });
    press(r, KEYS.f8);
    f = await waitForText(r, STARTING_BANNER, 'Group 1 of 2');
    f = await waitForFrame(r, (fr) => paneTitle(fr) === `Started ${n - 1} of ${n} VM(s), 1 failed`, 15_000);
    const text = flat(f);
    expect(text).toContain(`FAILED "${big[1].name_label}"`);
    expect(text).toMatch(/HOST_NOT_ENOUGH_FREE_MEMORY/);
    expect(text).toMatch(/on host ".*": HOST_NOT_ENOUGH_FREE_MEMORY: The host has not enough free memory/);
    expect(text).toContain('Next: Shut down or move other VMs');
    for (const [ref] of vms) expect(dr.sim.db.getField('VM', ref, 'power_state')).toBe(ref === big[0] ? 'Halted' : 'Running');
    // Enter: back to the restore summary, then out.
    press(r, KEYS.enter);
    await waitForFrame(r, (fr) => fr.includes(SUMMARY_START_KEYS));
    press(r, KEYS.enter);
    await waitForFrame(r, atBurMenu);
  });

  it('Ctrl-C while starting: no more VMs are launched; the result names those being started and those not started', async () => {
    // The first test's VMs go, so this restore creates them again.
    for (const [ref] of restored()) {
      if (dr.sim.db.getField('VM', ref, 'power_state') !== 'Halted') await dr.session.call('VM.hard_shutdown', ref);
      await dr.session.call('VM.destroy', ref);
    }
    r = await restoreToSummary();
    const vms = restored().filter(([, v]) => v.power_state === 'Halted' && v.memory_static_max < TiB);
    vms.forEach(([ref], i) => dr.sim.db.set('VM', ref, 'order', i));
    dr.sim.faults.add({ method: 'VM.start', latencyMs: 1500 });
    press(r, 't');
    await waitForText(r, START_CHOOSE_KEYS);
    press(r, KEYS.f8);
    await waitForText(r, STARTING_BANNER, 'starting');
    press(r, KEYS.ctrlC);
    const f = await waitForFrame(r, (fr) => /^Started 1 of \d+ VM\(s\), .*not started \(cancelled\)$/.test(paneTitle(fr) ?? ''), 15_000);
    expect(flat(f)).toMatch(/Start cancelled: 1 VM\(s\) were being started and were let finish \(".*" \([0-9a-f-]{36}\)\); \d+ VM\(s\) were not started\./);
    expect(flat(f)).toContain('not started');
    expect(vms.map(([ref]) => dr.sim.db.getField('VM', ref, 'power_state')).filter((s) => s === 'Running')).toHaveLength(1);
  });
});
