/**
 * Whole-file reads and writes on the backup filesystem. The `ext2fs` package's own
 * readFile returns a decoded string (binary-unsafe) and its writeFile copies the whole
 * buffer into the WebAssembly heap at once (a 27 MiB file ran it out of memory), so files
 * go through open/read/write in bounded chunks here.
 */
import type { Ext2Promises } from 'ext2fs';
import { translateFsError } from './fs-errors.js';
import { stageStream } from './staging.js';
import { ExpectedFailure } from '../../failure/index.js';

const CHUNK = 1024 * 1024;

type FileHandle = Awaited<ReturnType<Ext2Promises['open']>>;

/**
 * Closes a handle and waits until libext2fs has. The package's FileHandle.close() starts the
 * close without returning its promise, so an unmount right after it found the descriptor
 * still open and closed it a second time: a double free in the WebAssembly heap, later seen
 * as "memory access out of bounds" or a failed mount.
 */
export async function closeFile(fs: Ext2Promises, fh: FileHandle): Promise<void> {
  await fs.close(fh.fd);
}
/**
 * Stock's modes: folders from `mkdir -p` and files from shell redirection or Python under
 * root's umask 022 (the conf file, the marker, SRMETA.xml); what `xe pool-dump-database` and
 * `xe vm-export` write — password hashes, secrets — is created 0600 (ocaml/xe-cli/newcli.ml).
 */
export const FILE_MODE = 0o644;
export const SECRET_FILE_MODE = 0o600;
export const DIR_MODE = 0o755;

export class FileTooLargeError extends ExpectedFailure {
  constructor(
    readonly path: string,
    readonly size: number,
    readonly limit: number,
  ) {
    super('FILE_TOO_LARGE', `${path} is ${size} bytes, more than the ${limit} bytes accepted.`, 'Check where the backup came from: a genuine backup holds far smaller files. Nothing was written.');
    this.name = 'FileTooLargeError';
  }
}

/** Reads a regular file's bytes; refuses (without reading) anything over `maxBytes`. */
export async function readFileBytes(fs: Ext2Promises, path: string, maxBytes: number): Promise<Buffer> {
  const st = await fs.lstat(path);
  if (!st.isFile()) throw new Error(`${path} is not a regular file`);
  if (st.size > maxBytes) throw new FileTooLargeError(path, st.size, maxBytes);
  const out = Buffer.alloc(st.size);
  const fh = await fs.open(path, 'r');
  try {
    let done = 0;
    while (done < st.size) {
      const { bytesRead } = await fh.read(out, done, Math.min(CHUNK, st.size - done), done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done === st.size ? out : out.subarray(0, done);
  } finally {
    await closeFile(fs, fh);
  }
}

/**
 * Writes `part` at `position`. The package's write ignores a buffer offset (ext2fs 4.2.5:
 * the offset argument never reaches the copy, which always starts at byte 0), so writing
 * the second MiB of a buffer wrote its first MiB again: every file over 1 MiB was silently
 * corrupted. Only whole buffers, at offset 0, are passed.
 */
async function writeAt(fh: FileHandle, part: Buffer, position: number): Promise<number> {
  try {
    return (await fh.write(part, 0, part.length, position)).bytesWritten;
  } catch (err) {
    throw translateFsError(err, 'write');
  }
}

/** Creates or truncates `path` with `mode` (ext2fs's writeFile ignores the mode). */
export async function writeFileBytes(fs: Ext2Promises, path: string, data: Buffer | string, mode = FILE_MODE): Promise<number> {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const fh = await fs.open(path, 'w', mode);
  try {
    let done = 0;
    while (done < bytes.length) done += await writeAt(fh, bytes.subarray(done, done + CHUNK), done);
  } finally {
    await closeFile(fs, fh);
  }
  return bytes.length;
}

/** Runs a filesystem call when the caller's turn comes (Ext3Volume.exclusive), or at once. */
export type Exclusive = <T>(fn: () => Promise<T>) => Promise<T>;
const now: Exclusive = (fn) => fn();

/**
 * Streams chunks into a new file; returns the bytes written. Chunks are gathered into
 * 1 MiB writes, each taken through `exclusive` on its own, so other writers (VM exports)
 * get their turn while the stream is still arriving.
 */
export async function writeStreamToFile(fs: Ext2Promises, path: string, stream: AsyncIterable<Buffer>, opts: { mode?: number; exclusive?: Exclusive } = {}): Promise<number> {
  const ex = opts.exclusive ?? now;
  const fh = await ex(() => fs.open(path, 'w', opts.mode ?? FILE_MODE));
  let pos = 0;
  try {
    await stageStream(stream, Buffer.allocUnsafe(CHUNK), async (filled) => {
      await ex(async () => {
        let done = 0;
        while (done < filled.length) done += await writeAt(fh, filled.subarray(done), pos + done);
      });
      pos += filled.length;
    });
  } finally {
    await ex(() => closeFile(fs, fh));
  }
  return pos;
}

export async function pathExists(fs: Ext2Promises, path: string): Promise<boolean> {
  try {
    await fs.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** rm -rf inside the backup filesystem; never follows symlinks. */
export async function removeTree(fs: Ext2Promises, path: string): Promise<void> {
  const st = await fs.lstat(path);
  if (!st.isDirectory()) {
    await fs.unlink(path);
    return;
  }
  for (const name of await fs.readdir(path)) {
    if (name === '.' || name === '..') continue;
    await removeTree(fs, `${path}/${name}`);
  }
  await fs.rmdir(path);
}
