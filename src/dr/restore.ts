/**
 * "Restore Virtual Machine Metadata": the stock xe-restore-metadata import loop and
 * SR/VDI renaming (xen-api scripts/xe-restore-metadata), plus a preflight the stock tools
 * do not have.
 * Each .vmmeta goes to XAPI's /import_metadata with restore (xe --preserve) on, dry_run and
 * force as chosen; one failing VM never stops the others; the report says per VM what was
 * created or which XAPI error refused it.
 */
import { Network, SR, VDI, VM, XenApiError, importMetadata, isAbortError, throwIfAborted, type Ref, type Session, type VmRecord } from '../xenapi/index.js';
import { StepFailure, explainError } from '../failure/index.js';
import { BackupSource, BackupSourceError, type BackupEntry, type EntryProblem, type LockWaitOptions, type RestoreScope } from './backup-source.js';
import type { CleanedVbd } from './leftovers.js';
import type { LockOp } from './vdi-lock.js';
import { parseSrMeta, type SrNames } from './srmeta.js';
import { readSendableVmmeta, readVmmeta, type VmmetaSummary } from './vmmeta.js';
import { describeShapeProblems } from './ova-header.js';
import { withNamedRefs } from './error-names.js';
import { HeldBytes, RESTORE_HELD_BYTES } from './held-bytes.js';
import type { AccessMode } from './volume/workspace.js';
import { NetworkClaims, type NetworkRef } from './network-claims.js';
import { childAbort, clampConcurrency, forEachConcurrently } from './work-pool.js';
import { MAC_POLICY, NetworkMapError, applyNetworkMap, findMacClashes, readPoolNetworks, resolveNetworkMap, sourceNetworks, withMapped, type ExportNetworks, type MacClash, type NetworkMapEntry, type NetworkMapReport, type PoolNetwork, type PreflightNetwork } from './network-map.js';
import { neutralise } from '../safe-text.js';
import { recreateVapps, type VappsRestoreReport } from './vapps.js';

export interface RestoreOptions extends LockWaitOptions {
  srUuid?: string;
  vdiUuid?: string;
  legacy?: boolean;
  /** Default: the newest backup. */
  date?: string;
  /** Default 'all', as stock. */
  scope?: RestoreScope;
  dryRun?: boolean;
  force?: boolean;
  /** Imports (and renames) in flight at once. Default 8 (work-pool.ts). */
  concurrency?: number;
  access?: AccessMode | 'auto';
  /** Remote access: folder of cached VDI copies (null: none). */
  cacheDir?: string | null;
  signal?: AbortSignal;
  onProgress?: (e: RestoreProgress) => void;
  /**
   * A backup VDI the caller already holds open (the console's restore keeps one for its
   * whole flow, so it is attached once): read, and neither opened nor closed here.
   */
  source?: BackupSource;
  /** Source network → a network of this pool, applied after the imports (network-map.ts). */
  networkMap?: NetworkMapEntry[];
  /**
   * Only the exports of these VM uuids (the operator's choice beside the pool,
   * backup-compare.ts); unset: every export of the scope, as stock.
   */
  vmUuids?: readonly string[];
}

/** The scope's entries, narrowed to the chosen VMs when there is a choice. */
async function chosenEntries(src: BackupSource, date: string, scope: RestoreScope, only: readonly string[] | undefined) {
  const listed = await src.entries(date, scope);
  if (!only) return listed;
  const wanted = new Set(only);
  return { ...listed, entries: listed.entries.filter((e) => wanted.has(e.vmUuid)) };
}

export type RestoreProgress =
  | { kind: 'phase'; message: string }
  | { kind: 'vm'; done: number; total: number; current: string; errors: number };

export interface ImportedVm {
  uuid: string;
  /** Empty when neither the pool nor the export could say it. */
  name: string;
}

/**
 * What one export of the backup is. The one definition list, preflight and summary count
 * by: an export is a `<vm-uuid>.vmmeta` entry a restore reads; it holds a VM or a custom
 * template, or it cannot be read (or XAPI would refuse its shape) and is never sent.
 */
export type ExportKind = 'vm' | 'template' | 'unreadable';

/** A backup's exports for one scope, counted the same way wherever they are shown. */
export interface ExportCounts {
  /** Exports a restore of this scope reads: vms + templates + unreadable. */
  exports: number;
  vms: number;
  templates: number;
  /** Exports that cannot be read, or whose shape XAPI would refuse: never sent. */
  unreadable: number;
  /** Folder entries that are no export (odd name, link out of the backup, ...): never read. */
  skipped: number;
}

export interface VmRestoreResult {
  file: string;
  /** The VM uuid the file is named after. */
  vmUuid: string;
  /** Name from the export (for reports even when the import failed). */
  name: string;
  kind: ExportKind;
  ok: boolean;
  created: ImportedVm[];
  error?: { code: string; params: string[]; meaning: string; nextStep: string };
}

export interface NameChange {
  kind: 'SR' | 'VDI';
  uuid: string;
  nameLabel: string;
  nameDescription: string;
  /** The object has these names now (set by this restore, or already so). */
  applied: boolean;
  /** It had them already: nothing was sent. */
  unchanged?: boolean;
  error?: string;
}

/**
 * What became of a name: set (or, in a dry run, would be set), already so, or not set.
 * Only 'set' is a change: counts of names set count only these.
 */
export function nameOutcome(n: Pick<NameChange, 'unchanged' | 'error'>): 'set' | 'unchanged' | 'failed' {
  if (n.error) return 'failed';
  return n.unchanged ? 'unchanged' : 'set';
}

export interface RestoreCounts extends ExportCounts {
  restoredVms: number;
  restoredTemplates: number;
  /** Names changed by this restore (a dry run: that would be changed). */
  namesSet: number;
  /** Names the pool had already: nothing sent. */
  namesUnchanged: number;
  namesFailed: number;
}

export interface RestoreReport {
  sr: { uuid: string; name: string };
  vdi: { uuid: string; trusted: boolean };
  date: string;
  scope: RestoreScope;
  dryRun: boolean;
  force: boolean;
  results: VmRestoreResult[];
  skipped: EntryProblem[];
  names: NameChange[];
  restored: number;
  errors: number;
  counts: RestoreCounts;
  /** "Restored N VM(s), and M error(s)", as the stock script ends. */
  summary: string;
  durationMs: number;
  /** Stale VBDs of the backup VDI released before reading it. */
  cleaned: CleanedVbd[];
  /** Time spent waiting for a run holding the backup VDI (null: none). */
  waited: { ms: number; for: string } | null;
  /** The backup's vApps recreated (or reused) here for the restored VMs (vapps.ts). */
  vapps: VappsRestoreReport;
  /** The network map applied (only when one was given). */
  networkMap?: NetworkMapReport;
}

export interface MissingDisk {
  vdiUuid: string;
  location: string;
  srUuid: string;
  vdiName: string;
  /** The SR's name: this pool's when it is here, else the one the export recorded. */
  srName: string;
  /** False: the SR is not in this pool (e.g. the replicated SR is not attached yet). */
  srInPool: boolean;
  /** Attached when exported: a forced import still fails without it. */
  attached: boolean;
}

export interface PreflightVm {
  file: string;
  uuid: string;
  name: string;
  powerState: string;
  isTemplate: boolean;
  /** A VM with this uuid is in the pool: import replaces it only if halted and older. */
  clash: { name: string; powerState: string } | null;
  /** Disks whose VDI cannot be found here (import fails without force). */
  missingDisks: MissingDisk[];
  /** Networks matched neither by name nor by bridge: the VM lands on a new internal network. */
  newNetworks: string[];
  /** The XAPI error this import is expected to meet with the chosen force setting, if any. */
  expectedError?: string;
  /** Set: the export is unreadable, or XAPI would refuse its shape; it is never sent. */
  error?: string;
}

export interface PreflightCounts extends ExportCounts {
  clashes: number;
  missingDisks: number;
  newNetworks: number;
  expectedErrors: number;
  /** Names that differ from this pool's now, i.e. that a restore would change. */
  namesToSet: number;
}

export interface PreflightReport {
  sr: { uuid: string; name: string };
  vdi: { uuid: string; trusted: boolean };
  date: string;
  scope: RestoreScope;
  force: boolean;
  vms: PreflightVm[];
  skipped: EntryProblem[];
  /** Each with `unchanged` when this pool has the names already, `error` when it has no such object. */
  names: Array<Omit<NameChange, 'applied'>>;
  /** Stale VBDs of the backup VDI released before it was read. */
  cleaned: CleanedVbd[];
  counts: PreflightCounts;
  /** Each source network of the exports in scope and what this pool will use (network-map.ts). */
  networks: PreflightNetwork[];
  /** This pool's networks, to map a source network to. */
  poolNetworks: PoolNetwork[];
  /** MACs of the backup a VM here already uses; `macPolicy` says why that matters. */
  macClashes: MacClash[];
  macPolicy: string;
}

/** The kind of an export as the preflight read it. */
export function preflightKind(v: Pick<PreflightVm, 'error' | 'isTemplate'>): ExportKind {
  return v.error ? 'unreadable' : v.isTemplate ? 'template' : 'vm';
}

/** Counts exports by kind: the one rule for preflight and summary (and, by total, list). */
export function countExports(kinds: ExportKind[], skipped: number): ExportCounts {
  const n = (k: ExportKind) => kinds.filter((x) => x === k).length;
  return { exports: kinds.length, vms: n('vm'), templates: n('template'), unreadable: n('unreadable'), skipped };
}

/** The export's own VM: the one it is named after, else its first that is no snapshot. */
export function mainVm<T extends { uuid: string; isSnapshot: boolean }>(vms: T[], uuid: string): T | undefined {
  return vms.find((v) => v.uuid === uuid && !v.isSnapshot) ?? vms.find((v) => !v.isSnapshot);
}

/** What the pool has now, for the preflight's comparisons. */
async function poolIndex(session: Session) {
  const [vms, vdis, srs, networks] = await Promise.all([
    VM.getAllRecords(session, ['uuid', 'name_label', 'power_state']),
    VDI.getAllRecords(session, ['SR', 'location', 'uuid', 'name_label', 'name_description']),
    SR.getAllRecords(session, ['uuid', 'name_label', 'name_description']),
    poolNetworks(session),
  ]);
  const srUuidByRef = new Map([...srs].map(([ref, r]) => [ref, r.uuid]));
  const vmByUuid = new Map([...vms.values()].map((r) => [r.uuid, r]));
  const vdiByLocation = new Set([...vdis.values()].map((r) => `${srUuidByRef.get(r.SR) ?? ''}/${r.location}`));
  const srNames = new Map([...srs.values()].map((r) => [r.uuid, r.name_label]));
  // "SR/uuid" and "VDI/uuid" -> the names the object has now (a restore sets only those that differ).
  const namesNow = new Map<string, { nameLabel: string; nameDescription: string }>();
  for (const [cls, recs] of [['SR', srs], ['VDI', vdis]] as const) {
    for (const r of recs.values()) namesNow.set(`${cls}/${r.uuid}`, { nameLabel: r.name_label, nameDescription: r.name_description });
  }
  const netNames = new Set(networks.map((n) => n.name));
  const bridges = new Set(networks.map((n) => n.bridge));
  return { vmByUuid, vdiByLocation, srNames, namesNow, netNames, bridges };
}

/** The pool's networks as import matches them (name_label, bridge). */
async function poolNetworks(session: Session): Promise<NetworkRef[]> {
  const recs = await Network.getAllRecords(session, ['name_label', 'bridge']);
  return [...recs.values()].map((r) => ({ name: r.name_label, bridge: r.bridge }));
}

function namesInScope(srs: SrNames[], scope: RestoreScope, srUuid: string): SrNames[] {
  return scope === 'all' ? srs : srs.filter((s) => s.uuid === srUuid);
}

function flatNames(srs: SrNames[]): Array<Omit<NameChange, 'applied' | 'error'>> {
  return srs.flatMap((s) => [
    { kind: 'SR' as const, uuid: s.uuid, nameLabel: s.nameLabel, nameDescription: s.nameDescription },
    ...s.vdis.map((v) => ({ kind: 'VDI' as const, uuid: v.uuid, nameLabel: v.nameLabel, nameDescription: v.nameDescription })),
  ]);
}

export type RestoreStep = 'source' | 'list' | 'pool' | 'networks' | 'close';

const RESTORE_STEP_TEXT: Record<RestoreStep, string> = {
  source: 'Opening the backup VDI',
  list: 'Reading the backup',
  pool: "Reading this pool's VMs, disks and networks",
  networks: "Reading this pool's networks",
  close: 'Releasing the backup VDI',
};

/**
 * A failure outside the per-VM imports (those are reported per VM), naming the step for the
 * operator. Problems with the backup itself stay BackupSourceError: they say it already.
 */
export class RestoreStepError extends StepFailure {
  constructor(
    readonly step: RestoreStep,
    cause: unknown,
  ) {
    super(RESTORE_STEP_TEXT[step], cause);
    this.name = 'RestoreStepError';
  }
}

export async function restoreStep<T>(step: RestoreStep, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof RestoreStepError || err instanceof BackupSourceError || err instanceof NetworkMapError || isAbortError(err)) throw err;
    throw new RestoreStepError(step, err);
  }
}

export async function withSource<T>(session: Session, opts: RestoreOptions, op: LockOp, fn: (src: BackupSource) => Promise<T>): Promise<T> {
  // The caller's source: its holder releases it (after this step or the next one).
  if (opts.source) return fn(opts.source);
  const src = await restoreStep('source', () => openSource(session, opts, op));
  let result: T;
  try {
    result = await fn(src);
  } catch (err) {
    // The first failure is the one to report; releasing is still attempted.
    await src.close().catch(() => undefined);
    throw err;
  }
  await restoreStep('close', () => src.close());
  return result;
}

function openSource(session: Session, opts: RestoreOptions, op: LockOp): Promise<BackupSource> {
  return BackupSource.open(session, {
    op,
    ...(opts.lockWaitMs !== undefined && { lockWaitMs: opts.lockWaitMs }),
    ...(opts.lockPollMs !== undefined && { lockPollMs: opts.lockPollMs }),
    ...(opts.lockTtlMs !== undefined && { lockTtlMs: opts.lockTtlMs }),
    ...(opts.lockIdentity && { lockIdentity: opts.lockIdentity }),
    // Waiting for a backup that holds the VDI shows as progress unless asked otherwise.
    ...((opts.onLockWait ?? opts.onProgress) && { onLockWait: opts.onLockWait ?? ((w) => opts.onProgress!({ kind: 'phase', message: w.message })) }),
    ...(opts.srUuid && { srUuid: opts.srUuid }),
    ...(opts.vdiUuid && { vdiUuid: opts.vdiUuid }),
    legacy: opts.legacy ?? false,
    access: opts.access ?? 'auto',
    ...(opts.cacheDir !== undefined && { cacheDir: opts.cacheDir }),
    ...(opts.signal && { signal: opts.signal }),
  });
}

export async function preflightRestore(session: Session, opts: RestoreOptions = {}): Promise<PreflightReport> {
  const scope = opts.scope ?? 'all';
  return withSource(session, opts, 'read', async (src) => {
    const date = await restoreStep('list', () => src.resolveDate(opts.date));
    const { entries, problems } = await restoreStep('list', () => chosenEntries(src, date, scope, opts.vmUuids));
    const pool = await restoreStep('pool', () => poolIndex(session));
    const force = opts.force ?? false;
    const vms: PreflightVm[] = [];
    const exported: ExportNetworks[] = [];
    for (const entry of entries) {
      throwIfAborted(opts.signal);
      const unreadable = (error: string): PreflightVm => ({ file: entry.name, uuid: entry.vmUuid, name: '', powerState: '', isTemplate: false, clash: null, missingDisks: [], newNetworks: [], error });
      let meta: VmmetaSummary;
      try {
        meta = await readVmmeta(await src.readEntry(entry));
      } catch (err) {
        vms.push(unreadable((err as Error).message));
        continue;
      }
      const vm = mainVm(meta.vms, entry.vmUuid);
      if (!vm) {
        vms.push(unreadable(NO_VM_IN_EXPORT));
        continue;
      }
      // XAPI would refuse the file: the import is reported as not possible, and never tried.
      const refusal = meta.shape.total ? { error: `${describeShapeProblems(meta.shape)}; this export would not be sent to XAPI` } : {};
      const existing = pool.vmByUuid.get(vm.uuid);
      if (!refusal.error) exported.push({ vmUuid: vm.uuid, vmName: vm.name, networks: vm.networks });
      const missing: MissingDisk[] = vm.disks
        .filter((d) => d.vbdType === 'Disk' && d.vdiUuid !== '' && !pool.vdiByLocation.has(`${d.srUuid}/${d.location}`))
        .map((d) => {
          const here = pool.srNames.get(d.srUuid);
          return { vdiUuid: d.vdiUuid, location: d.location, srUuid: d.srUuid, vdiName: d.vdiName, srName: here ?? d.srName, srInPool: here !== undefined, attached: d.attached };
        });
      const expectedError = predictError(existing, missing.map((d) => ({ attached: d.attached, srKnown: d.srInPool })), force);
      vms.push({
        ...(expectedError && !refusal.error && { expectedError }),
        ...refusal,
        file: entry.name,
        uuid: vm.uuid,
        name: vm.name,
        powerState: vm.powerState,
        isTemplate: vm.isTemplate,
        clash: existing ? { name: existing.name_label, powerState: existing.power_state } : null,
        missingDisks: missing,
        newNetworks: [...new Set(vm.networks.filter((n) => !pool.netNames.has(n.networkName) && !pool.bridges.has(n.bridge)).map((n) => n.networkName))],
      });
    }
    const srmeta = await restoreStep('list', () => src.readSrMeta(date));
    // As applyNames will find them: already so, to set, or not in this pool.
    const names: PreflightReport['names'] = (srmeta ? flatNames(namesInScope(parseSrMeta(srmeta).srs, scope, src.sr.uuid)) : []).map((n) => {
      const now = pool.namesNow.get(`${n.kind}/${n.uuid}`);
      if (!now) return { ...n, error: noSuchObject(n) };
      return now.nameLabel === n.nameLabel && now.nameDescription === n.nameDescription ? { ...n, unchanged: true } : n;
    });
    // Unreadable and refused exports are never sent: only the others are counted for what they hold.
    const sent = vms.filter((v) => !v.error);
    const [poolNets, macClashes] = await restoreStep('pool', () => Promise.all([readPoolNetworks(session), findMacClashes(session, exported)]));
    const table = sourceNetworks(exported, [...poolNets.values()]);
    const networks = withMapped(table, opts.networkMap ? resolveNetworkMap(opts.networkMap, table, poolNets) : null);
    return {
      sr: { uuid: src.sr.uuid, name: src.sr.nameLabel },
      vdi: { uuid: src.vdi.uuid, trusted: src.vdi.trusted },
      date,
      scope,
      force,
      vms,
      skipped: problems,
      names,
      cleaned: src.cleaned,
      counts: {
        ...countExports(vms.map(preflightKind), problems.length),
        clashes: sent.filter((v) => v.clash).length,
        missingDisks: sent.filter((v) => v.missingDisks.length > 0).length,
        newNetworks: sent.filter((v) => v.newNetworks.length > 0).length,
        expectedErrors: sent.filter((v) => v.expectedError).length,
        namesToSet: names.filter((n) => nameOutcome(n) === 'set').length,
      },
      networks,
      poolNetworks: [...poolNets.values()],
      macClashes,
      macPolicy: MAC_POLICY,
    };
  });
}

/**
 * Before the first import: the map resolved against the backup's source networks and this
 * pool (a bad map stops the run before anything is imported), and the networks here now,
 * which the map's clean-up never destroys.
 */
async function networkMapStart(session: Session, src: BackupSource, date: string, scope: RestoreScope, map: NetworkMapEntry[], only?: readonly string[]) {
  const { entries } = await chosenEntries(src, date, scope, only);
  const exported: ExportNetworks[] = [];
  for (const entry of entries) {
    try {
      const meta = await readVmmeta(await src.readEntry(entry));
      const vm = mainVm(meta.vms, entry.vmUuid);
      if (vm) exported.push({ vmUuid: vm.uuid, vmName: vm.name, networks: vm.networks });
    } catch (err) {
      if (isAbortError(err)) throw err;
      // An unreadable export is reported by its import; it has no networks to map.
    }
  }
  const poolNets = await readPoolNetworks(session);
  const sources = sourceNetworks(exported, [...poolNets.values()]);
  return { resolved: resolveNetworkMap(map, sources, poolNets), sources, networksBefore: new Set(poolNets.keys()) };
}

/** An export with no VM in it: nothing to import, so it is not sent (preflight and restore alike). */
const NO_VM_IN_EXPORT = 'the export holds no VM';

/**
 * XAPI's import rules (xen-api ocaml/xapi/import.ml) applied to what the preflight knows,
 * in XAPI's handler order: VDIs are looked up before the VM is checked, VBDs after it.
 */
function predictError(
  existing: Pick<VmRecord, 'power_state'> | undefined,
  missing: Array<{ attached: boolean; srKnown: boolean }>,
  force: boolean,
): string | undefined {
  if (missing.length > 0 && !force) return missing.some((d) => !d.srKnown) ? 'VDI_CONTENT_ID_MISSING' : 'VDI_LOCATION_MISSING';
  if (existing) {
    if (existing.power_state !== 'Halted') return force ? undefined : 'VM_BAD_POWER_STATE'; // forced: skipped silently
    if (!force) return 'VM_TO_IMPORT_IS_NOT_NEWER_VERSION (unless the backup is newer)';
  }
  if (missing.some((d) => d.attached)) return 'IMPORT_ERROR_ATTACHED_DISKS_NOT_FOUND';
  return undefined;
}

/**
 * Names and uuids of the VMs an import created (read side by side). A record that cannot
 * be read is named from the export instead: a restore keeps the uuids, so the one created
 * VM left unmatched is the export's one VM left unmatched. A reference is never a name.
 */
async function vmNames(session: Session, refs: Ref[], exported: Array<{ uuid: string; name: string; isSnapshot: boolean }>): Promise<ImportedVm[]> {
  const read = await Promise.all(
    refs.map(async (ref) => {
      try {
        const rec = await VM.getRecord(session, ref);
        return { uuid: rec.uuid, name: rec.name_label };
      } catch (err) {
        if (isAbortError(err)) throw err;
        return null;
      }
    }),
  );
  const unread = read.filter((r) => r === null).length;
  const known = new Set(read.map((r) => r?.uuid));
  const left = exported.filter((v) => !v.isSnapshot && !known.has(v.uuid));
  const guess = unread === 1 && left.length === 1 ? { uuid: left[0]!.uuid, name: left[0]!.name } : null;
  return read.map((r) => r ?? guess ?? { uuid: '', name: '' });
}

async function importOne(
  session: Session,
  src: BackupSource,
  entry: BackupEntry,
  opts: RestoreOptions,
  srRef: Ref,
  networks: NetworkClaims | null,
  exported?: Map<string, ExportNetworks>,
): Promise<VmRestoreResult> {
  let name = '';
  let kind: ExportKind = 'unreadable';
  try {
    // Only a file that passes our own safe read and parse, in the shape XAPI's import reads,
    // goes to XAPI: a crafted one stops here.
    let meta: VmmetaSummary;
    let tar: Buffer;
    const refused = (meaning: string): VmRestoreResult => ({
      file: entry.name,
      vmUuid: entry.vmUuid,
      name,
      kind: 'unreadable',
      ok: false,
      created: [],
      error: { code: 'UNSAFE_BACKUP_FILE', params: [], meaning, nextStep: 'This export was not sent to XAPI. Check where the backup came from; try an older backup.' },
    });
    try {
      tar = await src.readEntry(entry);
      meta = await readSendableVmmeta(tar);
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      return refused((err as Error).message);
    }
    const vm = mainVm(meta.vms, entry.vmUuid);
    if (!vm) return refused(NO_VM_IN_EXPORT);
    name = vm.name;
    kind = vm.isTemplate ? 'template' : 'vm';
    exported?.set(entry.name, { vmUuid: vm.uuid, vmName: vm.name, networks: vm.networks });
    const send = () =>
      importMetadata(session, tar, { restore: true, force: opts.force ?? false, dryRun: opts.dryRun ?? false, srRef }, opts.signal ? { signal: opts.signal } : {});
    const wanted = meta.vms.flatMap((v) => v.networks.map((n) => ({ name: n.networkName, bridge: n.bridge })));
    const refs = networks ? await networks.run(wanted, send) : await send();
    return { file: entry.name, vmUuid: entry.vmUuid, name, kind, ok: true, created: await vmNames(session, refs, meta.vms) };
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    // The existing VM an error names by reference (a clash) is said by name and uuid, in the
    // meaning and in the params (an OpaqueRef tells a runbook nothing either).
    const named = await withNamedRefs(session, err, opts.signal);
    const e = explainError(named);
    return {
      file: entry.name,
      vmUuid: entry.vmUuid,
      name,
      kind,
      ok: false,
      created: [],
      error: { code: e.code, params: named instanceof XenApiError ? named.params : [], meaning: e.meaning, nextStep: e.nextStep },
    };
  }
}

function noSuchObject(n: { kind: 'SR' | 'VDI'; uuid: string }): string {
  return `no ${n.kind} ${neutralise(n.uuid)} in this pool`;
}

type NameRecords = Map<string, { ref: Ref; nameLabel: string; nameDescription: string }>;

/** The classes whose names a restore sets, by NameChange kind: both have the same name calls. */
const NAMED = { SR, VDI } as const;

const NAME_FIELDS = ['uuid', 'name_label', 'name_description'] as const;

/** uuid → ref and current names of every SR or VDI (one bulk read, three fields each). */
async function namesByUuid(session: Session, kind: NameChange['kind']): Promise<NameRecords> {
  const recs = kind === 'SR' ? await SR.getAllRecords(session, NAME_FIELDS) : await VDI.getAllRecords(session, NAME_FIELDS);
  const out: NameRecords = new Map();
  for (const [ref, r] of recs) out.set(r.uuid, { ref, nameLabel: r.name_label, nameDescription: r.name_description });
  return out;
}

/**
 * Re-applies SR and VDI names. Stock sets both names of every object one call at a time;
 * here the pool's names are read in bulk and only those that differ are set, side by side.
 * A missing SR or VDI is reported and the rest carries on.
 */
async function applyNames(session: Session, srs: SrNames[], dryRun: boolean, concurrency: number, signal?: AbortSignal): Promise<NameChange[]> {
  const out: NameChange[] = flatNames(srs).map((w) => ({ ...w, applied: false }));
  let srNow: NameRecords;
  let vdiNow: NameRecords;
  try {
    [srNow, vdiNow] = await Promise.all([namesByUuid(session, 'SR'), namesByUuid(session, 'VDI')]);
  } catch (err) {
    // The imports are done: report the names as not set rather than lose the report.
    if (isAbortError(err)) throw err;
    const e = explainError(err);
    for (const c of out) c.error = `${e.code}: ${e.meaning}`;
    return out;
  }
  await forEachConcurrently(
    out,
    concurrency,
    async (change) => {
      const now = (change.kind === 'SR' ? srNow : vdiNow).get(change.uuid);
      if (!now) {
        change.error = noSuchObject(change);
        return;
      }
      if (now.nameLabel === change.nameLabel && now.nameDescription === change.nameDescription) {
        change.unchanged = true;
        change.applied = !dryRun;
        return;
      }
      if (dryRun) return;
      try {
        await Promise.all([
          now.nameLabel === change.nameLabel ? undefined : NAMED[change.kind].setNameLabel(session, now.ref, change.nameLabel),
          now.nameDescription === change.nameDescription ? undefined : NAMED[change.kind].setNameDescription(session, now.ref, change.nameDescription),
        ]);
        change.applied = true;
      } catch (err) {
        const e = explainError(await withNamedRefs(session, err, signal));
        change.error = `${e.code}: ${e.meaning}`;
      }
    },
    signal,
  );
  return out;
}

/**
 * The stock script's closing line; a dry run restores nothing, so it says what it would
 * have done instead of "Restored 0".
 */
export function restoreSummaryText(restored: number, errors: number, dryRun: boolean): string {
  return dryRun ? `Would restore ${restored} VM(s), and ${errors} error(s); nothing was changed` : `Restored ${restored} VM(s), and ${errors} error(s)`;
}

/** A restore's outcome as a heading: some VMs restored and some failed is neither success nor failure. */
export function restoreOutcomeTitle(r: Pick<RestoreReport, 'restored' | 'errors' | 'dryRun'>): string {
  const total = r.restored + r.errors;
  const dry = r.dryRun ? ' (Dry Run)' : '';
  if (r.errors === 0) return `Metadata Restore Completed${dry}`;
  if (r.restored === 0) return `Metadata Restore Failed${dry}`;
  return r.dryRun
    ? `Dry run: ${r.restored} of ${total} VMs would be restored, ${r.errors} would fail`
    : `Restore partly completed: ${r.restored} of ${total} VMs restored, ${r.errors} failed`;
}

export async function runRestore(session: Session, opts: RestoreOptions = {}): Promise<RestoreReport> {
  const started = Date.now();
  const scope = opts.scope ?? 'all';
  const emit = opts.onProgress ?? (() => undefined);
  return withSource(session, opts, 'restore', async (src) => {
    const date = await restoreStep('list', () => src.resolveDate(opts.date));
    const { entries, problems } = await restoreStep('list', () => chosenEntries(src, date, scope, opts.vmUuids));
    // Stock: the backup VDI it restored from gets the marker key (a trusted one only).
    if (!opts.dryRun && src.vdi.trusted) {
      await VDI.removeFromOtherConfig(session, src.vdi.ref, 'ctxs-pool-backup').catch(() => undefined);
      await VDI.addToOtherConfig(session, src.vdi.ref, 'ctxs-pool-backup', 'true').catch(() => undefined);
    }
    emit({ kind: 'phase', message: `Restoring ${entries.length} VM metadata export(s) from ${date}${opts.dryRun ? ' (dry run)' : ''}...` });
    const concurrency = clampConcurrency(opts.concurrency);
    // A dry run creates no network, so its imports need no coordination.
    const networks = opts.dryRun ? null : new NetworkClaims(await restoreStep('networks', () => poolNetworks(session)));
    const mapping = opts.networkMap ? await restoreStep('networks', () => networkMapStart(session, src, date, scope, opts.networkMap!, opts.vmUuids)) : null;
    const exported = new Map<string, ExportNetworks>();
    const results: VmRestoreResult[] = new Array(entries.length);
    let done = 0;
    let failed = 0;
    const inner = childAbort(opts.signal);
    // A lost lock means a backup may be writing the VDI now: stop reading it.
    const lost = () => inner.abort(src.lockLost?.reason);
    src.lockLost?.addEventListener('abort', lost, { once: true });
    const importOpts = { ...opts, signal: inner.signal };
    // Exports are read, parsed and sent a few MiB at a time, however large a crafted one is.
    const held = new HeldBytes(RESTORE_HELD_BYTES);
    try {
      await forEachConcurrently(
        entries,
        concurrency,
        async (entry, i) => {
          const r = await held.hold(entry.size, () => importOne(session, src, entry, importOpts, src.sr.ref, networks, exported), inner.signal);
          results[i] = r;
          done++;
          if (!r.ok) failed++;
          emit({ kind: 'vm', done, total: entries.length, current: r.name || r.vmUuid, errors: failed });
        },
        inner.signal,
      );
    } catch (err) {
      if (src.lockLost?.aborted && !opts.signal?.aborted) throw src.lockLost.reason;
      throw err;
    } finally {
      src.lockLost?.removeEventListener('abort', lost);
      inner.dispose();
      await session.settle();
    }
    let networkMap: NetworkMapReport | undefined;
    if (mapping) {
      emit({ kind: 'phase', message: opts.dryRun ? 'Planning the network map...' : 'Moving VIFs to the mapped networks...' });
      const restoredExports = results.filter((r) => r.ok).flatMap((r) => exported.get(r.file) ?? []);
      try {
        networkMap = await applyNetworkMap(session, { ...mapping, restored: restoredExports, dryRun: opts.dryRun ?? false, concurrency, ...(opts.signal && { signal: opts.signal }) });
      } catch (err) {
        // The imports are done: the report says the map was not applied rather than being lost.
        if (isAbortError(err)) throw err;
        const { code, meaning, nextStep } = explainError(err);
        networkMap = { dryRun: opts.dryRun ?? false, map: mapping.resolved.entries, vifs: [], removed: [], wouldNotCreate: [], error: { code, meaning, nextStep } };
      }
    }
    const srmeta = await restoreStep('list', () => src.readSrMeta(date));
    let names: NameChange[] = [];
    if (srmeta) {
      emit({ kind: 'phase', message: 'Restoring SR and VDI names...' });
      names = await applyNames(session, namesInScope(parseSrMeta(srmeta).srs, scope, src.sr.uuid), opts.dryRun ?? false, concurrency, opts.signal);
    }
    const vapps = await restoreVapps(session, src, date, results, opts, concurrency, emit);
    const restored = results.filter((r) => r.ok).length;
    const errors = results.length - restored;
    const outcomes = names.map(nameOutcome);
    const counts: RestoreCounts = {
      ...countExports(results.map((r) => r.kind), problems.length),
      restoredVms: results.filter((r) => r.ok && r.kind === 'vm').length,
      restoredTemplates: results.filter((r) => r.ok && r.kind === 'template').length,
      namesSet: outcomes.filter((o) => o === 'set').length,
      namesUnchanged: outcomes.filter((o) => o === 'unchanged').length,
      namesFailed: outcomes.filter((o) => o === 'failed').length,
    };
    return {
      sr: { uuid: src.sr.uuid, name: src.sr.nameLabel },
      vdi: { uuid: src.vdi.uuid, trusted: src.vdi.trusted },
      date,
      scope,
      dryRun: opts.dryRun ?? false,
      force: opts.force ?? false,
      results,
      skipped: problems,
      names,
      restored,
      errors,
      counts,
      summary: restoreSummaryText(restored, errors, opts.dryRun ?? false),
      durationMs: Date.now() - started,
      cleaned: src.cleaned,
      waited: src.waited,
      vapps,
      ...(networkMap && { networkMap }),
    };
  });
}

/**
 * The backup's vApps for the VMs this restore restored: never fails the restore (an
 * unreadable file is a warning, a failed vApp is reported as such).
 */
async function restoreVapps(
  session: Session,
  src: BackupSource,
  date: string,
  results: VmRestoreResult[],
  opts: RestoreOptions,
  concurrency: number,
  emit: (e: RestoreProgress) => void,
): Promise<VappsRestoreReport> {
  let file: Buffer | null;
  try {
    file = await src.readVapps(date);
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    // Too large, or not a regular file (a link is never followed): said as the reader found it.
    const why = err instanceof Error ? err.message : String(err);
    return { state: 'ignored', warnings: [`The backup's vApp file was ignored: ${why}; vApps are not recreated.`], vapps: [] };
  }
  // A forced import that skipped a running VM of that uuid still succeeds: that VM is here.
  const restored = new Set(results.filter((r) => r.ok).flatMap((r) => [r.vmUuid, ...r.created.map((c) => c.uuid).filter((u) => u)]));
  if (file) emit({ kind: 'phase', message: opts.dryRun ? 'Checking the backup\'s vApps...' : 'Recreating vApps...' });
  return recreateVapps(session, file, restored, { dryRun: opts.dryRun ?? false, concurrency, ...(opts.signal && { signal: opts.signal }) });
}

