/**
 * Every transfer is bounded by what XAPI said and by a deadline: hostile handlers on loopback
 * (a raw export that never ends, a drip of a byte now and then, a body announced larger than
 * allowed, an upload nobody reads, a task that stays pending) are cut with a clear error, and
 * answers held in memory share one budget.
 */
import type http from 'node:http';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { Connector, RpcClient, TransportError, exportMetadata, exportRawVdi, importMetadata, streamPoolDatabase, waitTask } from '../../src/xenapi/index.js';
import { explainError } from '../../src/failure/index.js';
import { AnswerBudget } from '../../src/xenapi/answer-budget.js';
import { startFakeWithSession, until, type FakeTask, type FakeXapi } from './xenapi-fixture.js';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const setup = () => startFakeWithSession(cleanup);

function taskOf(f: FakeXapi, url: URL): FakeTask {
  return f.tasks.get(url.searchParams.get('task_id') ?? '')!;
}

/** Reads a stream to its end, counting bytes; resolves with the count or the stream's error. */
function countUntilEnd(stream: Readable): Promise<{ bytes: number; error?: unknown }> {
  return new Promise((resolve) => {
    let bytes = 0;
    stream.on('data', (c: Buffer) => (bytes += c.length));
    stream.once('end', () => resolve({ bytes }));
    stream.once('error', (error) => resolve({ bytes, error }));
  });
}

const fast = { pollMs: 1 };

describe('raw VDI download bounded by the virtual size XAPI reported', () => {
  it('a download that never ends is refused at the first byte past the virtual size', async () => {
    const { f, s } = await setup();
    const size = 256 * 1024;
    f.routes.set('/export_raw_vdi', (req, res) => {
      req.resume();
      res.writeHead(200, { connection: 'close', 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(16 * 1024, 1);
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) {
          /* for ever */
        }
      };
      res.on('drain', pump);
      pump();
    });
    const dl = await exportRawVdi(s, 'OpaqueRef:vdi', { ...fast, expectedBytes: size });
    const got = await countUntilEnd(dl.stream);
    expect(got.error).toBeInstanceOf(TransportError);
    expect(got.error).toMatchObject({ kind: 'too-large' });
    expect(String((got.error as Error).message)).toMatch(/more than 262144 bytes \(the VDI's virtual size\).*refused at byte 262145/);
    expect(got.bytes).toBeLessThanOrEqual(size); // nothing past the size reached the reader
    expect(await dl.done.catch((e: unknown) => e)).toMatchObject({ kind: 'too-large' });
    await s.settle();
    expect(f.tasks.size).toBe(0);
  });

  it('a download that ends short of the virtual size is refused', async () => {
    const { f, s } = await setup();
    f.routes.set('/export_raw_vdi', (req, res, url) => {
      req.resume();
      res.writeHead(200, { connection: 'close' });
      res.end(Buffer.alloc(1000), () => f.complete(taskOf(f, url), ''));
    });
    const dl = await exportRawVdi(s, 'OpaqueRef:vdi', { ...fast, expectedBytes: 4096 });
    const got = await countUntilEnd(dl.stream);
    expect(got.error).toMatchObject({ kind: 'connection-reset' });
    expect(String((got.error as Error).message)).toMatch(/after 1000 of 4096 bytes/);
  });

  it('an announced Content-Length over the size is refused before the body is read', async () => {
    const { f, s } = await setup();
    let serverSawClose = false;
    f.routes.set('/export_raw_vdi', (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-length': 10_000_000 });
      res.write(Buffer.alloc(10));
      res.on('close', () => (serverSawClose = true));
    });
    const err = await exportRawVdi(s, 'OpaqueRef:vdi', { ...fast, expectedBytes: 4096 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'too-large', detail: 'Content-Length 10000000' });
    await f.until(() => serverSawClose, 'the refused download to be closed');
  });
});

describe('rate deadlines', () => {
  it('a handler dripping a byte now and then is cut at the deadline, with a message saying what and why', async () => {
    const { f, s } = await setup();
    const drips: NodeJS.Timeout[] = [];
    f.routes.set('/export_metadata', (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-length': 100_000 });
      // Never silent for long (the idle timeout does not fire), never fast enough.
      const t = setInterval(() => res.write('x'), 20);
      drips.push(t);
      res.on('close', () => clearInterval(t));
    });
    cleanup.push(async () => drips.forEach(clearInterval));
    const err = await exportMetadata(s, { vmRef: 'OpaqueRef:vm' }, { ...fast, idleTimeoutMs: 60_000, deadlineFloorMs: 300, minBytesPerSecond: 1024 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TransportError);
    expect(err).toMatchObject({ kind: 'timeout' });
    const e = explainError(err);
    expect(e.meaning).toMatch(/the transfer of \/export_metadata with http:\/\/127\.0\.0\.1:\d+\/export_metadata did not finish in time/);
    expect(e.meaning).toMatch(/transfer deadline: 0\.3 s plus 1 s per 1 KiB/);
    expect(e.nextStep).toMatch(/check the network path and the load on the pool coordinator/);
    await s.settle();
    expect(f.tasks.size).toBe(0);
  });

  it('a transfer that keeps to the minimum rate is not cut, although it lasts longer than the floor', async () => {
    const { f, s } = await setup();
    const piece = 4096;
    const pieces = 60;
    f.routes.set('/export_metadata', (req, res, url) => {
      req.resume();
      res.writeHead(200, { 'content-length': piece * pieces });
      let sent = 0;
      const t = setInterval(() => {
        res.write(Buffer.alloc(piece, 2));
        if (++sent === pieces) {
          clearInterval(t);
          f.complete(taskOf(f, url), '');
          res.end();
        }
      }, 25);
      res.on('close', () => clearInterval(t));
    });
    // About 1.5 s, three times the floor; allowed: 0.5 s plus 2 s per piece received.
    const body = await exportMetadata(s, { vmRef: 'OpaqueRef:vm' }, { ...fast, deadlineFloorMs: 500, minBytesPerSecond: 2048 });
    expect(body.length).toBe(piece * pieces);
  });

  it('an upload the host never reads is cut at the deadline (it does not hang until the idle timeout)', async () => {
    const { f, s } = await setup();
    const held: http.IncomingMessage[] = [];
    f.routes.set('/import_metadata', (req) => {
      held.push(req); // never read, never answered
      req.pause();
    });
    // What the socket buffers take counts as moved: a high minimum rate keeps that extension short.
    const err = await importMetadata(s, Buffer.alloc(8 * 1024 * 1024, 3), {}, { ...fast, idleTimeoutMs: 60_000, deadlineFloorMs: 300, minBytesPerSecond: 64 * 1024 * 1024 }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ kind: 'timeout' });
    expect(String((err as Error).message)).toMatch(/the transfer of \/import_metadata .* did not finish in time/);
  });

  it('a database dump stream that never ends is refused at its size limit', async () => {
    const { f, s } = await setup();
    f.routes.set('/pool/xmldbdump', (req, res) => {
      req.resume();
      res.writeHead(200, { connection: 'close' });
      const chunk = Buffer.alloc(8192, 0x20);
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) {
          /* for ever */
        }
      };
      res.on('drain', pump);
      pump();
    });
    const dl = await streamPoolDatabase(s, { ...fast, maxBytes: 100_000 });
    const got = await countUntilEnd(dl.stream);
    expect(got.error).toMatchObject({ kind: 'too-large' });
    expect(got.bytes).toBeLessThanOrEqual(100_000);
  });
});

describe('task deadline', () => {
  it('a task that stays pending is given up after the deadline, cancelled, and says so', async () => {
    const { f, s } = await setup();
    const t = f.newTask('xsconsole-dr: import VM metadata');
    const err = await waitTask(s, t.ref, { pollMs: 5, maxPollMs: 20, deadlineMs: 200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(err).toMatchObject({ kind: 'timeout' });
    expect(String((err as Error).message)).toMatch(/"xsconsole-dr: import VM metadata" was still pending after 0\.2 s: given up and cancelled/);
    expect(f.callsOf('task.cancel')).toHaveLength(1);
  });
});

describe('answers held in memory share one budget', () => {
  it('a second answer stops reading while the first holds the budget, and completes after it', async () => {
    const budget = new AnswerBudget(64 * 1024);
    let peakWhileFirstHeld = 0;
    let firstHeld = true;
    const take = budget.tryTake.bind(budget);
    budget.tryTake = (share, n) => {
      const ok = take(share, n);
      if (firstHeld) peakWhileFirstHeld = Math.max(peakWhileFirstHeld, budget.usedBytes);
      return ok;
    };
    const head = '<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name><value>';
    const tail = '</value></member></struct></value></param></params></methodResponse>';
    let endFirst: (() => void) | undefined;
    const server = (await import('node:http')).createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/xml' });
        if (body.includes('<methodName>first</methodName>')) {
          res.write(head + 'a'.repeat(30 * 1024)); // …the rest when the test says so
          endFirst = () => res.end(tail);
        } else res.end(head + 'b'.repeat(1024 * 1024) + tail);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => { server.closeAllConnections(); server.close(r); }));
    const connector = new Connector({ answerBudget: budget });
    cleanup.push(async () => connector.close());
    const rpc = new RpcClient(`http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}/`, { connector });
    const order: string[] = [];
    const first = rpc.call('first', []).then((v) => (order.push('first'), v));
    await until(() => endFirst !== undefined && budget.usedBytes >= 30 * 1024, 'the first answer to hold its bytes');
    const second = rpc.call('second', []).then((v) => (order.push('second'), v));
    await until(() => budget.waitingAnswers === 1, 'the second answer to wait for the budget');
    expect(order).toEqual([]);
    expect(peakWhileFirstHeld).toBeLessThanOrEqual(64 * 1024);
    firstHeld = false;
    endFirst!();
    expect(await first).toBe('a'.repeat(30 * 1024));
    expect(await second).toBe('b'.repeat(1024 * 1024));
    expect(order).toEqual(['first', 'second']);
    expect(budget.usedBytes).toBe(0);
  });
});

describe('an answer waiting for the budget', () => {
  it('still meets its call deadline (it does not wait for ever behind a stuck answer)', async () => {
    const budget = new AnswerBudget(16 * 1024);
    const head = '<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name><value>';
    const server = (await import('node:http')).createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/xml' });
        // The first answer never ends; the second is complete, but cannot be read in time.
        if (body.includes('<methodName>stuck</methodName>')) res.write(head + 's'.repeat(20 * 1024));
        else res.end(`${head}${'w'.repeat(64 * 1024)}</value></member></struct></value></param></params></methodResponse>`);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => { server.closeAllConnections(); server.close(r); }));
    const connector = new Connector({ answerBudget: budget });
    cleanup.push(async () => connector.close());
    const rpc = new RpcClient(`http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}/`, { connector });
    const stuck = rpc.call('stuck', [], { timeoutMs: 60_000 }).catch((e: unknown) => e);
    await until(() => budget.usedBytes >= 16 * 1024, 'the stuck answer to hold the budget');
    const err = await rpc.call('waits', [], { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(err).toMatchObject({ kind: 'timeout' });
    expect(budget.waitingAnswers).toBe(0);
    connector.close();
    expect(await stuck).toBeInstanceOf(Error);
  });
});

