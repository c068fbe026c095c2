/**
 * The single-file bundle an operator copies to a host: built by scripts/bundle.mjs, copied
 * alone into an empty folder with no node_modules anywhere above it, then run: --version,
 * --help of every command, and a backup (ext2fs WebAssembly included) against a simulated
 * pool served by the same file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT, runCli, simVdiImage, startSim, stopSim, type SimProcess } from './commands-helpers.js';

let dir: string;
let app: string;
let bundle: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xsdr-bundle-'));
  app = join(dir, 'host', 'opt');
  await mkdir(app, { recursive: true });
  bundle = join(app, 'xsconsole-dr.mjs');
  await new Promise<void>((ok, fail) => {
    execFile(process.execPath, [join(ROOT, 'scripts/bundle.mjs'), '--out', bundle], { timeout: 60_000 }, (err, _out, stderr) => (err ? fail(new Error(`bundle failed: ${stderr}`)) : ok()));
  });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the bundle from its own folder, with nothing else to resolve modules from. */
const run = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(bundle, args, { cwd: app, env: { NODE_PATH: '', ...env } });

describe('the bundle', () => {
  it('is one executable file that imports nothing but Node built-ins, with the ext2fs WebAssembly inside', async () => {
    expect(await readdir(app)).toEqual(['xsconsole-dr.mjs']);
    for (let d = app; ; d = dirname(d)) {
      expect(existsSync(join(d, 'node_modules'))).toBe(false);
      if (dirname(d) === d) break;
    }
    const text = await readFile(bundle, 'utf8');
    expect(text.startsWith('#!/usr/bin/env node\n')).toBe(true);
    const imported = [...text.matchAll(/^import\s[^;]*?\sfrom\s*["']([^"']+)["']/gm)].map((m) => m[1]!);
    const required = [...text.matchAll(/__require\("([^"]+)"\)/g)].map((m) => m[1]!);
    expect(imported.length).toBeGreaterThan(0);
    // ws (via Ink) tries two optional native speed-ups inside try/catch; nothing else may be outside.
    const optional = new Set(['bufferutil', 'utf-8-validate']);
    expect([...imported, ...required].filter((m) => !isBuiltin(m) && !optional.has(m))).toEqual([]);
    // The WebAssembly binary ("\0asm" = AGFzbQ in base64) travels as a data URI in the JS.
    expect(text).toMatch(/data:application\/octet-stream;base64,AGFzbQ/);
  });

  it('prints the version of package.json and --help for every command', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const version = await run(['--version']);
    expect(version).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
    const root = await run(['--help']);
    expect(root.code).toBe(0);
    const commands = [['sim'], ['backup'], ['probe'], ['list'], ['preflight'], ['restore'], ['schedule', 'get'], ['schedule', 'set'], ['export'], ['import'], ['inspect']];
    for (const c of commands) expect(root.stdout).toContain(c[0]);
    const helps = await Promise.all(commands.map((c) => run([...c, '--help'])));
    for (const h of helps) {
      expect(h.code).toBe(0);
      expect(h.stdout).toMatch(/^Usage: xsconsole-dr /);
    }
  });

  it('serves a simulated pool and backs it up, lists and inspects the result', async () => {
    const pw = join(dir, 'pw');
    await writeFile(pw, 'demo\n', { mode: 0o600 });
    let sim: SimProcess | undefined;
    try {
      sim = await startSim(bundle, ['--state', join(dir, 'state'), '--vms', '2'], { cwd: app });
      const b = await run(['--host', sim.url, '--sim-dom0', sim.state, '--password-file', pw, 'backup', '--json']);
      expect(b.code).toBe(0);
      const report = JSON.parse(b.stdout) as { date: string; vdi: { uuid: string; created: boolean }; sr: { uuid: string }; vmsExported: number };
      expect(report.vdi.created).toBe(true);
      expect(report.vmsExported).toBe(2);

      const l = await run(['--host', sim.url, '--sim-dom0', sim.state, '--password-file', pw, 'list', '--json']);
      expect(l.code).toBe(0);
      expect((JSON.parse(l.stdout) as { backups: Array<{ date: string }> }).backups[0]!.date).toBe(report.date);

      const i = await run(['inspect', simVdiImage(sim.state, report.sr.uuid, report.vdi.uuid), '--json']);
      expect(i.code).toBe(0);
      expect((JSON.parse(i.stdout) as { backups: Array<{ date: string }> }).backups.map((x) => x.date)).toEqual([report.date]);
    } finally {
      await stopSim(sim);
    }
  });
});
