/**
 * Console figures of the built CLI in a pseudo-terminal (util-linux `script` gives it one,
 * 80×24): time to first frame, and key-press-to-frame latency on the screens that exist.
 *
 * Ink wraps every frame in the terminal's synchronized-update markers (ESC[?2026h …
 * ESC[?2026l), so a frame is complete when its closing marker arrives; the time of that
 * chunk is the frame's time. The password is typed into the login dialogue (never argv).
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DEMO_ROOT_PASSWORD } from '../src/sim/index.js';
import { PROJECT_ROOT, SimProcess, runCli } from './processes.js';

const FRAME_END = '\u001b[?2026l';
const KEYS = { down: '\u001b[B', up: '\u001b[A', enter: '\r', tab: '\t', esc: '\u001b', ctrlC: '\u0003' };

export interface ConsoleFigures {
  vms: number;
  /** The tsc-built CLI (dist/, what npx and npm start run). */
  firstFrameMs?: number;
  /** The single-file bundle. */
  bundleFirstFrameMs?: number;
  table: string;
}

interface Frame {
  at: number;
  text: string;
}

/** A frame's text squeezed onto one line (for messages). */
function oneLine(text: string): string {
  return text.replace(/[│┌┐└┘─]+/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 300);
}

/** Removes escape sequences, keeping the characters a screen shows. */
export function screenText(raw: string): string {
  return raw.replace(/\u001b\[[0-9;?]*[ -/]*[@-~]/g, '').replace(/\u001b[()][0-9A-Za-z]/g, '').replace(/\r/g, '');
}

/** The console in `script`'s pseudo-terminal, with its frames timestamped. */
class Terminal {
  private buffer = '';
  private readonly frames: Frame[] = [];
  private waiting: Array<() => void> = [];
  readonly started = performance.now();
  private exitCode: number | null | undefined;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.on('data', (d: Buffer) => {
      const at = performance.now();
      this.buffer += d.toString('utf8');
      let i: number;
      while ((i = this.buffer.indexOf(FRAME_END)) >= 0) {
        this.frames.push({ at, text: screenText(this.buffer.slice(0, i)) });
        this.buffer = this.buffer.slice(i + FRAME_END.length);
      }
      for (const w of this.waiting.splice(0)) w();
    });
    child.on('exit', (code) => {
      this.exitCode = code;
      for (const w of this.waiting.splice(0)) w();
    });
  }

  static open(cliArgs: string[], env: NodeJS.ProcessEnv = {}): Terminal {
    const quoted = cliArgs.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const command = `stty cols 80 rows 24; exec '${process.execPath}' ${quoted}`;
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      cwd: PROJECT_ROOT,
      stdio: 'pipe',
      env: { ...process.env, ...env, TERM: 'xterm-256color' },
    });
    return new Terminal(child);
  }

  /** Waits for the first frame after `since` whose text passes `test`; returns it. */
  async frame(test: (text: string) => boolean, since: number, timeoutMs = 30_000, what = 'the expected frame'): Promise<Frame> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const f = this.frames.find((x) => x.at >= since && test(x.text));
      if (f) return f;
      if (this.exitCode !== undefined) throw new Error(`the console exited (${this.exitCode}) before ${what}`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no frame with ${what} within ${timeoutMs} ms; last: ${oneLine(this.frames.at(-1)?.text ?? '(none)')}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiting.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The newest complete frame. */
  latest(): Frame {
    const f = this.frames.at(-1);
    if (!f) throw new Error('no frame yet');
    return f;
  }

  /** Sends keys; returns the time they were written. */
  press(keys: string): number {
    const at = performance.now();
    this.child.stdin.write(keys);
    return at;
  }

  async close(): Promise<void> {
    if (this.exitCode !== undefined) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.press(KEYS.esc + KEYS.esc + KEYS.esc + KEYS.ctrlC);
    const timer = setTimeout(() => this.child.kill('SIGTERM'), 3000);
    await exited;
    clearTimeout(timer);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** Key presses alternating `a`/`b`, each timed to the first frame that differs from the one before. */
async function keyLatencies(t: Terminal, keys: [string, string], count: number, screen: (text: string) => string): Promise<number[]> {
  const out: number[] = [];
  let last = t.latest();
  for (let i = 0; i < count; i++) {
    const before = screen(last.text);
    const at = t.press(keys[i % 2]!);
    last = await t.frame((x) => screen(x) !== before, at);
    out.push(last.at - at);
  }
  return out;
}

/** The right pane's title: which item of the menu on the left is selected. */
function selected(text: string, item: string): boolean {
  return text.includes(`┐┌─ ${item} `);
}

/** Presses Down until `item` is selected (menus wrap; at most `limit` presses). */
async function select(t: Terminal, item: string, limit = 8): Promise<void> {
  for (let i = 0; !selected(t.latest().text, item); i++) {
    if (i >= limit) throw new Error(`no menu item "${item}"`);
    const before = t.latest().text;
    const at = t.press(KEYS.down);
    await t.frame((x) => x !== before, at);
  }
}

/** Logs in from the first screen and opens the "Backup, Restore and Update" menu. */
async function logIn(t: Terminal): Promise<void> {
  await t.frame((x) => x.includes('Log In'), 0);
  let at = t.press(KEYS.down + KEYS.enter);
  await t.frame((x) => x.includes('Password'), at);
  at = t.press(KEYS.tab + DEMO_ROOT_PASSWORD + KEYS.enter);
  await t.frame((x) => x.includes('Log Out'), at);
  at = t.press(KEYS.up + KEYS.enter);
  await t.frame((x) => x.includes('Virtual Machine Metadata'), at);
}

/** From the menu, opens the SR picker of `item` and selects the SR `srUuid`. */
async function openSrPicker(t: Terminal, item: string, srUuid?: string): Promise<void> {
  await select(t, item);
  const at = t.press(KEYS.enter);
  await t.frame((x) => x.includes('Select Storage Repository'), at, 30_000, 'the SR picker');
  if (srUuid === undefined) return;
  for (let i = 0; !t.latest().text.includes(`UUID ${srUuid}`); i++) {
    if (i > 10) throw new Error(`SR ${srUuid} is not in the picker`);
    const before = t.latest().text;
    const at2 = t.press(KEYS.down);
    await t.frame((x) => x !== before, at2);
  }
}

/** Restore → the backup → "All VM Metadata (Dry Run)" → the summary screen. */
async function toRestoreSummary(t: Terminal, srUuid: string): Promise<void> {
  await openSrPicker(t, 'Restore Virtual Machine Metadata', srUuid);
  let at = t.press(KEYS.enter);
  await t.frame((x) => x.includes('Select Metadata Backup to Restore From'), at, 120_000, 'the list of backups');
  at = t.press(KEYS.enter);
  await t.frame((x) => x.includes('Select the set of VMs to restore from'), at, 120_000, 'the choice of VMs');
  // Only the highlight moves here (colour, not text): wait for any new frame.
  for (let i = 0; i < 3; i++) {
    at = t.press(KEYS.down);
    await t.frame(() => true, at, 30_000, 'the moved highlight');
  }
  at = t.press(KEYS.enter);
  await t.frame((x) => /Metadata Restore (Succeeded|Failed) \(Dry Run\)/.test(x), at, 600_000, 'the summary');
}

/** Builds the single-file bundle when the project has its script; null otherwise. */
async function buildBundle(out: string): Promise<string | null> {
  const script = join(PROJECT_ROOT, 'scripts', 'bundle.mjs');
  try {
    await access(script);
    await promisify(execFile)(process.execPath, [script, '--out', out], { cwd: PROJECT_ROOT });
    await access(out);
    return out;
  } catch {
    return null;
  }
}

const PAGE = { down: '\u001b[6~', up: '\u001b[5~' };

export async function measureConsole(opts: { cli: string; vms: number; log: (s: string) => void }): Promise<ConsoleFigures> {
  const { cli, vms, log } = opts;
  const rows: string[] = ['| figure | value | how |', '|---|---|---|'];
  let firstFrameMs: number | undefined;
  let bundleFirstFrameMs: number | undefined;
  const tmp = await mkdtemp(join(tmpdir(), 'xsdr-bench-ui-'));
  const note = (what: string, err: unknown) => rows.push(`| ${what} | not measured | ${(err as Error).message.replace(/\|/g, '/').slice(0, 200)} |`);
  try {
    log(`console: a ${vms}-VM pool, backed up once`);
    const sim = await SimProcess.start({ state: join(tmp, 'pool'), vms, latencyMs: 0, transferLatencyMs: 0 });
    try {
      const backup = await runCli(cli, ['--host', sim.url, '--sim-dom0', sim.stateDir, 'backup'], DEMO_ROOT_PASSWORD);
      const srUuid = String((backup.json['sr'] as Record<string, unknown>)['uuid']);
      // 1. Against a pool given with --host (what an operator at a workstation runs).
      const t = Terminal.open([cli, '--host', sim.url]);
      try {
        const first = await t.frame(() => true, 0);
        firstFrameMs = first.at - t.started;
        rows.push(`| time to first frame (--host) | ${firstFrameMs.toFixed(0)} ms | spawn of the pty to the end of the first complete frame |`);
        await logIn(t);
        try {
          await openSrPicker(t, 'Backup Virtual Machine Metadata');
          const lat = await keyLatencies(t, [KEYS.down, KEYS.up], 20, (x) => /UUID [0-9a-f-]{36}/.exec(x)?.[0] ?? x);
          rows.push(`| SR picker (backup): Down/Up to new frame, ${vms}-VM pool | median ${median(lat).toFixed(1)} ms, max ${Math.max(...lat).toFixed(1)} ms | 20 presses, each to the frame showing the other SR |`);
          const at = t.press(KEYS.esc);
          await t.frame((x) => selected(x, 'Backup Virtual Machine Metadata'), at, 30_000, 'the menu again');
        } catch (err) {
          note('SR picker', err);
        }
        try {
          log(`console: restore dry run of ${vms} VMs to reach the summary`);
          await toRestoreSummary(t, srUuid);
          const lines = /of (\d+)/.exec(t.latest().text)?.[1] ?? '?';
          const lat = await keyLatencies(t, [PAGE.down, PAGE.up], 20, (x) => /\(\d+-\d+ of \d+/.exec(x)?.[0] ?? x);
          rows.push(`| restore summary: PgDn/PgUp to new frame, ${vms} VMs (${lines} lines) | median ${median(lat).toFixed(1)} ms, max ${Math.max(...lat).toFixed(1)} ms | 20 presses, each to the frame showing the other page |`);
        } catch (err) {
          note('restore summary', err);
        }
      } finally {
        await t.close();
      }
    } finally {
      await sim.stop();
    }
    // 2. The single-file bundle an operator copies to a host (scripts/bundle.mjs), if any.
    const bundle = await buildBundle(join(tmp, 'bundle', 'xsconsole-dr.mjs'));
    if (bundle) {
      const sim2 = await SimProcess.start({ state: join(tmp, 'pool'), vms, latencyMs: 0, transferLatencyMs: 0 });
      const b = Terminal.open([bundle, '--host', sim2.url]);
      try {
        const first = await b.frame(() => true, 0);
        bundleFirstFrameMs = first.at - b.started;
        rows.push(`| time to first frame (the bundle, --host) | ${bundleFirstFrameMs.toFixed(0)} ms | the same, for the single-file bundle |`);
      } finally {
        await b.close();
        await sim2.stop();
      }
    }
    // 3. The embedded simulator on that same state (the console starts it itself).
    const e = Terminal.open([cli, '--sim-state', join(tmp, 'pool')]);
    try {
      const first = await e.frame(() => true, 0);
      rows.push(`| time to first frame (embedded ${vms}-VM pool) | ${(first.at - e.started).toFixed(0)} ms | includes starting the simulator on that state |`);
    } finally {
      await e.close();
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return { vms, ...(firstFrameMs !== undefined && { firstFrameMs }), ...(bundleFirstFrameMs !== undefined && { bundleFirstFrameMs }), table: rows.join('\n') };
}
