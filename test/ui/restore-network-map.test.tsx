/**
 * The preflight's network section and the network picker, at 80×24 against the simulator:
 * the DR pool has the backup's VLAN under another name and bridge, so the preflight says the
 * import would make a new internal network; <N> maps it to the DR network, the preflight
 * shows the mapping, and F8 restores with the VIFs moved and the summary recording it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { join } from 'node:path';
import { runBackup } from '../../src/dr/backup.js';
import { attachSrFolder, DEMO_ROOT_PASSWORD } from '../../src/sim/index.js';
import { simulatedControlDomain } from '../../src/dr/volume/control-domain.js';
import { createConsoleServices, type LiveConsoleServices } from '../../src/app/index.js';
import { NETWORK_MAP_TITLE } from '../../components/restore/NetworkPicker.js';
import { NETWORK_MAP_OFFER } from '../../components/restore/texts.js';
import { startTestPool, type TestPool } from '../helpers/pool.js';
import { KEYS, flat, paneTitle, press, renderConsole, waitForFrame, type Rendered } from './helpers.js';
import { chooseSrAndListBackups, highlightRow, openRestorePicker } from './restore-helpers.js';

/** Pages down the dialogue until its page shows `pattern`: the text of every page seen. */
async function pageTo(r: Rendered, pattern: RegExp): Promise<string> {
  let seen = '';
  let f = r.lastFrame() ?? '';
  for (let i = 0; i < 30; i++) {
    seen += ` ${flat(f)}`;
    if (pattern.test(flat(f))) return seen;
    const before = f;
    press(r, KEYS.pageDown);
    f = await waitForFrame(r, (fr) => fr !== before);
  }
  return seen;
}

const VLAN = 'Storage VLAN 100';
let prod: TestPool;
let dr: TestPool;
let sr: { uuid: string; name: string };
let r: Rendered | undefined;
let live: LiveConsoleServices | undefined;

beforeAll(async () => {
  prod = await startTestPool({ vms: 8, seed: 7 });
  const b = await runBackup(prod.session, {});
  sr = { uuid: b.sr.uuid, name: b.sr.name };
  dr = await startTestPool({ vms: 0 });
  await attachSrFolder(dr.sim, join(prod.sim.stateDir, 'srs', sr.uuid));
  dr.sim.db.create('network', { name_label: 'DR storage', bridge: 'xapi7', MTU: 9000, other_config: {} });
}, 30_000);

afterAll(async () => {
  r?.unmount();
  await live?.close();
  await dr?.close();
  await prod?.close();
});

it('the preflight lists the networks; <N> maps one to a network of this pool, and the restore moves its VIFs', async () => {
  live = createConsoleServices({ target: { url: dr.sim.url, tls: {}, describe: 'DR pool', controlDomain: simulatedControlDomain(dr.sim) }, user: 'root', hostLabel: 'dr', saveDir: dr.dir });
  r = renderConsole({ services: live });
  await openRestorePicker(r, DEMO_ROOT_PASSWORD);
  const srName = dr.sim.db.get('SR', dr.sim.db.refByUuid('SR', sr.uuid)).name_label;
  await chooseSrAndListBackups(r, { uuid: sr.uuid, name: srName });
  press(r, KEYS.enter);
  await waitForFrame(r, (f) => (paneTitle(f) ?? '').startsWith('Restore Backup from'));
  await highlightRow(r, 'All VM Metadata  ', 'All VM Metadata ');
  press(r, KEYS.enter);
  let f = await waitForFrame(r, (fr) => (paneTitle(fr) ?? '').startsWith('Confirm Restore from') && fr.includes('<F8> Restore'), 15_000);
  let text = await pageTo(r, /MAC clashes/);
  expect(text).toMatch(/Networks \(3 in the backup\):/);
  expect(text).toMatch(/"Storage VLAN 100" \(bridge xapi1, MTU 1500, \d+ VIFs?\) -> a new internal network \(no uplink\)/);
  expect(text).toContain('-> same name: "Pool-wide network associated with eth0"');
  expect(text).toContain('MAC clashes: none.');
  expect(text).toContain(NETWORK_MAP_OFFER);

  press(r, 'n');
  f = await waitForFrame(r, (fr) => paneTitle(fr) === NETWORK_MAP_TITLE && fr.includes('Source networks'));
  expect(f.split('\n').length).toBeLessThanOrEqual(24);
  await highlightRow(r, `${VLAN} (new internal)`);
  press(r, KEYS.enter);
  f = await waitForFrame(r, (fr) => fr.includes('Networks of this pool'));
  expect(f).toContain(`Move the VIFs of "${VLAN}" to:`);
  await highlightRow(r, 'DR storage (xapi7)');
  press(r, KEYS.enter);
  await waitForFrame(r, (fr) => (paneTitle(fr) ?? '').startsWith('Confirm Restore from'));
  text = await pageTo(r, /then mapped to/);
  expect(text).toContain('-> a new internal network (no uplink), then mapped to "DR storage"');

  press(r, KEYS.f8);
  await waitForFrame(r, (fr) => /^(Metadata Restore|Restore partly)/.test(paneTitle(fr) ?? ''), 20_000);
  text = await pageTo(r, /Removed unused network/);
  expect(text).toMatch(/Network map \(1 source network\):/);
  expect(text).toMatch(/VIFs moved: (\d+) of \1 \(VIF\.move\)/);
  expect(text).toContain(`Removed unused network "${VLAN}"`);
  const db = dr.sim.db;
  const storage = db.findRef('network', (n) => n.name_label === 'DR storage')!;
  expect(db.get('network', storage).VIFs.length).toBeGreaterThan(0);
  expect([...db.allRecords('network').values()].filter((n) => n.name_label === VLAN)).toEqual([]);
}, 60_000);
