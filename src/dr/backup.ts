/**
 * "Backup Virtual Machine Metadata": writes what the stock xe-backup-metadata writes
 * (xen-api scripts/xe-backup-metadata), so the host's own tools can restore our backups and
 * we theirs, and does better where stock is fragile:
 *  - the dated folder is written as metadata/.incomplete-<date> and renamed when complete,
 *    so an interrupted run never shows up in a list (stock `ls` hides dot-names);
 *  - the database dump is written under a temporary name before the rotation, so a failed
 *    dump never costs the newest good one;
 *  - a VM whose export fails is reported by name and error, and not linked in by-sr/;
 *  - exports run with bounded concurrency.
 *  - nothing reaches the VDI until the run is complete: the filesystem's writes are staged
 *    locally and committed at the end in the journaled order of volume/commit-plan.ts, so a
 *    failed, cancelled, killed or cut run leaves the VDI as it was, or as complete as a
 *    successful run would have left it.
 * Whatever happens, the VBD is unplugged and destroyed and a VDI created in this run that
 * never got a committed filesystem is destroyed again.
 * The VDI is locked on the pool for the whole run (vdi-claim.ts: two clients never change
 * it at once, stale VBDs and partial files of killed runs are cleaned first), the dated
 * folder is named by the pool master's clock (master-clock.ts), retention never removes the
 * folder just written, and the files holding secrets (.db, .vmmeta) are 0600, as stock's.
 */
import { VDI, isAbortError, type Session } from '../xenapi/index.js';
import { DEFAULT_HISTORY } from './layout.js';
import { INITIALISING_KEY } from './backup-vdi.js';
import { readPoolRecords } from './pool-records.js';
import { readPoolVapps } from './vapps.js';
import { childAbort } from './work-pool.js';
import { spaceForecast, type LastBackupRecord } from './backup-record.js';
import type { CleanedItem } from './leftovers.js';
import { BackupCancelledError, step, type BackupCancellation } from './backup/errors.js';
import { readPoolFacts } from './backup/pool-facts.js';
import { takeBackupTarget, type BackupTarget } from './backup/target.js';
import { guardSpace, openBackupFilesystem, type Held } from './backup/filesystem.js';
import { makeDatedFolder, writeBackupContents, type ExportCount } from './backup/contents.js';
import { commitBackup, publishBackup } from './backup/finish.js';
import { writeLastBackupRecord } from './backup/last-record.js';
import type { BackupOptions } from './backup/options.js';
import type { BackupPhase, BackupProgress } from './backup/progress.js';
import type { BackupReport } from './backup/report.js';

export type { BackupOptions } from './backup/options.js';
export type { BackupPhase, BackupProgress } from './backup/progress.js';
export { backupProgressText, backupStepBanner, backupStepText } from './backup/progress.js';
export type { BackupFailure, BackupReport, SpaceUse } from './backup/report.js';
export { BackupCancelledError, BackupStepError, SpaceGuardError, cancellationText } from './backup/errors.js';
export type { BackupCancellation, SpaceGuardFacts } from './backup/errors.js';

/** What the run has reached, kept as it goes: a cancellation reports it, and the end releases it. */
interface RunState {
  phase: BackupPhase;
  target: BackupTarget | null;
  held: Held;
  exports: ExportCount | null;
  commitStarted: boolean;
  committed: boolean;
  emit: (e: BackupProgress) => void;
}

export async function runBackup(session: Session, options: BackupOptions = {}): Promise<BackupReport> {
  const history = options.history ?? DEFAULT_HISTORY;
  if (!Number.isInteger(history) || history < 1) throw new RangeError('history must be a whole number of at least 1');
  const emit = options.onProgress ?? (() => undefined);
  const state: RunState = { phase: 'sr', target: null, held: { workspace: null, volume: null, preparation: null }, exports: null, commitStarted: false, committed: false, emit };
  try {
    return await backupSteps(session, options, history, state);
  } catch (err) {
    // The operator's Ctrl-C: what was cancelled and what was cleaned, as the run recorded it.
    if (options.signal?.aborted && isAbortError(err)) throw new BackupCancelledError(await release(session, state), err);
    await release(session, state);
    throw err;
  }
}

async function backupSteps(session: Session, options: BackupOptions, history: number, state: RunState): Promise<BackupReport> {
  const started = Date.now();
  // The run's own signal: the operator's, or the lock being lost (then nothing more is written).
  const run = childAbort(options.signal);
  const signal = run.signal;
  const emit = state.emit;
  const phase = (p: BackupPhase) => {
    state.phase = p;
    emit({ kind: 'phase', phase: p });
  };

  // The pool object, once: every step below gets what it needs of it from here.
  const pool = await step('sr', () => readPoolFacts(session, signal));
  const target = await takeBackupTarget(session, pool, options, signal, emit, phase);
  state.target = target;
  const { clock, claim } = target;
  const lost = () => run.abort(claim.lock.lostError);
  claim.lock.lostSignal.addEventListener('abort', lost, { once: true });
  const cleaned: CleanedItem[] = [...claim.cleaned];
  const warnings = [...clock.warnings];
  if (claim.tookOver) warnings.push(`Took over the lock of the backup VDI left by ${claim.tookOver}.`);

  // The pool's records (tens of MB on a big pool) are read while the VDI is attached.
  const recordsRead = readPoolRecords(session, { ref: pool.ref, uuid: pool.uuid, name: pool.name });
  recordsRead.catch(() => undefined); // awaited below, or not at all when the run ends early
  const vappsRead = readPoolVapps(session, pool.master, signal);
  vappsRead.catch(() => undefined);
  try {
    const f = await openBackupFilesystem(session, pool, target, options, history, signal, state.held, phase, emit);
    cleaned.push(...f.removed);
    const spaceBefore = await guardSpace(f, options, history, emit);
    const folder = await makeDatedFolder(f, clock, options);
    const records = await step('vms', () => recordsRead);
    const poolVapps = await step('vms', () => vappsRead);
    const contents = await writeBackupContents(session, f, folder, records, poolVapps, options, signal, {
      phase,
      emit,
      count: (c) => (state.exports = c),
    });
    const retention = await publishBackup(f, claim.lock, folder, history, phase);
    const { commit, spaceAfter } = await commitBackup(f, claim.lock, signal, phase, () => (state.commitStarted = true));
    state.committed = true;
    if (target.vdi.initialising) await VDI.removeFromOtherConfig(session, target.vdi.ref, INITIALISING_KEY).catch(() => undefined);

    const vmsExported = contents.vms.filter((v) => contents.exported.has(v.ref)).length;
    const templatesExported = contents.templates.filter((v) => contents.exported.has(v.ref)).length;
    const capacityBytes = spaceAfter.usedBytes + spaceAfter.availableBytes;
    // What a backup takes on the filesystem: its growth (blocks, not bytes), unless old ones were removed.
    const grown = spaceAfter.usedBytes - spaceBefore.usedBytes;
    const backupBytes = retention.remove.length === 0 ? Math.max(f.writer.bytes, grown) : f.writer.bytes;
    const record: LastBackupRecord = {
      date: folder.date,
      finishedAt: clock.now().toISOString(),
      vms: vmsExported,
      templates: templatesExported,
      failures: contents.failures.length,
      backupBytes,
      usedBytes: spaceAfter.usedBytes,
      capacityBytes,
      keep: history,
    };
    const recordWarning = capacityBytes > 0 ? await writeLastBackupRecord(session, target.vdi.ref, record) : 'The backup filesystem reports no size; no record of this backup was written.';
    if (recordWarning) warnings.push(recordWarning);

    return {
      sr: { uuid: target.sr.uuid, name: target.sr.nameLabel },
      vdi: { uuid: target.vdi.uuid, created: target.created, deterministicUuid: target.deterministic },
      pool: { uuid: pool.uuid, name: pool.name },
      date: folder.date,
      access: f.ws.mode,
      vmsExported,
      templatesExported,
      failures: contents.failures,
      bytesWritten: f.writer.bytes,
      spaceBefore,
      spaceAfter,
      backupsKept: retention.keep,
      backupsRemoved: retention.remove,
      databaseHistory: contents.databaseHistory,
      vapps: contents.vapps,
      repaired: state.held.preparation?.repaired ?? false,
      commit,
      transfer: { ...f.ws.transfer },
      durationMs: Date.now() - started,
      clock: { source: clock.source, skewMs: clock.skewMs, masterUtcOffsetMinutes: clock.masterUtcOffsetMinutes, warnings: clock.warnings },
      warnings,
      cleaned,
      waited: claim.waited,
      keep: history,
      forecast: spaceForecast(record, retention.keep.length),
      recordWritten: recordWarning === null,
    };
  } catch (err) {
    // Nothing needs cleaning on the VDI (the stage is dropped). Stopped because the lock was
    // lost: say that, not "cancelled".
    if (claim.lock.lostError && !options.signal?.aborted) throw claim.lock.lostError;
    throw err;
  } finally {
    // No call of this run is still under way when it ends.
    await recordsRead.catch(() => undefined);
    await vappsRead.catch(() => undefined);
    claim.lock.lostSignal.removeEventListener('abort', lost);
    run.dispose();
    if (state.committed) await release(session, state);
  }
}

/**
 * Gives back what the run holds: the stage dropped (nothing of a run that did not commit
 * reached the VDI), the VBD unplugged and destroyed (or the local copy deleted), a VDI created
 * by a run that never committed destroyed, the lock handed back. Returns what it did.
 */
async function release(session: Session, state: RunState): Promise<BackupCancellation> {
  const { held, target } = state;
  const out: BackupCancellation = {
    step: state.phase,
    vms: state.exports,
    vdi: state.commitStarted && !state.committed ? 'journal' : 'unchanged',
    access: null,
    createdVdi: null,
    lockReleased: null,
  };
  if (target) state.emit({ kind: 'phase', phase: 'release' });
  await held.volume?.dispose().catch(() => undefined);
  held.volume = null;
  await held.preparation?.cleanup().catch(() => undefined);
  held.preparation = null;
  if (held.workspace) {
    const ws = held.workspace;
    held.workspace = null;
    const released = await ws.release().then(
      () => true,
      () => false,
    );
    out.access = { mode: ws.mode, released };
  }
  if (target) {
    state.target = null;
    // A VDI destroyed takes its lock along; otherwise the lock is handed back once the VBD is gone.
    if (target.created && !state.committed) {
      const destroyed = await VDI.destroy(session, target.vdi.ref).then(
        () => true,
        () => false,
      );
      out.createdVdi = { uuid: target.vdi.uuid, destroyed };
      out.lockReleased = destroyed || (await target.claim.lock.release().then(() => true, () => false));
    } else {
      out.lockReleased = await target.claim.lock.release().then(
        () => true,
        () => false,
      );
    }
  }
  // The transfers' task.destroy calls still under way end before the run does.
  await session.settle();
  return out;
}
export { keepFewerChoices, keepFewerPlan, type KeepFewerPlan } from './backup/remedies.js';
