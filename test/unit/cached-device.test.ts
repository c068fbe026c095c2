import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileBlockDevice } from '../../src/dr/volume/block-device.js';
import { CachedBlockDevice } from '../../src/dr/volume/cached-device.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xsdr-cache-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// Deterministic pseudo-random writes, mirrored into a plain buffer as the reference.
function* writes(seed: number, size: number, count: number) {
  let s = seed;
  const next = () => (s = (s * 1103515245 + 12345) >>> 0);
  for (let i = 0; i < count; i++) {
    const len = 1 + (next() % 9000);
    const pos = next() % (size - len);
    yield { pos, data: Buffer.alloc(len, next() & 0xff) };
  }
}

describe('CachedBlockDevice', () => {
  it.each([
    ['roomy cache', {}],
    ['tiny cache that writes back and evicts constantly', { maxDirtyBytes: 8192, maxCachedBytes: 16384 }],
  ])('ends with the same bytes as direct writes (%s)', async (_name, opts) => {
    const size = 1 << 20;
    const file = join(dir, `img-${Math.random()}`);
    await writeFile(file, Buffer.alloc(size));
    const reference = Buffer.alloc(size);
    const dev = new CachedBlockDevice(await FileBlockDevice.open(file), opts);
    for (const w of writes(7, size, 400)) {
      w.data.copy(reference, w.pos);
      await dev.write(w.data, 0, w.data.length, w.pos);
      const back = Buffer.alloc(w.data.length);
      await dev.read(back, 0, back.length, w.pos);
      expect(back.equals(w.data)).toBe(true);
    }
    const whole = Buffer.alloc(size);
    await dev.read(whole, 0, size, 0);
    expect(whole.equals(reference)).toBe(true);
    await dev.close();
    expect((await readFile(file)).equals(reference)).toBe(true);
  });

  it('reads ahead over existing content and serves concurrent reads and writes in order', async () => {
    const size = (1 << 20) + 1000; // a last page that is partly past the end
    const file = join(dir, `img-${Math.random()}`);
    const reference = Buffer.alloc(size);
    for (let i = 0; i < size; i++) reference[i] = (i * 31 + (i >> 12)) & 0xff;
    await writeFile(file, reference);
    const dev = new CachedBlockDevice(await FileBlockDevice.open(file), { maxDirtyBytes: 16384, maxCachedBytes: 65536, readAheadPages: 8 });
    // Issued without waiting, as two callers of one device would: each read must see every
    // write issued before it.
    const pending: Promise<unknown>[] = [];
    for (const w of writes(11, size, 300)) {
      w.data.copy(reference, w.pos);
      pending.push(dev.write(w.data, 0, w.data.length, w.pos));
      const at = (w.pos * 7) % (size - 5000);
      const expected = Buffer.from(reference.subarray(at, at + 5000));
      const back = Buffer.alloc(5000);
      pending.push(dev.read(back, 0, 5000, at).then(() => expect(back.equals(expected)).toBe(true)));
    }
    await Promise.all(pending);
    const tail = Buffer.alloc(2000);
    expect(await dev.read(tail, 0, 2000, size - 1000)).toBe(1000);
    expect(tail.subarray(0, 1000).equals(reference.subarray(size - 1000))).toBe(true);
    await dev.close();
    expect((await readFile(file)).equals(reference)).toBe(true);
  });

  it('batches many small writes into few device writes', async () => {
    const file = join(dir, 'batch');
    await writeFile(file, Buffer.alloc(1 << 20));
    const base = await FileBlockDevice.open(file);
    const dev = new CachedBlockDevice(base);
    let calls = 0;
    const origWrite = base.write.bind(base);
    base.write = (...a) => (calls++, origWrite(...a));
    for (let i = 0; i < 1024; i++) await dev.write(Buffer.alloc(256, i & 0xff), 0, 256, i * 256);
    await dev.close();
    expect(calls).toBeLessThanOrEqual(2);
    expect(base.stats.bytesWritten).toBe(256 * 1024);
  });
});
