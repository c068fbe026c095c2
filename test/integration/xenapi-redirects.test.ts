/**
 * A handler's redirect is followed only to an origin verified like the first one. Hostile
 * handlers on loopback redirect downloads and a 650 kB upload off the verified origin (https to
 * plain http, another host over plain http, another https host whose certificate does not
 * match the pin, a file: URL, away from the local socket): the place pointed to receives
 * nothing at all, not even a connection (or, for the TLS case, no HTTP byte), and the error
 * says where it pointed and what to do.
 */
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generate } from 'selfsigned';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Session, TransportError, exportMetadata, importMetadata, type TlsOptions } from '../../src/xenapi/index.js';
import { explainError } from '../../src/failure/index.js';
import { startFake, type FakeXapi } from './xenapi-fixture.js';

let host: { key: string; cert: string; fp: string };
let other: { key: string; cert: string; fp: string };

async function makeCert(cn: string, ip: string) {
  const pems = await generate([{ name: 'commonName', value: cn }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip }] }],
  });
  return { key: pems.private, cert: pems.cert, fp: new X509Certificate(pems.cert).fingerprint256 };
}

beforeAll(async () => {
  [host, other] = await Promise.all([makeCert('xs-host', '127.0.0.1'), makeCert('member', '127.0.0.2')]);
});

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** A fake that counts TCP connections apart from HTTP requests. */
async function counted(opts: Parameters<typeof startFake>[0] = {}) {
  const f = await startFake(opts);
  cleanup.push(() => f.close());
  let connections = 0;
  f.server.on('connection', () => connections++);
  return Object.assign(f, { connections: () => connections });
}

async function login(f: FakeXapi, tls?: TlsOptions, socketPath?: string) {
  const where = socketPath ? { socketPath } : { url: f.url };
  const s = await Session.login({ ...where, user: 'root', password: 'secret-pw', ...(tls && { tls }) });
  cleanup.push(() => s.logout().catch(() => undefined));
  return s;
}

/** Every handler of `f` answers 302 to `location(url)`. */
function redirectAll(f: FakeXapi, location: (url: URL) => string) {
  const route = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, url: URL) => {
    req.resume();
    res.writeHead(302, { location: location(url), connection: 'close' }).end();
  };
  f.routes.set('/export_metadata', route);
  f.routes.set('/import_metadata', route);
}

const fast = { pollMs: 1 };
const UPLOAD = Buffer.alloc(650 * 1024, 5);

describe('redirects off the verified origin are refused before anything is sent', () => {
  it('pinned https → plain http: neither the download nor a 650 kB upload reaches the http server, and the operator is told why', async () => {
    const pinned = await counted({ tls: host });
    const plain = await counted();
    const s = await login(pinned, { fingerprint: host.fp });
    redirectAll(pinned, (url) => `http://127.0.0.1:${plain.port}${url.pathname}${url.search}`);

    const down = await exportMetadata(s, { vmRef: 'OpaqueRef:vm' }, fast).catch((e: unknown) => e);
    const up = await importMetadata(s, UPLOAD, {}, fast).catch((e: unknown) => e);
    for (const err of [down, up]) {
      expect(err).toBeInstanceOf(TransportError);
      expect(err).toMatchObject({ kind: 'redirect-refused' });
      const e = explainError(err);
      expect(e.code).toBe('TRANSPORT_REDIRECT_REFUSED');
      expect(e.meaning).toMatch(new RegExp(`redirected the transfer to http://127\\.0\\.0\\.1:${plain.port}/(export|import)_metadata, from https to plain http`));
      expect(e.meaning).toMatch(/not followed, nothing was sent there/);
      expect(e.nextStep).toMatch(/run the command against it \(--host https:\/\/127\.0\.0\.1:\d+ with its certificate verified or pinned\)/);
      // The session id travels in the query: never in the message.
      expect(JSON.stringify(e)).not.toContain(s.ref);
    }
    expect(plain.connections()).toBe(0);
    expect(plain.httpRequests).toHaveLength(0);
    await s.settle();
    expect(pinned.tasks.size).toBe(0);
  });

  it('plain http → another host over plain http: refused, nothing reaches it', async () => {
    const first = await counted();
    const elsewhere = await counted({ host: '127.0.0.2' });
    const s = await login(first);
    redirectAll(first, (url) => `http://127.0.0.2:${elsewhere.port}${url.pathname}${url.search}`);
    const err = await importMetadata(s, UPLOAD, {}, fast).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'redirect-refused', detail: 'another host over plain http (unencrypted and unverified)' });
    expect(elsewhere.connections()).toBe(0);
  });

  it('pinned https → another https host: its certificate must match the pin, checked before any HTTP byte', async () => {
    const pinned = await counted({ tls: host });
    const member = await counted({ host: '127.0.0.2', tls: other });
    const s = await login(pinned, { fingerprint: host.fp });
    redirectAll(pinned, (url) => `https://127.0.0.2:${member.port}${url.pathname}${url.search}`);
    const err = await importMetadata(s, UPLOAD, {}, fast).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'tls-fingerprint-mismatch', detail: other.fp });
    expect(member.httpRequests).toHaveLength(0);
  });

  it('a redirect to a file: URL is refused', async () => {
    const first = await counted();
    const s = await login(first);
    redirectAll(first, () => 'file:///etc/passwd');
    const err = await exportMetadata(s, { vmRef: 'OpaqueRef:vm' }, fast).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'redirect-refused', detail: 'a file: URL' });
  });

  it('over the local XAPI socket, a redirect to another host is refused (the socket would carry it to this host)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xsdr-redirect-'));
    cleanup.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    const socketPath = path.join(dir, 'xapi');
    const local = await startFake({ socketPath });
    cleanup.push(() => local.close());
    const s = await login(local, undefined, socketPath);
    redirectAll(local, (url) => `https://127.0.0.2:1${url.pathname}${url.search}`);
    const err = await exportMetadata(s, { vmRef: 'OpaqueRef:vm' }, fast).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'redirect-refused' });
  });
});

describe('redirects that stay verified are followed', () => {
  it('the same origin (another path) is followed, with session_id and task_id', async () => {
    const f = await counted();
    const s = await login(f);
    f.routes.set('/export_metadata', (req, res, url) => {
      req.resume();
      res.writeHead(302, { location: `/moved_export?${url.searchParams.toString()}`, connection: 'close' }).end();
    });
    f.routes.set('/moved_export', (req, res, url) => {
      req.resume();
      expect(url.searchParams.get('session_id')).toBe(s.ref);
      const task = f.tasks.get(url.searchParams.get('task_id') ?? '')!;
      f.complete(task, '');
      res.writeHead(200, { 'content-length': 3 }).end('tar');
    });
    expect((await exportMetadata(s, { vmRef: 'OpaqueRef:vm' }, fast)).toString()).toBe('tar');
  });

  it('another https host whose certificate verifies (a CA given) is followed', async () => {
    const first = await counted({ tls: host });
    const member = await counted({ host: '127.0.0.2', tls: other });
    const s = await login(first, { ca: [host.cert, other.cert] });
    redirectAll(first, (url) => `https://127.0.0.2:${member.port}${url.pathname}${url.search}`);
    member.routes.set('/export_metadata', (req, res, url) => {
      req.resume();
      const task = first.tasks.get(url.searchParams.get('task_id') ?? '')!;
      first.complete(task, '');
      res.writeHead(200, { 'content-length': 5 }).end('moved');
    });
    expect((await exportMetadata(s, { vmRef: 'OpaqueRef:vm' }, fast)).toString()).toBe('moved');
    expect(member.httpRequests[0]!.url.searchParams.get('session_id')).toBe(s.ref);
  });
});
