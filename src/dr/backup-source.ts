/**
 * A backup VDI opened read-only for listing and restoring. Its filesystem is untrusted
 * (a guest may have formatted a disk to look like one — XSA-459), so:
 *  - only the deterministic-uuid VDI is trusted unless the operator explicitly asks for
 *    the legacy scan, and a scan that finds several candidates never picks one itself;
 *  - the VDI is read through a copy-on-write overlay and never written;
 *  - every name read from it must have the exact stock shape (dates, <uuid>.vmmeta), a
 *    by-sr entry must be the stock relative link ../../all/<same name>, and file sizes are
 *    checked before anything is read;
 *  - the marker must be a regular file, and metadata/, the dated folders, all/, by-sr/ and
 *    by-sr/<sr>/ real folders (backup-tree.ts): a symbolic link there is never followed;
 *  - a directory is listed only within bounds, and a file with two names is read once.
 */
import { VBD, VDI, VM, XenApiError, type Ref, type Session } from '../xenapi/index.js';
import { BACKUP_VDI_OTHER_CONFIG_KEY, MARKER_PATH, METADATA_DIR, SRMETA_FILE, backupDir, backupVdiUuid, bySrLinkTarget, isBackupDate, newestFirst, vmUuidOfEntry } from './layout.js';
import { resolveSr, type SrInfo } from './backup-vdi.js';
import { openExt3, type Ext3Volume } from './volume/ext3.js';
import { openVdiWorkspace, type AccessMode, type VdiWorkspace } from './volume/workspace.js';
import { readFileBytes, pathExists } from './volume/files.js';
import { LayoutError, SeenInodes, isRealFile, listRealDirectory, lstatOrNull, namesOrNone } from './backup-tree.js';
import { VMMETA_MAX_BYTES } from './vmmeta.js';
import { SRMETA_MAX_BYTES } from './srmeta.js';
import { VAPPS_FILE, VAPPS_MAX_BYTES } from './vapps.js';
import { readMasterClock } from './master-clock.js';
import { claimBackupVdi, type ClaimWait, type VdiClaim } from './vdi-claim.js';
import type { LockIdentity, LockOp } from './vdi-lock.js';
import type { CleanedVbd } from './leftovers.js';
import { neutralise, quote } from '../safe-text.js';
import { ExpectedFailure } from '../failure/index.js';

export type RestoreScope = 'sr' | 'all';

/** How much of a disk a remote probe fetches (the first ext3 block group is 128 MiB). */
export const PROBE_PREFIX_BYTES = 128 * 1024 * 1024;

export interface CandidateVdi {
  ref: Ref;
  uuid: string;
  nameLabel: string;
  virtualSize: number;
  /** The deterministic uuid of this SR: the only VDI trusted without asking. */
  trusted: boolean;
  /** Its VBDs when it was listed (before any probe attached it). */
  vbds: Ref[];
}

const SOURCE_NEXT_STEP = {
  NO_BACKUP_VDI: 'Choose the SR the backup was written to; a backup made before 2024 needs the scan for older backup VDIs (legacy).',
  NOT_A_BACKUP: 'Choose another VDI or SR.',
  NOT_PERMITTED: "Only the SR's own backup VDI is read unless you agree to the scan for older backup VDIs (legacy).",
  NO_METADATA: 'Back up to this SR first, or choose the SR holding the backup.',
  NO_SUCH_DATE: 'List the backups again and choose one of them.',
  NO_ENTRIES: 'Restore all VM metadata of this backup, or choose another backup.',
  MULTIPLE: 'Choose one of the VDIs found (by its uuid).',
} as const;

export class BackupSourceError extends ExpectedFailure {
  constructor(
    override readonly code: keyof typeof SOURCE_NEXT_STEP,
    message: string,
    /** The SR that was looked at, where it is known. */
    readonly srUuid?: string,
  ) {
    super(code, message, SOURCE_NEXT_STEP[code]);
    this.name = 'BackupSourceError';
  }
}

/**
 * The SR has no backup VDI where one was looked for (its own, by the uuid derived from the
 * SR's): made here so that the CLI and the console say it alike.
 */
export function noBackupVdiError(sr: { uuid: string; nameLabel: string }, wanted = backupVdiUuid(sr.uuid)): BackupSourceError {
  return new BackupSourceError('NO_BACKUP_VDI', `No backup VDI ${neutralise(wanted)} on SR "${neutralise(sr.nameLabel)}".`, sr.uuid);
}

/** The scan for older backup VDIs (legacy) found none: as xe-restore-metadata says it. */
export function legacyScanFoundNone(sr: { uuid: string }, examined: number): BackupSourceError {
  return examined === 0 ? new BackupSourceError('NO_BACKUP_VDI', 'No VDIs found on SR.', sr.uuid) : new BackupSourceError('NOT_A_BACKUP', 'Metadata backups not found.');
}

/** How a read takes the VDI from other runs (vdi-claim.ts); defaults suit the CLI. */
export interface LockWaitOptions {
  /** Bound on waiting for a run that holds the VDI (default 5 min). */
  lockWaitMs?: number;
  lockPollMs?: number;
  lockTtlMs?: number;
  lockIdentity?: LockIdentity;
  onLockWait?: (w: ClaimWait) => void;
}

export interface ProbeOptions extends LockWaitOptions {
  /** Also scan every other VDI of the SR (backups made before 2024): only on request. */
  legacy?: boolean;
  access?: AccessMode | 'auto';
  signal?: AbortSignal;
}

/** Takes `vdi` for reading: no backup writes it meanwhile. */
async function claimForReading(session: Session, vdi: Ref, op: LockOp, opts: LockWaitOptions & { signal?: AbortSignal }): Promise<VdiClaim> {
  const master = await session.poolMaster();
  const clock = await readMasterClock(session, master);
  return claimBackupVdi(session, vdi, {
    op,
    clock,
    ...(opts.lockWaitMs !== undefined && { waitMs: opts.lockWaitMs }),
    ...(opts.lockPollMs !== undefined && { pollMs: opts.lockPollMs }),
    ...(opts.lockTtlMs !== undefined && { ttlMs: opts.lockTtlMs }),
    ...(opts.lockIdentity && { identity: opts.lockIdentity }),
    ...(opts.signal && { signal: opts.signal }),
    ...(opts.onLockWait && { onWait: opts.onLockWait }),
  });
}

/**
 * A candidate a backup of this tool or of stock may be writing: the trusted one, or one
 * marked as a backup VDI. Other disks of the SR (a legacy scan) are only read, never locked:
 * no key is added to a guest's disk.
 */
async function mayBeWritten(session: Session, vdi: CandidateVdi): Promise<boolean> {
  if (vdi.trusted) return true;
  const oc = await VDI.getOtherConfig(session, vdi.ref);
  return oc[BACKUP_VDI_OTHER_CONFIG_KEY] === 'true';
}

export interface ProbeResult {
  sr: SrInfo;
  /** VDIs holding the backup marker; the trusted one first. */
  found: CandidateVdi[];
  /** VDIs looked at (for "No VDIs found on SR." vs "Metadata backups not found."). */
  examined: number;
}

async function vdiCandidate(session: Session, ref: Ref, sr: SrInfo): Promise<CandidateVdi> {
  const rec = await VDI.getRecord(session, ref);
  const uuid = rec.uuid;
  return { ref, uuid, nameLabel: rec.name_label, virtualSize: rec.virtual_size, trusted: uuid === backupVdiUuid(sr.uuid), vbds: rec.VBDs };
}

/** A VM a disk is attached to (has a VBD in), plugged or not. */
export interface AttachedVm {
  uuid: string;
  nameLabel: string;
  controlDomain: boolean;
}

/**
 * The VMs a candidate is attached to, from the VBDs it had when listed: a disk a guest
 * uses is the guest's, whatever its filesystem holds (XSA-459), and the operator who must
 * choose among look-alikes needs to see whose it is. A VBD deleted meanwhile is skipped.
 */
export async function attachedVms(session: Session, vdi: CandidateVdi): Promise<AttachedVm[]> {
  const out: AttachedVm[] = [];
  for (const vbd of vdi.vbds) {
    try {
      const rec = await VM.getRecord(session, (await VBD.getRecord(session, vbd)).VM);
      if (out.some((v) => v.uuid === rec.uuid)) continue;
      out.push({ uuid: rec.uuid, nameLabel: rec.name_label, controlDomain: rec.is_control_domain });
    } catch (err) {
      if (err instanceof XenApiError && err.code === 'HANDLE_INVALID') continue;
      throw err;
    }
  }
  return out.sort((a, b) => a.nameLabel.localeCompare(b.nameLabel) || a.uuid.localeCompare(b.uuid));
}

/** The candidates the stock restore would examine (xen-api scripts/xe-restore-metadata). */
export async function candidateVdis(session: Session, sr: SrInfo, legacy: boolean): Promise<CandidateVdi[]> {
  if (!legacy) {
    try {
      const ref = await VDI.getByUuid(session, backupVdiUuid(sr.uuid));
      const c = await vdiCandidate(session, ref, sr);
      const rec = await VDI.getRecord(session, ref);
      return rec.SR === sr.ref && !rec.read_only ? [c] : [];
    } catch (err) {
      if (err instanceof XenApiError && err.code === 'UUID_INVALID') return [];
      throw err;
    }
  }
  const recs = await VDI.getAllRecordsWhere(session, `field "SR" = "${sr.ref}"`);
  const out: CandidateVdi[] = [];
  for (const [ref, rec] of recs) {
    if (rec.read_only || rec.is_a_snapshot) continue;
    if (!['user', 'system'].includes(rec.type)) continue;
    out.push(await vdiCandidate(session, ref, sr));
  }
  return out.sort((a, b) => Number(b.trusted) - Number(a.trusted) || a.uuid.localeCompare(b.uuid));
}

/** True when the VDI's filesystem has the stock marker (a regular file). Never writes. */
async function hasMarker(session: Session, vdi: CandidateVdi, opts: ProbeOptions): Promise<boolean> {
  let ws: VdiWorkspace | null = null;
  const claim = (await mayBeWritten(session, vdi)) ? await claimForReading(session, vdi.ref, 'read', opts) : null;
  try {
    // Remotely, fetch only the start of the disk: the superblock, the root folder and the
    // marker (written right after mkfs) all live in the first block group.
    ws = await openVdiWorkspace(session, vdi, {
      mode: opts.access ?? 'auto',
      readOnly: true,
      prefixBytes: PROBE_PREFIX_BYTES,
      ...(opts.signal && { signal: opts.signal }),
    });
    let vol: Ext3Volume | null = null;
    try {
      vol = await openExt3(ws.path, { write: false, fsck: false });
      const st = await vol.fs.lstat(MARKER_PATH);
      return st.isFile();
    } catch {
      return false; // not ext, or no marker: not a backup
    } finally {
      await vol?.close().catch(() => undefined);
    }
  } finally {
    try {
      await ws?.release();
    } finally {
      await claim?.lock.release();
    }
  }
}

export async function probeBackupVdis(session: Session, srUuid: string | undefined, opts: ProbeOptions = {}): Promise<ProbeResult> {
  const sr = await resolveSr(session, srUuid);
  const candidates = await candidateVdis(session, sr, opts.legacy ?? false);
  const found: CandidateVdi[] = [];
  for (const c of candidates) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    if (await hasMarker(session, c, opts)) found.push(c);
  }
  return { sr, found, examined: candidates.length };
}

/**
 * A backup as listed. Exports are counted by entries()'s rules that names decide, so for
 * any backup a backup program wrote (failed exports included) these are the totals of
 * exports the preflight and the summary give; whether an export holds a VM or a template
 * is only known once it is read.
 */
export interface BackupSummary {
  date: string;
  /** Exports (VMs and templates) a restore of all VM metadata would read, from all/. */
  vms: number;
  /** Exports a restore of only the VMs on this SR would read, from by-sr/<this SR>/. */
  vmsOnSr: number;
  /** Entries of all/ that are no export and would be skipped. */
  skipped: number;
  /** Entries of by-sr/<this SR>/ that would be skipped (e.g. a link to a failed export). */
  skippedOnSr: number;
  hasSrMeta: boolean;
}

export interface BackupEntry {
  /** File name, <vm-uuid>.vmmeta */
  name: string;
  vmUuid: string;
  /** Path inside the backup filesystem of the bytes to import. */
  path: string;
  /** Its size when listed (what reading it will hold in memory). */
  size: number;
}

export interface EntryProblem {
  name: string;
  reason: string;
}

/** An opened backup VDI. Close it in finally. */
export class BackupSource {
  private constructor(
    readonly sr: SrInfo,
    readonly vdi: CandidateVdi,
    private readonly ws: VdiWorkspace,
    private readonly vol: Ext3Volume,
    private readonly claim: VdiClaim | null,
  ) {}

  /** Stale VBDs of the VDI released when it was opened. */
  get cleaned(): CleanedVbd[] {
    return this.claim?.cleaned ?? [];
  }

  /** Time spent waiting for another run holding the VDI (null: none). */
  get waited(): VdiClaim['waited'] {
    return this.claim?.waited ?? null;
  }

  /** Aborted when the lock on the VDI is lost (reads must stop: a backup may write it). */
  get lockLost(): AbortSignal | undefined {
    return this.claim?.lock.lostSignal;
  }

  get access(): AccessMode {
    return this.ws.mode;
  }

  get transfer() {
    return this.ws.transfer;
  }

  /**
   * Opens the chosen VDI of `srUuid`. Without `vdiUuid` the deterministic one; another
   * uuid needs `legacy` (stock: -x with -o), and must hold the marker.
   */
  static async open(
    session: Session,
    opts: { srUuid?: string; vdiUuid?: string; legacy?: boolean; access?: AccessMode | 'auto'; cacheDir?: string | null; signal?: AbortSignal; op?: LockOp } & LockWaitOptions,
  ): Promise<BackupSource> {
    const sr = await resolveSr(session, opts.srUuid);
    const trustedUuid = backupVdiUuid(sr.uuid);
    const wanted = opts.vdiUuid ?? trustedUuid;
    if (wanted !== trustedUuid && !opts.legacy) {
      throw new BackupSourceError(
        'NOT_PERMITTED',
        `VDI ${wanted} is not the backup VDI of this SR (${trustedUuid}); to use a backup made before 2024, ask for the legacy scan (--legacy) and only if you trust every disk on this SR.`,
      );
    }
    let ref: Ref;
    try {
      ref = await VDI.getByUuid(session, wanted);
    } catch (err) {
      if (err instanceof XenApiError && err.code === 'UUID_INVALID') {
        throw noBackupVdiError(sr, wanted);
      }
      throw err;
    }
    const vdi = await vdiCandidate(session, ref, sr);
    const rec = await VDI.getRecord(session, ref);
    if (rec.SR !== sr.ref) throw new BackupSourceError('NOT_PERMITTED', `VDI ${neutralise(wanted)} is not on SR "${neutralise(sr.nameLabel)}".`);
    const claim = (await mayBeWritten(session, vdi)) ? await claimForReading(session, ref, opts.op ?? 'read', opts) : null;
    let ws: VdiWorkspace;
    try {
      ws = await openVdiWorkspace(session, vdi, {
        mode: opts.access ?? 'auto',
        readOnly: true,
        ...(opts.cacheDir !== undefined && { cacheDir: opts.cacheDir }),
        ...(opts.signal && { signal: opts.signal }),
      });
    } catch (err) {
      await claim?.lock.release();
      throw err;
    }
    try {
      // Read-only through an overlay, so no fsck is run (it could write); a disk that is not
      // ext at all is simply not a backup.
      const vol = await openExt3(ws.path, { write: false, fsck: false }).catch((err: unknown) => {
        throw new BackupSourceError('NOT_A_BACKUP', `VDI ${wanted} does not hold a metadata backup (${(err as Error).message})`);
      });
      try {
        if (!(await isRealFile(vol.fs, MARKER_PATH))) {
          throw new BackupSourceError('NOT_A_BACKUP', `VDI ${wanted} does not hold a metadata backup (no ${MARKER_PATH} file).`);
        }
        // A remote copy is complete and no longer changes: a backup may go ahead meanwhile.
        if (ws.mode === 'remote') await claim?.lock.release();
        return new BackupSource(sr, vdi, ws, vol, claim);
      } catch (err) {
        await vol.close();
        throw err;
      }
    } catch (err) {
      try {
        await ws.release();
      } finally {
        await claim?.lock.release();
      }
      throw err;
    }
  }

  async close(): Promise<void> {
    try {
      await this.vol.close();
    } finally {
      try {
        await this.ws.release();
      } finally {
        // Handed back only once the VBD is gone.
        await this.claim?.lock.release();
      }
    }
  }

  /** Stock-named backups in real folders, newest first (like `ls -1r metadata/`, minus anything else). */
  async listDates(): Promise<string[]> {
    let names: string[] | null;
    try {
      names = await listRealDirectory(this.vol.fs, METADATA_DIR);
    } catch (err) {
      if (err instanceof LayoutError) throw new BackupSourceError('NOT_A_BACKUP', err.message);
      throw err;
    }
    if (!names) throw new BackupSourceError('NO_METADATA', 'Metadata backups not found on this VDI.');
    const dates: string[] = [];
    const inodes = new SeenInodes();
    for (const date of newestFirst(names)) {
      const st = await lstatOrNull(this.vol.fs, backupDir(date));
      if (st?.isDirectory() && inodes.firstNameOf(st.ino, date) === null) dates.push(date);
    }
    return dates;
  }

  async summaries(): Promise<BackupSummary[]> {
    const out: BackupSummary[] = [];
    const fs = this.vol.fs;
    for (const date of await this.listDates()) {
      const dir = backupDir(date);
      // entries()'s rules that names alone decide: a name not <vm-uuid>.vmmeta is skipped, and
      // a by-sr link is counted only when all/ has its export (a failed export leaves none).
      // What takes a look at each file (not a regular file, a second name for one file, a link
      // out of the backup) only a crafted image has: the preflight finds and skips it.
      // Names only: a list of many backups of thousands of VMs stays a directory read each.
      const all = await namesOrNone(fs, `${dir}/all`);
      const exports = new Set(all.filter((n) => vmUuidOfEntry(n)));
      const bySr = (await lstatOrNull(fs, `${dir}/by-sr`))?.isDirectory() ? await namesOrNone(fs, `${dir}/by-sr/${this.sr.uuid}`) : [];
      const onSr = bySr.filter((n) => vmUuidOfEntry(n) && exports.has(n)).length;
      out.push({
        date,
        vms: exports.size,
        vmsOnSr: onSr,
        skipped: all.length - exports.size,
        skippedOnSr: bySr.length - onSr,
        hasSrMeta: await isRealFile(fs, `${dir}/${SRMETA_FILE}`),
      });
    }
    return out;
  }

  /** The newest backup, or the named one if it exists. */
  async resolveDate(date?: string): Promise<string> {
    const dates = await this.listDates();
    if (date === undefined) {
      const newest = dates[0];
      if (!newest) throw new BackupSourceError('NO_METADATA', 'No VM metadata backups found on this VDI.');
      return newest;
    }
    if (!isBackupDate(date) || !dates.includes(date)) throw new BackupSourceError('NO_SUCH_DATE', `Date directory ${date} not found.`);
    return date;
  }

  /**
   * The .vmmeta entries of a backup for a scope, in glob (name) order. Entries that are not
   * stock-shaped are returned as problems and never read.
   */
  async entries(date: string, scope: RestoreScope): Promise<{ entries: BackupEntry[]; problems: EntryProblem[] }> {
    const dir = backupDir(await this.resolveDate(date));
    const fs = this.vol.fs;
    const folder = scope === 'all' ? `${dir}/all` : `${dir}/by-sr/${this.sr.uuid}`;
    let names: string[] | null;
    try {
      // by-sr/ itself must be a real folder too: a link there would lead elsewhere.
      const bySr = scope === 'sr' ? await lstatOrNull(fs, `${dir}/by-sr`) : null;
      if (bySr && !bySr.isDirectory()) await listRealDirectory(fs, `${dir}/by-sr`);
      names = await listRealDirectory(fs, folder);
    } catch (err) {
      if (err instanceof LayoutError) throw new BackupSourceError('NOT_A_BACKUP', err.message);
      throw err;
    }
    if (!names) {
      throw new BackupSourceError('NO_ENTRIES', scope === 'all' ? 'No VM metadata exports were found in this backup.' : 'No VM metadata exports were found for the selected SR.');
    }
    const entries: BackupEntry[] = [];
    const problems: EntryProblem[] = [];
    const inodes = new SeenInodes();
    const add = (name: string, vmUuid: string, path: string, st: { ino: number; size: number }) => {
      const first = inodes.firstNameOf(st.ino, name);
      if (first !== null) problems.push({ name, reason: `the same file as ${first} (a second name for it); ignored` });
      else entries.push({ name, vmUuid, path, size: st.size });
    };
    for (const name of names.sort()) {
      const vmUuid = vmUuidOfEntry(name);
      if (!vmUuid) {
        problems.push({ name, reason: 'not a <vm-uuid>.vmmeta name; ignored' });
        continue;
      }
      const st = await fs.lstat(`${folder}/${name}`);
      if (scope === 'all') {
        if (!st.isFile()) {
          problems.push({ name, reason: 'not a regular file; ignored' });
          continue;
        }
        add(name, vmUuid, `${folder}/${name}`, st);
        continue;
      }
      // by-sr: the stock relative link to ../../all/<same name>, nothing else.
      if (st.isSymbolicLink()) {
        const target = await fs.readlink(`${folder}/${name}`);
        if (target !== bySrLinkTarget(vmUuid)) {
          problems.push({ name, reason: `link to ${quote(target)} leaves the backup; ignored` });
          continue;
        }
        // The link resolves through all/: it must be a real folder as well.
        const allDir = await lstatOrNull(fs, `${dir}/all`);
        const real = `${dir}/all/${name}`;
        const rst = allDir?.isDirectory() ? await lstatOrNull(fs, real) : null;
        if (!rst?.isFile()) {
          problems.push({ name, reason: allDir && !allDir.isDirectory() ? 'it links through all/, which is not a real folder; ignored' : 'the export it links to is missing (its backup failed)' });
          continue;
        }
        add(name, vmUuid, real, rst);
      } else if (st.isFile()) {
        add(name, vmUuid, `${folder}/${name}`, st);
      } else {
        problems.push({ name, reason: 'neither a link nor a file; ignored' });
      }
    }
    return { entries, problems };
  }

  /** May be called from concurrent imports: reads are taken one at a time. */
  async readEntry(entry: BackupEntry, maxBytes = VMMETA_MAX_BYTES): Promise<Buffer> {
    return this.vol.exclusive(() => readFileBytes(this.vol.fs, entry.path, maxBytes));
  }

  async readSrMeta(date: string): Promise<Buffer | null> {
    const path = `${backupDir(await this.resolveDate(date))}/${SRMETA_FILE}`;
    if (!(await pathExists(this.vol.fs, path))) return null;
    // readFileBytes takes regular files only: a link or folder there is refused, not followed.
    return readFileBytes(this.vol.fs, path, SRMETA_MAX_BYTES);
  }

  /**
   * The backup's vApp file (vapps.ts), null when it has none. Bounded like SRMETA.xml: a
   * file over the limit is refused before it is read (FileTooLargeError), a link or folder
   * in its place is refused, not followed.
   */
  async readVapps(date: string): Promise<Buffer | null> {
    const path = `${backupDir(await this.resolveDate(date))}/${VAPPS_FILE}`;
    if (!(await pathExists(this.vol.fs, path))) return null;
    return this.vol.exclusive(() => readFileBytes(this.vol.fs, path, VAPPS_MAX_BYTES));
  }
}

