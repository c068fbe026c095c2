/**
 * TLS as the operator meets it, through the built CLI against an https front (a self-signed
 * certificate, like a fresh XenServer) in front of a real simulated pool:
 *  - after --fingerprint pinning, a handler that redirects to plain http gets nothing sent
 *    there (the plain server sees no connection at all: no session id, no task id, no upload),
 *    and the operator is told where it pointed and what to do;
 *  - --insecure prints its warning on stderr for every command that talks to a pool (text and
 *    --json alike; stdout stays one JSON document).
 *
 * `npm test` builds dist/ first; run `npm run build` before running this file alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemoSimulator, type SimHandle } from '../../src/sim/index.js';
import { loopbackCertificate } from '../helpers/loopback-cert.js';
import { failureAnswer, startCountingServer, startHostileFront, type HostileFront } from '../helpers/hostile-front.js';
import { DIST_CLI, runCli, type Run } from './commands-helpers.js';

const PASSWORD = 'tls-test-password';
const HANDLERS = ['/export_metadata', '/import_metadata', '/export_raw_vdi', '/import_raw_vdi', '/pool/xmldbdump'];

let dir: string;
let sim: SimHandle;
let front: HostileFront;
let fingerprint: string;

const cli = (...args: string[]): Promise<Run> =>
  runCli(DIST_CLI, ['--host', front.url, ...args], { env: { XSDR_PASSWORD: PASSWORD, XSDR_CACHE_DIR: join(dir, 'cache') } });

beforeAll(async () => {
  if (!existsSync(DIST_CLI)) throw new Error('dist/ is missing: run `npm run build` first (npm test does).');
  dir = await mkdtemp(join(tmpdir(), 'xsdr-tls-'));
  const tls = await loopbackCertificate();
  fingerprint = tls.fingerprint;
  sim = await startDemoSimulator({ stateDir: join(dir, 'state'), vms: 2, rootPassword: PASSWORD, authDelayMs: 0 });
  front = await startHostileFront(sim.url, { tls });
}, 60_000);

afterAll(async () => {
  await front?.close();
  await sim?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a pinned pool whose handlers redirect to plain http', () => {
  it('sends nothing to the plain http server, and says where the redirect pointed and what to do', async () => {
    const plain = await startCountingServer();
    for (const path of HANDLERS) {
      front.handlers.set(path, (req, res, url) => {
        req.resume();
        res.writeHead(302, { location: `http://127.0.0.1:${plain.port}${url.pathname}${url.search}`, connection: 'close' }).end();
      });
    }
    try {
      const r = await cli('--fingerprint', fingerprint, 'backup', '--access', 'remote');
      expect(r.code).not.toBe(0);
      const out = r.stdout + r.stderr;
      expect(out).toMatch(new RegExp(`redirected the transfer to http://127\\.0\\.0\\.1:${plain.port}/[a-z_/]+, from https to plain http \\(unencrypted and unverified\\): not followed, nothing was sent there`));
      expect(out).toMatch(/run the command against it \(--host https:\/\/127\.0\.0\.1:\d+ with its certificate verified or pinned\)/);
      expect(out).not.toMatch(/OpaqueRef:/); // no session or task id in what is printed
      expect(plain.connections()).toBe(0);
      expect(plain.requests()).toBe(0);
    } finally {
      front.handlers.clear();
      await plain.close();
    }
  });
});

describe('--insecure', () => {
  it('prints its warning on stderr, for text and --json output, and the JSON stays clean', async () => {
    const [text, json] = await Promise.all([cli('--insecure', 'probe'), cli('--insecure', 'probe', '--json')]);
    for (const r of [text, json]) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/^Warning: TLS certificate verification is OFF: anyone on the network path could impersonate the host and capture the password\.$/m);
      expect(r.stdout).not.toMatch(/verification is OFF/);
    }
    expect(() => JSON.parse(json.stdout)).not.toThrow();
  });

  it('the scheduled runner prints it too; a pinned or verified connection prints none', async () => {
    const state = join(dir, 'sched');
    // The run itself may fail (quickly, here): the warning comes first, at connection.
    front.rpc.set('pool.get_default_SR', (res) => res.writeHead(200, { 'content-type': 'text/xml' }).end(failureAnswer(['INTERNAL_ERROR', 'no default SR today'])));
    try {
      const scheduled = await cli('--insecure', 'backup', '--scheduled', '--access', 'remote', '--state-dir', state, '--pool-conf', join(dir, 'none'));
      expect(scheduled.code, scheduled.stderr).toBe(0);
      expect(scheduled.stderr).toMatch(/^Warning: TLS certificate verification is OFF/m);
    } finally {
      front.rpc.clear();
    }
    const pinned = await cli('--fingerprint', fingerprint, 'probe');
    expect(pinned.code, pinned.stderr).toBe(0);
    expect(pinned.stderr).not.toMatch(/verification is OFF/);
  });
});
