/** Virtual block devices: a VDI plugged into a VM (here: the backup VDI into dom0). */
import type { CallOptions } from '../rpc.js';
import type { Session } from '../session.js';
import { runTask, type WaitOptions } from '../tasks.js';
import type { Ref } from '../values.js';
import { bool, classReader, readRef, readValue, ref, string, stringMap, type RecordOf } from './fields.js';

const FIELDS = {
  uuid: string,
  VM: ref,
  VDI: ref,
  currently_attached: bool,
  other_config: stringMap,
  device: string,
};
export type VbdRecord = RecordOf<typeof FIELDS>;

const reader = classReader('VBD', FIELDS);
export const { getRecord, getAllRecords, getAllRecordsWhere, getByUuid } = reader;

/** The fields VBD.create takes. */
export interface VbdCreate {
  VM: Ref;
  VDI: Ref;
  /** A slot number, or "autodetect". */
  userdevice: string;
  bootable: boolean;
  mode: 'RO' | 'RW';
  type: 'Disk' | 'CD' | 'Floppy';
  unpluggable: boolean;
  empty: boolean;
  other_config: Record<string, string>;
  qos_algorithm_type?: string;
  qos_algorithm_params?: Record<string, string>;
  device?: string;
  currently_attached?: boolean;
}

export async function create(session: Session, args: VbdCreate, opts?: CallOptions): Promise<Ref> {
  const record = {
    VM: args.VM,
    VDI: args.VDI,
    userdevice: args.userdevice,
    bootable: args.bootable,
    mode: args.mode,
    type: args.type,
    unpluggable: args.unpluggable,
    empty: args.empty,
    other_config: args.other_config,
    qos_algorithm_type: args.qos_algorithm_type ?? '',
    qos_algorithm_params: args.qos_algorithm_params ?? {},
    device: args.device ?? '',
    currently_attached: args.currently_attached ?? false,
  };
  return readRef(session, 'VBD.create', await session.invoke('VBD.create', [record], opts));
}

/** Async.VBD.plug, waited for as a task (a plug can take seconds; the task can be cancelled). */
export async function plug(session: Session, vbd: Ref, opts: WaitOptions = {}): Promise<void> {
  await runTask(session, 'VBD.plug', [vbd], opts);
}

export async function unplug(session: Session, vbd: Ref, opts?: CallOptions): Promise<void> {
  await session.invoke('VBD.unplug', [vbd], opts);
}

export async function destroy(session: Session, vbd: Ref, opts?: CallOptions): Promise<void> {
  await session.invoke('VBD.destroy', [vbd], opts);
}

/** The device name in the VM ("xvdb"); "" before a plug. */
export async function getDevice(session: Session, vbd: Ref, opts?: CallOptions): Promise<string> {
  return readValue(session, 'VBD.get_device', string, await session.invoke('VBD.get_device', [vbd], opts));
}
