/**
 * The console's restore summary says what became of the backup's vApps: a dry run which it
 * would recreate (and makes none), a real restore which it recreated and with how many VMs.
 * Real simulator pools: production with a vApp, a DR pool attaching the replicated SR.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/dr/backup.js';
import { DEMO_ROOT_PASSWORD } from '../../src/sim/index.js';
import { simulatedControlDomain } from '../../src/dr/volume/control-domain.js';
import { createConsoleServices, type LiveConsoleServices } from '../../src/app/index.js';
import { defaultSr, drSiteOf, startTestPool, vmsOnlyOnSr, type TestPool } from '../helpers/pool.js';
import { KEYS, paneTitle, press, renderConsole, waitForFrame, type Rendered } from './helpers.js';
import { atBurMenu, chooseSrAndListBackups, highlightRow, openRestorePicker, readAllPages } from './restore-helpers.js';
import type { Ref } from '../../src/xenapi/index.js';

let prod: TestPool;
let dr: TestPool;
let sr: { uuid: string; name: string };
let date: string;
let r: Rendered | undefined;
let live: LiveConsoleServices | undefined;
const VAPP = 'Web tier';

beforeAll(async () => {
  prod = await startTestPool({ vms: 8, seed: 21 });
  const s = prod.session;
  const { ref: srRef, ...named } = await defaultSr(prod);
  sr = named;
  // Two VMs whose disks are all on the replicated SR: both come back at the DR site.
  const members = vmsOnlyOnSr(prod.sim, srRef).slice(0, 2);
  expect(members).toHaveLength(2);
  const app = await s.call<Ref>('VM_appliance.create', { name_label: VAPP, name_description: '' });
  for (const [ref] of members) await s.call('VM.set_appliance', ref, app);
  date = (await runBackup(prod.session, { srUuid: sr.uuid })).date;
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
});

async function startAtPicker(): Promise<Rendered> {
  live = createConsoleServices({ target: { url: dr.sim.url, tls: {}, describe: 'DR pool', controlDomain: simulatedControlDomain(dr.sim) }, user: 'root', hostLabel: 'dr', saveDir: dr.dir });
  const rendered = renderConsole({ services: live });
  await openRestorePicker(rendered, DEMO_ROOT_PASSWORD);
  return rendered;
}

async function chooseMethod(rendered: Rendered, method: string): Promise<void> {
  await chooseSrAndListBackups(rendered, sr);
  await highlightRow(rendered, date);
  press(rendered, KEYS.enter);
  await waitForFrame(rendered, (f) => paneTitle(f) === `Restore Backup from ${date}`);
  await highlightRow(rendered, `${method}  `, `${method} `);
  press(rendered, KEYS.enter);
}

const summaryShown = (f: string) => /^(Metadata Restore|Restore partly|Dry run: )/.test(paneTitle(f) ?? '');

describe('vApps in the restore summary', () => {
  it('a dry run says the vApp would be recreated with its 2 VMs, and makes none', async () => {
    r = await startAtPicker();
    await chooseMethod(r, 'Only VMs on This SR (Dry Run)');
    await waitForFrame(r, summaryShown, 15_000);
    const text = await readAllPages(r);
    expect(text).toContain('vApps: 1 would be recreated (2 VMs).');
    expect(text).toMatch(new RegExp(`"${VAPP}" \\([0-9a-f-]{36}\\): would be recreated, 2 of 2 restored VMs with their order and delays`));
    expect(dr.sim.db.allRecords('VM_appliance').size).toBe(0);
  });

  it('a real restore recreates it and says so', async () => {
    r = await startAtPicker();
    await chooseMethod(r, 'Only VMs on This SR');
    await waitForFrame(r, (f) => paneTitle(f) === `Confirm Restore from ${date}` && f.includes('<F8> Restore'), 10_000);
    press(r, KEYS.f8);
    await waitForFrame(r, summaryShown, 15_000);
    const text = await readAllPages(r);
    expect(text).toContain('vApps: 1 recreated (2 VMs).');
    const apps = [...dr.sim.db.allRecords('VM_appliance').values()];
    expect(apps.map((a) => [a.name_label, a.VMs.length])).toEqual([[VAPP, 2]]);
    expect(text).toContain(`"${VAPP}" (`);
    expect(text).toContain(`: recreated as ${apps[0]!.uuid}, 2 of 2 restored VMs with their order and delays`);
    press(r, KEYS.enter);
    await waitForFrame(r, atBurMenu);
  });
});
