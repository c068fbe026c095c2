/**
 * Directory listing without the `ext2fs` package's readdir, which leaks: its C side
 * (node_ext2fs_readdir, ext2fs 4.2.5) opens the directory with ext2fs_file_open and never
 * closes it, losing ~16 KiB of the WebAssembly module's fixed 16 MiB heap per call. After
 * about 1000 listings in one process every later mount fails ("node_ext2fs_mount UNKNOWN")
 * or libext2fs aborts with OOM — a console session would stop working after a few dozen
 * backup lists. Here the directory's bytes are read through a file handle that is closed,
 * and its ext2 entries parsed (a linear walk: htree index blocks read as empty entries).
 */
import type { Ext2Promises } from 'ext2fs';
import { closeFile } from './files.js';
import { ExpectedFailure } from '../../failure/index.js';

/** Largest directory read (a backup VDI's biggest holds one entry per VM). */
const MAX_DIRECTORY_BYTES = 64 * 1024 * 1024;
/** inode u32, rec_len u16, name_len u8, file_type u8 */
const DIRENT_HEADER = 8;

export class CorruptDirectoryError extends ExpectedFailure {
  constructor(path: string, detail: string) {
    super('BACKUP_FS_DAMAGED', `The directory ${path} on the backup filesystem is damaged (${detail}).`, 'The backup filesystem is damaged: check the disk (e2fsck -fn on the host), and restore from another backup VDI or back up to a fresh one.');
    this.name = 'CorruptDirectoryError';
  }
}

/** Names in an ext2 directory's data, without "." and ".." (entries with inode 0 are free space). */
export function parseDirectoryEntries(data: Buffer, path = '(directory)'): string[] {
  const names: string[] = [];
  let off = 0;
  while (off < data.length) {
    if (off + DIRENT_HEADER > data.length) throw new CorruptDirectoryError(path, `entry header cut at byte ${off}`);
    const inode = data.readUInt32LE(off);
    const recLen = data.readUInt16LE(off + 4);
    const nameLen = data[off + 6]!;
    if (recLen < DIRENT_HEADER || recLen % 4 !== 0 || off + recLen > data.length) {
      throw new CorruptDirectoryError(path, `entry at byte ${off} has length ${recLen}`);
    }
    if (inode !== 0) {
      if (DIRENT_HEADER + nameLen > recLen || nameLen === 0) throw new CorruptDirectoryError(path, `entry at byte ${off} has a name of ${nameLen} bytes`);
      const raw = data.subarray(off + DIRENT_HEADER, off + DIRENT_HEADER + nameLen);
      // A name is one path component: a crafted "a/../../b" must never reach a path join.
      if (raw.includes(0x2f) || raw.includes(0)) throw new CorruptDirectoryError(path, `entry at byte ${off} has a "/" or NUL in its name`);
      const name = raw.toString('utf8');
      if (name !== '.' && name !== '..') names.push(name);
    }
    off += recLen;
  }
  return names;
}

/** The names in directory `path` (symlinks followed, as readdir does). */
export async function listDirectory(fs: Ext2Promises, path: string): Promise<string[]> {
  const st = await fs.stat(path);
  if (!st.isDirectory()) {
    throw Object.assign(new Error(`ENOTDIR: not a directory, scandir '${path}'`), { code: 'ENOTDIR' });
  }
  if (st.size > MAX_DIRECTORY_BYTES) throw new CorruptDirectoryError(path, `${st.size} bytes`);
  const data = Buffer.alloc(st.size);
  const fh = await fs.open(path, 'r');
  let done = 0;
  try {
    while (done < data.length) {
      const { bytesRead } = await fh.read(data, done, data.length - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
  } finally {
    await closeFile(fs, fh);
  }
  return parseDirectoryEntries(data.subarray(0, done), path);
}

/** `fs` with a readdir that does not leak (everything else unchanged). */
export function withSafeReaddir(fs: Ext2Promises): Ext2Promises {
  return { ...fs, readdir: (path: string) => listDirectory(fs, path) };
}
