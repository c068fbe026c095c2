/**
 * The pool records a backup needs, read once in bulk (five calls whatever the pool's size),
 * and the stock rules for which VMs are backed up and which SRs they live on.
 */
import { Pool, SR, VBD, VDI, VM, isNullRef, type Ref, type Session } from '../xenapi/index.js';
import { ExpectedFailure } from '../failure/index.js';

export interface VmInfo {
  ref: Ref;
  uuid: string;
  name: string;
  powerState: string;
  isTemplate: boolean;
  isDefaultTemplate: boolean;
  isSnapshot: boolean;
  isControlDomain: boolean;
  vbds: Ref[];
}

export interface PoolRecords {
  pool: { ref: Ref; uuid: string; name: string };
  vms: Map<Ref, VmInfo>;
  vbds: Map<Ref, { vm: Ref; vdi: Ref }>;
  vdis: Map<Ref, { uuid: string; nameLabel: string; nameDescription: string; sr: Ref }>;
  srs: Map<Ref, { uuid: string; nameLabel: string; nameDescription: string; vdis: Ref[] }>;
}

/** The fields read of each class: a large pool's records are never held whole. */
const FIELDS = {
  pool: ['uuid', 'name_label'],
  VM: ['uuid', 'name_label', 'power_state', 'is_a_template', 'is_default_template', 'is_a_snapshot', 'is_control_domain', 'other_config', 'VBDs'],
  VBD: ['VM', 'VDI'],
  VDI: ['uuid', 'name_label', 'name_description', 'SR'],
  SR: ['uuid', 'name_label', 'name_description', 'VDIs'],
} as const;

/** What a domain step says when XAPI lists no pool object (XAPI still starting, or not a pool). */
export function noPoolObject(): ExpectedFailure {
  return new ExpectedFailure('NO_POOL_OBJECT', 'The pool has no pool object.', 'Check that the address is a XenServer / XCP-ng pool coordinator (XAPI may still be starting), then run again.');
}

/** `pool`: the pool object as the caller already read it (then it is not read again). */
export async function readPoolRecords(session: Session, pool?: PoolRecords['pool']): Promise<PoolRecords> {
  const [known, vms, vbds, vdis, srs] = await Promise.all([
    pool ?? readPool(session),
    VM.getAllRecords(session, FIELDS.VM),
    VBD.getAllRecords(session, FIELDS.VBD),
    VDI.getAllRecords(session, FIELDS.VDI),
    SR.getAllRecords(session, FIELDS.SR),
  ]);
  const out: PoolRecords = {
    pool: known,
    vms: new Map(),
    vbds: new Map(),
    vdis: new Map(),
    srs: new Map(),
  };
  for (const [ref, r] of vms) {
    out.vms.set(ref, {
      ref,
      uuid: r.uuid,
      name: r.name_label,
      powerState: r.power_state,
      isTemplate: r.is_a_template,
      isDefaultTemplate: r.is_default_template || r.other_config['default_template'] === 'true',
      isSnapshot: r.is_a_snapshot,
      isControlDomain: r.is_control_domain,
      vbds: r.VBDs,
    });
  }
  for (const [ref, r] of vbds) out.vbds.set(ref, { vm: r.VM, vdi: r.VDI });
  for (const [ref, r] of vdis) out.vdis.set(ref, { uuid: r.uuid, nameLabel: r.name_label, nameDescription: r.name_description, sr: r.SR });
  for (const [ref, r] of srs) out.srs.set(ref, { uuid: r.uuid, nameLabel: r.name_label, nameDescription: r.name_description, vdis: r.VDIs });
  return out;
}

async function readPool(session: Session): Promise<PoolRecords['pool']> {
  const [first] = await Pool.getAllRecords(session, FIELDS.pool);
  if (!first) throw noPoolObject();
  return { ref: first[0], uuid: first[1].uuid, name: first[1].name_label };
}

/**
 * Stock: VMs = `xe vm-list is-control-domain=false` (no templates, no snapshots); custom
 * templates = templates that are not snapshots and not default templates.
 */
export function selectBackupSet(records: PoolRecords): { vms: VmInfo[]; templates: VmInfo[] } {
  const vms: VmInfo[] = [];
  const templates: VmInfo[] = [];
  for (const vm of records.vms.values()) {
    if (vm.isControlDomain || vm.isSnapshot) continue;
    if (!vm.isTemplate) vms.push(vm);
    else if (!vm.isDefaultTemplate) templates.push(vm);
  }
  return { vms, templates };
}

/** uuids of the SRs holding the VM's disks (CDs in ISO SRs count, as in link-vms-by-sr.py). */
export function srsOfVm(records: PoolRecords, vmRef: Ref): string[] {
  const vm = records.vms.get(vmRef);
  if (!vm) return [];
  const out = new Set<string>();
  for (const vbdRef of vm.vbds) {
    const vbd = records.vbds.get(vbdRef);
    if (!vbd || isNullRef(vbd.vdi)) continue;
    const vdi = records.vdis.get(vbd.vdi);
    const sr = vdi && records.srs.get(vdi.sr);
    if (sr) out.add(sr.uuid);
  }
  return [...out];
}
