import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AbortError, Connector, RpcClient, TransportError, XenApiError } from '../../src/xenapi/index.js';
import { Dbl, startFake, type FakeXapi } from './xenapi-fixture.js';

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const x of open.splice(0)) await x.close();
});

async function fake(): Promise<FakeXapi> {
  const f = await startFake();
  open.push(f);
  return f;
}

function client(url: string, opts: { timeoutMs?: number; maxResponseBytes?: number; socketPath?: string } = {}): RpcClient {
  const connector = new Connector(opts.socketPath ? { socketPath: opts.socketPath } : {});
  open.push(connector);
  return new RpcClient(url, { connector, ...opts });
}

/** A raw HTTP server whose handler the test controls completely. */
async function rawServer(handler: http.RequestListener): Promise<{ url: string; server: http.Server }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  open.push({ close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server };
}

describe('XML-RPC envelope', () => {
  it('Success → Value, with XAPI bare strings, int64 text, doubles and booleans', async () => {
    const f = await fake();
    f.methods.set('VDI.get_record', () => ({ value: { uuid: 'u-1', virtual_size: '524288000', physical_utilisation: '4096', sharable: false, progress: new Dbl(0.5) } }));
    f.sessions.add('OpaqueRef:s');
    const rec = await client(f.url).call('VDI.get_record', ['OpaqueRef:s', 'OpaqueRef:v']);
    expect(rec).toEqual({ uuid: 'u-1', virtual_size: '524288000', physical_utilisation: '4096', sharable: false, progress: 0.5 });
  });

  it('Failure → XenApiError with code, params and method (composed HOST_IS_SLAVE bytes)', async () => {
    const f = await fake();
    f.methods.set('session.login_with_password', () => ({ fault: ['HOST_IS_SLAVE', '192.0.2.10'] }));
    const err = await client(f.url).call('session.login_with_password', ['root', 'pw', '1.0', 'x']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(XenApiError);
    expect(err).toMatchObject({ code: 'HOST_IS_SLAVE', params: ['192.0.2.10'], method: 'session.login_with_password' });
  });

  it('puts integers on the wire as decimal strings', async () => {
    const f = await fake();
    f.sessions.add('OpaqueRef:s');
    f.methods.set('VDI.resize', () => ({ value: '' }));
    await client(f.url).call('VDI.resize', ['OpaqueRef:s', 'OpaqueRef:v', 1073741824, 2n ** 62n]);
    const call = f.callsOf('VDI.resize')[0]!;
    expect(call.params[2]).toEqual({ t: 'string', v: '1073741824' });
    expect(call.params[3]).toEqual({ t: 'string', v: String(2n ** 62n) });
    expect(call.raw).not.toMatch(/<(int|i4|i8)>/);
  });

  it('an unparseable request gets XAPI\'s HTML 500 → TransportError http-status', async () => {
    const { url } = await rawServer((_req, res) => {
      res.writeHead(500, { 'content-type': 'text/html' }).end('<html><body>HTTP 500 internal server error</body></html>');
    });
    const err = await client(url).call('x.y', []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(err).toMatchObject({ kind: 'http-status', status: 500 });
  });

  it('a 200 that is not XML-RPC → TransportError protocol', async () => {
    const { url } = await rawServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":1}'));
    expect(await client(url).call('x.y', []).catch((e: unknown) => e)).toMatchObject({ kind: 'protocol' });
  });

  it('a response without Status → TransportError protocol', async () => {
    const { url } = await rawServer((_req, res) =>
      res.end('<?xml version="1.0"?><methodResponse><params><param><value>plain</value></param></params></methodResponse>'),
    );
    expect(await client(url).call('x.y', []).catch((e: unknown) => e)).toMatchObject({ kind: 'protocol' });
  });
});

describe('transport failures', () => {
  it('ECONNREFUSED → connection-refused', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const err = await client(`http://127.0.0.1:${port}/`).call('x.y', []).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'TransportError', kind: 'connection-refused' });
  });

  it('a server that never answers → timeout after the per-call deadline', async () => {
    let seen = 0;
    const { url } = await rawServer(() => {
      seen++; // never respond
    });
    const c = client(url, { timeoutMs: 5_000 });
    const err = await c.call('x.y', [], { timeoutMs: 150 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'timeout' });
    expect(seen).toBe(1);
  });

  it('a server that drops the connection → connection-reset', async () => {
    const { url } = await rawServer((req) => req.socket.destroy());
    expect(await client(url).call('x.y', []).catch((e: unknown) => e)).toMatchObject({ kind: 'connection-reset' });
  });

  it('AbortSignal destroys the request and rejects with AbortError', async () => {
    let reqClosed = false;
    const ac = new AbortController();
    const { url } = await rawServer((req) => {
      req.socket.once('close', () => (reqClosed = true));
      ac.abort();
    });
    const err = await client(url).call('x.y', [], { signal: ac.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    await new Promise<void>((resolve) => {
      const check = () => (reqClosed ? resolve() : setImmediate(check));
      check();
    });
  });

  it('an already-aborted signal sends nothing', async () => {
    const f = await fake();
    const err = await client(f.url).call('x.y', [], { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(f.httpRequests).toHaveLength(0);
  });

  it('refuses an answer larger than the limit', async () => {
    const f = await fake();
    f.sessions.add('OpaqueRef:s');
    f.methods.set('VM.get_all', () => ({ value: Array.from({ length: 2000 }, (_, i) => `OpaqueRef:vm-${i}`) }));
    const err = await client(f.url, { maxResponseBytes: 4096 }).call('VM.get_all', ['OpaqueRef:s']).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'too-large' });
  });

  it('keep-alive: consecutive calls reuse one connection', async () => {
    const f = await fake();
    f.sessions.add('OpaqueRef:s');
    f.methods.set('pool.get_all', () => ({ value: ['OpaqueRef:p'] }));
    let connections = 0;
    f.server.on('connection', () => connections++);
    const c = client(f.url);
    for (let i = 0; i < 5; i++) expect(await c.call('pool.get_all', ['OpaqueRef:s'])).toEqual(['OpaqueRef:p']);
    expect(connections).toBe(1);
  });
});

describe('Unix socket transport', () => {
  it('talks XML-RPC over a socket path (XAPI local /var/lib/xcp/xapi style)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xenapi-sock-'));
    const sock = path.join(dir, 'xapi');
    const f = await startFake({ socketPath: sock });
    open.push(f);
    open.push({ close: () => fs.rmSync(dir, { recursive: true, force: true }) });
    const ref = await client('http://localhost/', { socketPath: sock }).call('session.login_with_password', ['root', 'secret-pw', '1.0', 'o']);
    expect(String(ref)).toMatch(/^OpaqueRef:/);
    expect(f.calls).toHaveLength(1);
  });
});
