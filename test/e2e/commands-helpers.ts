/**
 * Driving a built command line (dist/src/cli.js or the bundle) as an operator would:
 * separate processes, real sockets, a standalone simulated pool (`sim`).
 */
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join, resolve } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

export const ROOT = resolve(__dirname, '../..');
export const DIST_CLI = join(ROOT, 'dist/src/cli.js');

/**
 * Builds the single-file bundle (as installed on a host) into `dir` and returns its path.
 * Tests that measure the installed product build their own: `npm test` compiles with tsc
 * only, so dist/xsconsole-dr.mjs may be missing or stale.
 */
export function buildBundle(dir: string): string {
  const out = join(dir, 'xsconsole-dr.mjs');
  execFileSync(process.execPath, [join(ROOT, 'scripts/bundle.mjs'), '--out', out], { stdio: 'ignore', timeout: 60_000 });
  return out;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** e2fsprogs live in /usr/sbin, which a non-login PATH may lack. */
export const SBIN_PATH = `${process.env['PATH'] ?? ''}:/usr/sbin:/sbin`;

/** Remote-mode VDI copies of the commands under test go here, never into the real ~/.cache. */
const CACHE_DIR = mkdtempSync(join(tmpdir(), 'xsdr-e2e-cache-'));
process.on('exit', () => rmSync(CACHE_DIR, { recursive: true, force: true }));

export function runCli(cli: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Run> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [cli, ...args],
      { env: { ...process.env, PATH: SBIN_PATH, XSDR_PASSWORD: '', XSDR_CACHE_DIR: CACHE_DIR, ...opts.env }, cwd: opts.cwd, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        done({ code: err ? Number((err as NodeJS.ErrnoException).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

/** A run's exit code, output and peak RSS in kB (NaN when the process reported none). */
export interface MeasuredRun extends Run {
  peakKb: number;
}

/**
 * Runs the built CLI `cli` in a process of its own with bench/report-rss.mjs preloaded, which
 * prints the process's peak RSS (getrusage maxRSS) on stderr as it exits.
 */
export function runMeasuringRss(cli: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<MeasuredRun> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', join(ROOT, 'bench', 'report-rss.mjs'), cli, ...args], {
      env: { ...process.env, PATH: SBIN_PATH, XSDR_PASSWORD: '', XSDR_CACHE_DIR: CACHE_DIR, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => {
      const rss = /XSDR_BENCH_MAXRSS_KB (\d+)/.exec(stderr);
      done({ code: code ?? -1, stdout, stderr, peakKb: rss ? Number(rss[1]) : NaN });
    });
  });
}

export function runFile(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((done) => {
    execFile(file, args, { env, timeout: 60_000 }, (err, stdout, stderr) => {
      done({ code: err ? Number((err as NodeJS.ErrnoException).code ?? 1) : 0, stdout, stderr });
    });
  });
}

export interface SimProcess {
  proc: ChildProcess;
  url: string;
  lines: string[];
  /** The state folder it announced. */
  state: string;
}

/** Starts `<cli> sim`; resolves once it announced its URL and is serving. */
export async function startSim(cli: string, args: string[], opts: { cwd?: string } = {}): Promise<SimProcess> {
  const proc = spawn(process.execPath, [cli, 'sim', '--port', '0', '--auth-delay', '0', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    cwd: opts.cwd,
    env: { ...process.env, PATH: SBIN_PATH },
  });
  const rl = createInterface({ input: proc.stdout! });
  const lines: string[] = [];
  await new Promise<void>((ok, fail) => {
    proc.once('exit', (c) => fail(new Error(`sim exited with ${c}`)));
    rl.on('line', (l) => {
      lines.push(l);
      if (l.startsWith('Press Ctrl-C')) ok();
    });
  });
  const state = lines.find((l) => l.startsWith('state: '))!.slice('state: '.length);
  return { proc, url: lines[0]!, lines, state };
}

export async function stopSim(sim: SimProcess | undefined): Promise<void> {
  if (!sim || sim.proc.exitCode !== null) return;
  await new Promise<void>((ok) => {
    sim.proc.once('exit', () => ok());
    sim.proc.kill('SIGINT');
  });
}

/** The sparse file of a VDI in a simulator state folder (location = uuid for new VDIs). */
export function simVdiImage(state: string, srUuid: string, vdiUuid: string): string {
  return join(state, 'srs', srUuid, `${vdiUuid}.img`);
}
