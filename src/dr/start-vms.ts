/**
 * Start after restore: start a chosen set of VMs (those a restore made, or any named by
 * uuid) in the order XAPI's vApp start uses, with per-VM progress, each failure explained
 * (for a placement failure, each host's own reason), and a clean stop on cancellation.
 *
 * Order, as xen-api ocaml/xapi/xapi_vm_appliance.ml (`group_vms_by_order`,
 * `create_action_list`, `run_operation_on_vms`) does it for one vApp: the VMs are grouped
 * by VM.order, groups run in ascending order, every VM of a group is started at once and the
 * group is waited for as a whole before the next one. start_delay needs no wait of its own:
 * VM.start itself returns only start_delay seconds after the domain has started
 * (ocaml/xapi/xapi_vm.ml `start`, xapi_vm_helpers.ml `start_delay`), so the gap between two
 * groups is the largest start_delay of the first, exactly as with VM_appliance.start. Each
 * vApp is started that way as a unit, one vApp after another, then the VMs outside vApps,
 * grouped by their own VM.order the same way (the order a DR operator brings a site up in:
 * shared/reference/site-recovery-facts.md §1.13, step 9).
 *
 * The plan reads the VMs' own appliance, order and start_delay in this pool (a restore
 * re-applies them): what the pool says is what XAPI would do.
 */
import { DEFAULT_TASK_DEADLINE_MS, Host, Network, SR, VM, VMAppliance, XenApiError, isNullRef, type Ref, type Session } from '../xenapi/index.js';
import { explainError } from '../failure/index.js';
import { clampConcurrency, forEachConcurrently } from './work-pool.js';

/** Started (running) or started paused (unpause to run: XAPI's start_paused). */
export type StartMode = 'start' | 'paused';

export interface Named {
  uuid: string;
  name: string;
}

export interface StartErrorDetail {
  code: string;
  /** XAPI's params with each object reference replaced by its name and uuid. */
  params: string[];
  meaning: string;
  nextStep: string;
}

/** One host's answer to VM.assert_can_boot_here: none (it could start the VM now), or its reason. */
export interface HostReason {
  host: Named;
  error: StartErrorDetail | null;
}

export type VmStartStatus = 'started' | 'paused' | 'failed' | 'skipped' | 'not-started';

export interface VmStartResult extends Named {
  vApp: Named | null;
  order: number;
  startDelay: number;
  status: VmStartStatus;
  /** Why it was skipped (already running, a template, not in this pool…). */
  reason?: string;
  error?: StartErrorDetail;
  /** After a placement failure: each host's reason (xenadmin does the same for NO_HOSTS_AVAILABLE). */
  hosts?: HostReason[];
}

export interface PlannedVm extends Named {
  ref: Ref;
  vApp: Named | null;
  order: number;
  startDelay: number;
}

/** VMs started together; the next group starts when all of these have returned. */
export interface StartGroup {
  vApp: Named | null;
  order: number;
  vms: PlannedVm[];
}

export interface StartPlan {
  groups: StartGroup[];
  /** Not to be started, each with its reason. */
  skipped: VmStartResult[];
}

export type StartEvent =
  | { kind: 'planned'; plan: StartPlan }
  | { kind: 'group'; index: number; of: number; vApp: Named | null; order: number; size: number }
  | { kind: 'vm'; vm: Named; status: 'starting' | VmStartStatus; error?: StartErrorDetail }
  /** Cancelled: nothing more is launched; these are still being started and are waited for. */
  | { kind: 'cancelling'; inFlight: Named[] };

export interface StartReport {
  mode: StartMode;
  requested: number;
  /** Running or paused now, by this run. */
  started: number;
  failed: number;
  skipped: number;
  /** Not launched because the run was cancelled. */
  notStarted: number;
  cancelled: boolean;
  /** Being started when the run was cancelled (they were let finish). */
  inFlightAtCancel: Named[];
  /** In the order they were planned (skipped ones first). */
  results: VmStartResult[];
  durationMs: number;
}

export interface StartOptions {
  mode?: StartMode;
  /** VMs of one group started at once (default 8, as the restore's imports). */
  concurrency?: number;
  /** Stops launching further VMs; the starts in flight are let finish. */
  signal?: AbortSignal;
  onEvent?: (e: StartEvent) => void;
}

/** The placement failures XAPI gives without saying which host refused and why. */
const PLACEMENT_CODES = new Set([
  'NO_HOSTS_AVAILABLE',
  'HOST_NOT_ENOUGH_FREE_MEMORY',
  'VM_REQUIRES_SR',
  'VM_REQUIRES_NETWORK',
  'VM_REQUIRES_GPU',
  'VM_REQUIRES_VGPU',
  'HOST_CANNOT_ATTACH_NETWORK',
]);

const PLAN_FIELDS = ['uuid', 'name_label', 'power_state', 'is_a_template', 'is_a_snapshot', 'is_control_domain', 'appliance', 'order', 'start_delay'] as const;

const byName = (a: Named, b: Named) => a.name.localeCompare(b.name) || a.uuid.localeCompare(b.uuid);

/** Groups by ascending order, members by name (a stable order for the progress list). */
function orderGroups(vApp: Named | null, vms: PlannedVm[]): StartGroup[] {
  const orders = [...new Set(vms.map((v) => v.order))].sort((a, b) => a - b);
  return orders.map((order) => ({ vApp, order, vms: vms.filter((v) => v.order === order).sort(byName) }));
}

/** Why a VM of this power state is not started (null: it is halted and can be). */
function notStartable(rec: Pick<VM.VmStartRecord, (typeof PLAN_FIELDS)[number]>): string | null {
  if (rec.is_control_domain) return 'a control domain';
  if (rec.is_a_snapshot) return 'a snapshot, not a VM';
  if (rec.is_a_template) return 'a template, not a VM';
  if (rec.power_state === 'Running') return 'already running';
  if (rec.power_state === 'Paused') return 'already started, paused (unpause it to run)';
  if (rec.power_state === 'Suspended') return 'suspended: resume it rather than start it';
  if (rec.power_state !== 'Halted') return `in power state ${rec.power_state}`;
  return null;
}

/** The plan for `uuids` (duplicates once), from what the pool says of each VM now. */
export async function planStart(session: Session, uuids: readonly string[], signal?: AbortSignal): Promise<StartPlan> {
  const opts = signal ? { signal } : {};
  const records = await VM.getAllStartRecords(session, PLAN_FIELDS, opts);
  const byUuid = new Map([...records].map(([ref, rec]) => [rec.uuid, { ref, rec }]));
  const skipped: VmStartResult[] = [];
  const planned: Array<PlannedVm & { appliance: Ref }> = [];
  for (const uuid of new Set(uuids)) {
    const found = byUuid.get(uuid);
    if (!found) {
      skipped.push({ uuid, name: '', vApp: null, order: 0, startDelay: 0, status: 'skipped', reason: 'no VM with this uuid in this pool' });
      continue;
    }
    const { ref, rec } = found;
    const vm = { uuid, name: rec.name_label, vApp: null, order: rec.order, startDelay: rec.start_delay };
    const why = notStartable(rec);
    if (why !== null) skipped.push({ ...vm, status: 'skipped', reason: why });
    else planned.push({ ...vm, ref, appliance: rec.appliance });
  }
  const inVapps = planned.filter((v) => !isNullRef(v.appliance));
  const vApps = inVapps.length ? await VMAppliance.getAllRecords(session, ['uuid', 'name_label'], opts) : new Map<Ref, { uuid: string; name_label: string }>();
  const named = new Map<Ref, Named>();
  for (const v of inVapps) {
    const a = vApps.get(v.appliance);
    // A vApp gone meanwhile: the VM is started with the VMs outside vApps.
    if (a) named.set(v.appliance, { uuid: a.uuid, name: a.name_label });
  }
  const strip = ({ appliance: _a, ...v }: PlannedVm & { appliance: Ref }, vApp: Named | null): PlannedVm => ({ ...v, vApp });
  const groups: StartGroup[] = [];
  for (const [ref, vApp] of [...named].sort((a, b) => byName(a[1], b[1]))) {
    groups.push(...orderGroups(vApp, planned.filter((v) => v.appliance === ref).map((v) => strip(v, vApp))));
  }
  groups.push(...orderGroups(null, planned.filter((v) => !named.has(v.appliance)).map((v) => strip(v, null))));
  return { groups, skipped };
}

/**
 * Names the objects an error refers to: VMs and hosts from what the run read, SRs and
 * networks read once when first needed; anything else is "an object of this pool", so no
 * OpaqueRef reaches the operator (as src/dr/error-names.ts does for restores).
 */
class RefNames {
  private readonly names = new Map<Ref, string>();
  private others: Promise<void> | null = null;

  constructor(private readonly session: Session) {}

  add(ref: Ref, x: Named): void {
    this.names.set(ref, `"${x.name}" (${x.uuid})`);
  }

  async detail(err: unknown): Promise<StartErrorDetail> {
    if (!(err instanceof XenApiError)) return { ...explainError(err), params: [] };
    if (err.params.some((p) => p.startsWith('OpaqueRef:') && !this.names.has(p))) {
      this.others ??= this.readOthers();
      await this.others;
    }
    const params = err.params.map((p) => (p.startsWith('OpaqueRef:') ? (this.names.get(p) ?? 'an object of this pool') : p));
    const named = new XenApiError([err.code, ...params], err.method, { cause: err });
    return { ...explainError(named), params };
  }

  private async readOthers(): Promise<void> {
    const fields = ['uuid', 'name_label'] as const;
    const [srs, networks] = await Promise.all([
      SR.getAllRecords(this.session, fields).catch(() => new Map()),
      Network.getAllRecords(this.session, fields).catch(() => new Map()),
    ]);
    for (const [ref, r] of [...srs, ...networks] as Array<[Ref, { uuid: string; name_label: string }]>) this.add(ref, { uuid: r.uuid, name: r.name_label });
  }
}

/** The plan carried out; see the module comment for the order. Never throws for one VM's failure. */
export async function startVms(session: Session, uuids: readonly string[], options: StartOptions = {}): Promise<StartReport> {
  const began = Date.now();
  const mode = options.mode ?? 'start';
  const concurrency = clampConcurrency(options.concurrency);
  const { signal } = options;
  const emit = options.onEvent ?? (() => undefined);
  const plan = await planStart(session, uuids, signal);
  emit({ kind: 'planned', plan });

  const names = new RefNames(session);
  const hosts = new Map<Ref, Named>();
  const planned = plan.groups.flatMap((g) => g.vms);
  if (planned.length) {
    for (const [ref, h] of await Host.getAllRecords(session, ['uuid', 'name_label'])) {
      hosts.set(ref, { uuid: h.uuid, name: h.name_label });
      names.add(ref, hosts.get(ref)!);
    }
  }
  for (const v of planned) names.add(v.ref, v);

  const results = new Map<Ref, VmStartResult>();
  const inFlight = new Map<Ref, Named>();
  let inFlightAtCancel: Named[] = [];
  const onAbort = () => {
    inFlightAtCancel = [...inFlight.values()];
    emit({ kind: 'cancelling', inFlight: inFlightAtCancel });
  };
  signal?.addEventListener('abort', onAbort, { once: true });

  const label = (v: PlannedVm): Named => ({ uuid: v.uuid, name: v.name });
  const base = (v: PlannedVm) => ({ ...label(v), vApp: v.vApp, order: v.order, startDelay: v.startDelay });
  const notStarted = (v: PlannedVm) => {
    results.set(v.ref, { ...base(v), status: 'not-started' });
    emit({ kind: 'vm', vm: label(v), status: 'not-started' });
  };

  /** Each host's reason (read-only calls), when XAPI's own answer does not say which host refused. */
  const hostReasons = async (v: PlannedVm): Promise<HostReason[]> =>
    Promise.all(
      [...hosts].map(async ([ref, host]) => {
        try {
          await VM.assertCanBootHere(session, v.ref, ref);
          return { host, error: null };
        } catch (err) {
          return { host, error: await names.detail(err) };
        }
      }),
    );

  const startOne = async (v: PlannedVm) => {
    if (signal?.aborted) return notStarted(v);
    inFlight.set(v.ref, label(v));
    emit({ kind: 'vm', vm: label(v), status: 'starting' });
    try {
      // No signal: a start in flight is let finish (a VM half-started is worse than started);
      // the deadline allows for the start_delay XAPI waits before answering.
      await VM.start(session, v.ref, mode === 'paused', { timeoutMs: DEFAULT_TASK_DEADLINE_MS + v.startDelay * 1000 });
      const status = mode === 'paused' ? 'paused' : 'started';
      results.set(v.ref, { ...base(v), status });
      emit({ kind: 'vm', vm: label(v), status });
    } catch (err) {
      const error = await names.detail(err);
      const placement = err instanceof XenApiError && PLACEMENT_CODES.has(err.code);
      const reasons = placement && hosts.size ? await hostReasons(v) : undefined;
      results.set(v.ref, { ...base(v), status: 'failed', error, ...(reasons && { hosts: reasons }) });
      emit({ kind: 'vm', vm: label(v), status: 'failed', error });
    } finally {
      inFlight.delete(v.ref);
    }
  };

  try {
    for (const [index, group] of plan.groups.entries()) {
      if (signal?.aborted) {
        group.vms.forEach(notStarted);
        continue;
      }
      emit({ kind: 'group', index, of: plan.groups.length, vApp: group.vApp, order: group.order, size: group.vms.length });
      await forEachConcurrently(group.vms, concurrency, startOne);
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }

  const all = [...plan.skipped, ...planned.map((v) => results.get(v.ref)!)];
  const count = (...s: VmStartStatus[]) => all.filter((r) => s.includes(r.status)).length;
  return {
    mode,
    requested: all.length,
    started: count('started', 'paused'),
    failed: count('failed'),
    skipped: count('skipped'),
    notStarted: count('not-started'),
    cancelled: signal?.aborted ?? false,
    inFlightAtCancel,
    results: all,
    durationMs: Date.now() - began,
  };
}
