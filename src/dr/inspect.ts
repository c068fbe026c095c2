/**
 * Offline look at a backup VDI image file (or a block device): what backups it holds,
 * without a pool. The image is untrusted like any backup VDI: it is opened read-only
 * through the copy-on-write overlay (never written, no fsck), only stock-shaped names are
 * counted (others are listed as ignored), and files are size-checked before being parsed.
 */
import { stat } from 'node:fs/promises';
import { MARKER_PATH, METADATA_DIR, SRMETA_FILE, INCOMPLETE_PREFIX, backupDir, isBackupDate, isUuid, newestFirst, parseLogrotateHistory, vmUuidOfEntry } from './layout.js';
import { parseSrMeta, SRMETA_MAX_BYTES, type SrNames } from './srmeta.js';
import { readVmmeta, VMMETA_MAX_BYTES } from './vmmeta.js';
import { openExt3, type Ext3Volume } from './volume/ext3.js';
import { pathExists, readFileBytes } from './volume/files.js';

/** conf/<vdi-uuid> is a four-line logrotate file. */
const CONF_MAX_BYTES = 64 * 1024;

export class InspectError extends Error {
  constructor(
    readonly code: 'NO_IMAGE' | 'NOT_A_BACKUP' | 'NO_SUCH_DATE',
    message: string,
  ) {
    super(message);
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

async function names(vol: Ext3Volume, path: string): Promise<string[]> {
  try {
    return (await vol.fs.readdir(path)).filter((n) => n !== '.' && n !== '..');
  } catch {
    return [];
  }
}

function dbDump(name: string): string | null {
  const m = /^([0-9a-f-]{36})\.db(?:\.[1-9]\d{0,5})?$/.exec(name);
  return m && isUuid(m[1]!) ? m[1]! : null;
}

export async function inspectImage(image: string, opts: { date?: string } = {}): Promise<ImageInspection> {
  const st = await stat(image).catch(() => null);
  if (!st || !(st.isFile() || st.isBlockDevice())) throw new InspectError('NO_IMAGE', `${image}: no such image file or block device.`);
  let vol: Ext3Volume;
  try {
    vol = await openExt3(image, { write: false, fsck: false });
  } catch (err) {
    throw new InspectError('NOT_A_BACKUP', `${image} does not hold a metadata backup (${(err as Error).message})`);
  }
  try {
    const marker = await vol.fs.lstat(MARKER_PATH).catch(() => null);
    if (!marker?.isFile()) throw new InspectError('NOT_A_BACKUP', `${image} does not hold a metadata backup (no ${MARKER_PATH}).`);
    const sb = vol.superblock;

    const backupVdis = (await names(vol, '/conf')).filter(isUuid).sort();
    let history: number | null = null;
    const firstConf = backupVdis[0];
    if (firstConf) {
      const text = await readFileBytes(vol.fs, `/conf/${firstConf}`, CONF_MAX_BYTES).catch(() => null);
      history = text ? parseLogrotateHistory(text.toString('utf8')) : null;
    }

    const dumps = new Map<string, number>();
    for (const n of await names(vol, '/')) {
      const pool = dbDump(n);
      if (pool) dumps.set(pool, (dumps.get(pool) ?? 0) + 1);
    }

    const all = await names(vol, METADATA_DIR);
    const dates = newestFirst(all);
    const backups: InspectedBackup[] = [];
    for (const date of dates) {
      const dir = backupDir(date);
      const bySr: InspectedBackup['bySr'] = [];
      for (const sr of (await names(vol, `${dir}/by-sr`)).filter(isUuid).sort()) {
        bySr.push({ sr, vms: (await names(vol, `${dir}/by-sr/${sr}`)).filter((n) => vmUuidOfEntry(n)).length });
      }
      backups.push({
        date,
        vms: (await names(vol, `${dir}/all`)).filter((n) => vmUuidOfEntry(n)).length,
        bySr,
        hasSrMeta: await pathExists(vol.fs, `${dir}/${SRMETA_FILE}`),
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
      ignored: all.filter((n) => !isBackupDate(n) && !n.startsWith(INCOMPLETE_PREFIX)).sort(),
    };
    if (opts.date !== undefined) {
      if (!isBackupDate(opts.date) || !dates.includes(opts.date)) throw new InspectError('NO_SUCH_DATE', `Date directory ${opts.date} not found.`);
      result.detail = await backupDetail(vol, opts.date);
    }
    return result;
  } finally {
    await vol.close();
  }
}

async function backupDetail(vol: Ext3Volume, date: string): Promise<BackupDetail> {
  const dir = backupDir(date);
  const vms: InspectedVm[] = [];
  const ignored: string[] = [];
  for (const file of (await names(vol, `${dir}/all`)).sort()) {
    const uuid = vmUuidOfEntry(file);
    if (!uuid) {
      ignored.push(file);
      continue;
    }
    try {
      const meta = await readVmmeta(await readFileBytes(vol.fs, `${dir}/all/${file}`, VMMETA_MAX_BYTES));
      const vm = meta.vms.find((v) => v.uuid === uuid) ?? meta.vms.find((v) => !v.isSnapshot);
      if (!vm) throw new Error('it holds no VM');
      vms.push({
        file,
        uuid,
        name: vm.name,
        powerState: vm.powerState,
        isTemplate: vm.isTemplate,
        disks: vm.disks.filter((d) => d.vbdType.toLowerCase() === 'disk').length,
        srs: [...new Set(vm.disks.map((d) => d.srUuid).filter(isUuid))],
      });
    } catch (err) {
      vms.push({ file, uuid, error: (err as Error).message });
    }
  }
  let srMeta: SrNames[] | null = null;
  let srMetaError: string | undefined;
  const srPath = `${dir}/${SRMETA_FILE}`;
  if (await pathExists(vol.fs, srPath)) {
    try {
      srMeta = parseSrMeta(await readFileBytes(vol.fs, srPath, SRMETA_MAX_BYTES)).srs;
    } catch (err) {
      srMetaError = (err as Error).message;
    }
  }
  return { date, vms, srMeta, ...(srMetaError !== undefined && { srMetaError }), ignored };
}
