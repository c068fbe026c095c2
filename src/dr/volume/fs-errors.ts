/**
 * libext2fs failures in words an operator can act on. The `ext2fs` package reports a
 * libext2fs error as errno "UNKNOWN (2133571400)": the number is EXT2_ET_BASE plus the
 * error's index in e2fsprogs' ext2_err table. The ones a backup can meet are named here.
 */
import type { Ext2Promises } from 'ext2fs';
import { ExpectedFailure } from '../../failure/index.js';

/** EXT2_ET_BASE: the com_err table "ext2". */
const EXT2_ET_BASE = 2133571328;

const FULL = 'Lower the number of backups kept (--keep), or back up to an SR where a new, larger backup VDI can be made.';
const DAMAGED = 'Run e2fsck on the backup VDI (the next backup runs it before writing), or restore from another backup.';

/** Index in ext2_err → [code, meaning, next step]. */
const KNOWN: Record<number, [string, string, string]> = {
  21: ['EXT2_ET_RO_FILSYS', 'the backup filesystem is open read-only', 'This is a read-only use of the VDI; nothing was written.'],
  35: ['EXT2_ET_DIR_CORRUPTED', 'a directory of the backup filesystem is damaged', DAMAGED],
  36: ['EXT2_ET_SHORT_READ', 'the backup VDI could not be read (short read)', 'Check the SR and the VDI, then retry.'],
  37: ['EXT2_ET_SHORT_WRITE', 'the backup VDI could not be written (short write)', 'Check the SR and the VDI, then retry.'],
  38: ['EXT2_ET_DIR_NO_SPACE', 'a directory of the backup filesystem has no room for another entry', FULL],
  70: ['EXT2_ET_NO_MEMORY', 'libext2fs ran out of memory', 'Retry; with very many VMs, run the backup again from a fresh process.'],
  72: ['EXT2_ET_BLOCK_ALLOC_FAIL', 'the backup filesystem is full (no free block)', FULL],
  73: ['EXT2_ET_INODE_ALLOC_FAIL', 'the backup filesystem has no free inode', FULL],
  76: ['EXT2_ET_FILE_NOT_FOUND', 'a file of the backup is missing', DAMAGED],
};

export class FilesystemError extends ExpectedFailure {
  constructor(
    readonly operation: string,
    code: string,
    meaning: string,
    nextStep: string,
    options?: { cause?: unknown },
  ) {
    super(code, `${meaning} (${operation})`, nextStep, options);
    this.name = 'FilesystemError';
  }
}

/** The libext2fs error inside `err`, as a FilesystemError; anything else unchanged. */
export function translateFsError(err: unknown, operation: string): unknown {
  const errno = (err as { errno?: unknown } | null)?.errno;
  if (typeof errno !== 'number' || errno < EXT2_ET_BASE || errno > EXT2_ET_BASE + 255) return err;
  const index = errno - EXT2_ET_BASE;
  const [code, meaning, next] = KNOWN[index] ?? [`EXT2_ET_${index}`, `libext2fs error ${index} (e2fsprogs' ext2_err table)`, DAMAGED];
  return new FilesystemError(operation, code, `The backup filesystem refused ${operation}: ${meaning}`, next, { cause: err });
}

/** `fs` whose calls fail with FilesystemError for libext2fs errors. */
export function withFsErrors(fs: Ext2Promises): Ext2Promises {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(fs as unknown as Record<string, unknown>)) {
    out[name] =
      typeof fn === 'function'
        ? async (...args: unknown[]) => {
            try {
              return await (fn as (...a: unknown[]) => Promise<unknown>).apply(fs, args);
            } catch (err) {
              throw translateFsError(err, name);
            }
          }
        : fn;
  }
  return out as unknown as Ext2Promises;
}
