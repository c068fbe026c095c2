/**
 * The built command line, run as an operator would: a standalone simulated pool in one
 * process (`xsconsole-dr sim`), the commands in others, over real sockets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const ROOT = resolve(__dirname, '../..');
const CLI = join(ROOT, 'dist/src/cli.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env, XSDR_PASSWORD: env['XSDR_PASSWORD'] ?? '' }, timeout: 60_000 }, (err, stdout, stderr) => {
      done({ code: err ? Number((err as NodeJS.ErrnoException).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Starts `xsconsole-dr sim`, resolves with its URL (first line) and other announced lines. */
async function startSim(args: string[]): Promise<{ proc: ChildProcess; url: string; lines: string[] }> {
  const proc = spawn(process.execPath, [CLI, 'sim', '--port', '0', '--auth-delay', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const rl = createInterface({ input: proc.stdout! });
  const lines: string[] = [];
  const url = await new Promise<string>((ok, fail) => {
    proc.once('exit', (c) => fail(new Error(`sim exited with ${c}`)));
    rl.on('line', (l) => {
      lines.push(l);
      if (l.startsWith('Press Ctrl-C')) ok(lines[0]!);
    });
  });
  return { proc, url, lines };
}

async function stop(proc: ChildProcess): Promise<number | null> {
  return new Promise((ok) => {
    proc.once('exit', (code) => ok(code));
    proc.kill('SIGINT');
  });
}

let dir: string;
beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error('dist/ is missing: run `npm test` (it builds first) or `npm run build`.');
  dir = await mkdtemp(join(tmpdir(), 'xsdr-e2e-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('xsconsole-dr on the command line', () => {
  it('prints help for every command', async () => {
    const root = await cli(['--help']);
    expect(root.code).toBe(0);
    for (const c of ['sim', 'backup', 'probe', 'list', 'preflight', 'restore']) {
      expect(root.stdout).toContain(c);
      const h = await cli([c, '--help']);
      expect(h.code).toBe(0);
      expect(h.stdout).toMatch(/^Usage: xsconsole-dr/);
    }
  });

  it('refuses a password on the command line without echoing it', async () => {
    const r = await cli(['--password', 'hunter2', 'backup']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--password-file|XSDR_PASSWORD/);
    expect(r.stdout + r.stderr).not.toContain('hunter2');
  });

  it('serves a pool that persists across restarts, and backs up and lists through it', async () => {
    const state = join(dir, 'prod');
    const sim = await startSim(['--state', state, '--vms', '4']);
    try {
      expect(sim.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const noPw = await cli(['--host', sim.url, 'backup']);
      expect(noPw.code).toBe(1);
      expect(noPw.stderr).toMatch(/No password/);
      const bad = await cli(['--host', sim.url, 'backup'], { XSDR_PASSWORD: 'Zq9-bad-secret' });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('SESSION_AUTHENTICATION_FAILED');
      expect(bad.stdout + bad.stderr).not.toContain('Zq9-bad-secret');

      const pwFile = join(dir, 'pw');
      await writeFile(pwFile, 'demo\n', { mode: 0o600 });
      const b = await cli(['--host', sim.url, '--sim-dom0', state, '--password-file', pwFile, 'backup', '--json']);
      expect(b.code).toBe(0);
      const report = JSON.parse(b.stdout) as { vdi: { uuid: string; created: boolean }; date: string; access: string };
      expect(report.vdi.created).toBe(true);
      // This process was told (here, not by the host) that it plays the simulated pool's dom0.
      expect(report.access).toBe('attach');

      const l = await cli(['--host', sim.url, '--sim-dom0', state, 'list', '--json'], { XSDR_PASSWORD: 'demo' });
      expect(JSON.parse(l.stdout).backups[0].date).toBe(report.date);
      expect(await stop(sim.proc)).toBe(0);

      const again = await startSim(['--state', state]);
      try {
        const p = await cli(['--host', again.url, '--sim-dom0', state, 'probe'], { XSDR_PASSWORD: 'demo' });
        expect(p.stdout.trim()).toBe(report.vdi.uuid);
        const noCreate = await cli(['--host', again.url, 'backup', '--sr', '00000000-0000-4000-8000-000000000000'], { XSDR_PASSWORD: 'demo' });
        expect(noCreate.code).toBe(1);
        expect(noCreate.stderr).toMatch(/Invalid SR UUID/);
      } finally {
        await stop(again.proc);
      }
    } finally {
      if (sim.proc.exitCode === null) await stop(sim.proc);
    }
  });

  it('exits 3 when there is no backup VDI and creation is off, like xe-backup-metadata', async () => {
    const sim = await startSim(['--state', join(dir, 'nocreate'), '--vms', '1']);
    try {
      const r = await cli(['--host', sim.url, 'backup', '--no-create'], { XSDR_PASSWORD: 'demo' });
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/No backup VDI/);
    } finally {
      await stop(sim.proc);
    }
  });

  it('over HTTPS: refuses a self-signed certificate, accepts it pinned by fingerprint', async () => {
    const sim = await startSim(['--state', join(dir, 'tls'), '--vms', '1', '--tls']);
    try {
      expect(sim.url).toMatch(/^https:/);
      const fp = sim.lines.find((l) => l.startsWith('certificate SHA-256: '))!.slice('certificate SHA-256: '.length);
      const refused = await cli(['--host', sim.url, 'probe'], { XSDR_PASSWORD: 'demo' });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/certificate/i);
      const pinned = await cli(['--host', sim.url, '--fingerprint', fp, 'probe'], { XSDR_PASSWORD: 'demo' });
      expect(pinned.code).toBe(0);
      const wrong = await cli(['--host', sim.url, '--fingerprint', fp.replace(/^../, fp.startsWith('00') ? '11' : '00'), 'probe'], { XSDR_PASSWORD: 'demo' });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/fingerprint/i);
    } finally {
      await stop(sim.proc);
    }
  });
});
