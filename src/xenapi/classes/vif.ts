/** Virtual network interfaces: what a restore moves to another network (VIF.move, or re-creation). */
import type { CallOptions } from '../rpc.js';
import type { Session } from '../session.js';
import type { Ref } from '../values.js';
import { bool, classReader, enumeration, int, readRef, ref, string, stringMap, stringSet, type RecordOf } from './fields.js';

const FIELDS = {
  uuid: string,
  VM: ref,
  network: ref,
  device: string,
  MAC: string,
  MTU: int,
  other_config: stringMap,
  qos_algorithm_type: string,
  qos_algorithm_params: stringMap,
  /** Since API 1.10 (XenServer 6.1): empty on older hosts. */
  locking_mode: enumeration,
  ipv4_allowed: stringSet,
  ipv6_allowed: stringSet,
  currently_attached: bool,
};
export type VifRecord = RecordOf<typeof FIELDS>;

const reader = classReader('VIF', FIELDS);
export const { getRecord, getAllRecords, getAllRecordsWhere, getByUuid } = reader;

/** The fields VIF.create takes (the locking ones only where the host has them). */
export interface VifCreate {
  VM: Ref;
  network: Ref;
  device: string;
  /** "" lets XAPI derive it from the VM's mac_seed. */
  MAC: string;
  MTU: number;
  other_config: Record<string, string>;
  qos_algorithm_type: string;
  qos_algorithm_params: Record<string, string>;
  locking?: { locking_mode: string; ipv4_allowed: string[]; ipv6_allowed: string[] };
}

export async function create(session: Session, args: VifCreate, opts?: CallOptions): Promise<Ref> {
  const record = {
    VM: args.VM,
    network: args.network,
    device: args.device,
    MAC: args.MAC,
    // int64 travels as a decimal string.
    MTU: String(args.MTU),
    other_config: args.other_config,
    qos_algorithm_type: args.qos_algorithm_type,
    qos_algorithm_params: args.qos_algorithm_params,
    ...args.locking,
  };
  return readRef(session, 'VIF.create', await session.invoke('VIF.create', [record], opts));
}

export async function destroy(session: Session, vif: Ref, opts?: CallOptions): Promise<void> {
  await session.invoke('VIF.destroy', [vif], opts);
}

/** VIF.move (API 2.6, XenServer 7.1): the VIF keeps its uuid, MAC and device. */
export async function move(session: Session, vif: Ref, network: Ref, opts?: CallOptions): Promise<void> {
  await session.invoke('VIF.move', [vif, network], opts);
}
