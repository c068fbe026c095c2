/**
 * The installed console in a real terminal: tmux runs the single-file bundle (built here by
 * scripts/bundle.mjs, as `npm run build` builds dist/xsconsole-dr.mjs, start-up adjustments
 * included) with `--sim-state <dir>` (the embedded simulated pool, as `npm start` does) in a 100×30 window on a private tmux
 * server; the test types as an operator would (send-keys) and reads the screen
 * (capture-pane), waiting — bounded — for each expected frame. It logs in, backs up to the
 * pool's default SR, restores a dry run from that backup, and quits; the program must exit 0.
 * It runs with CI=true in the console's environment, as a CI machine has it.
 *
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { highlighted, startTmuxConsole, type TmuxConsole } from './tmux-console.js';

const ROOT = resolve(__dirname, '../..');
/** The embedded pool's documented demo password (README). */
const DEMO_PASSWORD = 'demo';

let dir: string;
let tc: TmuxConsole | undefined;

beforeAll(async () => {
  execFileSync('tmux', ['-V']); // tmux is required (.ci/run installs it); never skipped
  dir = await mkdtemp(join(tmpdir(), 'xsdr-tmux-'));
  const cli = join(dir, 'xsconsole-dr.mjs');
  execFileSync(process.execPath, [join(ROOT, 'scripts/bundle.mjs'), '--out', cli], { stdio: 'ignore', timeout: 60_000 });
  tc = startTmuxConsole({ dir, session: 'xsdr-e2e', width: 100, height: 30, args: [cli, '--sim-state', join(dir, 'state')] });
}, 90_000);

afterAll(async () => {
  tc?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the console in a terminal', () => {
  it('logs in, backs up to the default SR, restores a dry run from it, and quits', async () => {
    const { send, waitForScreen, waitForText, atMenu, highlight } = tc!;
    // The first frame includes starting the embedded pool: generous for a loaded 2-core CI box.
    let s = await waitForText('Customize System', 60_000);
    // The console says which pool it talks to: the embedded one, on the state folder given.
    await highlight((row) => row === 'Log In', 'Log In');
    s = await waitForText('embedded simulated pool');
    expect(s.replace(/[│\s]+/g, ' ')).toMatch(/embedded simulated pool at http:\/\/127\.0\.0\.1:\d+ \(state in /);
    send('Up');
    await waitForScreen((sc) => highlighted(sc) === 'Backup, Restore and Update', 'the first item');
    send('Enter');
    s = await atMenu('Backup, Restore and Update');
    expect(s).toMatch(/Backup Virtual Machine Metadata[\s\S]*Restore Virtual Machine Metadata/);

    // Backup: login first, then the SR picker; the default SR.
    await highlight((row) => row.startsWith('Backup Virtual Machine Metadata'), 'Backup');
    send('Enter');
    await waitForText('Please log in to perform this function');
    await waitForText(`Demo pool: log in as root with the password "${DEMO_PASSWORD}".`);
    await tc!.logIn(DEMO_PASSWORD);
    await waitForText('Select Storage Repository for Backup');
    await waitForScreen((sc) => !sc.includes('Reading storage repositories'), 'the SR list');
    await highlight((row) => /\sdefault$/.test(row), 'marked default');
    send('Enter');
    s = await waitForText('Backup Successful', 30_000);
    expect(s).toMatch(/VMs exported: \d+/);
    expect(s).toContain('Failures: none');
    send('Enter');
    await atMenu('Backup, Restore and Update');

    // Restore: the same SR, the newest backup, All VM Metadata (Dry Run).
    await highlight((row) => row.startsWith('Restore Virtual Machine Metadata'), 'Restore');
    send('Enter');
    await waitForText('Select Storage Repository to Restore From');
    await waitForScreen((sc) => !sc.includes('Reading storage repositories'), 'the SR list');
    await highlight((row) => /\sdefault$/.test(row), 'marked default');
    send('Enter');
    s = await waitForText('Select Metadata Backup to Restore From', 30_000);
    expect(highlighted(s)).toMatch(/^\d{4}(-\d\d){5}  \d+ VM exports?, \d+ on this SR$/);
    send('Enter');
    await waitForText('Select the set of VMs to restore from');
    await highlight((row) => row.startsWith('All VM Metadata (Dry Run)'), 'All VM Metadata (Dry Run)');
    send('Enter');
    s = await waitForScreen((sc) => /Metadata Restore (Completed|Failed) \(Dry Run\)|Dry run: \d+ of \d+ VMs would be restored/.test(sc), 'the dry run summary', 30_000);
    expect(s).toMatch(/Would restore \d+ VM\(s\), and \d+ error\(s\); nothing was changed/);
    expect(s).toContain('Nothing was changed.');
    send('Enter');
    await atMenu('Backup, Restore and Update');

    // Quit: back to the root menu, Quit, Enter; the program ends with status 0.
    expect(await tc!.quit()).toBe('0\n');
  }, 120_000);
});
