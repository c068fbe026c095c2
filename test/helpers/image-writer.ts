/**
 * Writing a backup filesystem image directly, for test fixtures: checked as the stock
 * script does (e2fsck -p), changed through the product's stage and committed to the file
 * with the product's journaled commit — so every fixture also exercises that commit.
 */
import { deviceSink, executePlan, planJournaledCommit } from '../../src/dr/volume/commit-plan.js';
import { openExt3Staged, type StagedVolume } from '../../src/dr/volume/ext3.js';
import { prepareDevice } from '../../src/dr/volume/prepare-write.js';

export interface ImageWriter extends StagedVolume {
  /** e2fsck repaired the image before it was opened. */
  repaired: boolean;
  /** Commits what was written to the image and closes it. */
  close(): Promise<void>;
}

export async function openImageForWrite(path: string): Promise<ImageWriter> {
  const prep = await prepareDevice(path);
  const vol = await openExt3Staged(path);
  let closing: Promise<void> | null = null;
  return {
    ...vol,
    repaired: prep.repaired,
    close: () =>
      (closing ??= (async () => {
        try {
          await vol.finish();
          const plan = await planJournaledCommit(vol.staged);
          await executePlan(plan, deviceSink(vol.staged.base));
        } finally {
          await vol.dispose();
        }
      })()),
  };
}
