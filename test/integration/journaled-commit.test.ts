/**
 * A commit cut anywhere leaves a filesystem the stock scripts read, with every earlier
 * backup intact and the new one either wholly there or not at all. The commit plan of a
 * backup-shaped change (a rotation, a pruned folder whose blocks the new one reuses, a new
 * dated folder) is applied to copies of the image up to every interesting point, and each
 * copy is looked at as the stock restore does (debugfs probe, fsck -a, then read) and as
 * this program does (reading through the journal, without e2fsck).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Ext2Promises } from 'ext2fs';
import { makeExt3 } from '../../src/dr/volume/e2fsprogs.js';
import { openExt3, openExt3Staged } from '../../src/dr/volume/ext3.js';
import { FileBlockDevice } from '../../src/dr/volume/block-device.js';
import { BARRIER, deviceSink, planJournaledCommit, type CommitPlan } from '../../src/dr/volume/commit-plan.js';
import { removeTree, writeFileBytes } from '../../src/dr/volume/files.js';
import { readSuperblock } from '../../src/dr/volume/superblock.js';
import { openImageForWrite } from '../helpers/image-writer.js';
import { debugfs, fsckPreen, fsckReadOnly } from '../helpers/pool.js';

const SBIN = { ...process.env, PATH: `${process.env['PATH']}:/usr/sbin:/sbin`, LC_ALL: 'C' };
const POOL = '0f7a1e2d-3c4b-4a59-8b6c-7d8e9f0a1b2c';
const SR = '5c4d3e2f-1a0b-4c9d-8e7f-6a5b4c3d2e1f';
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xsdr-journal-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const uuid = (i: number) => `8d1c2f3e-0000-4000-8000-${String(i).padStart(12, '0')}`;
const bytes = (seed: number, n: number) => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (seed * 131 + i * 7 + (i >> 9)) & 0xff;
  return b;
};

/** One stock-shaped dated folder with `vms` exports of a few KiB each. */
async function writeBackup(fs: Ext2Promises, date: string, vms: number, seed: number): Promise<void> {
  const d = `/metadata/${date}`;
  await fs.mkdir(d, 0o755);
  await fs.mkdir(`${d}/all`, 0o755);
  await fs.mkdir(`${d}/by-sr`, 0o755);
  await fs.mkdir(`${d}/by-sr/${SR}`, 0o755);
  await writeFileBytes(fs, `${d}/SRMETA.xml`, `<meta seed="${seed}"/>`, 0o644);
  for (let i = 0; i < vms; i++) {
    await writeFileBytes(fs, `${d}/all/${uuid(i)}.vmmeta`, bytes(seed + i, 3000 + ((seed + i) % 7) * 2500), 0o600);
    await fs.symlink(`../../all/${uuid(i)}.vmmeta`, `${d}/by-sr/${SR}/${uuid(i)}.vmmeta`);
  }
}

/** Every path in the filesystem with what it holds, as one comparable text. */
async function listing(image: string): Promise<string> {
  const vol = await openExt3(image, { write: false });
  const out: string[] = [];
  const walk = async (path: string): Promise<void> => {
    for (const name of (await vol.fs.readdir(path)).sort()) {
      if (name === '.' || name === '..' || name === 'lost+found') continue;
      const p = `${path === '/' ? '' : path}/${name}`;
      const st = await vol.fs.lstat(p);
      if (st.isDirectory()) {
        out.push(`${p}/`);
        await walk(p);
      } else if (st.isSymbolicLink()) out.push(`${p} -> ${await vol.fs.readlink(p)}`);
      else out.push(`${p} ${createHash('sha1').update(await vol.fs.readFile(p)).digest('hex')}`);
    }
  };
  try {
    await walk('/');
  } finally {
    await vol.close();
  }
  return out.join('\n');
}


/** Applies the plan's first `writes` writes to `image`, as a commit cut after them would. */
async function applyPrefix(plan: CommitPlan, image: string, writes: number): Promise<void> {
  const dev = await FileBlockDevice.open(image, { readOnly: false });
  try {
    const sink = deviceSink(dev);
    let n = 0;
    for (const op of plan.ops) {
      if (op === BARRIER) continue;
      if (n++ >= writes) break;
      await sink.write(op.offset, await op.read());
    }
    await dev.flush();
  } finally {
    await dev.close();
  }
}

describe('the journaled commit', () => {
  let before: string;
  let plan: CommitPlan;
  let listingBefore: string;
  let listingAfter: string;
  let staged: Awaited<ReturnType<typeof openExt3Staged>>;
  /** Index (among writes) of the write that makes the journal live. */
  let flipAt: number;

  beforeAll(async () => {
    before = join(dir, 'before.img');
    await writeFile(before, '');
    await truncate(before, 32 * 1024 * 1024);
    await makeExt3(before);
    const w = await openImageForWrite(before);
    await writeFileBytes(w.fs, '/.ctxs-metadata-backup', '1\n', 0o644);
    await w.fs.mkdir('/conf', 0o755);
    await writeFileBytes(w.fs, '/conf/x', 'rotate 2\n', 0o644);
    await w.fs.mkdir('/metadata', 0o755);
    await writeFileBytes(w.fs, `/${POOL}.db`, bytes(1, 90_000), 0o600);
    await writeBackup(w.fs, '2024-06-01-02-00-00', 30, 10);
    await writeBackup(w.fs, '2024-06-02-02-00-00', 30, 20);
    await w.close();
    listingBefore = await listing(before);

    // The next backup: rotate the dump, prune the oldest folder, write a new one (reusing its blocks).
    staged = await openExt3Staged(before);
    const fs = staged.fs;
    await fs.rename(`/${POOL}.db`, `/${POOL}.db.1`);
    await writeFileBytes(fs, `/${POOL}.db`, bytes(2, 95_000), 0o600);
    await removeTree(fs, '/metadata/2024-06-01-02-00-00');
    await writeBackup(fs, '2024-06-03-02-00-00', 34, 30);
    await staged.finish();
    plan = await planJournaledCommit(staged.staged, new Date('2024-06-03T02:00:05Z'));

    const after = join(dir, 'after.img');
    await copyFile(before, after);
    await applyPrefix(plan, after, Infinity);
    listingAfter = await listing(after);
    expect(fsckReadOnly(after).code).toBe(0);
    const writes = plan.ops.filter((op) => op !== BARRIER);
    const jsbWrites = writes.map((w, i) => [w, i] as const).filter(([w]) => w.length === 512 && w.offset !== 1024);
    flipAt = jsbWrites[0]![1];
  });

  afterAll(async () => {
    await staged?.dispose();
  });

  it('journals what was in use and writes only what was free in place before the commit block', () => {
    expect(listingAfter).not.toBe(listingBefore);
    expect(listingAfter).toContain('/metadata/2024-06-03-02-00-00/');
    expect(listingAfter).not.toContain('/metadata/2024-06-01-02-00-00/');
    expect(plan.summary.kind).toBe('journaled');
    expect(plan.summary.journaled).toBeGreaterThan(0);
    expect(plan.summary.inPlace).toBeGreaterThan(0);
    // Every write is whole sectors, as XAPI's raw import requires.
    for (const op of plan.ops) if (op !== BARRIER) expect([op.offset % 512, op.length % 512]).toEqual([0, 0]);
  });

  it('a cut at any point leaves the old state or the new one, for the stock restore and for us', { timeout: 180_000 }, async () => {
    const writes = plan.ops.filter((op) => op !== BARRIER).length;
    const points = new Set<number>();
    for (let k = 0; k <= writes; k += Math.max(1, Math.floor(writes / 12))) points.add(k);
    // Around the barriers: the commit block, the two flips, the end of the checkpoint, the clears.
    let n = 0;
    for (const op of plan.ops) {
      if (op === BARRIER) for (const k of [n - 1, n, n + 1]) if (k >= 0 && k <= writes) points.add(k);
      else n++;
    }
    // The whole window from the commit block to the end (the checkpoint is short).
    for (let k = Math.max(0, flipAt - 2); k <= writes; k++) points.add(k);
    const seen = { before: 0, after: 0 };
    for (const k of [...points].sort((a, b) => a - b)) {
      const cut = join(dir, `cut-${k}.img`);
      await copyFile(before, cut);
      await applyPrefix(plan, cut, k);
      // The stock restore probes the marker with debugfs before anything else.
      expect(debugfs(cut, 'stat /.ctxs-metadata-backup').split('\n')[0], `cut after ${k} writes`).toContain('Type: regular');
      // We read it without e2fsck, through the journal.
      const ours = await listing(cut);
      const expected = k > flipAt ? listingAfter : listingBefore;
      expect(ours === expected, `our reading after ${k} of ${writes} writes (journal live from ${flipAt + 1})`).toBe(true);
      // The stock scripts run fsck -a, which must succeed, and then see the same.
      expect(fsckPreen(cut), `fsck -a after ${k} writes`).toBe(0);
      expect(fsckReadOnly(cut).code, `e2fsck -fn after fsck -a, cut after ${k} writes`).toBe(0);
      expect(await listing(cut)).toBe(expected);
      seen[expected === listingAfter ? 'after' : 'before']++;
      await rm(cut);
    }
    expect(seen.before).toBeGreaterThan(3);
    expect(seen.after).toBeGreaterThan(3);
  });

  it('reads a filesystem whose journal needs recovery as recovered, and never changes it', async () => {
    const cut = join(dir, 'live-journal.img');
    await copyFile(before, cut);
    await applyPrefix(plan, cut, flipAt + 1);
    const dev = await FileBlockDevice.open(cut, { readOnly: true });
    expect((await readSuperblock(dev)).needsRecovery).toBe(true);
    await dev.close();
    const digest = createHash('sha1').update(await readFile(cut)).digest('hex');
    expect(await listing(cut)).toBe(listingAfter);
    expect(createHash('sha1').update(await readFile(cut)).digest('hex')).toBe(digest);
  });
});

describe('journal recovery agrees with e2fsck', () => {
  it('replays a journal written the kernel way (debugfs), revoked blocks included, as e2fsck -p does', async () => {
    const image = join(dir, 'kernel-journal.img');
    await writeFile(image, '');
    await truncate(image, 32 * 1024 * 1024);
    await makeExt3(image);
    const w = await openImageForWrite(image);
    await writeFileBytes(w.fs, '/a', bytes(5, 20_000), 0o644);
    await writeFileBytes(w.fs, '/b', bytes(6, 20_000), 0o644);
    await w.close();
    const blockOf = (path: string) => Number(/\((\d+)\)/.exec(debugfs(image, `blocks ${path}`))?.[1] ?? /^(\d+)/.exec(debugfs(image, `blocks ${path}`).trim())![1]);
    const a = blockOf('/a');
    const b = blockOf('/b');
    const payload = join(dir, 'payload');
    await writeFile(payload, bytes(99, 2048)); // one 1 KiB block for each listed block
    // Two transactions: the first writes /a's and /b's first blocks, the second revokes /b's.
    execFileSync('debugfs', ['-w', '-f', '-', image], { env: SBIN, input: `jo\njw -b ${a},${b} ${payload}\njc\njo\njw -r ${b}\njc\n`, stdio: ['pipe', 'ignore', 'ignore'] });
    const ours = await listing(image);
    const copy = join(dir, 'kernel-journal-fsck.img');
    await copyFile(image, copy);
    expect(fsckPreen(copy)).toBe(0);
    expect(await listing(copy)).toBe(ours);
    expect(ours).not.toBe(await listingWithoutReplay(image));
  });
});

/** The filesystem as it lies on disk, journal ignored (what a reader without recovery sees). */
async function listingWithoutReplay(image: string): Promise<string> {
  const copy = `${image}.raw`;
  await copyFile(image, copy);
  // Clearing needs_recovery makes every reader take the blocks as they are.
  execFileSync('debugfs', ['-w', '-R', 'feature ^needs_recovery', copy], { env: SBIN, stdio: 'ignore' });
  try {
    return await listing(copy);
  } finally {
    await rm(copy);
  }
}
