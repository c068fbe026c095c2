/**
 * Faults of the filesystem library (the `ext2fs` package 4.2.5, libext2fs in WebAssembly
 * with a fixed 16 MiB heap shared by the whole process) that the volume layer works around:
 *  - readdir lost ~16 KiB of the heap per call: after ~1000 listings every later operation
 *    of the process failed ("Aborted(OOM)");
 *  - FileHandle.close() did not wait, so an unmount right after closed the file again (a
 *    double free: "memory access out of bounds");
 *  - write() ignored the buffer offset: every file over 1 MiB was silently corrupted (a
 *    5000-VM pool's SRMETA.xml could not be read back).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeExt3 } from '../../src/dr/volume/e2fsprogs.js';
import { openExt3 } from '../../src/dr/volume/ext3.js';
import { closeFile, readFileBytes, writeFileBytes, writeStreamToFile } from '../../src/dr/volume/files.js';
import { debugfs, imageLs } from '../helpers/pool.js';
import { openImageForWrite } from '../helpers/image-writer.js';

const SBIN_ENV = { ...process.env, PATH: `${process.env['PATH']}:/usr/sbin:/sbin`, LC_ALL: 'C' };
const ENTRIES = 1500;
let dir = '';
let image = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xsdr-ext2fs-'));
  image = join(dir, 'disk.img');
  await writeFile(image, '');
  await truncate(image, 1024 ** 3); // the backup VDI's size: 4 KiB blocks, as in production
  await makeExt3(image);
  const vol = await openImageForWrite(image);
  await vol.fs.mkdir('/big', 0o755);
  for (let i = 0; i < ENTRIES; i++) await writeFileBytes(vol.fs, `/big/${String(i).padStart(5, '0')}-0b1d4e2a-4c55-4f7e-9a0c-5e3f7d2c1b${String(i % 100).padStart(2, '0')}.vmmeta`, `${i}`);
  await vol.fs.mkdir('/small', 0o755);
  await writeFileBytes(vol.fs, '/small/a', 'a');
  await vol.fs.symlink('../big', '/small/link');
  await vol.close();
  // e2fsck -D rebuilds directories with hash-tree indexes, as a kernel writes big ones.
  try {
    execFileSync('e2fsck', ['-fyD', image], { env: SBIN_ENV, stdio: 'ignore' });
  } catch (e) {
    if ((e as { status?: number }).status !== 1) throw e; // 1 = "fixed" (optimised): fine
  }
}, 60_000);
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('directory listing', () => {
  it('lists a hash-indexed directory exactly as debugfs does', async () => {
    expect(debugfs(image, 'htree /big')).toMatch(/Root node dump/);
    const vol = await openExt3(image, { write: false, fsck: false });
    try {
      const mine = (await vol.fs.readdir('/big')).sort();
      expect(mine).toHaveLength(ENTRIES);
      expect(mine).toEqual(imageLs(image, '/big').sort());
      expect((await vol.fs.readdir('/small')).sort()).toEqual(['a', 'link']);
      expect(await vol.fs.readdir('/small/link')).toHaveLength(ENTRIES); // follows, as readdir does
      await expect(vol.fs.readdir('/small/a')).rejects.toMatchObject({ code: 'ENOTDIR' });
      await expect(vol.fs.readdir('/nowhere')).rejects.toThrow();
    } finally {
      await vol.close();
    }
  });

  it('survives 3000 listings in one process (the library alone ran out after ~1000)', async () => {
    for (let round = 0; round < 30; round++) {
      const vol = await openExt3(image, { write: false, fsck: false });
      try {
        for (let i = 0; i < 100; i++) expect(await vol.fs.readdir('/small')).toHaveLength(2);
      } finally {
        await vol.close();
      }
    }
  });
});

describe('file contents', () => {
  it('writes files larger than one write chunk byte for byte (the package dropped the buffer offset)', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 1);
    const vol = await openImageForWrite(image);
    try {
      await writeFileBytes(vol.fs, '/large', data);
      // A stream whose chunks are bigger than a write chunk takes the same path.
      await writeStreamToFile(vol.fs, '/streamed', (async function* () {
        yield data.subarray(0, 2 * 1024 * 1024 + 7);
        yield data.subarray(2 * 1024 * 1024 + 7);
      })());
    } finally {
      await vol.close();
    }
    const ro = await openExt3(image, { write: false, fsck: false });
    try {
      expect((await readFileBytes(ro.fs, '/large', 1 << 26)).equals(data)).toBe(true);
      expect((await readFileBytes(ro.fs, '/streamed', 1 << 26)).equals(data)).toBe(true);
    } finally {
      await ro.close();
    }
    // And as e2fsprogs reads it.
    const dumped = join(dir, 'large.out');
    execFileSync('debugfs', ['-R', `dump /large ${dumped}`, image], { env: SBIN_ENV, stdio: 'ignore' });
    expect((await readFile(dumped)).equals(data)).toBe(true);
  });
});

describe('closing files', () => {
  it('has closed a handle when closeFile returns, so an unmount right after cannot close it twice', async () => {
    for (let i = 0; i < 100; i++) {
      const vol = await openExt3(image, { write: false, fsck: false });
      try {
        for (const path of ['/', '/small', '/small/a']) await closeFile(vol.fs, await vol.fs.open(path, 'r'));
      } finally {
        await vol.close();
      }
    }
    const vol = await openExt3(image, { write: false, fsck: false });
    expect(await vol.fs.readdir('/small')).toHaveLength(2);
    await vol.close();
  });
});
