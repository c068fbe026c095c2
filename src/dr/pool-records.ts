/**
 * The pool records a backup needs, read once in bulk (five calls whatever the pool's size),
 * and the stock rules for which VMs are backed up and which SRs they live on.
 */
import { isNullRef, toStr, toStrArray, toStrMap, type Ref, type Session } from '../xenapi/index.js';
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

const records = (session: Session, cls: keyof typeof FIELDS) => session.getAllRecords(cls, { recordFields: new Set(FIELDS[cls]) });

/** `pool`: the pool object as the caller already read it (then it is not read again). */
export async function readPoolRecords(session: Session, pool?: PoolRecords['pool']): Promise<PoolRecords> {
  const [known, vms, vbds, vdis, srs] = await Promise.all([pool ?? readPool(session), records(session, 'VM'), records(session, 'VBD'), records(session, 'VDI'), records(session, 'SR')]);
  const out: PoolRecords = {
    pool: known,
    vms: new Map(),
    vbds: new Map(),
    vdis: new Map(),
    srs: new Map(),
  };
  for (const [ref, r] of Object.entries(vms)) {
    const oc = toStrMap(r['other_config'] ?? {});
    out.vms.set(ref, {
      ref,
      uuid: toStr(r['uuid']),
      name: toStr(r['name_label']),
      powerState: toStr(r['power_state']),
      isTemplate: r['is_a_template'] === true,
      isDefaultTemplate: r['is_default_template'] === true || oc['default_template'] === 'true',
      isSnapshot: r['is_a_snapshot'] === true,
      isControlDomain: r['is_control_domain'] === true,
      vbds: toStrArray(r['VBDs'] ?? []),
    });
  }
  for (const [ref, r] of Object.entries(vbds)) out.vbds.set(ref, { vm: toStr(r['VM']), vdi: toStr(r['VDI']) });
  for (const [ref, r] of Object.entries(vdis)) {
    out.vdis.set(ref, {
      uuid: toStr(r['uuid']),
      nameLabel: toStr(r['name_label']),
      nameDescription: toStr(r['name_description']),
      sr: toStr(r['SR']),
    });
  }
  for (const [ref, r] of Object.entries(srs)) {
    out.srs.set(ref, {
      uuid: toStr(r['uuid']),
      nameLabel: toStr(r['name_label']),
      nameDescription: toStr(r['name_description']),
      vdis: toStrArray(r['VDIs'] ?? []),
    });
  }
  return out;
}

async function readPool(session: Session): Promise<PoolRecords['pool']> {
  const [ref, pool] = Object.entries(await records(session, 'pool'))[0] ?? [];
  if (!ref || !pool) throw new ExpectedFailure('NO_POOL_OBJECT', 'The pool has no pool object.', 'Check that the address is a XenServer / XCP-ng pool coordinator (XAPI may still be starting), then run again.');
  return { ref, uuid: toStr(pool['uuid']), name: toStr(pool['name_label']) };
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
