/** What a backup run can be asked for (stock xe-backup-metadata's options, and what tests need). */
import type { LockIdentity } from '../vdi-lock.js';
import type { AccessMode } from '../volume/workspace.js';
import type { BackupProgress } from './progress.js';

export interface BackupOptions {
  /** SR to back up to; default the pool's default SR. */
  srUuid?: string;
  /** Create the backup VDI when it is missing (stock -c). Default true. */
  create?: boolean;
  /** Backups kept (stock -k); also the rotate count of a new conf file. Default 12. */
  history?: number;
  /** Back up even when the backup filesystem is more than 90 % used (stock -f). */
  force?: boolean;
  /** Size of a backup VDI created by this run. Default 1 GiB (stock; 500 MiB on the 8.2 CU1 line). */
  vdiSize?: number;
  /** VM exports in flight at once. Default 8 (work-pool.ts). */
  concurrency?: number;
  access?: AccessMode | 'auto';
  /** Remote access: folder of cached VDI copies (null: none). */
  cacheDir?: string | null;
  signal?: AbortSignal;
  onProgress?: (event: BackupProgress) => void;
  /**
   * The master's local time for the dated folder name, instead of asking the pool (tests
   * that need known names; the pool's clock is still read for the lock and the skew).
   */
  now?: () => Date;
  /** This machine's clock (tests): the skew is measured against it. */
  clientClock?: () => Date;
  /** How long to wait for another run holding the VDI before refusing (default 5 min). */
  lockWaitMs?: number;
  /** Between looks at a held VDI (default 2 s). */
  lockPollMs?: number;
  /** The lock's lifetime without renewal (default 10 min; tests). */
  lockTtlMs?: number;
  /** Who this run says it is in the lock (default: host name and pid). */
  lockIdentity?: LockIdentity;
}
