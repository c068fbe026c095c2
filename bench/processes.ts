/** The benchmark's child processes: the simulated pool and one client scenario at a time. */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { access } from 'node:fs/promises';
import { promisify } from 'node:util';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { ServerCounts } from './model.js';

export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const TSX = ['--import', 'tsx'];
/** tsc output of the project, inside node_modules so that its imports resolve. */
// node_modules may be shared by several checkouts (worktrees): each can name its own build folder.
const BUILD_DIR = process.env['XSDR_BENCH_BUILD_DIR'] ?? join(PROJECT_ROOT, 'node_modules', '.cache', 'xsdr-bench', 'dist');

/** Compiles the project (as `npm run build` does, into a cache folder); returns the CLI's path. */
export async function buildCli(log: (s: string) => void): Promise<string> {
  const cli = join(BUILD_DIR, 'src', 'cli.js');
  log('compiling the CLI (tsc)');
  // tsc emits even when a file elsewhere fails to type-check; the CLI is what matters here.
  await promisify(execFile)(process.execPath, [join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json', '--outDir', BUILD_DIR], {
    cwd: PROJECT_ROOT,
  }).catch(() => undefined);
  await access(cli);
  return cli;
}

export interface PoolFacts {
  vms: number;
  tasks: number;
  dom0Vbds: number;
}

export interface SimStatsReply {
  stats: ServerCounts;
  pool: PoolFacts;
  rssKb: number;
}

interface Waiter {
  resolve: (msg: Record<string, unknown>) => void;
  reject: (err: Error) => void;
}

/** bench/sim-child.ts, spoken to in JSON lines. */
export class SimProcess {
  private readonly waiters: Waiter[] = [];
  private stderr = '';
  private exited = false;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return; // not ours (a warning printed by a library)
      }
      const w = this.waiters.shift();
      if (!w) return;
      if (msg['event'] === 'error') w.reject(new Error(`simulator: ${String(msg['message'])}`));
      else w.resolve(msg);
    });
    child.stderr.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    child.on('exit', (code) => {
      this.exited = true;
      for (const w of this.waiters.splice(0)) w.reject(new Error(`simulator exited (${code}): ${this.stderr.trim().slice(-800)}`));
    });
  }

  private where = { url: '', stateDir: '' };

  get url(): string {
    return this.where.url;
  }

  get stateDir(): string {
    return this.where.stateDir;
  }

  static async start(opts: { state: string; vms: number; latencyMs: number; transferLatencyMs: number; attach?: string[]; hostMemoryGiB?: number }): Promise<SimProcess> {
    const args = [
      ...TSX,
      join(PROJECT_ROOT, 'bench', 'sim-child.ts'),
      '--state', opts.state,
      '--vms', String(opts.vms),
      '--latency', String(opts.latencyMs),
      '--transfer-latency', String(opts.transferLatencyMs),
      ...(opts.attach ?? []).flatMap((d) => ['--attach', d]),
      ...(opts.hostMemoryGiB !== undefined ? ['--host-memory-gib', String(opts.hostMemoryGiB)] : []),
    ];
    const sim = new SimProcess(spawn(process.execPath, args, { cwd: PROJECT_ROOT, stdio: 'pipe' }));
    const ready = await sim.next();
    sim.where = { url: String(ready['url']), stateDir: String(ready['stateDir']) };
    return sim;
  }

  private next(): Promise<Record<string, unknown>> {
    if (this.exited) return Promise.reject(new Error(`simulator exited: ${this.stderr.trim().slice(-800)}`));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private async command(cmd: string): Promise<Record<string, unknown>> {
    const reply = this.next();
    this.child.stdin.write(`${JSON.stringify({ cmd })}\n`);
    return reply;
  }

  async stats(): Promise<SimStatsReply> {
    const m = await this.command('stats');
    return { stats: m['stats'] as ServerCounts, pool: m['pool'] as PoolFacts, rssKb: Number(m['rssKb']) };
  }

  async reset(): Promise<void> {
    await this.command('reset');
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    await this.command('stop').catch(() => undefined);
    this.child.stdin.end();
    await exited;
  }
}

export interface ClientResult {
  scenario: string;
  wallMs: number;
  maxRssKb: number;
  [k: string]: unknown;
}

/** Runs bench/client-child.ts once; the password travels in the environment, never argv. */
export function runClient(args: string[], password: string): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...TSX, join(PROJECT_ROOT, 'bench', 'client-child.ts'), ...args], {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, XSDR_PASSWORD: password },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('exit', () => {
      const last = out.trim().split('\n').pop() ?? '';
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(last) as Record<string, unknown>;
      } catch {
        reject(new Error(`client ${args.join(' ')} printed no result: ${err.trim().slice(-800)}`));
        return;
      }
      if (typeof msg['error'] === 'string') reject(new Error(`client ${String(msg['scenario'])}: ${msg['error']}`));
      else resolve(msg as ClientResult);
    });
  });
}

export interface CliResult {
  wallMs: number;
  maxRssKb: number;
  /** The process's CPU time (user + system), from bench/report-rss.mjs. */
  cpuMs: number;
  exitCode: number;
  json: Record<string, unknown>;
}

/**
 * Runs the built CLI with --json (the real product, imports and all), timing it from spawn
 * to exit; its peak RSS comes from bench/report-rss.mjs preloaded into it.
 */
export function runCli(cli: string, args: string[], password: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--import', join(PROJECT_ROOT, 'bench', 'report-rss.mjs'), cli, ...args, '--json'], {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, XSDR_PASSWORD: password },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-8000)));
    child.on('error', reject);
    child.on('exit', (code) => {
      const wallMs = performance.now() - started;
      const rss = /XSDR_BENCH_MAXRSS_KB (\d+)/.exec(err);
      const cpu = /XSDR_BENCH_CPU_US (\d+)/.exec(err);
      let json: Record<string, unknown>;
      try {
        json = JSON.parse(out) as Record<string, unknown>;
      } catch {
        reject(new Error(`xsconsole-dr ${args.join(' ')} (exit ${code}) printed no JSON: ${err.trim().slice(-800)}`));
        return;
      }
      if (json['error']) {
        reject(new Error(`xsconsole-dr ${args.join(' ')}: ${JSON.stringify(json['error'])}`));
        return;
      }
      resolve({ wallMs, maxRssKb: rss ? Number(rss[1]) : NaN, cpuMs: cpu ? Number(cpu[1]) / 1000 : NaN, exitCode: code ?? -1, json });
    });
  });
}
