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
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');
const SESSION = 'xsdr-e2e';
/** The embedded pool's documented demo password (README). */
const DEMO_PASSWORD = 'demo';

let dir: string;
let cli: string;
let socket: string;
let exitFile: string;
let stderrFile: string;

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-S', socket, '-f', '/dev/null', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function screen(): string {
  return tmux('capture-pane', '-p', '-t', SESSION);
}

/** Keys by tmux name (Enter, Escape, Down, Tab, F8) or, with `literal`, text typed as is. */
function send(keys: string, literal = false): void {
  tmux('send-keys', '-t', SESSION, ...(literal ? ['-l', keys] : [keys]));
}

/** Polls the screen until `pred` holds (bounded); fails with the last screen. */
async function waitForScreen(pred: (s: string) => boolean, what: string, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      last = screen();
    } catch (err) {
      throw new Error(`The console's terminal is gone while waiting for ${what} (${(err as Error).message.trim()}); exit code file: ${existsSync(exitFile) ? await readFile(exitFile, 'utf8') : 'none'}`);
    }
    if (pred(last)) return last;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}. Screen:\n${last}\n${await diagnostics()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** What the console's process was doing, for a failure message: its state, and its stderr. */
async function diagnostics(): Promise<string> {
  const out: string[] = [];
  try {
    const pid = tmux('display-message', '-p', '-t', SESSION, '#{pane_pid}').trim();
    out.push(execFileSync('ps', ['-o', 'pid,stat,etime,rss,args', '--ppid', pid, '-p', pid], { encoding: 'utf8' }));
  } catch (err) {
    out.push(`(no process list: ${(err as Error).message.trim()})`);
  }
  out.push(`stderr: ${existsSync(stderrFile) ? (await readFile(stderrFile, 'utf8')).slice(-4000) || '(empty)' : '(none)'}`);
  return out.join('\n');
}

const waitForText = (text: string, timeoutMs?: number) => waitForScreen((s) => s.includes(text), JSON.stringify(text), timeoutMs);

/** The menu pane (left) is titled `title`. */
const atMenu = (title: string) => waitForScreen((s) => new RegExp(`^\\s*┌─ ${title} ─`, 'm').test(s), `the menu "${title}"`);

/** The row marked as highlighted (monochrome theme: "> "). */
function highlighted(s: string): string | undefined {
  return /│\s*> (.+?)\s*[↑↓]?\s*│/.exec(s)?.[1]?.trim();
}

/** Presses Down until the highlighted row satisfies `pred`. */
async function highlight(pred: (row: string) => boolean, what: string): Promise<void> {
  for (let i = 0; i < 12; i++) {
    const s = await waitForScreen((sc) => highlighted(sc) !== undefined, 'a highlighted row');
    const row = highlighted(s)!;
    if (pred(row)) return;
    send('Down');
    await waitForScreen((sc) => highlighted(sc) !== row, `the highlight to move from ${row}`);
  }
  throw new Error(`No row ${what}. Screen:\n${screen()}`);
}

beforeAll(async () => {
  execFileSync('tmux', ['-V']); // tmux is required (.ci/run installs it); never skipped
  dir = await mkdtemp(join(tmpdir(), 'xsdr-tmux-'));
  cli = join(dir, 'xsconsole-dr.mjs');
  execFileSync(process.execPath, [join(ROOT, 'scripts/bundle.mjs'), '--out', cli], { stdio: 'ignore', timeout: 60_000 });
  socket = join(dir, 'tmux.sock');
  exitFile = join(dir, 'exit-code');
  stderrFile = join(dir, 'stderr');
  const path = `${process.env['PATH'] ?? ''}:/usr/sbin:/sbin`;
  // NO_COLOR: the monochrome theme marks the highlighted row with ">", which a captured
  // screen (text only) can show. CI=true: Ink draws nothing but the last frame where it sees
  // CI set, and the console must draw in a terminal wherever it runs (in CI too). LC_ALL: a
  // UTF-8 terminal, whatever the machine's locale (the console draws ASCII boxes outside one).
  // The exit status is written where the test can read it.
  const command =
    `env PATH='${path}' CI=true NO_COLOR=1 LC_ALL=C.UTF-8 XSDR_CACHE_DIR='${join(dir, 'cache')}' ` +
    `'${process.execPath}' '${cli}' --sim-state '${join(dir, 'state')}' 2>'${stderrFile}'; echo $? > '${exitFile}'`;
  tmux('new-session', '-d', '-s', SESSION, '-x', '100', '-y', '30', command);
}, 90_000);

afterAll(async () => {
  // Only this test's private tmux server (its own socket) is stopped.
  if (socket && existsSync(socket)) {
    try {
      tmux('kill-server');
    } catch {
      /* already gone: the console exited and the server with it */
    }
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the console in a terminal', () => {
  it('logs in, backs up to the default SR, restores a dry run from it, and quits', async () => {
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
    send('Tab');
    send(DEMO_PASSWORD, true);
    await waitForScreen((sc) => /Password\s+\*{4}_/.test(sc), 'the masked password');
    send('Enter');
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
    send('Escape');
    await atMenu('Customize System');
    await highlight((row) => row === 'Quit', 'Quit');
    send('Enter');
    const deadline = Date.now() + 15_000;
    while (!existsSync(exitFile)) {
      if (Date.now() > deadline) throw new Error(`The console did not exit. Screen:\n${screen()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await expect.poll(() => readFile(exitFile, 'utf8'), { timeout: 5000 }).toBe('0\n');
  }, 120_000);
});
