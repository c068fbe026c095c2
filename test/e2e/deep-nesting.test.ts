/**
 * A host answering with values nested hundreds of thousands deep: the built CLI ends with a
 * clear message naming the nesting, never "Maximum call stack size exceeded" (which is what
 * printing such a decoded value did).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DIST_CLI, runCli } from './commands-helpers.js';

const DEPTH = 200_000;
const deep = `${'<value><array><data>'.repeat(DEPTH)}<value>x</value>${'</data></array></value>'.repeat(DEPTH)}`;
const answers = {
  failure: `<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name>${deep}</member></struct></value></param></params></methodResponse>`,
  success: `<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name>${deep}</member></struct></value></param></params></methodResponse>`,
};

let server: Server;
let url: string;
let answer: keyof typeof answers = 'failure';

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const body = Buffer.from(answers[answer]);
      res.writeHead(200, { 'content-type': 'text/xml', 'content-length': body.length });
      res.end(body);
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((ok) => server.close(() => ok()));
});

describe('a deeply nested answer', () => {
  for (const kind of ['failure', 'success'] as const) {
    it(`(${kind}) ends with a clear message about the nesting`, async () => {
      answer = kind;
      for (const json of [false, true]) {
        const r = await runCli(DIST_CLI, ['--host', url, 'probe', ...(json ? ['--json'] : [])], { env: { XSDR_PASSWORD: 'x' } });
        expect(r.code).toBe(1);
        const out = `${r.stdout}${r.stderr}`;
        expect(out).not.toMatch(/Maximum call stack/);
        expect(out).toMatch(/values nested more than 64 deep/);
      }
    });
  }
});
