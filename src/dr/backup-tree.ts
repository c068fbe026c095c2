/**
 * Walking a backup filesystem nobody vouches for (a guest may have formatted a disk to look
 * like one — XSA-459 — or tampered with a replicated SR), in the shapes the stock
 * xe-backup-metadata writes and no other:
 *  - the marker is a regular file; metadata/, metadata/<date>/, all/, by-sr/ and
 *    by-sr/<sr>/ are real directories, never symbolic links that are followed;
 *  - a directory is listed only when its size is within bounds (a crafted one of 64 MiB is
 *    a minute of reading), and its names are counted;
 *  - an inode met twice (hard links: the stock script never makes one) is read once;
 *  - every read is charged to a budget of bytes and time, so a crafted image cannot keep a
 *    reader busy for longer than its deadline.
 */
import type { Ext2Promises } from 'ext2fs';
import { ExpectedFailure } from '../failure/index.js';

/** Largest directory listed: a 100 000-VM all/ takes about 5 MiB. */
export const MAX_LISTED_DIRECTORY_BYTES = 16 * 1024 * 1024;
/** Most names taken from one directory. */
export const MAX_LISTED_NAMES = 200_000;

type Stats = Awaited<ReturnType<Ext2Promises['lstat']>>;

/** What a path is, in words, when it is not what the stock layout has there. */
export function kindOf(st: Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a folder';
  if (st.isFile()) return 'a regular file';
  return 'a special file';
}

/** A path that exists but is not in the stock shape (code BAD_BACKUP_LAYOUT). */
export class LayoutError extends ExpectedFailure {
  constructor(
    readonly path: string,
    readonly detail: string,
    consequence = 'it was not read',
  ) {
    super(
      'BAD_BACKUP_LAYOUT',
      `The backup VDI's filesystem is not in the stock layout: ${path} is ${detail}, not what the stock backup writes there; ${consequence}.`,
      'Someone or something changed this disk (a guest can format a disk to look like a backup). Look at it with `xsconsole-dr inspect`, and back up to another SR or a fresh backup VDI.',
    );
    this.name = 'LayoutError';
  }
}

/**
 * Before a backup writes into an existing VDI: `path` is a real folder or absent. A link or
 * file there would take the backup's writes somewhere the stock layout never puts them.
 */
export async function assertFolderOrAbsent(fs: Ext2Promises, path: string): Promise<void> {
  const st = await lstatOrNull(fs, path);
  if (st && !st.isDirectory()) throw new LayoutError(path, kindOf(st), 'nothing was written to the backup VDI');
}

/** A read beyond the budget: too many bytes, or past the deadline. */
export class BudgetExceededError extends ExpectedFailure {
  constructor(
    readonly reason: 'bytes' | 'time',
    message: string,
  ) {
    super(reason === 'bytes' ? 'TOO_LARGE' : 'TOO_SLOW', message, 'Check where the backup came from: a genuine backup VDI is read in seconds. Nothing was written.');
    this.name = 'BudgetExceededError';
  }
}

export interface ReadLimits {
  /** Bytes of directories and files read in all (default unlimited). */
  maxBytes?: number;
  /** Milliseconds from the budget's creation (default unlimited). */
  deadlineMs?: number;
}

/** Inodes met so far: a second name for one of them is a hard link, read only once. */
export class SeenInodes {
  readonly #seen = new Map<number, string>();

  /** The name under which inode `ino` was met first, or null (and it is remembered as `name`). */
  firstNameOf(ino: number, name: string): string | null {
    const first = this.#seen.get(ino);
    if (first !== undefined) return first;
    this.#seen.set(ino, name);
    return null;
  }
}

/** Bytes and time a walk may spend; every read is charged before it is made. */
export class ReadBudget {
  readonly #maxBytes: number;
  readonly #deadline: number;
  readonly #deadlineMs: number;
  #spent = 0;
  /** Files and folders read so far (by inode). */
  readonly inodes = new SeenInodes();

  constructor(limits: ReadLimits = {}) {
    this.#maxBytes = limits.maxBytes ?? Infinity;
    this.#deadlineMs = limits.deadlineMs ?? Infinity;
    this.#deadline = Date.now() + this.#deadlineMs;
  }

  get spent(): number {
    return this.#spent;
  }

  /** Throws when the deadline has passed. */
  check(): void {
    if (Date.now() > this.#deadline) {
      throw new BudgetExceededError('time', `reading took longer than ${Math.round(this.#deadlineMs / 1000)} s and was stopped`);
    }
  }

  /** Charges `bytes` for reading `path`; throws when over the budget or the deadline. */
  spend(bytes: number, path: string): void {
    this.check();
    if (this.#spent + bytes > this.#maxBytes) {
      throw new BudgetExceededError('bytes', `reading ${path} would take the bytes read past ${this.#maxBytes} (${this.#spent} read so far) and was stopped`);
    }
    this.#spent += bytes;
  }
}

/** lstat, or null when nothing is there (or the path cannot be reached). */
export async function lstatOrNull(fs: Ext2Promises, path: string): Promise<Stats | null> {
  try {
    return await fs.lstat(path);
  } catch {
    return null;
  }
}

/** True when `path` is a regular file itself (not a link to one). */
export async function isRealFile(fs: Ext2Promises, path: string): Promise<boolean> {
  return (await lstatOrNull(fs, path))?.isFile() ?? false;
}

/**
 * The names in `path` when it is a real directory within bounds; null when nothing is there.
 * Throws LayoutError when it is something else, or too large to be a stock one.
 */
export async function listRealDirectory(fs: Ext2Promises, path: string, budget?: ReadBudget): Promise<string[] | null> {
  const st = await lstatOrNull(fs, path);
  if (!st) return null;
  if (!st.isDirectory()) throw new LayoutError(path, kindOf(st));
  if (st.size > MAX_LISTED_DIRECTORY_BYTES) throw new LayoutError(path, `a folder of ${st.size} bytes (more than ${MAX_LISTED_DIRECTORY_BYTES})`);
  budget?.spend(st.size, path);
  const names = (await fs.readdir(path)).filter((n) => n !== '.' && n !== '..');
  if (names.length > MAX_LISTED_NAMES) throw new LayoutError(path, `a folder of ${names.length} names (more than ${MAX_LISTED_NAMES})`);
  return names;
}

/** Like listRealDirectory, but a folder that is missing or not in the stock shape lists as empty. */
export async function namesOrNone(fs: Ext2Promises, path: string, budget?: ReadBudget): Promise<string[]> {
  try {
    return (await listRealDirectory(fs, path, budget)) ?? [];
  } catch (err) {
    if (err instanceof BudgetExceededError) throw err;
    return [];
  }
}
