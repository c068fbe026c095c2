/**
 * A dated backup beside the live pool, VM by VM (matched by uuid, as a restore matches them),
 * so an operator can choose what to restore. Read on the attachment a restore already holds
 * (or one opened for this read), with five bulk reads of the pool whatever its size.
 *
 * What a status means for a restore (xen-api ocaml/xapi/import.ml, `handle_vm`): an import
 * with restore on creates a VM that is not here; one that is here and halted is replaced only
 * when the export's VM.version is higher than the pool's, else VM_TO_IMPORT_IS_NOT_NEWER_VERSION
 * (force replaces it anyway). VM.version counts recoveries: only such an import sets it, to the
 * export's + 1, so "newer here" is a VM restored here from this backup or a later one.
 */
import { Network, VBD, VDI, VIF, VM, isNullRef, throwIfAborted, type Session } from '../xenapi/index.js';
import type { BackupSource } from './backup-source.js';
import { mainVm, restoreStep, withSource, type RestoreOptions } from './restore.js';
import { readVmmeta, type VmmetaVm } from './vmmeta.js';

export type CompareStatus =
  /** Not in this pool: a restore creates it. */
  | 'missing'
  /** This pool's copy has a higher VM.version: a restore refuses it unless forced. */
  | 'newerHere'
  /** The backup's copy has a higher VM.version: a restore replaces this pool's (halted) one. */
  | 'olderHere'
  /** Same version, but name, CPUs, memory, disks or networks differ (see `differences`). */
  | 'changed'
  /** Same version and the same facts. A restore refuses it unless forced. */
  | 'same';

/** The order the statuses are listed in, what needs the operator's eye first. */
export const COMPARE_STATUSES: readonly CompareStatus[] = ['missing', 'newerHere', 'olderHere', 'changed', 'same'];

/** The facts compared, as one side has them. */
export interface VmFacts {
  name: string;
  isTemplate: boolean;
  version: number;
  vcpus: number;
  memoryStaticMax: number;
  /** uuids of the VDIs its VBDs hold (disks and inserted CDs), sorted. */
  disks: string[];
  /** `device:network name` of each VIF, sorted. */
  networks: string[];
  powerState: string;
}

export type CompareField = 'name' | 'vcpus' | 'memory' | 'disks' | 'networks' | 'template';

export interface VmDifference {
  field: CompareField;
  backup: string;
  pool: string;
}

export interface ComparedVm {
  uuid: string;
  status: CompareStatus;
  backup: VmFacts;
  /** Null: not in this pool. */
  pool: VmFacts | null;
  /** Empty for 'missing' and 'same'. */
  differences: VmDifference[];
}

export interface BackupComparison {
  sr: { uuid: string; name: string };
  date: string;
  /** The backup's VMs and templates, by status then name. */
  vms: ComparedVm[];
  /** VMs and custom templates this pool has that the backup does not (a backup would take them). */
  onlyHere: Array<{ uuid: string } & VmFacts>;
  /** Exports that could not be read, by file name (a restore reports them as unreadable too). */
  unreadable: Array<{ file: string; error: string }>;
  counts: Record<CompareStatus, number> & { onlyHere: number; unreadable: number };
}

const MIB = 1024 * 1024;

function backupFacts(vm: VmmetaVm): VmFacts {
  return {
    name: vm.name,
    isTemplate: vm.isTemplate,
    version: vm.version,
    vcpus: vm.vcpus,
    memoryStaticMax: vm.memoryStaticMax,
    disks: [...new Set(vm.disks.map((d) => d.vdiUuid).filter((u) => u !== ''))].sort(),
    networks: vm.networks.map((n) => `${n.device}:${n.networkName}`).sort(),
    powerState: vm.powerState,
  };
}

/** What differs between the two copies, field by field, in words a screen can show. */
export function differences(backup: VmFacts, pool: VmFacts): VmDifference[] {
  const out: VmDifference[] = [];
  const add = (field: CompareField, b: string, p: string) => {
    if (b !== p) out.push({ field, backup: b, pool: p });
  };
  add('name', backup.name, pool.name);
  add('template', backup.isTemplate ? 'template' : 'VM', pool.isTemplate ? 'template' : 'VM');
  add('vcpus', String(backup.vcpus), String(pool.vcpus));
  add('memory', `${Math.round(backup.memoryStaticMax / MIB)} MiB`, `${Math.round(pool.memoryStaticMax / MIB)} MiB`);
  const list = (xs: string[]) => (xs.length ? xs.join(', ') : 'none');
  add('disks', list(backup.disks), list(pool.disks));
  add('networks', list(backup.networks), list(pool.networks));
  return out;
}

export function compareStatus(backup: VmFacts, pool: VmFacts | null, diffs: VmDifference[]): CompareStatus {
  if (!pool) return 'missing';
  if (pool.version > backup.version) return 'newerHere';
  if (pool.version < backup.version) return 'olderHere';
  return diffs.length ? 'changed' : 'same';
}

/** This pool's VMs and custom templates (the stock backup set) with the facts compared. */
async function readPoolFacts(session: Session): Promise<Map<string, VmFacts>> {
  const [vms, vbds, vdis, vifs, networks] = await Promise.all([
    VM.getAllCompareRecords(session, ['uuid', 'name_label', 'power_state', 'is_a_template', 'is_default_template', 'is_a_snapshot', 'is_control_domain', 'other_config', 'version', 'VCPUs_max', 'memory_static_max', 'VBDs', 'VIFs']),
    VBD.getAllRecords(session, ['VDI']),
    VDI.getAllRecords(session, ['uuid']),
    VIF.getAllRecords(session, ['device', 'network']),
    Network.getAllRecords(session, ['name_label']),
  ]);
  const out = new Map<string, VmFacts>();
  for (const r of vms.values()) {
    // The stock selection (pool-records.ts selectBackupSet): no snapshots, control domains or default templates.
    if (r.is_a_snapshot || r.is_control_domain || (r.is_a_template && (r.is_default_template || r.other_config['default_template'] === 'true'))) continue;
    const disks = new Set<string>();
    for (const ref of r.VBDs) {
      const vdi = vbds.get(ref)?.VDI;
      const uuid = vdi && !isNullRef(vdi) ? vdis.get(vdi)?.uuid : undefined;
      if (uuid) disks.add(uuid);
    }
    const nets = r.VIFs.flatMap((ref) => {
      const vif = vifs.get(ref);
      return vif ? [`${vif.device}:${networks.get(vif.network)?.name_label ?? ''}`] : [];
    });
    out.set(r.uuid, {
      name: r.name_label,
      isTemplate: r.is_a_template,
      version: r.version,
      vcpus: r.VCPUs_max,
      memoryStaticMax: r.memory_static_max,
      disks: [...disks].sort(),
      networks: nets.sort(),
      powerState: r.power_state,
    });
  }
  return out;
}

const byName = (a: { name: string; uuid: string }, b: { name: string; uuid: string }) => a.name.localeCompare(b.name) || a.uuid.localeCompare(b.uuid);

/** Compares a backup on an opened source with this pool (every export of the backup). */
export async function compareOnSource(session: Session, src: BackupSource, date: string | undefined, signal?: AbortSignal): Promise<BackupComparison> {
  const resolved = await restoreStep('list', () => src.resolveDate(date));
  const { entries } = await restoreStep('list', () => src.entries(resolved, 'all'));
  const pool = await restoreStep('pool', () => readPoolFacts(session));
  const vms: ComparedVm[] = [];
  const unreadable: BackupComparison['unreadable'] = [];
  for (const entry of entries) {
    throwIfAborted(signal);
    let vm: VmmetaVm | undefined;
    try {
      vm = mainVm((await readVmmeta(await src.readEntry(entry))).vms, entry.vmUuid);
    } catch (err) {
      unreadable.push({ file: entry.name, error: (err as Error).message });
      continue;
    }
    if (!vm) {
      unreadable.push({ file: entry.name, error: 'the export holds no VM' });
      continue;
    }
    const backup = backupFacts(vm);
    const here = pool.get(vm.uuid) ?? null;
    const diffs = here ? differences(backup, here) : [];
    vms.push({ uuid: vm.uuid, status: compareStatus(backup, here, diffs), backup, pool: here, differences: diffs });
  }
  const inBackup = new Set(vms.map((v) => v.uuid));
  const onlyHere = [...pool].filter(([uuid]) => !inBackup.has(uuid)).map(([uuid, f]) => ({ uuid, ...f }));
  vms.sort((a, b) => COMPARE_STATUSES.indexOf(a.status) - COMPARE_STATUSES.indexOf(b.status) || byName({ name: a.backup.name, uuid: a.uuid }, { name: b.backup.name, uuid: b.uuid }));
  onlyHere.sort(byName);
  const count = (s: CompareStatus) => vms.filter((v) => v.status === s).length;
  return {
    sr: { uuid: src.sr.uuid, name: src.sr.nameLabel },
    date: resolved,
    vms,
    onlyHere,
    unreadable,
    counts: { missing: count('missing'), newerHere: count('newerHere'), olderHere: count('olderHere'), changed: count('changed'), same: count('same'), onlyHere: onlyHere.length, unreadable: unreadable.length },
  };
}

/** The CLI's comparison: opens the backup VDI read-only for it (or reads the caller's source). */
export function compareBackup(session: Session, opts: Pick<RestoreOptions, 'srUuid' | 'vdiUuid' | 'legacy' | 'date' | 'access' | 'cacheDir' | 'signal' | 'source' | 'onProgress' | 'lockWaitMs' | 'onLockWait'> = {}): Promise<BackupComparison> {
  return withSource(session, opts, 'read', (src) => compareOnSource(session, src, opts.date, opts.signal));
}
