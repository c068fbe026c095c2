/**
 * The backup beside the DR pool, at 80×24 against the simulator: <C> at the list of backups
 * shows the backup's VMs grouped by status with counts (all missing at a DR pool that has VMs
 * of its own, which are listed as only there); <Space> ticks one, <F8> goes on to the restore
 * choices with it only, and the restore imports that one VM. A hostile wide name is
 * neutralised and keeps the uuid column aligned.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { join } from 'node:path';
import { runBackup } from '../../src/dr/backup.js';
import { attachSrFolder, DEMO_ROOT_PASSWORD } from '../../src/sim/index.js';
import { simulatedControlDomain } from '../../src/dr/volume/control-domain.js';
import { createConsoleServices, type LiveConsoleServices } from '../../src/app/index.js';
import { compareTitle } from '../../components/restore/BackupCompare.js';
import { onlyChosenNote } from '../../components/restore/BackupDates.js';
import { startTestPool, type TestPool } from '../helpers/pool.js';
import { textWidth } from '../../components/text.js';
import { KEYS, flat, highlighted, paneTitle, press, renderConsole, waitForFrame, type Rendered } from './helpers.js';
import { chooseSrAndListBackups, highlightRow, noneAttached, openRestorePicker } from './restore-helpers.js';

const HOSTILE = '数据库\u202e服务器';
let prod: TestPool;
let dr: TestPool;
let sr: { uuid: string; name: string };
let date: string;
let exported: number;
let r: Rendered | undefined;
let live: LiveConsoleServices | undefined;

const vmUuids = (p: TestPool) => [...p.sim.db.allRecords('VM').values()].filter((v) => !v.is_a_template && !v.is_a_snapshot && !v.is_control_domain).map((v) => v.uuid);

beforeAll(async () => {
  prod = await startTestPool({ vms: 6, seed: 7 });
  // A name with a bidi override and wide characters: neutralised, and the columns stay aligned.
  const [ref] = [...prod.sim.db.allRecords('VM')].find(([, v]) => !v.is_a_template && !v.is_control_domain && !v.is_a_snapshot)!;
  prod.sim.db.set('VM', ref, 'name_label', HOSTILE);
  const b = await runBackup(prod.session, {});
  sr = { uuid: b.sr.uuid, name: b.sr.name };
  date = b.date;
  exported = b.vmsExported + b.templatesExported;
  dr = await startTestPool({ vms: 1, seed: 3 });
  await attachSrFolder(dr.sim, join(prod.sim.stateDir, 'srs', sr.uuid));
}, 30_000);

afterAll(async () => {
  r?.unmount();
  await live?.close();
  await dr?.close();
  await prod?.close();
});

it('<C> sets the backup beside the pool; a ticked VM is the only one restored', async () => {
  const own = vmUuids(dr);
  live = createConsoleServices({ target: { url: dr.sim.url, tls: {}, describe: 'DR pool', controlDomain: simulatedControlDomain(dr.sim) }, user: 'root', hostLabel: 'dr', saveDir: dr.dir });
  r = renderConsole({ services: live });
  await openRestorePicker(r, DEMO_ROOT_PASSWORD);
  const srName = dr.sim.db.get('SR', dr.sim.db.refByUuid('SR', sr.uuid)).name_label;
  let f = await chooseSrAndListBackups(r, { uuid: sr.uuid, name: srName });
  expect(f).toContain('<C> Compare with pool');
  press(r, 'c');
  f = await waitForFrame(r, (fr) => paneTitle(fr) === compareTitle(date) && fr.includes('ticked'), 10_000);
  // Every VM of the backup is missing here; the DR pool's own VM (and custom templates) only here.
  const onlyHere = Number(new RegExp(`${exported} missing here; (\\d+) only in this pool`).exec(flat(f))?.[1]);
  expect(onlyHere).toBeGreaterThanOrEqual(own.length);
  expect(f).toContain(`Missing here (${exported})`);
  expect(f).toContain('Missing here: a restore creates them.');
  for (const line of f.split('\n')) expect(textWidth(line)).toBeLessThanOrEqual(80);

  // The last page holds the pool's own VM, under its heading.
  press(r, KEYS.end);
  f = await waitForFrame(r, (fr) => fr.includes(`Only in this pool (${onlyHere})`) && fr.includes(own[0]!));
  expect(f).toContain('Only in this pool: a restore of this backup leaves it alone.');
  expect(f).not.toContain('\u202e');
  expect(f).toContain('数据库\\u202e服务器');
  // Every VM row's uuid starts in the same terminal column, wide names or not.
  const columns = f.split('\n').flatMap((l) => {
    const m = /([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/.exec(l);
    return m ? [textWidth(l.slice(0, l.indexOf(m[1]!)))] : [];
  });
  expect(columns.length).toBe(8);
  expect(new Set(columns).size).toBe(1);

  // Back to the first VM: tick it.
  press(r, KEYS.home);
  f = await waitForFrame(r, (fr) => /> \[ \]/.test(fr) && fr.includes(`Missing here (${exported})`));
  const chosen = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/.exec(highlighted(f)!)![0];
  press(r, ' ');
  f = await waitForFrame(r, (fr) => /> \[x\]/.test(fr) && fr.includes('1 ticked'));
  press(r, KEYS.f8);
  f = await waitForFrame(r, (fr) => (paneTitle(fr) ?? '').startsWith('Restore Backup from'));
  expect(flat(f)).toContain(onlyChosenNote(1));

  await highlightRow(r, 'All VM Metadata  ', 'All VM Metadata ');
  press(r, KEYS.enter);
  await waitForFrame(r, (fr) => (paneTitle(fr) ?? '').startsWith('Confirm Restore from') && fr.includes('<F8> Restore'), 15_000);
  press(r, KEYS.f8);
  f = await waitForFrame(r, (fr) => /Restored \d+ VM\(s\), and \d+ error\(s\)/.test(flat(fr)), 15_000);
  expect(flat(f)).toContain('Restored 1 VM(s), and 0 error(s)');
  expect(vmUuids(dr).sort()).toEqual([...own, chosen].sort());
  press(r, KEYS.escape);
  await noneAttached(dr.sim);
}, 60_000);
