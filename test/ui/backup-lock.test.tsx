/**
 * The console's backup while another client holds the backup VDI: the banner says whose run
 * it waits for, the backup goes ahead once that run has handed the VDI back, and the summary
 * says how long it waited. Against the simulated pool.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemoSimulator, type SimHandle } from '../../src/sim/index.js';
import { createConsoleServices, type LiveConsoleServices } from '../../src/app/index.js';
import { runBackup } from '../../src/dr/backup.js';
import { Session, type Ref } from '../../src/xenapi/index.js';
import { BACKUP_PICKER_TITLE } from '../../components/backup/feature.js';
import { KEYS, flat, highlighted, paneTitle, press, renderConsole, waitForFrame, waitForText, type Rendered } from './helpers.js';

const PASSWORD = 'backup-lock-pw';
const KEY = 'xsconsole-dr:lock.';
let dir: string;
let sim: SimHandle;
let session: Session;
let vdiRef: Ref;
let r: Rendered | undefined;
let live: LiveConsoleServices | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xsdr-ui-lock-'));
  sim = await startDemoSimulator({ stateDir: join(dir, 'state'), vms: 2, rootPassword: PASSWORD });
  session = await Session.login({ url: sim.url, user: 'root', password: PASSWORD });
  const local = [...sim.db.allRecords('SR').values()].find((s) => s.name_label === 'Local storage')!;
  const first = await runBackup(session, { srUuid: local.uuid, vdiSize: 64 * 1024 * 1024 });
  vdiRef = sim.db.refByUuid('VDI', first.vdi.uuid);
});
afterAll(async () => {
  r?.unmount();
  await live?.close();
  await session.logout();
  await sim.stop();
  await rm(dir, { recursive: true, force: true });
});

/** The next lock entry, as another client's run claims (op backup) or hands back (op free) the VDI. */
async function otherClient(op: 'backup' | 'free'): Promise<void> {
  const oc = sim.db.get('VDI', vdiRef).other_config;
  const top = Math.max(0, ...Object.keys(oc).filter((k) => k.startsWith(KEY)).map((k) => Number(k.slice(KEY.length))));
  const now = Date.now();
  const value = { v: 1, run: 'other', op, host: 'ws-other', pid: 9, since: new Date(now).toISOString(), expires: new Date(now + (op === 'free' ? 0 : 600_000)).toISOString() };
  await session.call('VDI.add_to_other_config', vdiRef, `${KEY}${top + 1}`, JSON.stringify(value));
}

it('waits for the run holding the backup VDI, says whose it is, then backs up and says it waited', async () => {
  await otherClient('backup');
  live = createConsoleServices({ target: { url: sim.url, tls: {}, describe: 'simulated pool' }, user: 'root', hostLabel: 'sim' });
  r = renderConsole({ services: live });
  await waitForText(r, 'Customize System');
  press(r, KEYS.enter);
  await waitForFrame(r, (f) => paneTitle(f) === 'Backup, Restore and Update');
  press(r, KEYS.enter);
  await waitForFrame(r, (f) => paneTitle(f) === 'Login');
  press(r, KEYS.tab);
  await waitForFrame(r, (f) => /Password\s+_/.test(f));
  press(r, PASSWORD);
  await waitForFrame(r, (f) => /Password\s+\*+_/.test(f));
  press(r, KEYS.enter);
  await waitForFrame(r, (f) => paneTitle(f) === BACKUP_PICKER_TITLE && !f.includes('Reading storage repositories'));
  for (let i = 0; i < 10 && !highlighted(await waitForFrame(r, (fr) => highlighted(fr) !== undefined))!.startsWith('Local storage'); i++) {
    const before = highlighted(await waitForFrame(r, (fr) => highlighted(fr) !== undefined));
    press(r, KEYS.down);
    await waitForFrame(r, (fr) => highlighted(fr) !== before);
  }
  press(r, KEYS.enter);
  await waitForFrame(r, (f) => flat(f).includes('Waiting for the backup started by ws-other (pid 9)'), 10_000, 'the waiting line');
  await otherClient('free');
  const f = await waitForFrame(r, (fr) => fr.includes('Backup Successful'), 20_000, 'the summary');
  expect(flat(f)).toMatch(/Waited \d+ s for the backup started by ws-other \(pid 9\)/);
});
