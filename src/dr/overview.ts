/**
 * What the console's status pane shows about the pool it is connected to.
 * Plain data, read through the session; no Ink here.
 */
import { Host, Pool, SR, VDI, VM, XenApiError, type Ref, type Session, type SrRecord } from '../xenapi/index.js';
import { noPoolObject } from './pool-records.js';
import { backupVdiUuid } from './layout.js';
import { LAST_BACKUP_KEY, backupsThatFit, parseLastBackupRecord, usedPercentOf, type LastBackupRecord } from './backup-record.js';
import { forEachConcurrently, DEFAULT_CONCURRENCY } from './work-pool.js';

export interface SrSummary {
  ref: string;
  uuid: string;
  nameLabel: string;
  type: string;
  contentType: string;
  shared: boolean;
  physicalSize: number;
  physicalUtilisation: number;
  isDefault: boolean;
  allowedOperations: string[];
}

export interface PoolOverview {
  poolUuid: string;
  poolName: string;
  masterHostname: string;
  masterAddress: string;
  productBrand: string;
  productVersion: string;
  apiVersion: string;
  srs: SrSummary[];
  vms: { total: number; running: number };
  customTemplates: number;
}

/** The SR fields the pane shows (as the SR pickers list them: sr-choice.ts). */
export const SR_SUMMARY_FIELDS = ['uuid', 'name_label', 'type', 'content_type', 'shared', 'physical_size', 'physical_utilisation', 'allowed_operations'] as const;

/** An SR's record as the pane and the pickers read it. */
export type SrSummaryRecord = Pick<SrRecord, (typeof SR_SUMMARY_FIELDS)[number]>;

export function srSummary(ref: Ref, sr: SrSummaryRecord, defaultSr: Ref): SrSummary {
  return {
    ref,
    uuid: sr.uuid,
    nameLabel: sr.name_label,
    type: sr.type,
    contentType: sr.content_type,
    shared: sr.shared,
    physicalSize: sr.physical_size,
    physicalUtilisation: sr.physical_utilisation,
    isDefault: ref === defaultSr,
    allowedOperations: sr.allowed_operations,
  };
}

/** Guests and templates: XAPI leaves out control domains and snapshots. */
const GUESTS_AND_TEMPLATES = 'field "is_control_domain" = "false" and field "is_a_snapshot" = "false"';

/**
 * Sizes are ints, which XAPI always sends (-1 where an SR cannot tell): a missing or
 * malformed one fails the read as a protocol error, as everywhere else, rather than show 0.
 */
export async function readPoolOverview(session: Session): Promise<PoolOverview> {
  const [pool, srs, vms] = await Promise.all([
    Pool.get(session),
    SR.getAllRecords(session, SR_SUMMARY_FIELDS),
    VM.getAllRecordsWhere(session, GUESTS_AND_TEMPLATES, ['is_a_template', 'is_default_template', 'other_config', 'power_state']),
  ]);
  if (!pool) throw noPoolObject();
  const master = await Host.getRecord(session, pool.master);
  const software = master.software_version;

  let total = 0;
  let running = 0;
  let customTemplates = 0;
  for (const vm of vms.values()) {
    if (vm.is_a_template) {
      if (!vm.is_default_template && vm.other_config['default_template'] !== 'true') customTemplates++;
      continue;
    }
    total++;
    if (vm.power_state === 'Running') running++;
  }

  return {
    poolUuid: pool.uuid,
    poolName: pool.name_label,
    masterHostname: master.hostname,
    masterAddress: master.address,
    productBrand: software['product_brand'] ?? '',
    productVersion: software['product_version'] ?? '',
    apiVersion: `${master.API_version_major}.${master.API_version_minor}`,
    srs: [...srs]
      .map(([ref, sr]) => srSummary(ref, sr, pool.default_SR))
      .sort((a, b) => a.nameLabel.localeCompare(b.nameLabel)),
    vms: { total, running },
    customTemplates,
  };
}

/** "1.5 GiB" style sizes, as operators read them. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/**
 * What an SR's backup VDI says about the last backup on it, read from the VDI's record
 * (never attached): none; a backup VDI without a record this program wrote (made by the
 * stock tools, or the record is unreadable: host data out of bounds is ignored); or the
 * record with how full the VDI was after it and how many more backups of its size fit.
 */
export type SrBackup =
  | { kind: 'none' }
  | { kind: 'unrecorded'; vdiUuid: string }
  | { kind: 'recorded'; vdiUuid: string; record: LastBackupRecord; usedPercent: number; fit: number | null };

export type RecordedSrBackup = Extract<SrBackup, { kind: 'recorded' }>;

export const NO_SR_BACKUP: SrBackup = { kind: 'none' };

/**
 * How many backups the VDI keeps now, which the record does not say: about its use over the
 * size of one backup (the filesystem's own blocks and the database dumps count as backups,
 * so rather more than fewer), at least the one just written, at most what retention keeps.
 */
function keptEstimate(r: LastBackupRecord): number {
  if (r.backupBytes <= 0) return 1;
  return Math.min(r.keep, Math.max(1, Math.floor(r.usedBytes / r.backupBytes)));
}

export function srBackupOf(vdiUuid: string, rawRecord: unknown): SrBackup {
  const record = parseLastBackupRecord(typeof rawRecord === 'string' ? rawRecord : null);
  if (!record) return { kind: 'unrecorded', vdiUuid };
  return { kind: 'recorded', vdiUuid, record, usedPercent: usedPercentOf(record), fit: backupsThatFit(record, keptEstimate(record)) };
}

/** A VDI gone between two calls, or never there: no backup VDI. */
function isGone(err: unknown): boolean {
  return err instanceof XenApiError && (err.code === 'UUID_INVALID' || err.code === 'HANDLE_INVALID');
}

/**
 * The backup of each SR (by ref), looked up by the SR's deterministic backup VDI uuid, a few
 * SRs side by side. A VDI with that uuid on another SR is not this SR's backup VDI.
 */
export async function readSrBackups(session: Session, srs: ReadonlyArray<{ ref: Ref; uuid: string }>, signal?: AbortSignal): Promise<Map<Ref, SrBackup>> {
  const opts = signal ? { signal } : {};
  const out = new Map<Ref, SrBackup>();
  await forEachConcurrently(
    srs,
    DEFAULT_CONCURRENCY,
    async (sr) => {
      const uuid = backupVdiUuid(sr.uuid);
      try {
        const ref = await VDI.getByUuid(session, uuid, opts);
        const rec = await VDI.getRecord(session, ref, opts);
        out.set(sr.ref, rec.SR === sr.ref ? srBackupOf(uuid, rec.other_config[LAST_BACKUP_KEY]) : NO_SR_BACKUP);
      } catch (err) {
        if (!isGone(err)) throw err;
        out.set(sr.ref, NO_SR_BACKUP);
      }
    },
    signal,
  );
  return out;
}

/** An SR holding a backup VDI, as the status panes list them. */
export interface SrBackupEntry {
  sr: { uuid: string; name: string };
  backup: Exclude<SrBackup, { kind: 'none' }>;
}

/** Every SR of the pool that holds a backup VDI (ISO libraries cannot), by SR name. */
export async function readBackupOverview(session: Session, signal?: AbortSignal): Promise<SrBackupEntry[]> {
  const opts = signal ? { signal } : {};
  const srs = await SR.getAllRecords(session, ['uuid', 'name_label', 'content_type'], opts);
  const candidates = [...srs]
    .filter(([, sr]) => sr.content_type !== 'iso')
    .map(([ref, sr]) => ({ ref, uuid: sr.uuid, name: sr.name_label }));
  const found = await readSrBackups(session, candidates, signal);
  const out: SrBackupEntry[] = [];
  for (const c of candidates) {
    const backup = found.get(c.ref);
    if (backup && backup.kind !== 'none') out.push({ sr: { uuid: c.uuid, name: c.name }, backup });
  }
  return out.sort((a, b) => (a.sr.name < b.sr.name ? -1 : a.sr.name > b.sr.name ? 1 : a.sr.uuid.localeCompare(b.sr.uuid)));
}

/** The entry whose recorded backup finished last (finishedAt is UTC, so SRs compare), or null. */
export function newestRecorded(entries: readonly SrBackupEntry[]): (SrBackupEntry & { backup: RecordedSrBackup }) | null {
  let best: (SrBackupEntry & { backup: RecordedSrBackup }) | null = null;
  for (const e of entries) {
    if (e.backup.kind !== 'recorded') continue;
    if (!best || e.backup.record.finishedAt > best.backup.record.finishedAt) best = { ...e, backup: e.backup };
  }
  return best;
}
