/**
 * Offline look at a backup VDI image file (or a block device): what backups it holds,
 * without a pool. The image is untrusted like any backup VDI: it is opened read-only
 * through the copy-on-write overlay (never written, no fsck), only stock-shaped names are
 * counted (others are listed as ignored), only the stock layout is walked (real folders,
 * never a followed link; a file with two names read once: backup-tree.ts), and files are
 * size-checked before being parsed.
 *
 * A crafted image can hold far more than a real one (thousands of 16 MiB "exports", the
 * same file linked under every name, huge folders): everything read is charged to a budget
 * of bytes and a deadline, and inspect stops with a clear message when either runs out.
 */
import { stat } from 'node:fs/promises';
import { MARKER_PATH, METADATA_DIR, SRMETA_FILE, INCOMPLETE_PREFIX, backupDir, isBackupDate, isUuid, newestFirst, parseLogrotateHistory, vmUuidOfEntry } from './layout.js';
import { BudgetExceededError, LayoutError, ReadBudget, isRealFile, listRealDirectory, lstatOrNull, namesOrNone, type ReadLimits } from './backup-tree.js';
import { describeShapeProblems } from './ova-header.js';
import { parseSrMeta, SRMETA_MAX_BYTES, type SrNames } from './srmeta.js';
import { readVmmeta, VMMETA_MAX_BYTES } from './vmmeta.js';
import { parseVappsFile, VAPPS_FILE, VAPPS_MAX_BYTES } from './vapps.js';
import { openExt3, type Ext3Volume } from './volume/ext3.js';
import { readFileBytes } from './volume/files.js';
import { ExpectedFailure } from '../failure/index.js';

/** conf/<vdi-uuid> is a four-line logrotate file. */
const CONF_MAX_BYTES = 64 * 1024;

/**
 * What one inspect may read: about four times a 5000-VM backup's exports, which take some
 * tens of seconds; a crafted image is stopped well before the deadline by the byte budget.
 */
export const INSPECT_LIMITS: Required<ReadLimits> = { maxBytes: 512 * 1024 * 1024, deadlineMs: 120_000 };

const INSPECT_NEXT_STEP = {
  NO_IMAGE: 'Give the path of a backup VDI image file (or block device).',
  NOT_A_BACKUP: 'Check that this is the "Pool Metadata Backup" VDI image.',
  NO_SUCH_DATE: 'Run inspect without --date to list the backups.',
  TOO_LARGE: 'Check where the image came from: a genuine backup VDI holds far less. Nothing was written.',
  TOO_SLOW: 'Check where the image came from: a genuine backup VDI is read in seconds. Nothing was written.',
} as const;

export class InspectError extends ExpectedFailure {
  constructor(
    override readonly code: keyof typeof INSPECT_NEXT_STEP,
    message: string,
  ) {
    super(code, message, INSPECT_NEXT_STEP[code]);
    this.name = 'InspectError';
  }
}

export interface InspectedBackup {
  date: string;
  /** .vmmeta files in all/ */
  vms: number;
  /** by-sr/<sr>/ entry counts */
  bySr: Array<{ sr: string; vms: number }>;
  hasSrMeta: boolean;
  /** Folders of this backup that are not in the stock shape (never read). */
  problems?: string[];
}

export interface InspectedVm {
  file: string;
  uuid: string;
  name?: string;
  powerState?: string;
  isTemplate?: boolean;
  disks?: number;
  /** SRs the VM's disks were on when it was backed up. */
  srs?: string[];
  error?: string;
}

export interface BackupDetail {
  date: string;
  vms: InspectedVm[];
  srMeta: SrNames[] | null;
  srMetaError?: string;
  /** Names in all/ that are not <uuid>.vmmeta files, never read. */
  ignored: string[];
  /** The vApp file this tool writes beside the stock layout: absent (null) or what it holds. */
  vapps: Array<{ uuid: string; name: string; vms: number }> | null;
  /** Why the vApp file, or entries of it, would be ignored by a restore. */
  vappsWarnings: string[];
}

export interface ImageInspection {
  image: string;
  sizeBytes: number;
  usedPercent: number;
  usedBytes: number;
  availableBytes: number;
  /** VDI uuids named by conf/<uuid> (the backup VDI this image was made from). */
  backupVdis: string[];
  /** Backups kept (conf's rotate), when readable. */
  history: number | null;
  /** Pool database dumps: <pool-uuid>.db and its rotated generations. */
  databases: Array<{ pool: string; dumps: number }>;
  /** Newest first. */
  backups: InspectedBackup[];
  /** Folders of interrupted runs (never shown by listers, removed by the next backup). */
  incomplete: string[];
  /** Other names in metadata/ (not stock dates): never read. */
  ignored: string[];
  detail?: BackupDetail;
}

function dbDump(name: string): string | null {
  const m = /^([0-9a-f-]{36})\.db(?:\.[1-9]\d{0,5})?$/.exec(name);
  return m && isUuid(m[1]!) ? m[1]! : null;
}

export interface InspectOptions {
  date?: string;
  /** Bounds of what is read (default INSPECT_LIMITS). */
  limits?: ReadLimits;
}

export async function inspectImage(image: string, opts: InspectOptions = {}): Promise<ImageInspection> {
  const st = await stat(image).catch(() => null);
  if (!st || !(st.isFile() || st.isBlockDevice())) throw new InspectError('NO_IMAGE', `${image}: no such image file or block device.`);
  let vol: Ext3Volume;
  try {
    vol = await openExt3(image, { write: false, fsck: false });
  } catch (err) {
    throw new InspectError('NOT_A_BACKUP', `${image} does not hold a metadata backup (${(err as Error).message})`);
  }
  const budget = new ReadBudget({ ...INSPECT_LIMITS, ...opts.limits });
  try {
    return await inspectVolume(vol, image, budget, opts.date);
  } catch (err) {
    if (err instanceof BudgetExceededError) {
      throw new InspectError(
        err.reason === 'bytes' ? 'TOO_LARGE' : 'TOO_SLOW',
        `${image} holds more than a metadata backup does: ${err.message}. A genuine backup VDI is read in seconds; this image may be damaged or crafted.`,
      );
    }
    if (err instanceof LayoutError) throw new InspectError('NOT_A_BACKUP', `${image} does not hold a metadata backup in the stock layout: ${err.message}`);
    throw err;
  } finally {
    await vol.close();
  }
}

async function inspectVolume(vol: Ext3Volume, image: string, budget: ReadBudget, date: string | undefined): Promise<ImageInspection> {
  const fs = vol.fs;
  if (!(await isRealFile(fs, MARKER_PATH))) throw new InspectError('NOT_A_BACKUP', `${image} does not hold a metadata backup (no ${MARKER_PATH} file).`);
  const sb = vol.superblock;

  const backupVdis = (await namesOrNone(fs, '/conf', budget)).filter(isUuid).sort();
  let history: number | null = null;
  const firstConf = backupVdis[0];
  if (firstConf) {
    const text = await readCharged(vol, `/conf/${firstConf}`, CONF_MAX_BYTES, budget).catch(rethrowBudget);
    history = text ? parseLogrotateHistory(text.toString('utf8')) : null;
  }

  const dumps = new Map<string, number>();
  for (const n of (await listRealDirectory(fs, '/', budget)) ?? []) {
    const pool = dbDump(n);
    if (pool) dumps.set(pool, (dumps.get(pool) ?? 0) + 1);
  }

  // metadata/ must be a real folder; a link there would be read as if it were the backup.
  const all = (await listRealDirectory(fs, METADATA_DIR, budget)) ?? [];
  const dates: string[] = [];
  const notFolders: string[] = [];
  for (const d of newestFirst(all)) {
    const dst = await lstatOrNull(fs, backupDir(d));
    // A second name for one folder (impossible in a genuine filesystem) is read once.
    if (dst?.isDirectory() && budget.inodes.firstNameOf(dst.ino, d) === null) dates.push(d);
    else notFolders.push(d);
  }
  const backups: InspectedBackup[] = [];
  for (const d of dates) {
    budget.check();
    const dir = backupDir(d);
    const problems: string[] = [];
    // Counts only from real folders; anything else is named, never followed.
    const count = async (path: string): Promise<string[]> => {
      try {
        return (await listRealDirectory(fs, path, budget)) ?? [];
      } catch (err) {
        if (err instanceof LayoutError) problems.push(err.message);
        else rethrowBudget(err);
        return [];
      }
    };
    const bySr: InspectedBackup['bySr'] = [];
    for (const sr of (await count(`${dir}/by-sr`)).filter(isUuid).sort()) {
      bySr.push({ sr, vms: (await count(`${dir}/by-sr/${sr}`)).filter((n) => vmUuidOfEntry(n)).length });
    }
    backups.push({
      date: d,
      vms: (await count(`${dir}/all`)).filter((n) => vmUuidOfEntry(n)).length,
      bySr,
      hasSrMeta: await isRealFile(fs, `${dir}/${SRMETA_FILE}`),
      ...(problems.length > 0 && { problems }),
    });
  }

  const result: ImageInspection = {
    image,
    sizeBytes: sb.blocksCount * sb.blockSize,
    usedPercent: sb.usedPercent,
    usedBytes: sb.usedBytes,
    availableBytes: sb.availableBytes,
    backupVdis,
    history,
    databases: [...dumps].map(([pool, n]) => ({ pool, dumps: n })),
    backups,
    incomplete: all.filter((n) => n.startsWith(INCOMPLETE_PREFIX)).sort(),
    ignored: [...all.filter((n) => !isBackupDate(n) && !n.startsWith(INCOMPLETE_PREFIX)), ...notFolders].sort(),
  };
  if (date !== undefined) {
    if (!isBackupDate(date) || !dates.includes(date)) throw new InspectError('NO_SUCH_DATE', `Date directory ${date} not found.`);
    result.detail = await backupDetail(vol, date, budget);
  }
  return result;
}

/** A budget or deadline overrun ends the whole inspect; any other read failure is the file's own. */
function rethrowBudget(err: unknown): null {
  if (err instanceof BudgetExceededError) throw err;
  return null;
}

/** Reads a regular file within `maxBytes`, charged to the budget. */
async function readCharged(vol: Ext3Volume, path: string, maxBytes: number, budget: ReadBudget): Promise<Buffer> {
  const st = await vol.fs.lstat(path);
  if (st.isFile()) budget.spend(Math.min(st.size, maxBytes), path);
  return readFileBytes(vol.fs, path, maxBytes);
}

async function backupDetail(vol: Ext3Volume, date: string, budget: ReadBudget): Promise<BackupDetail> {
  const dir = backupDir(date);
  const vms: InspectedVm[] = [];
  const ignored: string[] = [];
  for (const file of (await listRealDirectory(vol.fs, `${dir}/all`, budget) ?? []).sort()) {
    const uuid = vmUuidOfEntry(file);
    if (!uuid) {
      ignored.push(file);
      continue;
    }
    try {
      const fst = await vol.fs.lstat(`${dir}/all/${file}`);
      const first = fst.isFile() ? budget.inodes.firstNameOf(fst.ino, file) : null;
      if (first !== null) throw new Error(`the same file as ${first} (a second name for it); not read again`);
      const meta = await readVmmeta(await readCharged(vol, `${dir}/all/${file}`, VMMETA_MAX_BYTES, budget));
      const vm = meta.vms.find((v) => v.uuid === uuid) ?? meta.vms.find((v) => !v.isSnapshot);
      if (!vm) throw new Error(meta.shape.total ? describeShapeProblems(meta.shape) : 'it holds no VM');
      vms.push({
        file,
        uuid,
        name: vm.name,
        powerState: vm.powerState,
        isTemplate: vm.isTemplate,
        disks: vm.disks.filter((d) => d.vbdType.toLowerCase() === 'disk').length,
        srs: [...new Set(vm.disks.map((d) => d.srUuid).filter(isUuid))],
        // What XAPI would refuse in it: a restore would not send it.
        ...(meta.shape.total > 0 && { error: `${describeShapeProblems(meta.shape)}; a restore would not send this export to XAPI` }),
      });
    } catch (err) {
      rethrowBudget(err);
      vms.push({ file, uuid, error: (err as Error).message });
    }
  }
  let srMeta: SrNames[] | null = null;
  let srMetaError: string | undefined;
  const srPath = `${dir}/${SRMETA_FILE}`;
  if (await lstatOrNull(vol.fs, srPath)) {
    try {
      srMeta = parseSrMeta(await readCharged(vol, srPath, SRMETA_MAX_BYTES, budget)).srs;
    } catch (err) {
      rethrowBudget(err);
      srMetaError = (err as Error).message;
    }
  }
  // The vApp file, read as a restore reads it (a real file within its bound, else ignored).
  let vapps: BackupDetail['vapps'] = null;
  const vappsWarnings: string[] = [];
  const vappsPath = `${dir}/${VAPPS_FILE}`;
  const vst = await lstatOrNull(vol.fs, vappsPath);
  if (vst && !vst.isFile()) vappsWarnings.push(`${VAPPS_FILE} is not a regular file; a restore ignores it`);
  else if (vst) {
    try {
      const read = parseVappsFile(await readCharged(vol, vappsPath, VAPPS_MAX_BYTES + 1, budget));
      if (read.ok) {
        vapps = read.vapps.map((a) => ({ uuid: a.uuid, name: a.nameLabel, vms: a.vms.length }));
        vappsWarnings.push(...read.warnings);
      } else vappsWarnings.push(read.warning);
    } catch (err) {
      rethrowBudget(err);
      vappsWarnings.push(`${VAPPS_FILE} unreadable: ${(err as Error).message}`);
    }
  }
  return { date, vms, srMeta, ...(srMetaError !== undefined && { srMetaError }), ignored, vapps, vappsWarnings };
}
