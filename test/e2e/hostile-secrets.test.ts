/**
 * A host that echoes the password: the built CLI, run as an operator runs it (its own
 * process, XSDR_PASSWORD in its environment), against a hostile front in front of a real
 * simulated pool. Whatever the host sends back — a fault string, an HTTP 500's status line and
 * page, an object named with it — neither the text output, nor --json, nor the scheduled runner's result file, nor the
 * syslog line holds the password; and no child program (mkfs.ext3, e2fsck, logger: fakes
 * earlier on PATH that record what they were given) sees XSDR_PASSWORD or the password.
 *
 * `npm test` builds dist/ first; run `npm run build` before running this file alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemoSimulator, type SimHandle } from '../../src/sim/index.js';
import { failureAnswer, startHostileFront, type HostileFront } from '../helpers/hostile-front.js';
import { DIST_CLI, SBIN_PATH, runCli, type Run } from './commands-helpers.js';

/** Long enough to be removed wherever it occurs; with characters that escape differently. */
const SECRET = 'Pw-9f3kQ!x7Z&<k>';

let dir: string;
let tools: string;
let dumps: string;
let sim: SimHandle;
let front: HostileFront;

/** A tool that writes its arguments and environment to `dumps`, then runs the real one (if any). */
async function fakeTool(name: string, real: string | null): Promise<void> {
  const script = `#!/bin/sh\n{ printf 'ARGS:'; printf ' %s' "$@"; printf '\\n'; env; } > "${dumps}/${name}.$$"\n${real ? `exec "${real}" "$@"\n` : 'exit 0\n'}`;
  await writeFile(join(tools, name), script);
  await chmod(join(tools, name), 0o755);
}

function which(tool: string): string {
  return execFileSync('sh', ['-c', `command -v ${tool}`], { env: { ...process.env, PATH: SBIN_PATH } }).toString().trim();
}

const cli = (...args: string[]): Promise<Run> =>
  runCli(DIST_CLI, ['--host', front.url, ...args], {
    env: { PATH: `${tools}:${SBIN_PATH}`, XSDR_PASSWORD: SECRET, XSDR_CACHE_DIR: join(dir, 'cache') },
  });

async function allDumps(): Promise<Array<{ name: string; text: string }>> {
  const names = await readdir(dumps);
  return Promise.all(names.map(async (name) => ({ name, text: await readFile(join(dumps, name), 'utf8') })));
}

beforeAll(async () => {
  if (!existsSync(DIST_CLI)) throw new Error('dist/ is missing: run `npm run build` first (npm test does).');
  dir = await mkdtemp(join(tmpdir(), 'xsdr-secrets-'));
  tools = join(dir, 'tools');
  dumps = join(dir, 'dumps');
  await Promise.all([mkdir(tools), mkdir(dumps)]);
  await fakeTool('mkfs.ext3', which('mkfs.ext3'));
  await fakeTool('e2fsck', which('e2fsck'));
  await fakeTool('logger', null);
  sim = await startDemoSimulator({ stateDir: join(dir, 'state'), vms: 3, rootPassword: SECRET, authDelayMs: 0 });
  front = await startHostileFront(sim.url);
}, 60_000);

afterAll(async () => {
  await front?.close();
  await sim?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function mkdir(path: string): Promise<void> {
  await (await import('node:fs/promises')).mkdir(path, { recursive: true });
}

function expectNoSecret(what: string, text: string): void {
  expect(text, what).not.toContain(SECRET);
  // Nor any part a host could have sent escaped.
  expect(text, what).not.toContain('Pw-9f3kQ');
}

describe('the password never leaves the program', () => {
  it('child programs of a backup (mkfs.ext3, e2fsck) get no XSDR_PASSWORD and no password', async () => {
    // A new VDI is formatted (mkfs.ext3); attached as the simulated pool's dom0 (told so on
    // this side), it is checked with e2fsck -p before it is written, as stock does.
    const r = await cli('backup', '--access', 'remote');
    expect(r.code, r.stderr).toBe(0);
    const attached = await cli('--sim-dom0', join(dir, 'state'), 'backup', '--access', 'attach');
    expect(attached.code, attached.stderr).toBe(0);
    const seen = await allDumps();
    const names = seen.map((d) => d.name.replace(/\.\d+$/, ''));
    expect(names).toContain('mkfs.ext3');
    expect(names).toContain('e2fsck');
    for (const d of seen) {
      expect(d.text, d.name).toMatch(/^PATH=/m); // a real environment was recorded
      expect(d.text, d.name).not.toMatch(/^XSDR_PASSWORD=/m);
      expectNoSecret(d.name, d.text);
    }
  });

  it('a fault echoing the password is printed without it, as text and as --json', async () => {
    front.rpc.set('pool.get_all_records', (res) => {
      res.writeHead(200, { 'content-type': 'text/xml' }).end(failureAnswer(['INTERNAL_ERROR', `login root/${SECRET} is not allowed to read the pool`, SECRET]));
    });
    try {
      // One at a time: each opens the backup VDI.
      const text = await cli('backup', '--access', 'remote');
      const json = await cli('backup', '--access', 'remote', '--json');
      expect(text.code).toBe(1);
      expect(text.stderr).toMatch(/^Error: INTERNAL_ERROR: .*XAPI hit an internal error: login root\/\[redacted\] is not allowed to read the pool/m);
      expectNoSecret('text output', text.stdout + text.stderr);
      expect(json.code).toBe(1);
      const report = JSON.parse(json.stdout) as { error: { code: string; meaning: string } };
      expect(report.error.code).toBe('INTERNAL_ERROR');
      expect(report.error.meaning).toContain('[redacted]');
      expectNoSecret('--json output', json.stdout + json.stderr);
    } finally {
      front.rpc.clear();
    }
  });

  it("an HTTP 500 whose status line and page echo the password: the page's text is shown, the password is not", async () => {
    front.handlers.set('/export_metadata', (req, res) => {
      req.resume();
      res.writeHead(500, `Rejected ${SECRET}`, { 'content-type': 'text/html', connection: 'close' });
      res.end(`<html><body><h1>Internal error</h1><p>session of root:${SECRET.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')} expired</p></body></html>`);
    });
    try {
      const text = await cli('backup', '--access', 'remote');
      const json = await cli('backup', '--access', 'remote', '--json');
      expect(text.code, text.stderr).toBe(4); // done, every VM export failed
      expect(text.stdout).toMatch(/HTTP 500 Rejected \[redacted\]: Internal error session of root:\[redacted\] expired/);
      expectNoSecret('text output', text.stdout + text.stderr);
      expect(json.code).toBe(4);
      const report = JSON.parse(json.stdout) as { failures: Array<{ message: string }> };
      expect(report.failures.length).toBeGreaterThan(0);
      expect(report.failures[0]!.message).toContain('[redacted]');
      expectNoSecret('--json output', json.stdout + json.stderr);
    } finally {
      front.handlers.clear();
    }
  });

  it('a pool object named with the password (the host learnt it at login) is shown without it, as text and as --json', async () => {
    const NAME = 'NFS virtual disk storage';
    const [srRef] = [...sim.db.allRecords('SR')].find(([, r]) => r.name_label === NAME)!;
    sim.db.update('SR', srRef, { name_label: `NFS ${SECRET}` });
    try {
      const text = await cli('backup', '--access', 'remote');
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout).toMatch(/^Using SR: NFS \[redacted\] \(/m);
      expectNoSecret('text output', text.stdout + text.stderr);
      const json = await cli('backup', '--access', 'remote', '--json');
      expect(json.code, json.stderr).toBe(0);
      expect((JSON.parse(json.stdout) as { sr: { name: string } }).sr.name).toBe('NFS [redacted]');
      expectNoSecret('--json output', json.stdout + json.stderr);
    } finally {
      sim.db.update('SR', srRef, { name_label: NAME });
    }
  });

  it("the scheduled runner's result file and syslog line hold no password, and logger gets no XSDR_PASSWORD", async () => {
    front.rpc.set('pool.get_default_SR', (res) => {
      res.writeHead(200, { 'content-type': 'text/xml' }).end(failureAnswer(['SESSION_AUTHENTICATION_FAILED', 'root', `password ${SECRET} expired`]));
    });
    const state = join(dir, 'sched-state');
    try {
      const r = await cli('backup', '--scheduled', '--access', 'remote', '--state-dir', state, '--pool-conf', join(dir, 'no-pool.conf'));
      expect(r.code, r.stderr).toBe(0); // the cron job itself never fails
      const file = await readFile(join(state, 'last-scheduled-backup.json'), 'utf8');
      const result = JSON.parse(file) as { status: string; error: { meaning: string } };
      expect(result.status).toBe('failed');
      expect(result.error.meaning).toContain('[redacted]');
      expectNoSecret('last-scheduled-backup.json', file);
      expectNoSecret('runner output', r.stdout + r.stderr);
      const logged = (await allDumps()).filter((d) => d.name.startsWith('logger.'));
      expect(logged.some((d) => d.text.includes('ALERT exited abnormally with [1]'))).toBe(true);
      for (const d of logged) {
        expect(d.text, d.name).not.toMatch(/^XSDR_PASSWORD=/m);
        expectNoSecret(d.name, d.text);
      }
    } finally {
      front.rpc.clear();
    }
  });
});
