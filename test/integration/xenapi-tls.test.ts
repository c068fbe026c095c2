import { X509Certificate } from 'node:crypto';
import { generate } from 'selfsigned';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Session, TransportError, exportMetadata, fetchPeerCertificate, fetchPeerFingerprint } from '../../src/xenapi/index.js';
import { startFake, type FakeXapi } from './xenapi-fixture.js';

// A XenServer-like self-signed certificate for 127.0.0.1 / localhost, and a second one
// standing in for an impostor.
let host: { key: string; cert: string; fp: string };
let impostor: { key: string; cert: string; fp: string };

async function makeCert(cn: string) {
  const pems = await generate([{ name: 'commonName', value: cn }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] }],
  });
  return { key: pems.private, cert: pems.cert, fp: new X509Certificate(pems.cert).fingerprint256 };
}

beforeAll(async () => {
  [host, impostor] = await Promise.all([makeCert('xs-host'), makeCert('impostor')]);
});

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** An HTTPS fake that counts TCP connections (and their ends) apart from HTTP requests. */
async function tlsFake(which: { key: string; cert: string } = host) {
  const f = await startFake({ tls: which });
  cleanup.push(() => f.close());
  const tcp = { opened: 0, closed: 0 };
  f.server.on('connection', (sock: import('node:net').Socket) => {
    tcp.opened++;
    sock.once('close', () => tcp.closed++);
  });
  return Object.assign(f, { tcp });
}

async function loginWith(f: FakeXapi, tls: Parameters<typeof Session.login>[0]['tls']) {
  const s = await Session.login({ url: f.url, user: 'root', password: 'secret-pw', tls });
  cleanup.push(() => s.logout().catch(() => undefined));
  return s;
}

describe('TLS policy', () => {
  it('verifies by default: a self-signed certificate is refused before any request', async () => {
    const f = await tlsFake();
    const err = await loginWith(f, undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(err).toMatchObject({ kind: 'tls-untrusted' });
    expect(f.httpRequests).toHaveLength(0);
  });

  it('accepts the certificate when given as a CA', async () => {
    const f = await tlsFake();
    const s = await loginWith(f, { ca: host.cert });
    expect(s.ref).toMatch(/^OpaqueRef:/);
    expect(s.tlsWarning).toBeUndefined();
  });

  it('insecure accepts any certificate, and says so', async () => {
    const f = await tlsFake();
    const s = await loginWith(f, { insecure: true });
    expect(s.ref).toMatch(/^OpaqueRef:/);
    expect(s.tlsWarning).toMatch(/verification is OFF/);
    expect(s.connector.tlsMode).toBe('insecure');
  });

  it.each([
    ['canonical', (fp: string) => fp],
    ['lower case without colons', (fp: string) => fp.replace(/:/g, '').toLowerCase()],
  ])('the right fingerprint (%s) is accepted', async (_n, form) => {
    const f = await tlsFake();
    const s = await loginWith(f, { fingerprint: form(host.fp) });
    expect(s.ref).toMatch(/^OpaqueRef:/);
    expect(s.tlsWarning).toBeUndefined();
    expect(s.connector.tlsMode).toBe('pinned');
  });

  it('a wrong fingerprint refuses the connection after the handshake and before any HTTP byte', async () => {
    const f = await tlsFake(impostor);
    const err = await loginWith(f, { fingerprint: host.fp }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(err).toMatchObject({ kind: 'tls-fingerprint-mismatch', detail: impostor.fp });
    // The client saw the impostor's certificate (detail above), so it did connect; once
    // the server side of every connection has closed, nothing can still be in flight.
    expect(f.tcp.opened).toBeGreaterThanOrEqual(1);
    await f.until(() => f.tcp.closed === f.tcp.opened, 'the refused connection to close');
    expect(f.httpRequests).toHaveLength(0);
    expect(f.calls).toHaveLength(0);
    // The password never reached the impostor, and is not in the error either.
    expect(`${String(err)} ${JSON.stringify(err)}`).not.toContain('secret-pw');
  });

  it('the pin also guards HTTP handler transfers on the same session', async () => {
    const f = await tlsFake();
    const s = await loginWith(f, { fingerprint: host.fp });
    f.routes.set('/export_metadata', (_req, res, url) => {
      const task = f.tasks.get(url.searchParams.get('task_id') ?? '')!;
      f.complete(task, '');
      res.writeHead(200, { 'content-length': 3 }).end('tar');
    });
    expect((await exportMetadata(s, { vmRef: 'OpaqueRef:vm' }, { pollMs: 1 })).toString()).toBe('tar');
  });

  it('fetchPeerFingerprint shows what the host presents without sending HTTP', async () => {
    const f = await tlsFake();
    expect(await fetchPeerFingerprint(f.url)).toBe(host.fp);
    const info = await fetchPeerCertificate(f.url);
    expect(info.trusted).toBe(false);
    expect(info.untrustedReason).toMatch(/SELF_SIGNED/);
    expect(info.subject).toContain('CN=xs-host');
    expect(f.httpRequests).toHaveLength(0);
    await expect(fetchPeerFingerprint('http://127.0.0.1:1/')).rejects.toThrow(TypeError);
  });
});
