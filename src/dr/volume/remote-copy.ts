/**
 * Backend (b): a workstation cannot plug a VDI into anything, so it works on a local copy
 * fetched through /export_raw_vdi and sends a commit plan (commit-plan.ts: the journaled
 * order that survives a cut anywhere) back through /import_raw_vdi, in one chunked request
 * whose chunks XAPI writes in order. The copy is then changed the same way, so it stays
 * byte-identical to the VDI.
 *
 * What is fetched:
 *  - a VDI created in this run is all zeros: nothing;
 *  - with a cache folder, the copy left by our last successful commit is reused when the
 *    VDI's first 2 MiB (superblock, group descriptors, group 0's bitmaps) are unchanged:
 *    any mount (mount count and time) or write (free counts, write time) by another tool
 *    changes them. The cache is marked invalid before it is touched and made valid again
 *    only after a commit succeeded, so a failed run never leaves a trusted stale copy;
 *  - otherwise the whole VDI (zero extents stay holes in the copy).
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { stageStream } from './staging.js';
import { BARRIER, type CommitPlan } from './commit-plan.js';
import { CHUNK_HEADER_BYTES, chunkHeader, exportRawVdi, importRawVdi, type Ref, type Session } from '../../xenapi/index.js';
import { ExpectedFailure } from '../../failure/index.js';

export const EXTENT = 64 * 1024;
/** Leading bytes compared to decide whether a cached copy is still the VDI's content. */
export const CACHE_CHECK_BYTES = 2 * 1024 * 1024;

export interface RemoteCopy {
  path: string;
  downloadedBytes: number;
  /** The copy came from the cache (only the check bytes were fetched). */
  fromCache: boolean;
  /**
   * Sends a plan's writes to the VDI in one request, in order; then `applyLocally` makes
   * the same writes to the copy. Returns the bytes of VDI data sent.
   */
  send(plan: CommitPlan, applyLocally: () => Promise<void>, opts?: { signal?: AbortSignal }): Promise<number>;
  /** Removes the local copy, or leaves it in the cache when it matches the VDI. */
  dispose(): Promise<void>;
}

export interface RemoteCopyOptions {
  fresh?: boolean;
  signal?: AbortSignal;
  /** Fetch only this many leading bytes (probing; read-only, never cached). */
  limitBytes?: number;
  /** Folder for cached copies; without it a temporary copy is used and removed. */
  cacheDir?: string;
  /** Cache key. */
  vdiUuid?: string;
  readOnly?: boolean;
}

interface CacheMeta {
  format: 'xsconsole-dr-vdi-cache';
  size: number;
  /** [extent index, sha1] of every extent that is not all zeros. */
  digests: Array<[number, string]>;
}

const ZEROS = Buffer.alloc(EXTENT);
/** memcmp against zeros: ~50× faster than a JS loop over 1 GiB. */
function isZero(buf: Buffer): boolean {
  return buf.length === EXTENT ? buf.equals(ZEROS) : buf.equals(ZEROS.subarray(0, buf.length));
}

const sha1 = (b: Buffer) => createHash('sha1').update(b).digest('hex');

/** Streams the VDI (or its first `limit` bytes) into `fh`, keeping zero extents as holes. */
async function download(
  session: Session,
  vdiRef: Ref,
  virtualSize: number,
  fh: FileHandle | null,
  digests: Map<number, string> | null,
  limit: number,
  signal: AbortSignal | undefined,
): Promise<Buffer[] | number> {
  const dl = await exportRawVdi(session, vdiRef, { ...(signal && { signal }), expectedBytes: virtualSize });
  const kept: Buffer[] = [];
  let offset = 0;
  const flushExtent = async (ext: Buffer) => {
    if (fh === null) kept.push(Buffer.from(ext));
    else if (!isZero(ext)) {
      await fh.write(ext, 0, ext.length, offset);
      digests?.set(offset / EXTENT, sha1(ext));
    }
    offset += ext.length;
  };
  // Whole extents up to the limit, the last piece cut at it. Leaving the stream early (for a
  // prefix only) cancels the transfer.
  const received = await stageStream(
    dl.stream as AsyncIterable<Buffer>,
    Buffer.allocUnsafe(EXTENT),
    (ext, last) => flushExtent(last ? ext.subarray(0, Math.min(ext.length, limit - offset)) : ext),
    { wanted: () => offset < limit, leaveEarly: limit < virtualSize },
  );
  if (limit < virtualSize) {
    await dl.done.catch(() => undefined); // cancelled on purpose
  } else {
    await dl.done;
    if (received !== virtualSize) throw new ExpectedFailure('VDI_DOWNLOAD_SHORT', `The VDI download ended after ${received} of ${virtualSize} bytes.`, 'Retry; if it repeats, check the network path and the SR holding the backup VDI.');
  }
  return fh === null ? kept : received;
}

async function readMeta(path: string, size: number): Promise<Map<number, string> | null> {
  try {
    const meta = JSON.parse(await readFile(path, 'utf8')) as CacheMeta;
    if (meta.format !== 'xsconsole-dr-vdi-cache' || meta.size !== size || !Array.isArray(meta.digests)) return null;
    return new Map(meta.digests);
  } catch {
    return null;
  }
}

async function writeMeta(path: string, size: number, digests: Map<number, string>): Promise<void> {
  const meta: CacheMeta = { format: 'xsconsole-dr-vdi-cache', size, digests: [...digests] };
  await writeFile(`${path}.tmp`, JSON.stringify(meta), { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}

/** Where the copy lives: a cache slot (locked for this process) or a temporary folder. */
async function placeCopy(opts: RemoteCopyOptions): Promise<{ path: string; metaPath: string | null; release: (keep: boolean) => Promise<void> }> {
  if (opts.cacheDir && opts.vdiUuid && opts.limitBytes === undefined) {
    await mkdir(opts.cacheDir, { recursive: true, mode: 0o700 });
    const base = join(opts.cacheDir, opts.vdiUuid);
    // One process per cached VDI at a time; a busy slot means: work without the cache. A slot
    // whose holder is gone (a killed run) is taken: the copy's metadata was removed before the
    // copy was touched, so what it left is never trusted.
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fh = await open(`${base}.lock`, 'wx', 0o600);
        try {
          await fh.writeFile(`${process.pid}\n`);
        } finally {
          await fh.close();
        }
        return {
          path: `${base}.img`,
          metaPath: `${base}.json`,
          release: async (keep) => {
            if (!keep) await rm(`${base}.img`, { force: true });
            await rm(`${base}.lock`, { force: true });
          },
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        if (attempt > 0 || !(await lockHolderGone(`${base}.lock`))) break;
        await rm(`${base}.lock`, { force: true });
      }
    }
  }
  const dir = await mkdtemp(join(tmpdir(), 'xsdr-vdi-'));
  return { path: join(dir, 'vdi.img'), metaPath: null, release: () => rm(dir, { recursive: true, force: true }) };
}

/** The cache slot's holder no longer runs (its pid is gone), or the slot is an old one without a pid. */
async function lockHolderGone(path: string): Promise<boolean> {
  const text = await readFile(path, 'utf8').catch(() => null);
  if (text === null) return false;
  const pid = Number(text.trim());
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    const age = await stat(path).then((st) => Date.now() - st.mtimeMs, () => 0);
    return age > 60 * 60_000;
  }
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export async function fetchRemoteCopy(session: Session, vdiRef: Ref, virtualSize: number, opts: RemoteCopyOptions = {}): Promise<RemoteCopy> {
  const place = await placeCopy(opts);
  let digests = new Map<number, string>();
  let downloadedBytes = 0;
  let fromCache = false;
  try {
    if (!opts.fresh && place.metaPath) {
      const cached = await readMeta(place.metaPath, virtualSize);
      const size = await stat(place.path).then((s) => s.size, () => -1);
      if (cached && size === virtualSize) {
        const check = Math.min(CACHE_CHECK_BYTES, virtualSize);
        const remote = Buffer.concat((await download(session, vdiRef, virtualSize, null, null, check, opts.signal)) as Buffer[]);
        downloadedBytes = remote.length;
        const local = Buffer.alloc(check);
        const fh = await open(place.path, 'r');
        try {
          await fh.read(local, 0, check, 0);
        } finally {
          await fh.close();
        }
        if (remote.equals(local)) {
          digests = cached;
          fromCache = true;
        }
      }
    }
    // From here the copy may differ from the VDI: the cache is not trusted until a commit.
    if (place.metaPath && !opts.readOnly) await rm(place.metaPath, { force: true });
    if (!fromCache) {
      if (place.metaPath) await rm(place.metaPath, { force: true });
      const fh = await open(place.path, 'w+', 0o600);
      try {
        await fh.truncate(virtualSize);
        if (!opts.fresh) {
          const limit = Math.min(virtualSize, opts.limitBytes ?? virtualSize);
          downloadedBytes += (await download(session, vdiRef, virtualSize, fh, digests, limit, opts.signal)) as number;
        }
      } finally {
        await fh.close();
      }
      // A full read-only copy is as good as a committed one for the next run.
      if (opts.readOnly && place.metaPath && opts.limitBytes === undefined) await writeMeta(place.metaPath, virtualSize, digests);
    }
  } catch (err) {
    await place.release(false);
    throw err;
  }

  let committed = opts.readOnly === true;
  return {
    path: place.path,
    downloadedBytes,
    fromCache,
    async send(plan, applyLocally, c = {}) {
      const writes = plan.ops.filter((op) => op !== BARRIER);
      const bodyLength = writes.reduce((n, w) => n + CHUNK_HEADER_BYTES + w.length, CHUNK_HEADER_BYTES);
      async function* frames() {
        for (const w of writes) {
          const data = await w.read();
          yield chunkHeader(w.offset, data.length);
          yield data;
        }
        yield chunkHeader(0, 0);
      }
      // From the first byte sent the cached copy may no longer match the VDI.
      if (place.metaPath) await rm(place.metaPath, { force: true });
      committed = false;
      await importRawVdi(session, vdiRef, Readable.from(frames()), { chunked: true, length: bodyLength }, c.signal ? { signal: c.signal } : {});
      await applyLocally();
      const touched = new Set<number>();
      for (const w of writes) for (let i = Math.floor(w.offset / EXTENT); i <= Math.floor((w.offset + w.length - 1) / EXTENT); i++) touched.add(i);
      const fh = await open(place.path, 'r');
      try {
        const buf = Buffer.alloc(EXTENT);
        for (const index of touched) {
          const len = Math.min(EXTENT, virtualSize - index * EXTENT);
          await fh.read(buf, 0, len, index * EXTENT);
          const ext = buf.subarray(0, len);
          if (isZero(ext)) digests.delete(index);
          else digests.set(index, sha1(ext));
        }
      } finally {
        await fh.close();
      }
      // The VDI now holds exactly this copy: it may serve the next run.
      if (place.metaPath) await writeMeta(place.metaPath, virtualSize, digests);
      committed = true;
      return plan.bytes;
    },
    async dispose() {
      await place.release(committed && place.metaPath !== null);
    },
  };
}
