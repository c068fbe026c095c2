/**
 * Builds ova.xml for a metadata export, the way XAPI's export does (xen-api
 * ocaml/xapi/export.ml):
 *  1. walk from each VM to the objects it needs (VIFs + networks, non-empty VBDs + VDIs +
 *     their SRs, snapshots and the snapshot parent when snapshot metadata is wanted, the
 *     suspend VDI, the VM metrics (xapi ≥ 24.40) and guest metrics, the hosts named by
 *     resident_on / affinity), giving each an id "Ref:<n>" from a counter global to the
 *     process;
 *  2. write the selected objects class by class (host, VM, VM_metrics, VM_guest_metrics,
 *     VBD, VIF, network, VDI, SR), each in database order, as full API records in which a
 *     reference to an exported object becomes its id, any other reference OpaqueRef:NULL,
 *     reference lists keep only exported members, and the fields XAPI blanks are blanked.
 * Before xapi 24.40.0 VM_metrics are not exported (VM.metrics is written as null).
 */
import { serializeValue, structOf, type XmlRpcStruct, type XmlRpcValue } from '../codec.js';
import type { Ref, SimDb } from '../db.js';
import type { SimProfile } from '../profiles.js';
import { publicRecord } from '../api/generic.js';
import { NULL_REF, EPOCH, SCHEMA, type AnyRecord, type ClassName, type FieldSpec } from '../schema.js';

/** Device classes `excluded_device_types` may name (case-insensitive on the wire). */
export type DeviceType = 'vif' | 'vbd' | 'vgpu' | 'vtpm';

export interface OvaExportOptions {
  /** Keep snapshot fields and export the VMs' snapshots (+ the snapshot parent). */
  withSnapshotMetadata: boolean;
  /** Also export VDIs named by sm_config["vhd-parent"]. */
  includeVhdParents: boolean;
  excludedDeviceTypes: ReadonlySet<DeviceType>;
}

// XAPI's id counter lives as long as the xapi process, not per export.
let idCounter = 0;
function makeId(): string {
  return `Ref:${idCounter++}`;
}

/** The `version` struct of an export made by this profile (xen-api ocaml/xapi/importexport.ml). */
export function exportVersion(profile: SimProfile): XmlRpcStruct {
  return structOf([
    ['hostname', 'localhost'],
    ['date', profile.buildDate],
    ['product_version', profile.productVersion],
    ['product_brand', profile.productBrand],
    ['build_number', profile.buildNumber],
    ['xapi_major', String(profile.xapiMajor)],
    ['xapi_minor', String(profile.xapiMinor)],
    ['export_vsn', '2'],
  ]);
}

/**
 * Whether this profile's XAPI exports VM_metrics: since v24.40.0 (xen-api commit "Add
 * VM_metrics to metadata export", ocaml/xapi/export.ml), so live imports keep
 * current_domain_type.
 */
export function exportsVmMetrics(profile: SimProfile): boolean {
  return profile.xapiMajor > 24 || (profile.xapiMajor === 24 && profile.xapiMinor >= 40);
}

/** Order in which XAPI writes the classes. */
const CLASS_ORDER: readonly ClassName[] = ['host', 'VM', 'VM_metrics', 'VM_guest_metrics', 'VBD', 'VIF', 'network', 'VDI', 'SR'];

class ExportTable {
  private readonly ids = new Map<Ref, string>();
  private readonly byClass = new Map<ClassName, Ref[]>();

  constructor(private readonly db: SimDb) {}

  has(ref: Ref): boolean {
    return this.ids.has(ref);
  }

  /** Adds a live object (dangling and null refs are left out rather than failing the export). */
  add(ref: Ref): boolean {
    if (ref === NULL_REF || this.ids.has(ref)) return false;
    const cls = this.db.classOf(ref);
    if (cls === undefined) return false;
    this.ids.set(ref, makeId());
    const list = this.byClass.get(cls);
    if (list) list.push(ref);
    else this.byClass.set(cls, [ref]);
    return true;
  }

  /** The exported objects of a class, in database order. */
  refsOf(cls: ClassName): Ref[] {
    return this.db.inDatabaseOrder(this.byClass.get(cls) ?? []);
  }

  lookup(ref: string): string {
    return this.ids.get(ref) ?? NULL_REF;
  }

  filter(refs: readonly string[]): string[] {
    const out: string[] = [];
    for (const r of refs) {
      const id = this.ids.get(r);
      if (id !== undefined) out.push(id);
    }
    return out;
  }
}

interface Walk extends OvaExportOptions {
  withVmMetrics: boolean;
}

function collect(db: SimDb, table: ExportTable, vm: Ref, includeSnapshots: boolean, opts: Walk): void {
  if (table.has(vm) || !db.exists('VM', vm)) return;
  table.add(vm);
  const rec = db.get('VM', vm);
  const addVdi = (vdi: Ref): void => {
    if (!table.add(vdi)) return;
    const v = db.get('VDI', vdi);
    table.add(v.SR);
    const parentUuid = v.sm_config['vhd-parent'];
    if (opts.includeVhdParents && typeof parentUuid === 'string') {
      const parent = db.findRefByUuid('VDI', parentUuid);
      if (parent !== undefined) addVdi(parent);
    }
  };
  if (!opts.excludedDeviceTypes.has('vif')) {
    for (const vif of rec.VIFs) {
      if (!table.add(vif)) continue;
      table.add(db.getField('VIF', vif, 'network'));
    }
  }
  if (!opts.excludedDeviceTypes.has('vbd')) {
    for (const vbd of rec.VBDs) {
      if (!table.add(vbd)) continue;
      const b = db.get('VBD', vbd);
      if (!b.empty) addVdi(b.VDI);
    }
  }
  if (includeSnapshots) for (const snap of rec.snapshots) collect(db, table, snap, false, opts);
  // Metadata export always preserves the power state, so a suspended VM brings its image.
  if (rec.power_state === 'Suspended') addVdi(rec.suspend_VDI);
  if (opts.withVmMetrics) table.add(rec.metrics);
  table.add(rec.guest_metrics);
  table.add(rec.resident_on);
  table.add(rec.affinity);
  if (includeSnapshots && db.exists('VM', rec.parent)) collect(db, table, rec.parent, false, opts);
}

/**
 * Rewrites every reference of a record: ref fields → id or null, ref sets → exported
 * members only, string fields holding refs of classes the simulator does not model (their
 * objects are never exported) → null / dropped.
 */
function rewriteRefs(cls: ClassName, rec: AnyRecord, table: ExportTable): void {
  for (const [name, spec] of Object.entries(SCHEMA[cls] as Record<string, FieldSpec>)) {
    const t = spec.type;
    const v = rec[name];
    if (t.kind === 'ref') rec[name] = table.lookup(String(v));
    else if (t.kind === 'set' && t.of.kind === 'ref') rec[name] = table.filter(v as string[]);
    else if (t.kind === 'string' && spec.default === NULL_REF) rec[name] = table.lookup(String(v));
    else if (t.kind === 'set' && t.of.kind === 'string' && (v as string[]).some((s) => s.startsWith('OpaqueRef:'))) {
      rec[name] = (v as string[]).flatMap((s) => (s.startsWith('OpaqueRef:') ? table.filter([s]) : [s]));
    }
  }
}

/** Class-specific blanking (XAPI's make_host / make_vm / make_vbd / …). */
function blank(cls: ClassName, rec: AnyRecord, opts: Walk): void {
  switch (cls) {
    case 'host':
      Object.assign(rec, {
        PIFs: [], PBDs: [], PGPUs: [], PCIs: [], host_CPUs: [], license_params: {}, blobs: {},
        external_auth_type: '', external_auth_service_name: '', external_auth_configuration: {},
        metrics: NULL_REF, patches: [], crashdumps: [], logging: {}, supported_bootloaders: [],
        cpu_configuration: {}, other_config: {}, capabilities: [], software_version: {},
        sched_policy: '', ha_statefiles: [], ha_network_peers: [], tags: [],
      });
      break;
    case 'VM':
      Object.assign(rec, {
        current_operations: {}, allowed_operations: [], crash_dumps: [], consoles: [], blobs: {},
        protection_policy: NULL_REF,
      });
      if (!opts.withVmMetrics) rec.metrics = NULL_REF;
      if (!opts.withSnapshotMetadata) {
        Object.assign(rec, {
          is_a_snapshot: false, snapshot_of: NULL_REF, snapshots: [], snapshot_time: EPOCH,
          transportable_snapshot_id: '', parent: NULL_REF,
        });
      }
      break;
    case 'VBD':
    case 'VIF':
      Object.assign(rec, { metrics: NULL_REF, current_operations: {}, allowed_operations: [] });
      break;
    case 'network':
      Object.assign(rec, { PIFs: [], current_operations: {}, allowed_operations: [] });
      break;
    case 'VDI':
      Object.assign(rec, { crash_dumps: [], current_operations: {}, allowed_operations: [] });
      break;
    case 'SR':
      Object.assign(rec, { PBDs: [], current_operations: {}, allowed_operations: [] });
      break;
    default:
      break;
  }
}

/** The ova.xml document (one line, no XML declaration) for the given VMs. */
export function buildOvaXml(db: SimDb, vms: readonly Ref[], profile: SimProfile, opts: OvaExportOptions): string {
  const table = new ExportTable(db);
  const walk: Walk = { ...opts, withVmMetrics: exportsVmMetrics(profile) };
  for (const vm of vms) collect(db, table, vm, opts.withSnapshotMetadata, walk);
  const objects: XmlRpcValue[] = [];
  for (const cls of CLASS_ORDER) {
    for (const ref of table.refsOf(cls)) {
      const rec = db.get(cls, ref) as AnyRecord;
      rewriteRefs(cls, rec, table);
      blank(cls, rec, walk);
      objects.push(structOf([
        ['class', cls],
        ['id', table.lookup(ref)],
        // XAPI writes each object as its API record: the fields of its own release.
        ['snapshot', publicRecord(profile, cls, rec)],
      ]));
    }
  }
  return serializeValue(structOf([
    ['version', exportVersion(profile)],
    ['objects', objects],
  ]));
}
