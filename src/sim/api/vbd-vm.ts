/**
 * VBD and VM methods (xen-api ocaml/xapi/xapi_vbd.ml): VBD.create with "autodetect", plug /
 * unplug into the control domain (device name + device symlink), destroy; VM.destroy for
 * halted VMs.
 * Error codes and parameters follow xapi_vbd_helpers: DEVICE_ALREADY_ATTACHED [vbd],
 * DEVICE_ALREADY_DETACHED [vbd], VM_BAD_POWER_STATE [vm, expected, actual] (lower case),
 * VDI_IN_USE [vdi], VDI_READONLY [vdi], VBD_NOT_UNPLUGGABLE [vbd], and
 * OPERATION_NOT_ALLOWED ["VBD '<uuid>' still attached to '<vm uuid>'"] on destroy.
 */
import { stat } from 'node:fs/promises';
import { ApiFailure } from '../api-error.js';
import type { XmlRpcValue } from '../codec.js';
import { isControlDomain, type SimContext } from '../context.js';
import type { Ref } from '../db.js';
import { freeDeviceName, linkDevice, unlinkDevice } from '../devices.js';
import { structToFields } from '../record-wire.js';
import type { MethodRegistry } from '../rpc-dispatch.js';
import { NULL_REF, type RecordOf } from '../schema.js';
import { vdiFilePath } from '../storage.js';

/** VBD.device / currently_attached got datamodel defaults in xapi 1.257 (xen-api ocaml/idl/datamodel.ml). */
function vbdDeviceHasDefault(sim: SimContext): boolean {
  const p = sim.profile;
  return p.xapiMajor > 1 || (p.xapiMajor === 1 && p.xapiMinor >= 257);
}

const VBD_REQUIRED = ['VM', 'VDI', 'userdevice', 'bootable', 'mode', 'type', 'empty', 'other_config', 'qos_algorithm_type', 'qos_algorithm_params'];
const VBD_FIELDS = [...VBD_REQUIRED, 'unpluggable', 'device', 'currently_attached'];

function validUserdevice(d: string): boolean {
  return /^\d+$/.test(d) && Number(d) < 256;
}

export function createVbd(sim: SimContext, record: XmlRpcValue): Ref {
  const required = vbdDeviceHasDefault(sim) ? VBD_REQUIRED : [...VBD_REQUIRED, 'device', 'currently_attached'];
  const f = structToFields('VBD', record, 'args', { required, only: VBD_FIELDS }) as Partial<RecordOf<'VBD'>>;
  const db = sim.db;
  const vm = f.VM as string;
  const vmRec = db.get('VM', vm);
  const vdi = f.VDI ?? NULL_REF;
  const empty = f.empty === true || vdi === NULL_REF;
  if (!empty) {
    const vdiRec = db.get('VDI', vdi);
    if (f.mode === 'RW' && vdiRec.read_only) throw new ApiFailure('VDI_READONLY', [vdi]);
  }
  const used = new Set(vmRec.VBDs.map((b) => db.tryGet('VBD', b)?.userdevice).filter((u): u is string => u !== undefined));
  let userdevice = f.userdevice ?? 'autodetect';
  if (userdevice === 'autodetect') {
    let n = 0;
    while (used.has(String(n))) n++;
    userdevice = String(n);
  } else {
    if (!validUserdevice(userdevice)) throw new ApiFailure('INVALID_DEVICE', [userdevice]);
    if (used.has(userdevice)) throw new ApiFailure('DEVICE_ALREADY_EXISTS', [userdevice]);
  }
  return db.create('VBD', {
    ...f,
    VDI: empty ? NULL_REF : vdi,
    empty,
    userdevice,
    device: '',
    currently_attached: false,
  });
}

function powerString(state: string): string {
  return state.toLowerCase();
}

/** Checks shared by plug / unplug: the VM must be running. */
function assertRunning(sim: SimContext, vm: Ref): void {
  const state = sim.db.get('VM', vm).power_state;
  if (state !== 'Running') throw new ApiFailure('VM_BAD_POWER_STATE', [vm, 'running', powerString(state)]);
}

/**
 * VBD operations in flight per simulator. XAPI serialises operations on an object: a second
 * one meanwhile is refused with OTHER_OPERATION_IN_PROGRESS (without this, an unplug during
 * a plug's await found nothing to unlink and the plug then linked a device for no VBD).
 */
const vbdBusy = new WeakMap<SimContext, Map<Ref, string>>();

function assertIdle(sim: SimContext, vbd: Ref): void {
  const op = vbdBusy.get(sim)?.get(vbd);
  if (op !== undefined) throw new ApiFailure('OTHER_OPERATION_IN_PROGRESS', ['VBD', vbd, op]);
}

async function exclusively<T>(sim: SimContext, vbd: Ref, op: string, fn: () => Promise<T>): Promise<T> {
  assertIdle(sim, vbd);
  let busy = vbdBusy.get(sim);
  if (!busy) vbdBusy.set(sim, (busy = new Map()));
  busy.set(vbd, op);
  try {
    return await fn();
  } finally {
    busy.delete(vbd);
  }
}

export function plugVbd(sim: SimContext, vbd: Ref): Promise<void> {
  return exclusively(sim, vbd, 'plug', () => plugIdleVbd(sim, vbd));
}

async function plugIdleVbd(sim: SimContext, vbd: Ref): Promise<void> {
  const db = sim.db;
  const rec = db.get('VBD', vbd);
  assertRunning(sim, rec.VM);
  if (rec.currently_attached) throw new ApiFailure('DEVICE_ALREADY_ATTACHED', [vbd]);
  const dom0 = isControlDomain(db, rec.VM);
  if (!rec.empty) {
    const vdiRec = db.get('VDI', rec.VDI);
    if (!dom0 && !vdiRec.sharable) {
      const others = vdiRec.VBDs.filter((b) => b !== vbd)
        .map((b) => db.tryGet('VBD', b))
        .filter((b): b is RecordOf<'VBD'> => b !== undefined && b.currently_attached && !isControlDomain(db, b.VM));
      if (others.some((b) => b.mode === 'RW') || (rec.mode === 'RW' && others.length > 0)) throw new ApiFailure('VDI_IN_USE', [rec.VDI]);
    }
    if (rec.mode === 'RW' && vdiRec.read_only) throw new ApiFailure('VDI_READONLY', [rec.VDI]);
  }
  let device = rec.device;
  if (dom0 && !rec.empty) {
    const file = vdiFilePath(db, sim.stateDir, rec.VDI);
    const st = await stat(file).catch(() => undefined);
    if (!st?.isFile()) throw new ApiFailure('VDI_MISSING', [db.get('VDI', rec.VDI).SR, rec.VDI]);
    // Claim the name before the first await: two plugs in flight must not both get xvdb.
    device = freeDeviceName(db, rec.VM);
    db.update('VBD', vbd, { currently_attached: true, device });
    try {
      await linkDevice(sim.deviceDir, device, file);
    } catch (err) {
      db.update('VBD', vbd, { currently_attached: false });
      throw err;
    }
    return;
  } else if (device === '') {
    device = `xvd${String.fromCharCode(97 + Math.min(25, Number(rec.userdevice) || 0))}`;
  }
  db.update('VBD', vbd, { currently_attached: true, device });
}

/** unplug and unplug_force behave alike here: the simulator has no guest that could refuse. */
export function unplugVbd(sim: SimContext, vbd: Ref): Promise<void> {
  return exclusively(sim, vbd, 'unplug', () => unplugIdleVbd(sim, vbd));
}

async function unplugIdleVbd(sim: SimContext, vbd: Ref): Promise<void> {
  const db = sim.db;
  const rec = db.get('VBD', vbd);
  assertRunning(sim, rec.VM);
  if (!rec.unpluggable) throw new ApiFailure('VBD_NOT_UNPLUGGABLE', [vbd]);
  if (!rec.currently_attached) throw new ApiFailure('DEVICE_ALREADY_DETACHED', [vbd]);
  if (isControlDomain(db, rec.VM)) await unlinkDevice(sim.deviceDir, rec.device);
  db.update('VBD', vbd, { currently_attached: false });
}

export function destroyVbd(sim: SimContext, vbd: Ref): void {
  const db = sim.db;
  const rec = db.get('VBD', vbd);
  assertIdle(sim, vbd);
  if (rec.currently_attached) {
    const vmUuid = db.tryGet('VM', rec.VM)?.uuid ?? '';
    throw new ApiFailure('OPERATION_NOT_ALLOWED', [`VBD '${rec.uuid}' still attached to '${vmUuid}'`]);
  }
  db.destroy('VBD', vbd);
}

/** VM.destroy: only Halted VMs (not the control domain); takes its VBDs, VIFs and metrics along. */
export function destroyVm(sim: SimContext, vm: Ref): void {
  const db = sim.db;
  const rec = db.get('VM', vm);
  if (rec.is_control_domain) throw new ApiFailure('OPERATION_NOT_ALLOWED', ['Cannot destroy a control domain']);
  if (rec.power_state !== 'Halted') throw new ApiFailure('VM_BAD_POWER_STATE', [vm, 'halted', powerString(rec.power_state)]);
  for (const vbd of rec.VBDs) if (db.exists('VBD', vbd)) db.destroy('VBD', vbd);
  for (const vif of rec.VIFs) if (db.exists('VIF', vif)) db.destroy('VIF', vif);
  if (db.exists('VM_metrics', rec.metrics)) db.destroy('VM_metrics', rec.metrics);
  if (db.exists('VM_guest_metrics', rec.guest_metrics)) db.destroy('VM_guest_metrics', rec.guest_metrics);
  db.destroy('VM', vm);
}

export function registerVbdVmMethods(reg: MethodRegistry): void {
  const self = { name: 'self', type: 'ref' as const };
  reg.add({ name: 'VBD.create', params: [{ name: 'args', type: 'struct' }], async: true, impl: ({ sim }, a) => createVbd(sim, a.args as XmlRpcValue) });
  reg.add({
    name: 'VBD.plug',
    params: [self],
    async: true,
    impl: async ({ sim }, a) => {
      await plugVbd(sim, a.self as string);
      return '';
    },
  });
  reg.add({
    name: 'VBD.unplug',
    params: [self],
    async: true,
    impl: async ({ sim }, a) => {
      await unplugVbd(sim, a.self as string);
      return '';
    },
  });
  reg.add({
    name: 'VBD.unplug_force',
    params: [self],
    async: true,
    impl: async ({ sim }, a) => {
      await unplugVbd(sim, a.self as string);
      return '';
    },
  });
  reg.add({
    name: 'VBD.destroy',
    params: [self],
    async: true,
    impl: ({ sim }, a) => {
      destroyVbd(sim, a.self as string);
      return '';
    },
  });
  reg.add({
    name: 'VIF.destroy',
    params: [self],
    async: true,
    impl: ({ sim }, a) => {
      const rec = sim.db.get('VIF', a.self as string);
      if (rec.currently_attached) throw new ApiFailure('OPERATION_NOT_ALLOWED', [`VIF '${rec.uuid}' still attached`]);
      sim.db.destroy('VIF', a.self as string);
      return '';
    },
  });
  reg.add({
    name: 'VM.destroy',
    params: [self],
    async: true,
    impl: ({ sim }, a) => {
      destroyVm(sim, a.self as string);
      return '';
    },
  });
}
