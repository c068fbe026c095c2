/**
 * One console restore's hold on its backup VDI. The listing, the preflight and the run read
 * the same opened BackupSource, so a restore attaches the VDI once (it used to attach it for
 * each of them: three times, and a dry run twice back to back). It is taken with the
 * 'restore' lock op, which the lock renews while it is held, so no backup writes the VDI
 * between the preflight and the run.
 *
 * It is released as soon as a step fails or is stopped, when a run has finished (the
 * restore is over: a summary left on screen does not hold the VDI), when the console's
 * flow ends (`release`), and at logout or program exit (`end`). A step after a release
 * opens the VDI again. Steps run one at a time: a release waits for the step in flight to
 * unwind, so a VBD is never detached under a read nor left behind.
 */
import type { Session } from '../xenapi/index.js';
import { ExpectedFailure } from '../failure/index.js';
import { BackupSource, type BackupSummary, type RestoreScope } from '../dr/backup-source.js';
import type { NetworkMapEntry } from '../dr/network-map.js';
import { compareOnSource, type BackupComparison } from '../dr/backup-compare.js';
import { RestoreStepError, preflightRestore, runRestore, type PreflightReport, type RestoreProgress, type RestoreReport } from '../dr/restore.js';

/** Which backup VDI to read: the trusted one, or (legacy) one found by the scan. */
export interface BackupVdiRef {
  srUuid: string;
  vdiUuid: string;
  /** The VDI came from the scan for pre-2024 backups (the operator agreed to it). */
  legacy: boolean;
}

export interface BackupListing {
  vdi: { uuid: string; trusted: boolean };
  /** Newest first. */
  backups: BackupSummary[];
}

/** What to restore from the held VDI. */
export interface RestoreChoice {
  date: string;
  scope: RestoreScope;
  /** XAPI's force on /import_metadata (the stock console never sets it; ours asks first). */
  force: boolean;
  /** Source network → a network of this pool, applied after the imports (src/dr/network-map.ts). */
  networkMap?: NetworkMapEntry[];
  /** Only these VMs' exports (chosen beside the pool, src/dr/backup-compare.ts); unset: all of the scope. */
  vmUuids?: readonly string[];
}

export interface RestoreStepOptions {
  signal?: AbortSignal;
  /** Phases, including a wait for another run holding the VDI; per-VM progress of a run. */
  onProgress?: (e: RestoreProgress) => void;
  /** The VDI has just been opened (attached, its marker found) for this step. */
  onOpened?: () => void;
}

export interface RestoreSession {
  readonly source: BackupVdiRef;
  /** The backups on the VDI, newest first, with VM counts. */
  list(options?: RestoreStepOptions): Promise<BackupListing>;
  /** The backup of `date` beside this pool, VM by VM (every export, whatever the scope). */
  compare(date: string, options?: RestoreStepOptions): Promise<BackupComparison>;
  /** What the restore would do, changing nothing. */
  preflight(choice: RestoreChoice, options?: RestoreStepOptions): Promise<PreflightReport>;
  /** The restore (or its dry run); the VDI is released when it ends. */
  run(choice: RestoreChoice & { dryRun: boolean }, options: RestoreStepOptions & { signal: AbortSignal }): Promise<RestoreReport>;
  /** Releases the VDI (VBD and lock) once the step in flight has unwound; idempotent. */
  release(): Promise<void>;
  /** Releases it for good (logout, program exit): later steps are refused. */
  end(): Promise<void>;
  /** True while the VDI is attached (or its copy held) for this restore. */
  readonly held: boolean;
}

export class RestoreSessionEndedError extends ExpectedFailure {
  constructor() {
    super('SESSION_ENDED', 'The session this restore belonged to has ended (logout).', 'Log in again and start the restore from its menu item.');
    this.name = 'RestoreSessionEndedError';
  }
}

export type SourceOpener = (ref: BackupVdiRef, options: RestoreStepOptions) => Promise<BackupSource>;

/** Opens the VDI as the console's restore does: locked for 'restore', waits shown as phases. */
export function consoleSourceOpener(session: Session): SourceOpener {
  return (ref, options) =>
    BackupSource.open(session, {
      op: 'restore',
      srUuid: ref.srUuid,
      vdiUuid: ref.vdiUuid,
      legacy: ref.legacy,
      access: 'auto',
      ...(options.signal && { signal: options.signal }),
      ...(options.onProgress && { onLockWait: (w) => options.onProgress!({ kind: 'phase', message: w.message }) }),
    });
}

export class HeldRestoreSession implements RestoreSession {
  #src: BackupSource | null = null;
  #tail: Promise<unknown> = Promise.resolve();
  #ended = false;

  constructor(
    private readonly session: Session,
    readonly source: BackupVdiRef,
    private readonly open: SourceOpener,
  ) {}

  get held(): boolean {
    return this.#src !== null;
  }

  list(options: RestoreStepOptions = {}): Promise<BackupListing> {
    return this.step(options, async (src) => ({ vdi: { uuid: src.vdi.uuid, trusted: src.vdi.trusted }, backups: await src.summaries() }));
  }

  compare(date: string, options: RestoreStepOptions = {}): Promise<BackupComparison> {
    return this.step(options, (src) => compareOnSource(this.session, src, date, options.signal));
  }

  preflight(choice: RestoreChoice, options: RestoreStepOptions = {}): Promise<PreflightReport> {
    return this.step(options, (src) =>
      preflightRestore(this.session, { source: src, ...this.where(choice), force: choice.force, ...(options.signal && { signal: options.signal }) }),
    );
  }

  run(choice: RestoreChoice & { dryRun: boolean }, options: RestoreStepOptions & { signal: AbortSignal }): Promise<RestoreReport> {
    return this.step(
      options,
      (src) =>
        runRestore(this.session, {
          source: src,
          ...this.where(choice),
          dryRun: choice.dryRun,
          force: choice.force,
          ...(choice.networkMap?.length && { networkMap: choice.networkMap }),
          signal: options.signal,
          ...(options.onProgress && { onProgress: options.onProgress }),
        }),
      { releaseAfter: true },
    );
  }

  release(): Promise<void> {
    return this.serial(() => this.drop());
  }

  end(): Promise<void> {
    this.#ended = true;
    return this.release();
  }

  private where(choice: RestoreChoice) {
    return { srUuid: this.source.srUuid, vdiUuid: this.source.vdiUuid, legacy: this.source.legacy, date: choice.date, scope: choice.scope, ...(choice.vmUuids && { vmUuids: choice.vmUuids }) };
  }

  /** One step on the held source; a failed or stopped step releases the VDI before it reports. */
  private step<T>(options: RestoreStepOptions, fn: (src: BackupSource) => Promise<T>, how: { releaseAfter?: boolean } = {}): Promise<T> {
    return this.serial(async () => {
      let result: T;
      try {
        result = await fn(await this.acquire(options));
      } catch (err) {
        await this.drop().catch(() => undefined);
        throw err;
      }
      // As the domain's own close: a release that fails is reported as that step.
      if (how.releaseAfter) await this.drop().catch((err: unknown) => Promise.reject(new RestoreStepError('close', err)));
      return result;
    });
  }

  private async acquire(options: RestoreStepOptions): Promise<BackupSource> {
    if (this.#ended) throw new RestoreSessionEndedError();
    // A lost lock (the pool unreachable past its renewal) means a backup may write the VDI
    // now: what was read from it before is not trusted for the next step.
    if (this.#src?.lockLost?.aborted) await this.drop();
    if (!this.#src) {
      this.#src = await this.open(this.source, options);
      options.onOpened?.();
    }
    return this.#src;
  }

  private async drop(): Promise<void> {
    const src = this.#src;
    this.#src = null;
    await src?.close();
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(fn, fn);
    this.#tail = next.catch(() => undefined);
    return next;
  }
}
