/**
 * Before a backup writes: the backup VDI's filesystem made clean, as the stock script's
 * `fsck -a` does before every mount, without ever leaving the VDI worse than it was.
 *
 *  - Attached (the device itself): e2fsck -p on the device, exactly as stock; where e2fsck is
 *    missing, a journal that needs recovery is recovered by this program (commit-plan.ts).
 *  - Remote (a local copy): a journal that needs recovery — a commit cut after its commit
 *    block — is completed on the VDI in the crash-safe recovery order, and the copy likewise.
 *    Anything else e2fsck would repair is repaired on a scratch copy and the repaired blocks
 *    join this backup's stage, so they reach the VDI inside its journaled commit, or not at all.
 */
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileBlockDevice } from './block-device.js';
import { deviceSink, executePlan, planRecovery, type CommitPlan } from './commit-plan.js';
import { checkExt3, findTool, type FsckResult } from './e2fsprogs.js';
import { readLayout, type ExtLayout } from './ext-structure.js';
import { FilesystemRefusedError } from './ext3.js';
import type { StagedDevice } from './staged-device.js';

export interface Preparation {
  /** e2fsck repaired something, or a cut commit was completed. */
  repaired: boolean;
  /** Journal transactions completed (a commit that had been cut after its commit block). */
  recoveredTransactions: number;
  fsck?: FsckResult;
  /** Stages repairs made on a scratch copy (remote only); call once the stage exists. */
  stage?: (staged: StagedDevice) => Promise<void>;
  /** Removes the scratch copy; idempotent. */
  cleanup(): Promise<void>;
}

const nothing = async () => undefined;

function refuseUnrepaired(r: FsckResult): never {
  throw new FilesystemRefusedError(
    `The backup filesystem has errors e2fsck -p could not repair (exit ${r.code}); it was not written to. Run e2fsck on the VDI by hand, or re-initialise it.`,
    r,
  );
}

const isClean = (l: ExtLayout) => (l.state & 1) === 1 && (l.state & 2) === 0 && l.lastOrphan === 0 && !l.needsRecovery;

/** The attached device: e2fsck -p as stock, or our own recovery where e2fsck is missing. */
export async function prepareDevice(path: string): Promise<Preparation> {
  if (await findTool('e2fsck')) {
    const r = await checkExt3(path);
    if (r.verdict === 'unrepaired') refuseUnrepaired(r);
    return { repaired: r.verdict === 'repaired', recoveredTransactions: 0, fsck: r, cleanup: nothing };
  }
  const dev = await FileBlockDevice.open(path, { readOnly: false });
  try {
    let layout = await readLayout(dev);
    let recovered = 0;
    if (layout.needsRecovery) {
      const plan = await planRecovery(dev);
      await executePlan(plan, deviceSink(dev));
      recovered = plan.transactions;
      layout = await readLayout(dev);
    }
    if (!isClean(layout)) throw new FilesystemRefusedError('The backup filesystem has errors and e2fsck is not available here; it was not written to.');
    return { repaired: recovered > 0, recoveredTransactions: recovered, cleanup: nothing };
  } finally {
    await dev.close();
  }
}

/** Sends a plan to the VDI and, once it arrived, applies it to the copy (remote-copy.ts). */
export type SendPlan = (plan: CommitPlan, applyLocally: () => Promise<void>) => Promise<void>;

/** The local copy of a remote VDI. */
export async function prepareCopy(path: string, send: SendPlan, signal?: AbortSignal): Promise<Preparation> {
  const dev = await FileBlockDevice.open(path, { readOnly: false });
  let recovered = 0;
  let layout: ExtLayout;
  try {
    layout = await readLayout(dev);
    if (layout.needsRecovery) {
      const plan = await planRecovery(dev);
      await send(plan, () => executePlan(plan, deviceSink(dev), signal));
      recovered = plan.transactions;
      layout = await readLayout(dev);
    }
  } finally {
    await dev.close();
  }
  if (isClean(layout)) return { repaired: recovered > 0, recoveredTransactions: recovered, cleanup: nothing };
  if (!(await findTool('e2fsck'))) throw new FilesystemRefusedError('The backup filesystem has errors and e2fsck is not available here; it was not written to.');
  const dir = await mkdtemp(join(tmpdir(), 'xsdr-fsck-'));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    const scratch = join(dir, 'vdi.img');
    await sparseCopy(path, scratch);
    const r = await checkExt3(scratch);
    if (r.verdict === 'unrepaired') refuseUnrepaired(r);
    const blocks = await differingBlocks(path, scratch, layout.blockSize);
    return {
      repaired: true,
      recoveredTransactions: recovered,
      fsck: r,
      async stage(staged) {
        const fh = await open(scratch, 'r');
        try {
          const buf = Buffer.alloc(layout.blockSize);
          for (const b of blocks) {
            await fh.read(buf, 0, buf.length, b * layout.blockSize);
            await staged.stageBlock(b, buf);
          }
        } finally {
          await fh.close();
        }
      },
      cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

const PIECE = 1024 * 1024;

/** Copies a disk image leaving its zero blocks as holes. */
async function sparseCopy(from: string, to: string): Promise<void> {
  const src = await open(from, 'r');
  const dst = await open(to, 'w', 0o600);
  try {
    const size = (await src.stat()).size;
    await dst.truncate(size);
    const buf = Buffer.alloc(PIECE);
    const zero = Buffer.alloc(4096);
    for (let pos = 0; pos < size; pos += PIECE) {
      const { bytesRead } = await src.read(buf, 0, Math.min(PIECE, size - pos), pos);
      for (let off = 0; off < bytesRead; off += 4096) {
        const part = buf.subarray(off, Math.min(bytesRead, off + 4096));
        if (!part.equals(zero.subarray(0, part.length))) await dst.write(part, 0, part.length, pos + off);
      }
    }
  } finally {
    await src.close();
    await dst.close();
  }
}

async function differingBlocks(a: string, b: string, blockSize: number): Promise<number[]> {
  const fa = await open(a, 'r');
  const fb = await open(b, 'r');
  try {
    const size = (await fa.stat()).size;
    const ba = Buffer.alloc(PIECE);
    const bb = Buffer.alloc(PIECE);
    const out: number[] = [];
    for (let pos = 0; pos < size; pos += PIECE) {
      const n = Math.min(PIECE, size - pos);
      await fa.read(ba, 0, n, pos);
      await fb.read(bb, 0, n, pos);
      if (ba.subarray(0, n).equals(bb.subarray(0, n))) continue;
      for (let off = 0; off < n; off += blockSize) {
        if (!ba.subarray(off, off + blockSize).equals(bb.subarray(off, off + blockSize))) out.push((pos + off) / blockSize);
      }
    }
    return out;
  } finally {
    await fa.close();
    await fb.close();
  }
}
