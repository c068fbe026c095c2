/**
 * Terminal safety of the console: a simulated pool whose VMs, SR, VDIs, networks, pool and
 * coordinator are named with CR/LF + "Backup Successful", ESC/C1 sequences and bidi
 * controls, and a backup on it crafted with such file and link names (raw ESC included)
 * and SRMETA.xml names. The backup and a restore dry run are driven through the real
 * screens; every frame Ink drew is checked (nothing raw but Ink's own colour codes, no row
 * beginning with forged text), and so is the restore summary saved to a file.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackup } from '../../src/dr/backup.js';
import { DEMO_ROOT_PASSWORD } from '../../src/sim/index.js';
import { simulatedControlDomain } from '../../src/dr/volume/control-domain.js';
import { createConsoleServices, type LiveConsoleServices } from '../../src/app/index.js';
import { BACKUP_PICKER_TITLE } from '../../components/backup/feature.js';
import { BACKUP_OK_TITLE } from '../../components/backup/summary.js';
import { SAVE_SUMMARY_TITLE } from '../../components/restore/RestoreSummary.js';
import { startTestPool, vdiImagePath, type TestPool } from '../helpers/pool.js';
import { forgedLines, nameHostilePool, rawUnsafe } from '../helpers/hostile-text.js';
import { KEYS, flat, paneTitle, press, renderConsole, stripAnsi, waitForFrame, waitForText, type Rendered } from './helpers.js';
import { highlightRow, openRestorePicker, readAllPages } from './restore-helpers.js';

const CRAFTED_DATE = '2025-01-02-03-04-05';
/** A link name in the crafted backup's by-sr folder: raw ESC and CR/LF reach the screens this way. */
const LINK_NAME = '\u001b[2J\u001b[H\r\nBackup Successful.vmmeta';
/** How the SR's name (LF, U+2028) is shown once neutralised. */
const SR_SHOWN = '\\u000aBackup Successful\\u2028Backup Successful';

let pool: TestPool;
let dir: string;
let srUuid: string;
let r: Rendered | undefined;
let live: LiveConsoleServices | undefined;

/** Every frame drawn so far: only Ink's own colour codes, no forged row. */
function expectSafeFrames(rendered: Rendered): void {
  expect(rendered.frames.length).toBeGreaterThan(0);
  for (const frame of rendered.frames) {
    expect(rawUnsafe(frame, { lines: true, sgr: true }), stripAnsi(frame)).toEqual([]);
    expect(forgedLines(stripAnsi(frame)), stripAnsi(frame)).toEqual([]);
  }
}

function debugfs(image: string, request: string): void {
  execFileSync('debugfs', ['-w', '-R', request, image], { env: { ...process.env, PATH: `${process.env['PATH']}:/usr/sbin:/sbin` }, stdio: 'ignore' });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xsdr-ui-hostile-'));
  pool = await startTestPool({ vms: 3, seed: 9 });
  ({ srUuid } = nameHostilePool(pool.sim));
  const first = await runBackup(pool.session, { srUuid, vdiSize: 64 * 1024 * 1024, now: () => new Date(2025, 0, 2, 3, 4, 5) });
  expect(first.date).toBe(CRAFTED_DATE);
  const image = vdiImagePath(pool.sim, first.vdi.uuid);
  const d = `/metadata/${CRAFTED_DATE}`;
  const srmeta = join(dir, 'SRMETA.xml');
  await writeFile(srmeta, `<?xml version="1.0" encoding="utf-8"?><meta><sr uuid="${srUuid}" name_label="&#13;&#10;Backup Successful&#x202e;" name_description="&#x9b;2J"/></meta>`);
  debugfs(image, `symlink "${d}/by-sr/${srUuid}/${LINK_NAME}" ../../all/x.vmmeta`);
  debugfs(image, `rm ${d}/SRMETA.xml`);
  debugfs(image, `write ${srmeta} ${d}/SRMETA.xml`);
}, 60_000);

afterAll(async () => {
  await pool?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  r?.unmount();
  r = undefined;
  await live?.close();
  live = undefined;
});

function start(): Rendered {
  live = createConsoleServices({
    target: { url: pool.sim.url, tls: {}, describe: 'hostile pool', controlDomain: simulatedControlDomain(pool.sim) },
    user: 'root',
    hostLabel: 'hostile',
    saveDir: dir,
  });
  return renderConsole({ services: live });
}

describe('the console with hostile names', () => {
  it('backup: the SR picker, the status line, the progress and the summary show the names escaped', async () => {
    r = start();
    await waitForText(r, 'Customize System');
    press(r, KEYS.enter);
    await waitForFrame(r, (f) => paneTitle(f) === 'Backup, Restore and Update');
    press(r, KEYS.enter);
    await waitForFrame(r, (f) => paneTitle(f) === 'Login');
    press(r, `\t${DEMO_ROOT_PASSWORD}\r`);
    let f = await waitForFrame(r, (fr) => paneTitle(fr) === BACKUP_PICKER_TITLE && !fr.includes('Reading storage repositories'));
    expectSafeFrames(r);
    // The coordinator's host name (C1 CSI, bidi override) on the status line, escaped.
    expect(f.split('\n')[0]).toContain('root@\\u009b2J\\u202emaster');
    // The pool's long hostile name beside it, escaped and cut so that user@host stays whole.
    expect(f.split('\n')[0]).toMatch(/ Pool \]0;p\S*~  root@\\u009b2J\\u202emaster$/);
    await highlightRow(r, '\\u000aBackup');
    press(r, KEYS.enter);
    f = await waitForFrame(r, (fr) => paneTitle(fr) === BACKUP_OK_TITLE, 20_000);
    const summary = flat(await readAllPages(r));
    expect(summary).toContain(`written to SR "${SR_SHOWN}"`);
    // ESC and BEL may be dropped on the way (XML cannot carry them); what arrives is escaped.
    expect(summary).toMatch(/of pool "(\\u001b)?\]0;pwned(\\u0007)?\\u0085Backup Successful"/);
    expectSafeFrames(r);
  });

  it('restore dry run of the crafted backup: skipped entries and SRMETA names escaped on screen and in the saved summary', async () => {
    r = start();
    await openRestorePicker(r, DEMO_ROOT_PASSWORD);
    expectSafeFrames(r);
    await highlightRow(r, '\\u000aBackup');
    press(r, KEYS.enter);
    await waitForFrame(r, (fr) => paneTitle(fr) === 'Available Metadata Backups', 10_000);
    await highlightRow(r, CRAFTED_DATE);
    press(r, KEYS.enter);
    await waitForFrame(r, (fr) => paneTitle(fr) === `Restore Backup from ${CRAFTED_DATE}`);
    await highlightRow(r, 'Only VMs on This SR (Dry Run)');
    press(r, KEYS.enter);
    await waitForFrame(r, (fr) => /^(Metadata Restore|Restore partly|Dry run: )/.test(paneTitle(fr) ?? ''), 20_000);
    expectSafeFrames(r);
    const text = await readAllPages(r);
    expect(text).toContain('\\u001b[2J\\u001b[H\\u000d\\u000aBackup Successful.vmmeta: not a <vm-uuid>.vmmeta name; ignored');
    expect(text).toContain('"\\u000d\\u000aBackup Successful\\u202e"');

    press(r, 's');
    await waitForFrame(r, (fr) => paneTitle(fr) === SAVE_SUMMARY_TITLE);
    const path = join(dir, 'summary.txt');
    press(r, '\u0015');
    await waitForFrame(r, (fr) => /│\s*_\s*│/.test(fr));
    press(r, path);
    press(r, KEYS.enter);
    await waitForText(r, 'The restore summary was saved to');
    const saved = await readFile(path, 'utf8');
    expect(rawUnsafe(saved, { lines: true }), saved).toEqual([]);
    expect(forgedLines(saved)).toEqual([]);
    expect(saved).toContain('\\u001b[2J\\u001b[H\\u000d\\u000aBackup Successful.vmmeta: not a <vm-uuid>.vmmeta name; ignored');
    expect(saved).toContain(`"\\u000d\\u000aBackup Successful\\u202e"`);
    expectSafeFrames(r);
  });
});
