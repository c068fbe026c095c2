/**
 * Crafted answers cannot take a command past its memory bound. The built CLI (the bundle an
 * operator installs, in a process of its own) talks to hostile hosts on loopback: a login
 * answered by a string that never ends, or by a struct of members that never ends; a backup
 * whose bulk reads all answer endless strings at once; a backup whose every metadata export
 * (eight at a time) never ends. Each is refused with a clear error, and the client's peak RSS
 * (read from the process itself: bench/report-rss.mjs, preloaded) stays under 300 MB.
 *
 * What holds it: a 64 MiB limit per XML-RPC answer (rpc.ts), 16 MiB per metadata export
 * (http.ts), and the 16 MiB budget shared by the answers held in memory at once
 * (answer-budget.ts). Before them a 256 MB string took the CLI to about 335 MB and a struct of
 * millions of members to about 580 MB; measured after: 133, 194, 225 and 172 MB for the four
 * cases below.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemoSimulator, type SimHandle } from '../../src/sim/index.js';
import { buildBundle, runMeasuringRss } from './commands-helpers.js';
import { SUCCESS_OPEN, endless, startHostileFront, type HostileFront } from '../helpers/hostile-front.js';

const BOUND_MB = 300;
const PASSWORD = 'memory-test-password';

/** Runs the bundle against `host`; its exit code, output and peak RSS in MB. */
async function runMeasured(host: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = await runMeasuringRss(bundle, ['--host', host, ...args], { XSDR_PASSWORD: PASSWORD, ...env });
  return { ...r, peakMb: r.peakKb / 1024 };
}

/** A "host" answering every XML-RPC call with `answer` (a login never gets past it). */
async function answeringAll(answer: (res: http.ServerResponse) => void): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => answer(res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const STRING_PIECE = 'A'.repeat(64 * 1024);
let memberSeq = 0;
const membersPiece = () => {
  let s = '';
  for (let i = 0; i < 1000; i++) s += `<member><name>k${memberSeq++}</name><value>v</value></member>`;
  return s;
};

let dir: string;
let bundle: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xsdr-hostile-mem-'));
  bundle = buildBundle(dir);
}, 90_000);
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a login answered without end', () => {
  it.each([
    ['a string', (res: http.ServerResponse) => endless(res, `${SUCCESS_OPEN}<string>`, () => STRING_PIECE)],
    ['a struct of members', (res: http.ServerResponse) => endless(res, `${SUCCESS_OPEN}<struct>`, membersPiece)],
  ])(`by %s: refused as too large, peak RSS under ${BOUND_MB} MB`, async (_what, answer) => {
    const host = await answeringAll(answer);
    try {
      const r = await runMeasured(host.url, ['probe', '--json']);
      expect(r.code, r.stderr).toBe(1);
      const out = JSON.parse(r.stdout) as { error: { code: string; meaning: string } };
      expect(out.error.code).toBe('TRANSPORT_TOO_LARGE');
      expect(out.error.meaning).toMatch(/exceeds 67108864 bytes/);
      expect(r.peakMb, `peak RSS ${r.peakMb.toFixed(0)} MB`).toBeLessThan(BOUND_MB);
    } finally {
      await host.close();
    }
  }, 120_000);
});

describe('a pool whose answers never end, many at once', () => {
  let sim: SimHandle;
  let front: HostileFront;

  beforeAll(async () => {
    sim = await startDemoSimulator({ stateDir: join(dir, 'state'), vms: 8, rootPassword: PASSWORD, authDelayMs: 0 });
    front = await startHostileFront(sim.url);
  }, 60_000);
  afterAll(async () => {
    await front?.close();
    await sim?.stop();
  });

  it(`a backup whose bulk reads all answer endless strings: refused, peak RSS under ${BOUND_MB} MB`, async () => {
    const bulk = ['VM.get_all_records', 'VBD.get_all_records', 'VDI.get_all_records'];
    for (const m of bulk) front.rpc.set(m, (res) => endless(res, `${SUCCESS_OPEN}<string>`, () => STRING_PIECE));
    try {
      const r = await runMeasured(front.url, ['backup', '--access', 'remote', '--json'], { XSDR_CACHE_DIR: join(dir, 'cache') });
      expect(r.code, r.stderr).toBe(1);
      expect((JSON.parse(r.stdout) as { error: { code: string } }).error.code).toBe('TRANSPORT_TOO_LARGE');
      for (const m of bulk) expect(front.methods).toContain(m); // read side by side
      expect(r.peakMb, `peak RSS ${r.peakMb.toFixed(0)} MB`).toBeLessThan(BOUND_MB);
    } finally {
      front.rpc.clear();
    }
  }, 180_000);

  it(`a backup whose every metadata export (8 at a time) never ends: each VM fails as too large, peak RSS under ${BOUND_MB} MB`, async () => {
    const chunk = Buffer.alloc(256 * 1024, 0x41);
    front.handlers.set('/export_metadata', (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/octet-stream', connection: 'close' });
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) {
          /* for ever */
        }
      };
      res.on('drain', pump);
      pump();
    });
    try {
      const r = await runMeasured(front.url, ['backup', '--access', 'remote', '--concurrency', '8', '--json'], { XSDR_CACHE_DIR: join(dir, 'cache') });
      expect(r.code, r.stderr).toBe(4); // done, the exports failed
      const report = JSON.parse(r.stdout) as { failures: Array<{ code: string }> };
      expect(report.failures.length).toBeGreaterThanOrEqual(8);
      expect(new Set(report.failures.map((f) => f.code))).toEqual(new Set(['TRANSPORT_TOO_LARGE']));
      expect(r.peakMb, `peak RSS ${r.peakMb.toFixed(0)} MB`).toBeLessThan(BOUND_MB);
    } finally {
      front.handlers.clear();
    }
  }, 180_000);
});
