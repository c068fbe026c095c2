/**
 * The networks of a restore: what each source network of the backup becomes in this pool,
 * VIF MACs this pool already uses, and the operator's network map, applied once the imports
 * are done.
 *
 * XAPI's /import_metadata matches an exported network by name_label, then by bridge, and
 * otherwise creates a network from the exported record, tagging it
 * `other_config.import_task` (xen-api ocaml/xapi/import.ml, module Net). Such a network has
 * no PIF: the VM has no uplink. The map moves the VIFs of a source network to an existing
 * network here (VIF.move since API 2.6; before it, destroy and create keeping MAC, device,
 * MTU, other_config, QoS and locking), then destroys the networks this run's imports created
 * that nothing uses any more.
 *
 * A restore keeps each VIF's MAC (restore=true, as stock xe-restore-metadata); an import
 * without restore would derive new ones from the VM's mac_seed. So a MAC the backup holds
 * that a VM here already uses is a clash on the wire once both run.
 */
import { Network, VIF, VM, isAbortError, type Ref, type Session, type VifRecord } from '../xenapi/index.js';
import { ExpectedFailure, explainError } from '../failure/index.js';
import type { VmmetaNetwork } from './vmmeta.js';
import { forEachConcurrently } from './work-pool.js';
import { withNamedRefs } from './error-names.js';
import { neutralise } from '../safe-text.js';

/** How the import will find a source network here. */
export type NetworkMatch = 'name' | 'bridge' | 'new';

/** A network of this pool, as the operator picks one. */
export interface PoolNetwork {
  uuid: string;
  name: string;
  bridge: string;
}

/** One source network of the backup (the VMs in scope) and what this pool will use for it. */
export interface PreflightNetwork {
  uuid: string;
  name: string;
  bridge: string;
  /** null: the export has no MTU (API before 1.7). */
  mtu: number | null;
  /** VIFs on it across the exports in scope. */
  vifs: number;
  match: NetworkMatch;
  /** The network the import will use ('name' or 'bridge'); null: a new internal one. */
  target: PoolNetwork | null;
  /** The network the map moves its VIFs to after the import, if mapped. */
  mappedTo?: PoolNetwork;
}

export interface MacClash {
  mac: string;
  device: string;
  /** The VM in the backup. */
  vm: { uuid: string; name: string };
  /** The VM here that has a VIF with this MAC. */
  poolVm: { uuid: string; name: string };
}

/** A VM export's networks, as the preflight and the run collect them. */
export interface ExportNetworks {
  vmUuid: string;
  vmName: string;
  networks: VmmetaNetwork[];
}

/** What a restore does with MACs: kept (restore=true). */
export const MAC_POLICY = 'A restore keeps each VIF\'s MAC as backed up; an import that is no restore would make new ones from the VM\'s mac_seed.';

/** A source network's identity: its uuid when the export has one, else name and bridge. */
export function sourceKey(n: Pick<VmmetaNetwork, 'networkUuid' | 'networkName' | 'bridge'>): string {
  return n.networkUuid !== '' ? `uuid:${n.networkUuid}` : `name:${n.networkName}\u0000${n.bridge}`;
}

/** The source networks of the exports, with the match the import will make here. */
export function sourceNetworks(exportsInScope: readonly ExportNetworks[], pool: readonly PoolNetwork[]): PreflightNetwork[] {
  const out = new Map<string, PreflightNetwork>();
  for (const e of exportsInScope) {
    for (const n of e.networks) {
      const key = sourceKey(n);
      const known = out.get(key);
      if (known) {
        known.vifs++;
        continue;
      }
      // import.ml: the first network with this name_label, else the first with this bridge.
      const byName = pool.find((p) => p.name === n.networkName);
      const byBridge = byName ? undefined : pool.find((p) => p.bridge === n.bridge);
      const target = byName ?? byBridge ?? null;
      out.set(key, { uuid: n.networkUuid, name: n.networkName, bridge: n.bridge, mtu: n.mtu, vifs: 1, match: byName ? 'name' : byBridge ? 'bridge' : 'new', target });
    }
  }
  return [...out.values()];
}

/** One line of a network map: a source network → a network of this pool. */
export interface NetworkMapEntry {
  /** The source network's name_label, bridge or uuid, as recorded in the backup. */
  source: string;
  /** This pool's network: its name_label or uuid. */
  target: string;
  /** The line of the map file (0: not from a file). */
  line: number;
}

export class NetworkMapError extends ExpectedFailure {
  constructor(meaning: string) {
    super('NETWORK_MAP_INVALID', meaning, 'Correct the network map and run the restore again; nothing was restored.');
    this.name = 'NetworkMapError';
  }
}

const MAP_MAX_BYTES = 64 * 1024;
const MAP_MAX_LINES = 1000;

/**
 * Reads a network map file: one `source = target` a line; blank lines and lines starting
 * with `#` are ignored; spaces around either side are trimmed. A name holding "=" cannot be
 * written: use the network's uuid. Anything else is refused, naming its line.
 */
export function parseNetworkMap(text: string): NetworkMapEntry[] {
  if (Buffer.byteLength(text) > MAP_MAX_BYTES) throw new NetworkMapError(`the network map is larger than ${MAP_MAX_BYTES / 1024} KiB`);
  const lines = text.split(/\r?\n/);
  if (lines.length > MAP_MAX_LINES) throw new NetworkMapError(`the network map has more than ${MAP_MAX_LINES} lines`);
  const out: NetworkMapEntry[] = [];
  const seen = new Map<string, number>();
  lines.forEach((raw, i) => {
    const line = i + 1;
    const t = raw.trim();
    if (t === '' || t.startsWith('#')) return;
    const bad = (why: string) => new NetworkMapError(`line ${line} of the network map ${why}: ${neutralise(t.slice(0, 80))}`);
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(t)) throw bad('holds a control character');
    const parts = t.split('=');
    if (parts.length !== 2) throw bad(parts.length === 1 ? 'is not "source = target"' : 'has more than one "="');
    const source = parts[0]!.trim();
    const target = parts[1]!.trim();
    if (source === '') throw bad('names no source network');
    if (target === '') throw bad('names no target network');
    const before = seen.get(source);
    if (before !== undefined) throw bad(`maps a source network already mapped on line ${before}`);
    seen.set(source, line);
    out.push({ source, target, line });
  });
  return out;
}

/** A map resolved against the backup and this pool: source key → target network. */
export interface ResolvedMap {
  bySource: Map<string, PoolNetwork & { ref: Ref }>;
  /** As applied, for the reports. */
  entries: Array<{ source: { uuid: string; name: string; bridge: string }; target: PoolNetwork }>;
}

const where = (e: NetworkMapEntry) => (e.line > 0 ? `line ${e.line} of the network map` : 'the network map');

/**
 * Each entry's source must be exactly one source network of the backup (by uuid, else by
 * name, else by bridge) and its target exactly one network here (by uuid, else by name).
 */
export function resolveNetworkMap(
  map: readonly NetworkMapEntry[],
  sources: readonly PreflightNetwork[],
  pool: ReadonlyMap<Ref, PoolNetwork>,
): ResolvedMap {
  const bySource = new Map<string, PoolNetwork & { ref: Ref }>();
  const entries: ResolvedMap['entries'] = [];
  const poolList = [...pool].map(([ref, n]) => ({ ref, ...n }));
  for (const e of map) {
    const pick = <T>(tiers: Array<() => T[]>): T[] => {
      for (const t of tiers) {
        const found = t();
        if (found.length > 0) return found;
      }
      return [];
    };
    const src = pick([() => sources.filter((s) => s.uuid === e.source), () => sources.filter((s) => s.name === e.source), () => sources.filter((s) => s.bridge === e.source)]);
    if (src.length === 0) throw new NetworkMapError(`${where(e)} names source network "${neutralise(e.source)}", which no VM in this backup uses`);
    if (src.length > 1) throw new NetworkMapError(`${where(e)}: ${src.length} source networks are called "${neutralise(e.source)}"; name it by uuid (${src.map((s) => s.uuid || '?').join(', ')})`);
    const tgt = pick([() => poolList.filter((p) => p.uuid === e.target), () => poolList.filter((p) => p.name === e.target)]);
    if (tgt.length === 0) throw new NetworkMapError(`${where(e)} names network "${neutralise(e.target)}", which this pool does not have`);
    if (tgt.length > 1) throw new NetworkMapError(`${where(e)}: this pool has ${tgt.length} networks called "${neutralise(e.target)}"; name it by uuid (${tgt.map((t) => t.uuid).join(', ')})`);
    const s = src[0]!;
    const key = sourceKey({ networkUuid: s.uuid, networkName: s.name, bridge: s.bridge });
    if (bySource.has(key)) throw new NetworkMapError(`${where(e)} maps source network "${neutralise(s.name)}" a second time`);
    const t = tgt[0]!;
    bySource.set(key, t);
    entries.push({ source: { uuid: s.uuid, name: s.name, bridge: s.bridge }, target: { uuid: t.uuid, name: t.name, bridge: t.bridge } });
  }
  return { bySource, entries };
}

/** Marks the mapped sources in a preflight's network table. */
export function withMapped(networks: PreflightNetwork[], resolved: ResolvedMap | null): PreflightNetwork[] {
  if (!resolved) return networks;
  return networks.map((n) => {
    const t = resolved.bySource.get(sourceKey({ networkUuid: n.uuid, networkName: n.name, bridge: n.bridge }));
    return t ? { ...n, mappedTo: { uuid: t.uuid, name: t.name, bridge: t.bridge } } : n;
  });
}

/** This pool's networks by ref (for the map and the picker). */
export async function readPoolNetworks(session: Session): Promise<Map<Ref, PoolNetwork>> {
  const recs = await Network.getAllRecords(session, ['uuid', 'name_label', 'bridge']);
  return new Map([...recs].map(([ref, r]) => [ref, { uuid: r.uuid, name: r.name_label, bridge: r.bridge }]));
}

/**
 * MACs of the exports that a VM here (not a snapshot or template, not the VM the export
 * itself would replace) already uses on a VIF. Compared without case, as MACs are.
 */
export async function findMacClashes(session: Session, exportsInScope: readonly ExportNetworks[]): Promise<MacClash[]> {
  const [vifs, vms] = await Promise.all([VIF.getAllRecords(session, ['MAC', 'VM']), VM.getAllRecords(session, ['uuid', 'name_label', 'is_a_snapshot', 'is_a_template'])]);
  const users = new Map<string, Array<{ uuid: string; name: string }>>();
  for (const v of vifs.values()) {
    const vm = vms.get(v.VM);
    if (!vm || vm.is_a_snapshot || vm.is_a_template || v.MAC === '') continue;
    const mac = v.MAC.toLowerCase();
    users.set(mac, [...(users.get(mac) ?? []), { uuid: vm.uuid, name: vm.name_label }]);
  }
  const out: MacClash[] = [];
  for (const e of exportsInScope) {
    for (const n of e.networks) {
      for (const u of users.get(n.mac.toLowerCase()) ?? []) {
        if (u.uuid === e.vmUuid) continue;
        out.push({ mac: n.mac, device: n.device, vm: { uuid: e.vmUuid, name: e.vmName }, poolVm: u });
      }
    }
  }
  return out;
}

export interface VifMove {
  vm: { uuid: string; name: string };
  device: string;
  mac: string;
  from: { name: string; bridge: string };
  to: PoolNetwork;
  /** move: VIF.move; recreate: destroy and create (hosts before API 2.6). */
  method: 'move' | 'recreate';
  /** Done (a dry run: would be done); an error says why not. */
  ok: boolean;
  /** The import puts (or put) it on the mapped network already: nothing to do. */
  already?: true;
  error?: { code: string; params: string[]; meaning: string; nextStep: string };
}

export interface RemovedNetwork {
  uuid: string;
  name: string;
  bridge: string;
  ok: boolean;
  error?: { code: string; meaning: string; nextStep: string };
}

export interface NetworkMapReport {
  dryRun: boolean;
  map: ResolvedMap['entries'];
  vifs: VifMove[];
  /** Internal networks this run's imports created that nothing used any more, destroyed. */
  removed: RemovedNetwork[];
  /** A dry run: source networks whose new internal network the import would not leave behind. */
  wouldNotCreate: Array<{ name: string; bridge: string }>;
  /** The map could not be applied at all (the pool's VIFs or networks could not be read). */
  error?: { code: string; meaning: string; nextStep: string };
}

export interface ApplyMapInput {
  resolved: ResolvedMap;
  /** The exports restored (or, in a dry run, that would be). */
  restored: readonly ExportNetworks[];
  /** The pool's network refs before the first import. */
  networksBefore: ReadonlySet<Ref>;
  /** The source networks' names and bridges of this restore (created networks copy them). */
  sources: readonly PreflightNetwork[];
  dryRun: boolean;
  concurrency: number;
  signal?: AbortSignal;
}

/** Fields kept when a VIF is made again on a host without VIF.move. */
function recreateArgs(v: VifRecord, vm: Ref, network: Ref, withLocking: boolean): VIF.VifCreate {
  return {
    VM: vm,
    network,
    device: v.device,
    MAC: v.MAC,
    MTU: v.MTU,
    other_config: v.other_config,
    qos_algorithm_type: v.qos_algorithm_type,
    qos_algorithm_params: v.qos_algorithm_params,
    ...(withLocking && { locking: { locking_mode: v.locking_mode, ipv4_allowed: v.ipv4_allowed, ipv6_allowed: v.ipv6_allowed } }),
  };
}

const failed = (err: unknown) => {
  const e = explainError(err);
  const params = err !== null && typeof err === 'object' && 'params' in err && Array.isArray((err as { params: unknown }).params) ? ((err as { params: string[] }).params) : [];
  return { code: e.code, params, meaning: e.meaning, nextStep: e.nextStep };
};

/**
 * Moves the VIFs of the mapped source networks, then destroys the networks this run's
 * imports created that have no VIF and no PIF left. A network counts as created by this run
 * only when it was not here before the first import, carries XAPI's `import_task` tag and
 * has the name of one of this restore's source networks: a network that was here before is
 * never touched. Each failure is reported per VIF (or network) and the rest carries on.
 */
export async function applyNetworkMap(session: Session, input: ApplyMapInput): Promise<NetworkMapReport> {
  const { resolved, dryRun } = input;
  const version = await session.apiVersion(input.signal ? { signal: input.signal } : undefined);
  const canMove = version.major > 2 || (version.major === 2 && version.minor >= 6);
  const withLocking = version.major > 1 || (version.major === 1 && version.minor >= 10);
  const method: VifMove['method'] = canMove ? 'move' : 'recreate';
  const wanted = input.restored.flatMap((e) =>
    e.networks.flatMap((n) => {
      const to = resolved.bySource.get(sourceKey(n));
      return to ? [{ e, n, to }] : [];
    }),
  );
  const report: NetworkMapReport = { dryRun, map: resolved.entries, vifs: [], removed: [], wouldNotCreate: [] };
  const target = (to: PoolNetwork & { ref: Ref }): PoolNetwork => ({ uuid: to.uuid, name: to.name, bridge: to.bridge });
  if (dryRun) {
    const importTarget = new Map(input.sources.map((s) => [sourceKey({ networkUuid: s.uuid, networkName: s.name, bridge: s.bridge }), s.target?.uuid]));
    report.vifs = wanted.map(({ e, n, to }) => ({
      vm: { uuid: e.vmUuid, name: e.vmName },
      device: n.device,
      mac: n.mac,
      from: { name: n.networkName, bridge: n.bridge },
      to: target(to),
      method,
      ok: true,
      ...(importTarget.get(sourceKey(n)) === to.uuid && { already: true as const }),
    }));
    // A new internal network is left only for a source some restored VIF stays on.
    const staying = new Set(input.restored.flatMap((e) => e.networks.filter((n) => !resolved.bySource.has(sourceKey(n))).map(sourceKey)));
    report.wouldNotCreate = input.sources
      .filter((s) => s.match === 'new' && resolved.bySource.has(sourceKey({ networkUuid: s.uuid, networkName: s.name, bridge: s.bridge })) && !staying.has(sourceKey({ networkUuid: s.uuid, networkName: s.name, bridge: s.bridge })))
      .map((s) => ({ name: s.name, bridge: s.bridge }));
    return report;
  }
  const [vms, vifs] = await Promise.all([VM.getAllRecords(session, ['uuid', 'is_a_snapshot']), VIF.getAllRecords(session)]);
  const vmRef = new Map([...vms].filter(([, r]) => !r.is_a_snapshot).map(([ref, r]) => [r.uuid, ref]));
  const vifOf = new Map([...vifs].map(([ref, r]) => [`${r.VM}/${Number(r.device)}`, { ref, rec: r }]));
  const moves: Array<{ move: VifMove; run: () => Promise<void> }> = [];
  for (const { e, n, to } of wanted) {
    const move: VifMove = { vm: { uuid: e.vmUuid, name: e.vmName }, device: n.device, mac: n.mac, from: { name: n.networkName, bridge: n.bridge }, to: target(to), method, ok: false };
    report.vifs.push(move);
    const vm = vmRef.get(e.vmUuid);
    const vif = vm ? vifOf.get(`${vm}/${Number(n.device)}`) : undefined;
    if (!vm || !vif) {
      move.error = { code: 'VIF_NOT_FOUND', params: [], meaning: `the restored VM has no VIF on device ${neutralise(n.device)}`, nextStep: 'Check the VM\'s network interfaces and attach it to the network by hand.' };
      continue;
    }
    if (vif.rec.network === to.ref) {
      move.ok = true;
      move.already = true;
      continue;
    }
    moves.push({
      move,
      run: async () => {
        if (canMove) {
          await VIF.move(session, vif.ref, to.ref);
          return;
        }
        await VIF.destroy(session, vif.ref);
        try {
          await VIF.create(session, recreateArgs(vif.rec, vm, to.ref, withLocking));
        } catch (err) {
          // The old VIF is gone: the operator must know exactly what to create.
          throw new ExpectedFailure(
            'VIF_NOT_RECREATED',
            `the VIF was removed from its network but could not be created on ${neutralise(to.name)}: ${explainError(err).meaning}`,
            `Create it by hand: xe vif-create vm-uuid=${neutralise(e.vmUuid)} network-uuid=${neutralise(to.uuid)} device=${neutralise(n.device)} mac=${neutralise(vif.rec.MAC)}.`,
            { cause: err },
          );
        }
      },
    });
  }
  await forEachConcurrently(
    moves,
    input.concurrency,
    async ({ move, run }) => {
      try {
        await run();
        move.ok = true;
      } catch (err) {
        if (isAbortError(err)) throw err;
        // XAPI names objects by reference: said as names, never as an OpaqueRef.
        move.error = failed(await withNamedRefs(session, err, input.signal));
        if (!(err instanceof ExpectedFailure)) {
          move.error.nextStep = `${move.error.nextStep} The VIF stays on its network; move it to ${neutralise(move.to.name)} by hand (xe vif-move, or vif-destroy and vif-create before XenServer 7.1).`.trim();
        }
      }
    },
    input.signal,
  );
  const names = new Set(input.sources.map((s) => s.name));
  const after = await Network.getAllRecords(session, ['uuid', 'name_label', 'bridge', 'other_config', 'VIFs', 'PIFs']);
  const unused = [...after].filter(([ref, r]) => !input.networksBefore.has(ref) && r.other_config['import_task'] !== undefined && names.has(r.name_label) && r.VIFs.length === 0 && r.PIFs.length === 0);
  await forEachConcurrently(
    unused,
    input.concurrency,
    async ([ref, r]) => {
      const gone: RemovedNetwork = { uuid: r.uuid, name: r.name_label, bridge: r.bridge, ok: false };
      report.removed.push(gone);
      try {
        await Network.destroy(session, ref);
        gone.ok = true;
      } catch (err) {
        if (isAbortError(err)) throw err;
        const { code, meaning, nextStep } = failed(await withNamedRefs(session, err, input.signal));
        gone.error = { code, meaning, nextStep };
      }
    },
    input.signal,
  );
  return report;
}
