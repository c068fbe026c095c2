/**
 * The end of a backup: the complete folder made visible and the history applied (retention
 * never removes the folder just written), then everything staged written to the VDI in the
 * journaled order (volume/commit-plan.ts).
 */
import { throwIfAborted } from '../../xenapi/index.js';
import { INCOMPLETE_PREFIX, METADATA_DIR, backupDir, planRetention } from '../layout.js';
import { removeTree } from '../volume/files.js';
import { listRealDirectory } from '../backup-tree.js';
import type { CommitPlan } from '../volume/commit-plan.js';
import type { VdiLock } from '../vdi-lock.js';
import { step } from './errors.js';
import type { BackupFilesystem } from './filesystem.js';
import type { BackupPhase } from './progress.js';
import { spaceOf, type SpaceUse } from './report.js';

export async function publishBackup(f: BackupFilesystem, lock: VdiLock, folder: { date: string; dir: string }, history: number, phase: (p: BackupPhase) => void): Promise<{ keep: string[]; remove: string[] }> {
  phase('retention');
  // Still ours? (A run that lost its lock makes nothing visible.)
  await step('retention', () => lock.verify());
  return step('retention', () =>
    f.vol.exclusive(async () => {
      await f.fs.rename(folder.dir, backupDir(folder.date));
      const names = (await listRealDirectory(f.fs, METADATA_DIR)) ?? [];
      for (const stale of names.filter((n) => n.startsWith(INCOMPLETE_PREFIX))) await removeTree(f.fs, `${METADATA_DIR}/${stale}`);
      const plan = planRetention(names, history, folder.date);
      for (const old of plan.remove) await removeTree(f.fs, backupDir(old));
      return plan;
    }),
  );
}

/**
 * Writes the staged run to the VDI. `onStart` is called as the first block may reach the VDI
 * (from then on a cut leaves this backup in the journal, not absent).
 */
export async function commitBackup(
  f: BackupFilesystem,
  lock: VdiLock,
  signal: AbortSignal,
  phase: (p: BackupPhase) => void,
  onStart: () => void,
): Promise<{ commit: CommitPlan['summary']; spaceAfter: SpaceUse }> {
  await step('commit', () => f.vol.finish());
  const spaceAfter = spaceOf(await step('commit', () => f.vol.readSuperblock()));
  phase('commit');
  throwIfAborted(signal);
  await step('commit', () => lock.verify());
  onStart();
  const commit = await step('commit', () => f.ws.commit(f.vol.staged, { fresh: f.fresh && f.ws.mode === 'remote', wholeDisk: f.reformat, signal }));
  return { commit, spaceAfter };
}
