import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeExt3, checkExt3 } from '../../src/dr/volume/e2fsprogs.js';
import { openExt3, openExt3Staged, FilesystemRefusedError } from '../../src/dr/volume/ext3.js';
import { NotExtFilesystemError } from '../../src/dr/volume/superblock.js';
import { FilesystemError } from '../../src/dr/volume/fs-errors.js';
import { writeFileBytes } from '../../src/dr/volume/files.js';
import { explainError } from '../../src/failure/index.js';
import { openImageForWrite } from '../helpers/image-writer.js';

const SBIN = { ...process.env, PATH: `${process.env['PATH']}:/usr/sbin:/sbin` };
const debugfs = (img: string, cmd: string) =>
  execFileSync('debugfs', ['-R', cmd, img], { env: SBIN, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
const sha = async (p: string) => createHash('sha256').update(await readFile(p)).digest('hex');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xsdr-vol-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function newImage(name: string, size = 64 * 1024 * 1024): Promise<string> {
  const img = join(dir, name);
  await (await open(img, 'w')).close();
  await truncate(img, size);
  await makeExt3(img);
  return img;
}

describe('ext3 volume through libext2fs', () => {
  it('leaves no handler of the ext2fs loader that rethrows crashes from its own one-line source', () => {
    const events = process as NodeJS.EventEmitter;
    for (const event of ['uncaughtException', 'unhandledRejection']) {
      expect(events.listeners(event).filter((l) => /ExitStatus|throw reason/.test(String(l)))).toEqual([]);
    }
  });

  it('names a full filesystem as such, with what to do, instead of libext2fs error numbers', async () => {
    const img = await newImage('full.img', 8 * 1024 * 1024);
    const vol = await openImageForWrite(img);
    let err: unknown;
    try {
      for (let i = 0; i < 64; i++) await writeFileBytes(vol.fs, `/f${i}`, Buffer.alloc(512 * 1024, i));
    } catch (e) {
      err = e;
    } finally {
      await vol.close();
    }
    expect(err).toBeInstanceOf(FilesystemError);
    const e = explainError(err);
    expect(e.code).toBe('EXT2_ET_BLOCK_ALLOC_FAIL');
    expect(e.meaning).toMatch(/full/);
    expect(e.nextStep).toMatch(/--keep/);
    expect(e.meaning).not.toMatch(/2133571/);
  });

  it('writes files, folders and relative symlinks that e2fsck and debugfs accept', async () => {
    const img = await newImage('a.img');
    const vol = await openImageForWrite(img);
    expect(vol.superblock.hasJournal).toBe(true);
    await vol.fs.writeFile('/.ctxs-metadata-backup', '1\n');
    await vol.fs.mkdir('/metadata', 0o755);
    await vol.fs.mkdir('/metadata/d', 0o755);
    await vol.fs.mkdir('/metadata/d/all', 0o755);
    await vol.fs.mkdir('/metadata/d/by-sr', 0o755);
    await vol.fs.mkdir('/metadata/d/by-sr/s', 0o755);
    await vol.fs.writeFile('/metadata/d/all/v.vmmeta', Buffer.alloc(5000, 1));
    await vol.fs.symlink('../../all/v.vmmeta', '/metadata/d/by-sr/s/v.vmmeta');
    await vol.fs.rename('/metadata/d', '/metadata/2024-01-01-00-00-00');
    await vol.close();

    expect((await checkExt3(img, { readOnly: true })).verdict).toBe('clean');
    expect(debugfs(img, 'cat /.ctxs-metadata-backup')).toBe('1\n');
    expect(debugfs(img, 'stat /metadata/2024-01-01-00-00-00/by-sr/s/v.vmmeta')).toMatch(/Type: symlink/);
    expect(debugfs(img, 'stat /metadata/2024-01-01-00-00-00/by-sr/s/v.vmmeta')).toContain('../../all/v.vmmeta');
  });

  it('reports space like df and sees it grow', async () => {
    const img = await newImage('b.img');
    const vol = await openImageForWrite(img);
    const before = vol.superblock;
    await vol.fs.writeFile('/big', Buffer.alloc(8 * 1024 * 1024, 7));
    await vol.close();
    const reopened = await openExt3(img, { write: false });
    const after = reopened.superblock;
    await reopened.close();
    expect(after.usedBytes - before.usedBytes).toBeGreaterThanOrEqual(8 * 1024 * 1024);
    expect(after.usedPercent).toBeGreaterThan(before.usedPercent);
  });

  it('never modifies the disk when opened read-only', async () => {
    const img = await newImage('c.img');
    const w = await openImageForWrite(img);
    await w.fs.writeFile('/f', 'hello');
    await w.close();
    const digest = await sha(img);
    const r = await openExt3(img, { write: false });
    expect(await r.fs.readFile('/f', 'utf8')).toBe('hello');
    expect(await r.fs.readdir('/')).toContain('f');
    await r.fs.writeFile('/scribble', 'x'); // lands in the overlay only
    await r.close();
    expect(await sha(img)).toBe(digest);
  });

  it('refuses a disk that is not ext', async () => {
    const img = join(dir, 'junk.img');
    await (await open(img, 'w')).close();
    await truncate(img, 4 * 1024 * 1024);
    await expect(openExt3(img, { write: false })).rejects.toBeInstanceOf(NotExtFilesystemError);
  });

  it('repairs a filesystem that was not cleanly unmounted (e2fsck -p) before writing', async () => {
    const img = await newImage('e.img');
    const fh = await open(img, 'r+');
    const b = Buffer.alloc(2);
    b.writeUInt16LE(0, 0); // s_state: not clean
    await fh.write(b, 0, 2, 1024 + 58);
    const c = Buffer.alloc(4);
    c.writeUInt32LE(7, 0); // s_free_blocks_count: wrong
    await fh.write(c, 0, 4, 1024 + 12);
    await fh.close();
    const vol = await openImageForWrite(img);
    expect(vol.repaired).toBe(true);
    expect(vol.superblock.freeBlocks).toBeGreaterThan(7);
    await vol.fs.writeFile('/after-repair', 'ok');
    await vol.close();
    expect((await checkExt3(img, { readOnly: true })).verdict).toBe('clean');
  });

  it('refuses to write a filesystem needing journal recovery when it cannot check it', async () => {
    const img = await newImage('d.img');
    const fh = await open(img, 'r+');
    const b = Buffer.alloc(4);
    await fh.read(b, 0, 4, 1024 + 96);
    b.writeUInt32LE(b.readUInt32LE(0) | 0x4, 0); // INCOMPAT_RECOVER
    await fh.write(b, 0, 4, 1024 + 96);
    await fh.close();
    const digest = await sha(img);
    await expect(openExt3Staged(img)).rejects.toBeInstanceOf(FilesystemRefusedError);
    expect(await sha(img)).toBe(digest);
  });
});
