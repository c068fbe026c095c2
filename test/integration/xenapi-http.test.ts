import type http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { generate } from 'selfsigned';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError,
  Session,
  TransportError,
  XenApiError,
  dumpPoolDatabase,
  encodeChunkFrames,
  exportMetadata,
  exportRawVdi,
  importMetadata,
  importRawVdi,
} from '../../src/xenapi/index.js';
import { plain, startFake, type FakeTask, type FakeXapi } from './xenapi-fixture.js';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** A certificate for the pool member at 127.0.0.2 that handlers redirect to (over https only). */
let member: { key: string; cert: string };
beforeAll(async () => {
  const pems = await generate([{ name: 'commonName', value: 'member' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.2' }] }],
  });
  member = { key: pems.private, cert: pems.cert };
});

async function setup(): Promise<{ f: FakeXapi; s: Session }> {
  const f = await startFake();
  cleanup.push(() => f.close());
  // The member's certificate is trusted as a CA: a redirect to it is verified like any https host.
  const s = await Session.login({ url: f.url, user: 'root', password: 'secret-pw', tls: { ca: member.cert } });
  cleanup.push(() => s.logout().catch(() => undefined));
  return { f, s };
}

/** XAPI's handler preamble: session from the query (else 401), task from task_id. */
function authorise(f: FakeXapi, req: http.IncomingMessage, res: http.ServerResponse, url: URL): FakeTask | undefined {
  const task = f.tasks.get(url.searchParams.get('task_id') ?? '');
  if (!f.sessions.has(url.searchParams.get('session_id') ?? '')) {
    if (task) f.fail(task, ['SESSION_AUTHENTICATION_FAILED']);
    req.resume();
    res.writeHead(401, { 'www-authenticate': 'Basic realm="xapi"', 'content-type': 'text/html', connection: 'close' }).end('<html>401</html>');
    return undefined;
  }
  if (!task) {
    res.writeHead(500, { connection: 'close', 'content-length': '0' }).end();
    return undefined;
  }
  return task;
}

async function readAll(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const TAR = Buffer.concat([Buffer.from('ova.xml'), Buffer.alloc(505), Buffer.from('<value><struct/></value>'), Buffer.alloc(100_000, 7)]);
const fast = { pollMs: 1 };

describe('GET /export_metadata', () => {
  it('sends session_id, task_id and the xe-style query; returns the body; reports progress; destroys the task', async () => {
    const { f, s } = await setup();
    f.routes.set('/export_metadata', (req, res, url) => {
      const task = authorise(f, req, res, url);
      if (!task) return;
      res.writeHead(200, {
        connection: 'close',
        'cache-control': 'no-cache, no-store',
        'task-id': task.ref,
        'content-type': 'application/octet-stream',
        'content-length': TAR.length,
        'content-disposition': 'attachment; filename="export.xva"',
      });
      // Several writes so the client sees progress in steps.
      res.write(TAR.subarray(0, 1000));
      res.write(TAR.subarray(1000, 50_000));
      res.end(TAR.subarray(50_000), () => f.complete(task, ''));
    });
    const progress: Array<[number, number | undefined]> = [];
    const body = await exportMetadata(s, { vmUuid: 'vm-uuid-1' }, { ...fast, onProgress: (n, t) => progress.push([n, t]) });
    expect(body.equals(TAR)).toBe(true);
    const req = f.httpRequests.find((r) => r.url.pathname === '/export_metadata')!;
    expect(req.method).toBe('GET');
    expect([...req.url.searchParams.keys()]).toEqual(['session_id', 'task_id', 'uuid', 'export_snapshots']);
    expect(req.url.searchParams.get('session_id')).toBe(s.ref);
    expect(req.url.searchParams.get('export_snapshots')).toBe('false');
    expect(progress[0]).toEqual([0, TAR.length]);
    expect(progress.at(-1)).toEqual([TAR.length, TAR.length]);
    // The 200 tells that the handler has the task (no -1.0 marker call), and XAPI builds the
    // archive before replying: a body of the announced length is the outcome (no task read).
    expect(f.callsOf('task.set_progress')).toHaveLength(0);
    expect(f.callsOf('task.get_record')).toHaveLength(0);
    await s.settle(); // a finished transfer's task is destroyed beside the next step
    expect(f.tasks.size).toBe(0);
    expect(f.destroyedTasks).toHaveLength(1);
  });

  it('all=true with include_dom0, excluded device types', async () => {
    const { f, s } = await setup();
    f.routes.set('/export_metadata', (req, res, url) => {
      const task = authorise(f, req, res, url);
      if (!task) return;
      f.complete(task, '');
      res.writeHead(200, { 'content-length': 3 }).end('abc');
    });
    await exportMetadata(s, { all: true, includeDom0: false, exportSnapshots: true, excludedDeviceTypes: ['vif', 'vtpm'] }, fast);
    const q = f.httpRequests.find((r) => r.url.pathname === '/export_metadata')!.url.searchParams;
    expect(q.get('all')).toBe('true');
    expect(q.get('include_dom0')).toBe('false');
    expect(q.get('export_snapshots')).toBe('true');
    expect(q.get('excluded_device_types')).toBe('vif,vtpm');
    expect(q.has('uuid')).toBe(false);
  });

  it('a bad uuid: XAPI fails the task then answers 500 → the task error wins', async () => {
    const { f, s } = await setup();
    f.routes.set('/export_metadata', (req, res, url) => {
      const task = authorise(f, req, res, url);
      if (!task) return;
      f.fail(task, ['UUID_INVALID', 'VM', url.searchParams.get('uuid') ?? '']);
      res.writeHead(500, { 'content-length': '0', connection: 'close' }).end();
    });
    const err = await exportMetadata(s, { vmUuid: 'nope' }, fast).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(XenApiError);
    expect(err).toMatchObject({ code: 'UUID_INVALID', params: ['VM', 'nope'] });
    expect((err as Error).cause).toBeInstanceOf(TransportError);
    await s.settle(); // a finished transfer's task is destroyed beside the next step
    expect(f.tasks.size).toBe(0);
  });

  it('a 500 the handler never took the task for → TransportError, and we fail the task ourselves', async () => {
    const { f, s } = await setup();
    f.routes.set('/export_metadata', (_req, res) => {
      res.writeHead(500, { 'content-type': 'text/html', connection: 'close' }).end('<html>HTTP 500 internal server error</html>');
    });
    const statusSeen: string[] = [];
    f.methods.set('task.set_status', ([, ref, st]) => {
      statusSeen.push(String(st));
      const t = f.tasks.get(String(ref))!;
      t.status = st as FakeTask['status'];
      return { value: '' };
    });
    const err = await exportMetadata(s, { vmRef: 'OpaqueRef:vm' }, fast).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(err).toMatchObject({ kind: 'http-status', status: 500 });
    expect(statusSeen).toEqual(['failure']);
    expect(plain(f.callsOf('task.set_error_info')[0]!.params[2]!)).toEqual(['INTERNAL_ERROR', expect.stringContaining('HTTP 500')]);
    await s.settle(); // a finished transfer's task is destroyed beside the next step
    expect(f.tasks.size).toBe(0);
    // The error text never carries the session ref from the query string.
    expect(String(err)).not.toContain(s.ref);
  });

  it('a 401 (session expired under us) → one re-login and a fresh attempt', async () => {
    const { f, s } = await setup();
    let requests = 0;
    f.routes.set('/export_metadata', (req, res, url) => {
      requests++;
      if (requests === 1) f.sessions.delete(url.searchParams.get('session_id') ?? '');
      const task = authorise(f, req, res, url);
      if (!task) return;
      f.complete(task, '');
      res.writeHead(200, { 'content-length': 2 }).end('ok');
    });
    const firstRef = s.ref;
    expect((await exportMetadata(s, { vmRef: 'OpaqueRef:vm' }, fast)).toString()).toBe('ok');
    expect(requests).toBe(2);
    expect(s.ref).not.toBe(firstRef);
    expect(f.callsOf('session.login_with_password')).toHaveLength(2);
    await s.settle(); // a finished transfer's task is destroyed beside the next step
    expect(f.tasks.size).toBe(0);
  });

  it('a 401 that persists → TransportError unauthorized', async () => {
    const { f, s } = await setup();
    f.routes.set('/export_metadata', (req, res) => {
      req.resume();
      res.writeHead(401, { 'www-authenticate': 'Basic realm="xapi"', connection: 'close' }).end();
    });
    expect(await exportMetadata(s, { vmRef: 'OpaqueRef:vm' }, fast).catch((e: unknown) => e)).toMatchObject({ kind: 'unauthorized', status: 401 });
    await s.settle(); // a finished transfer's task is destroyed beside the next step
    expect(f.tasks.size).toBe(0);
  });

  it('follows a 302 to another host over verified https, re-adding session_id and task_id', async () => {
    const { f, s } = await setup();
    const other = await startFake({ host: '127.0.0.2', tls: member });
    cleanup.push(() => other.close());
    f.routes.set('/export_metadata', (req, res, url) => {
      req.resume();
      res.writeHead(302, { location: `https://127.0.0.2:${other.port}/export_metadata?ref=${url.searchParams.get('ref')}`, connection: 'close' }).end();
    });
    other.routes.set('/export_metadata', (req, res, url) => {
      const task = authorise(f, req, res, url); // the pool's tables live on the master
      if (!task) return;
      f.complete(task, '');
      res.writeHead(200, { 'content-length': 5 }).end('moved');
    });
    expect((await exportMetadata(s, { vmRef: 'OpaqueRef:vm' }, fast)).toString()).toBe('moved');
    const q = other.httpRequests[0]!.url.searchParams;
    expect(q.get('ref')).toBe('OpaqueRef:vm');
    expect(q.get('session_id')).toBe(s.ref);
    await s.settle();
    expect(q.get('task_id')).toBe(f.destroyedTasks[0]);
  });

  it('abort mid-download → AbortError; the handler has the task (it answered 200): cancelled through XAPI, destroyed', async () => {
    const { f, s } = await setup();
    f.routes.set('/export_metadata', (req, res, url) => {
      if (!authorise(f, req, res, url)) return;
      res.writeHead(200, { 'content-length': 1_000_000 });
      res.write(Buffer.alloc(10_000)); // …and never the rest
    });
    const ac = new AbortController();
    const err = await exportMetadata(s, { vmRef: 'OpaqueRef:vm' }, { ...fast, signal: ac.signal, onProgress: (n) => n > 0 && ac.abort() }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AbortError);
    expect(f.callsOf('task.cancel')).toHaveLength(1);
    expect(f.callsOf('task.set_status')).toHaveLength(0);
    await s.settle(); // a finished transfer's task is destroyed beside the next step
    expect(f.tasks.size).toBe(0);
  });

  it('abort before any answer → AbortError; the task no handler took over is marked cancelled by the client', async () => {
    const { f, s } = await setup();
    f.routes.set('/export_metadata', () => undefined); // never answers
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const err = await exportMetadata(s, { vmRef: 'OpaqueRef:vm' }, { ...fast, signal: ac.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(plain(f.callsOf('task.set_status')[0]!.params[2]!)).toBe('cancelled');
    expect(f.tasks.size).toBe(0);
  });

  it('an idle server → timeout', async () => {
    const { f, s } = await setup();
    f.routes.set('/export_metadata', (req, res, url) => {
      if (!authorise(f, req, res, url)) return;
      res.writeHead(200, { 'content-length': 100 });
      res.write('x'); // then silence
    });
    const err = await exportMetadata(s, { vmRef: 'OpaqueRef:vm' }, { ...fast, idleTimeoutMs: 100 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'timeout' });
    await s.settle(); // a finished transfer's task is destroyed beside the next step
    expect(f.tasks.size).toBe(0);
  });

  it('refuses a body over maxBytes', async () => {
    const { f, s } = await setup();
    f.routes.set('/export_metadata', (req, res, url) => {
      if (!authorise(f, req, res, url)) return;
      res.writeHead(200, { 'content-length': TAR.length }).end(TAR);
    });
    expect(await exportMetadata(s, { vmRef: 'OpaqueRef:vm' }, { ...fast, maxBytes: 1000 }).catch((e: unknown) => e)).toMatchObject({ kind: 'too-large' });
  });
});

describe('PUT /import_metadata', () => {
  function importRoute(f: FakeXapi, seen: { body?: Buffer; headers?: http.IncomingHttpHeaders; query?: URLSearchParams }, outcome: (t: FakeTask, body: Buffer) => void) {
    f.routes.set('/import_metadata', (req, res, url) => {
      const task = authorise(f, req, res, url);
      if (!task) return;
      // XAPI answers 200 before it reads the body.
      res.writeHead(200, { connection: 'close', 'cache-control': 'no-cache, no-store', 'task-id': task.ref, 'content-type': 'application/octet-stream' });
      res.flushHeaders();
      void readAll(req).then((body) => {
        seen.body = body;
        seen.headers = req.headers;
        seen.query = url.searchParams;
        outcome(task, body);
        res.end();
      });
    });
  }

  it('sends the tar with Content-Length (no chunked encoding) and returns the VM refs of the task result', async () => {
    const { f, s } = await setup();
    const seen: Parameters<typeof importRoute>[1] = {};
    importRoute(f, seen, (t) => f.complete(t, '<value><array><data><value>OpaqueRef:vm-a</value><value>OpaqueRef:vm-b</value></data></array></value>'));
    const progress: number[] = [];
    const refs = await importMetadata(
      s,
      TAR,
      { restore: true, force: false, dryRun: false, srRef: 'OpaqueRef:sr', vdiMap: { 'src-uuid': 'dst-uuid' } },
      { ...fast, onProgress: (n) => progress.push(n) },
    );
    expect(refs).toEqual(['OpaqueRef:vm-a', 'OpaqueRef:vm-b']);
    expect(seen.body!.equals(TAR)).toBe(true);
    expect(seen.headers!['content-length']).toBe(String(TAR.length));
    expect(seen.headers!['transfer-encoding']).toBeUndefined();
    expect(seen.query!.get('restore')).toBe('true');
    expect(seen.query!.get('force')).toBe('false');
    expect(seen.query!.get('dry_run')).toBe('false');
    expect(seen.query!.get('sr_id')).toBe('OpaqueRef:sr');
    expect(seen.query!.get('vdi:src-uuid')).toBe('dst-uuid');
    expect(progress.at(-1)).toBe(TAR.length);
    // No -1.0 marker call; the task is read once, after XAPI closed the connection.
    expect(f.callsOf('task.set_progress')).toHaveLength(0);
    expect(f.callsOf('task.get_record')).toHaveLength(1);
    await s.settle(); // a finished transfer's task is destroyed beside the next step
    expect(f.tasks.size).toBe(0);
  });

  it('a dry run with an empty result set → []', async () => {
    const { f, s } = await setup();
    const seen: Parameters<typeof importRoute>[1] = {};
    importRoute(f, seen, (t) => f.complete(t, '<value><array><data></data></array></value>'));
    expect(await importMetadata(s, TAR, { dryRun: true }, fast)).toEqual([]);
    expect(seen.query!.get('dry_run')).toBe('true');
  });

  it('a failure after the 200 comes from the task', async () => {
    const { f, s } = await setup();
    importRoute(f, {}, (t) => f.fail(t, ['VDI_LOCATION_MISSING', 'OpaqueRef:sr', 'f00-location']));
    const err = await importMetadata(s, TAR, {}, fast).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'VDI_LOCATION_MISSING', params: ['OpaqueRef:sr', 'f00-location'] });
    await s.settle(); // a finished transfer's task is destroyed beside the next step
    expect(f.tasks.size).toBe(0);
  });

  it('the server dropping the connection after the 200 still defers to the task', async () => {
    const { f, s } = await setup();
    f.routes.set('/import_metadata', (req, res, url) => {
      const task = authorise(f, req, res, url);
      if (!task) return;
      res.writeHead(200, { connection: 'close' });
      res.flushHeaders();
      f.fail(task, ['IMPORT_ERROR_PREMATURE_EOF']);
      req.socket.destroy();
    });
    const big = Buffer.alloc(8 * 1024 * 1024, 1);
    expect(await importMetadata(s, big, {}, fast).catch((e: unknown) => e)).toMatchObject({ code: 'IMPORT_ERROR_PREMATURE_EOF' });
    await s.settle(); // a finished transfer's task is destroyed beside the next step
    expect(f.tasks.size).toBe(0);
  });
});

describe('raw VDI transfers', () => {
  it('export_raw_vdi streams a body without Content-Length, with progress against expectedBytes', async () => {
    const { f, s } = await setup();
    const disk = Buffer.alloc(3 * 65536);
    for (let i = 0; i < disk.length; i++) disk[i] = i % 251;
    f.routes.set('/export_raw_vdi', (req, res, url) => {
      const task = authorise(f, req, res, url);
      if (!task) return;
      res.writeHead(200, { connection: 'close', 'task-id': task.ref, 'content-type': 'application/octet-stream' });
      res.write(disk.subarray(0, 65536));
      res.write(disk.subarray(65536, 131072));
      res.end(disk.subarray(131072), () => f.complete(task, ''));
    });
    const progress: Array<[number, number | undefined]> = [];
    const dl = await exportRawVdi(s, 'vdi-uuid-1', { ...fast, expectedBytes: disk.length, onProgress: (n, t) => progress.push([n, t]) });
    const got = await drain(dl.stream);
    await dl.done;
    expect(got.equals(disk)).toBe(true);
    expect(progress.at(-1)).toEqual([disk.length, disk.length]);
    const q = f.httpRequests.find((r) => r.url.pathname === '/export_raw_vdi')!.url.searchParams;
    expect(q.get('vdi')).toBe('vdi-uuid-1');
    expect(q.get('format')).toBe('raw');
    await s.settle(); // a finished transfer's task is destroyed beside the next step
    expect(f.tasks.size).toBe(0);
  });

  it('export_raw_vdi: a failed task rejects done', async () => {
    const { f, s } = await setup();
    f.routes.set('/export_raw_vdi', (req, res, url) => {
      const task = authorise(f, req, res, url);
      if (!task) return;
      res.writeHead(200, { connection: 'close' });
      res.end('partial', () => f.fail(task, ['VDI_IO_ERROR', 'read failed']));
    });
    const dl = await exportRawVdi(s, 'OpaqueRef:vdi', fast);
    await drain(dl.stream);
    expect(await dl.done.catch((e: unknown) => e)).toMatchObject({ code: 'VDI_IO_ERROR' });
    await s.settle(); // a finished transfer's task is destroyed beside the next step
    expect(f.tasks.size).toBe(0);
  });

  it('export_raw_vdi: the reader destroying the stream cancels the transfer', async () => {
    const { f, s } = await setup();
    let serverSawClose = false;
    f.routes.set('/export_raw_vdi', (req, res, url) => {
      if (!authorise(f, req, res, url)) return;
      res.writeHead(200, { connection: 'close' });
      res.write(Buffer.alloc(1000));
      res.on('close', () => (serverSawClose = true));
    });
    const dl = await exportRawVdi(s, 'OpaqueRef:vdi', fast);
    await new Promise<void>((r) => dl.stream.once('data', () => r()));
    dl.stream.destroy();
    expect(await dl.done.catch((e: unknown) => e)).toBeInstanceOf(AbortError);
    await f.until(() => serverSawClose, 'the server to see the connection close');
    await s.settle(); // a finished transfer's task is destroyed beside the next step
    expect(f.tasks.size).toBe(0);
  });

  it('export_raw_vdi: an HTTP 404 (unknown format) rejects before a stream exists', async () => {
    const { f, s } = await setup();
    f.routes.set('/export_raw_vdi', (req, res, url) => {
      const task = authorise(f, req, res, url);
      if (!task) return;
      f.fail(task, ['INTERNAL_ERROR', 'Unknown format qcow3']);
      res.writeHead(404, { connection: 'close' }).end();
    });
    expect(await exportRawVdi(s, 'OpaqueRef:vdi', fast).catch((e: unknown) => e)).toMatchObject({ code: 'INTERNAL_ERROR' });
    await s.settle(); // a finished transfer's task is destroyed beside the next step
    expect(f.tasks.size).toBe(0);
  });

  function rawImportRoute(f: FakeXapi, seen: { body?: Buffer; headers?: http.IncomingHttpHeaders; query?: URLSearchParams }) {
    f.routes.set('/import_raw_vdi', (req, res, url) => {
      const task = authorise(f, req, res, url);
      if (!task) return;
      if (req.headers['transfer-encoding']) {
        f.fail(task, ['INTERNAL_ERROR', 'Cannot handle encoding: chunked']);
        res.writeHead(404, { connection: 'close' }).end();
        return;
      }
      res.writeHead(200, { connection: 'close', 'task-id': task.ref, 'content-type': 'application/octet-stream' });
      res.flushHeaders();
      void readAll(req).then((body) => {
        Object.assign(seen, { body, headers: req.headers, query: url.searchParams });
        f.complete(task, `<value>OpaqueRef:vdi-written</value>`);
        res.end();
      });
    });
  }

  /** The chunk protocol decoded independently of the client's helper. */
  function parseFrames(body: Buffer): Array<[bigint, string]> {
    const out: Array<[bigint, string]> = [];
    let pos = 0;
    for (;;) {
      const off = body.readBigUInt64LE(pos);
      const len = body.readUInt32LE(pos + 8);
      pos += 12;
      if (off === 0n && len === 0) break;
      out.push([off, body.subarray(pos, pos + len).toString()]);
      pos += len;
    }
    expect(pos).toBe(body.length);
    return out;
  }

  it('import_raw_vdi?chunked sends frames with Content-Length and returns the VDI ref', async () => {
    const { f, s } = await setup();
    const seen: Parameters<typeof rawImportRoute>[1] = {};
    rawImportRoute(f, seen);
    const body = encodeChunkFrames([
      { offset: 0, data: Buffer.from('superblock') },
      { offset: 1024 * 1024, data: Buffer.from('inode table') },
    ]);
    expect(await importRawVdi(s, 'OpaqueRef:vdi', body, { chunked: true }, fast)).toBe('OpaqueRef:vdi-written');
    expect(seen.query!.has('chunked')).toBe(true);
    expect(seen.query!.get('vdi')).toBe('OpaqueRef:vdi');
    expect(seen.headers!['content-length']).toBe(String(body.length));
    expect(parseFrames(seen.body!)).toEqual([
      [0n, 'superblock'],
      [1048576n, 'inode table'],
    ]);
    await expect(importRawVdi(s, 'OpaqueRef:vdi', Buffer.from('no terminator'), { chunked: true }, fast)).rejects.toThrow(RangeError);
  });

  it('import_raw_vdi with a stream body of declared length', async () => {
    const { f, s } = await setup();
    const seen: Parameters<typeof rawImportRoute>[1] = {};
    rawImportRoute(f, seen);
    const parts = [Buffer.alloc(70_000, 1), Buffer.alloc(30_000, 2)];
    await importRawVdi(s, 'vdi-uuid', Readable.from(parts), { length: 100_000 }, fast);
    expect(seen.body!.equals(Buffer.concat(parts))).toBe(true);
    expect(seen.headers!['content-length']).toBe('100000');
    expect(seen.headers!['transfer-encoding']).toBeUndefined();
    await expect(importRawVdi(s, 'vdi-uuid', Readable.from(parts), {}, fast)).rejects.toThrow(TypeError);
  });

  it('import_raw_vdi: a stream shorter than declared fails; a task no handler answered for is failed by the client', async () => {
    const { f, s } = await setup();
    f.routes.set('/import_raw_vdi', (req, res, url) => {
      if (!authorise(f, req, res, url)) return;
      req.resume(); // reads first, answers never: the cut body leaves the task untouched
    });
    const err = await importRawVdi(s, 'vdi-uuid', Readable.from([Buffer.alloc(10)]), { length: 20 }, fast).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RangeError);
    expect(plain(f.callsOf('task.set_status')[0]!.params[2]!)).toBe('failure');
    expect(f.tasks.size).toBe(0);

    // A handler that answered has the task: its outcome is XAPI's to set; the client only destroys it.
    f.routes.set('/import_raw_vdi', (req, res, url) => {
      if (!authorise(f, req, res, url)) return;
      res.writeHead(200, { connection: 'close' });
      res.flushHeaders();
      req.resume();
    });
    const again = await importRawVdi(s, 'vdi-uuid', Readable.from([Buffer.alloc(10)]), { length: 20 }, fast).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(RangeError);
    expect(f.callsOf('task.set_status')).toHaveLength(1);
    await s.settle(); // a finished transfer's task is destroyed beside the next step
    expect(f.tasks.size).toBe(0);
  });

  it('import_raw_vdi: a server that reads the body before answering still gets a stream (after the hold-back)', async () => {
    const { f, s } = await setup();
    let body: Buffer | undefined;
    f.routes.set('/import_raw_vdi', (req, res, url) => {
      const task = authorise(f, req, res, url);
      if (!task) return;
      void readAll(req).then((b) => {
        body = b;
        f.complete(task, '<value>OpaqueRef:vdi-r</value>');
        res.writeHead(200, { connection: 'close' }).end();
      });
    });
    const ref = await importRawVdi(s, 'vdi-uuid', Readable.from([Buffer.from('read-first')]), { length: 10 }, { ...fast, streamHoldBackMs: 20 });
    expect(ref).toBe('OpaqueRef:vdi-r');
    expect(body?.toString()).toBe('read-first');
  });

  it.each([
    ['a Buffer body', () => Buffer.alloc(50_000, 9)],
    ['a stream body', () => Readable.from([Buffer.alloc(50_000, 9)])],
  ])('import_raw_vdi follows a 302 to another host over verified https with %s', async (_name, makeBody) => {
    const { f, s } = await setup();
    const other = await startFake({ host: '127.0.0.2', tls: member });
    cleanup.push(() => other.close());
    f.routes.set('/import_raw_vdi', (req, res) => {
      res.writeHead(302, { location: `https://127.0.0.2:${other.port}/import_raw_vdi?vdi=vdi-uuid&format=raw`, connection: 'close' }).end();
      req.resume();
    });
    const seen: Parameters<typeof rawImportRoute>[1] = {};
    rawImportRoute(other, seen);
    // `other` must see the pool's session and task: share the master's tables.
    other.routes.set('/import_raw_vdi', (req, res, url) => {
      const task = authorise(f, req, res, url);
      if (!task) return;
      res.writeHead(200, { connection: 'close' });
      res.flushHeaders();
      void readAll(req).then((body) => {
        seen.body = body;
        f.complete(task, '<value>OpaqueRef:vdi-b</value>');
        res.end();
      });
    });
    const body = makeBody();
    expect(await importRawVdi(s, 'vdi-uuid', body, { length: 50_000 }, fast)).toBe('OpaqueRef:vdi-b');
    expect(seen.body!.equals(Buffer.alloc(50_000, 9))).toBe(true);
    expect(other.httpRequests[0]!.url.searchParams.get('session_id')).toBe(s.ref);
    await s.settle(); // a finished transfer's task is destroyed beside the next step
    expect(f.tasks.size).toBe(0);
  });
});

describe('GET /pool/xmldbdump', () => {
  it('returns the database XML streamed until close', async () => {
    const { f, s } = await setup();
    const db = `<?xml version="1.0" encoding="UTF-8"?><database><manifest><pair key="schema_major_vsn" value="5"/></manifest>${'<table name="VM"></table>'.repeat(2000)}</database>`;
    f.routes.set('/pool/xmldbdump', (req, res, url) => {
      const task = authorise(f, req, res, url);
      if (!task) return;
      res.writeHead(200, { connection: 'close', 'cache-control': 'no-cache, no-store' });
      res.end(db, () => f.complete(task, ''));
    });
    expect((await dumpPoolDatabase(s, fast)).toString()).toBe(db);
    await s.settle(); // a finished transfer's task is destroyed beside the next step
    expect(f.tasks.size).toBe(0);
  });
});

describe('over the local Unix socket', () => {
  it('logs in and runs a handler transfer through the socket path', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xenapi-http-sock-'));
    cleanup.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    const sock = path.join(dir, 'xapi');
    const f = await startFake({ socketPath: sock });
    cleanup.push(() => f.close());
    const s = await Session.login({ socketPath: sock, user: 'root', password: 'secret-pw' });
    cleanup.push(() => s.logout().catch(() => undefined));
    f.routes.set('/pool/xmldbdump', (req, res, url) => {
      const task = authorise(f, req, res, url);
      if (!task) return;
      res.writeHead(200, { connection: 'close' });
      res.end('<database/>', () => f.complete(task, ''));
    });
    expect((await dumpPoolDatabase(s, fast)).toString()).toBe('<database/>');
    expect(f.httpRequests.find((r) => r.url.pathname === '/pool/xmldbdump')!.headers.host).toBe('localhost');
  });
});
