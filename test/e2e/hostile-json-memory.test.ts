/**
 * JSON-RPC answers cannot take a command past its memory bound either. `JSON.parse` needs the
 * whole text, so the JSON reader holds it; what bounds it is the 64 MiB limit per answer (its
 * bytes) and the estimate of what it would take parsed (src/xenapi/jsonrpc-codec.ts), checked
 * as it arrives. The built CLI, with --transport json-rpc, logs in to a "host" answering
 * without end: a string, a string of two-byte characters (held as UTF-16), a run of empty
 * objects (3 bytes of text for a 64-byte object). Each is refused as too large, and the
 * client's peak RSS (bench/report-rss.mjs, preloaded) stays under 300 MB: measured 134, 120
 * and 67 MB.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBundle, runMeasuringRss } from './commands-helpers.js';
import { endless } from '../helpers/hostile-front.js';

const BOUND_MB = 300;

let dir: string;
let bundle: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xsdr-hostile-json-'));
  bundle = buildBundle(dir);
}, 90_000);
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A "host" answering every call on /jsonrpc with an endless JSON answer. */
async function answeringJson(head: string, piece: () => string): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const writeHead = res.writeHead.bind(res);
      res.writeHead = ((status: number) => writeHead(status, { 'content-type': 'application/json' })) as typeof res.writeHead;
      endless(res, head, piece);
    });
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

describe('a JSON-RPC login answered without end', () => {
  it.each([
    ['a string', '{"jsonrpc":"2.0","result":"', () => 'A'.repeat(64 * 1024), /exceeds 67108864 bytes|more than 67108864 bytes of memory/],
    ['a string of two-byte characters', '{"jsonrpc":"2.0","result":"', () => '\u00e9\u4e2d'.repeat(16 * 1024), /exceeds 67108864 bytes|more than 67108864 bytes of memory/],
    ['a run of empty objects', '{"jsonrpc":"2.0","result":[', () => '{},'.repeat(20_000), /more than 67108864 bytes of memory once parsed/],
  ] as const)(`by %s: refused as too large, peak RSS under ${BOUND_MB} MB`, async (_what, head, piece, meaning) => {
    const host = await answeringJson(head, piece);
    try {
      const r = await runMeasuringRss(bundle, ['--host', host.url, '--transport', 'json-rpc', 'probe', '--json'], { XSDR_PASSWORD: 'json-memory-test' });
      expect(r.code, r.stderr).toBe(1);
      const out = JSON.parse(r.stdout) as { error: { code: string; meaning: string } };
      expect(out.error.code).toBe('TRANSPORT_TOO_LARGE');
      expect(out.error.meaning + JSON.stringify(out.error)).toMatch(meaning);
      const peakMb = r.peakKb / 1024;
      expect(peakMb, `peak RSS ${peakMb.toFixed(0)} MB`).toBeLessThan(BOUND_MB);
    } finally {
      await host.close();
    }
  }, 120_000);
});
