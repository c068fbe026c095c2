/**
 * VIF rules XAPI applies outside any one API call: which operations a VIF allows
 * (xen-api ocaml/xapi/xapi_vif_helpers.ml `valid_operations`, `update_allowed_operations`),
 * operations in flight (message_forwarding.ml `with_vif_marked`, `mark_vifs`), the MAC a
 * VIF gets from its VM's mac_seed (xapi_vif_helpers.ml `gen_mac`, record_util.ml
 * `mac_from_int_array`) and the device and MAC syntax checks (`valid_device`,
 * helpers.ml `is_valid_MAC`).
 */
import { createHash } from 'node:crypto';
import { ApiFailure } from './api-error.js';
import type { Ref, SimDb } from './db.js';
import type { RecordOf } from './schema.js';

export const VIF_OPERATIONS = ['attach', 'plug', 'unplug'] as const;
export type VifOperation = (typeof VIF_OPERATIONS)[number];
type Failure = [code: string, params: string[]];

/** VM operations during which a VIF may not be plugged or unplugged. */
const VM_OPS_BLOCKING_HOTPLUG = ['clean_shutdown', 'hard_shutdown', 'suspend', 'pause'];

function hasPvDrivers(gm: RecordOf<'VM_guest_metrics'> | undefined): boolean {
  return gm !== undefined && gm.PV_drivers_version.major !== undefined;
}

/** The domain type XAPI goes by: the VM's own, else HVM when it has a boot policy. */
function domainType(vm: RecordOf<'VM'>): string {
  if (vm.domain_type !== 'unspecified') return vm.domain_type;
  return vm.HVM_boot_policy === '' ? 'pv' : 'hvm';
}

/** Per operation, the first reason it is refused (undefined: allowed). */
export function vifOperationErrors(db: SimDb, ref: Ref): Map<VifOperation, Failure | undefined> {
  const vif = db.get('VIF', ref);
  const table = new Map<VifOperation, Failure | undefined>(VIF_OPERATIONS.map((op) => [op, undefined]));
  // The first error set for an operation is the one reported.
  const setErrors = (code: string, params: string[], ops: readonly VifOperation[]): void => {
    for (const op of ops) if (table.get(op) === undefined) table.set(op, [code, params]);
  };
  const current = Object.entries(vif.current_operations);
  if (current.length > 0) {
    // XAPI folds the list onto a stack, so both lists come out in reverse order.
    const refs = current.map(([r]) => r).reverse();
    const types = current.map(([, o]) => o).reverse();
    setErrors('OTHER_OPERATION_IN_PROGRESS', ['VIF', ref, `{${types.join('; ')}}`, `{${refs.join('; ')}}`], VIF_OPERATIONS);
  }
  const vm = db.tryGet('VM', vif.VM);
  if (!vm) return table;
  if (vm.is_control_domain && vm.domid === 0) setErrors('OPERATION_NOT_ALLOWED', ['Control domain does not support hotplug'], ['plug']);
  const running = vm.power_state === 'Running';
  if (running && vif.currently_attached) setErrors('DEVICE_ALREADY_ATTACHED', [ref], ['plug']);
  else if (running) setErrors('DEVICE_ALREADY_DETACHED', [ref], ['unplug']);
  else setErrors('VM_BAD_POWER_STATE', [vif.VM, 'running', vm.power_state.toLowerCase()], ['plug', 'unplug']);
  for (const op of Object.values(vm.current_operations)) {
    if (VM_OPS_BLOCKING_HOTPLUG.includes(op)) setErrors('OPERATION_NOT_ALLOWED', [`Current operation on VM:${vif.VM} is ${op}`], ['plug', 'unplug']);
  }
  if (running && domainType(vm) === 'hvm') {
    // An HVM guest hot-plugs only with PV drivers, or when its agent says it can.
    const gm = db.tryGet('VM_guest_metrics', vm.guest_metrics);
    const missingDrivers = (): void => {
      if (!hasPvDrivers(gm)) setErrors('VM_MISSING_PV_DRIVERS', [vif.VM], ['plug', 'unplug']);
    };
    if (!gm) missingDrivers();
    else if (gm.can_use_hotplug_vif === 'no') setErrors('OPERATION_NOT_ALLOWED', ['VM states it does not support VIF hotplug.'], ['plug', 'unplug']);
    else if (gm.can_use_hotplug_vif !== 'yes' && !gm.PV_drivers_detected) missingDrivers();
  }
  return table;
}

export function assertVifOperationValid(db: SimDb, ref: Ref, op: VifOperation): void {
  const err = vifOperationErrors(db, ref).get(op);
  if (err) throw new ApiFailure(err[0], err[1]);
}

export function updateVifAllowedOperations(db: SimDb, ref: Ref): void {
  if (!db.exists('VIF', ref)) return;
  const table = vifOperationErrors(db, ref);
  db.set('VIF', ref, 'allowed_operations', VIF_OPERATIONS.filter((op) => table.get(op) === undefined));
}

/** Recomputes every VIF of a VM (XAPI does so after each power operation). */
export function updateVifsOfVm(db: SimDb, vm: Ref): void {
  for (const vif of db.tryGet('VM', vm)?.VIFs ?? []) updateVifAllowedOperations(db, vif);
}

/** Runs `fn` with `op` in the VIF's current_operations under `key` (the task). */
export async function withVifOperation<T>(db: SimDb, ref: Ref, op: VifOperation, key: string, fn: () => Promise<T> | T): Promise<T> {
  assertVifOperationValid(db, ref, op);
  db.mapAdd('VIF', ref, 'current_operations', key, op);
  updateVifAllowedOperations(db, ref);
  try {
    return await fn();
  } finally {
    if (db.exists('VIF', ref)) {
      db.mapRemove('VIF', ref, 'current_operations', key);
      updateVifAllowedOperations(db, ref);
    }
  }
}

/**
 * Marks every VIF of `vm` with `op` for the length of `fn` (a reboot marks them `attach`);
 * a VIF that refuses the mark makes the whole call fail, the others unmarked.
 */
export async function withVifsOfVmMarked<T>(db: SimDb, vm: Ref, op: VifOperation, key: string, fn: () => Promise<T>): Promise<T> {
  const vifs = db.get('VM', vm).VIFs;
  const marked: Ref[] = [];
  const unmark = (): void => {
    for (const vif of marked) {
      if (!db.exists('VIF', vif)) continue;
      db.mapRemove('VIF', vif, 'current_operations', key);
      updateVifAllowedOperations(db, vif);
    }
  };
  for (const vif of vifs) {
    try {
      assertVifOperationValid(db, vif, op);
    } catch (err) {
      if (!(err instanceof ApiFailure)) throw err;
      continue;
    }
    db.mapAdd('VIF', vif, 'current_operations', key, op);
    updateVifAllowedOperations(db, vif);
    marked.push(vif);
  }
  if (marked.length !== vifs.length) {
    unmark();
    throw new ApiFailure('OPERATION_NOT_ALLOWED', ['Failed to lock all VIFs']);
  }
  try {
    return await fn();
  } finally {
    unmark();
  }
}

/** An unsigned decimal device number, as XAPI's `%u` scan accepts it. */
export function validVifDevice(device: string): boolean {
  return /^[0-9]+$/.test(device) && Number(device) <= Number.MAX_SAFE_INTEGER;
}

/** Six colon-separated pairs of hex digits, either case. */
export function validMac(mac: string): boolean {
  return /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(mac);
}

/**
 * The MAC XAPI derives for device `device` of a VM with mac_seed `seed`: MD5 applied
 * 2·device+1 times to the seed gives the first four bytes, one more MD5 the last two;
 * the first byte is made locally administered and unicast.
 */
export function macFromSeed(seed: string, device: number): string {
  let digest: Buffer = Buffer.from(seed, 'utf8');
  for (let i = 0; i <= device * 2; i++) digest = createHash('md5').update(digest).digest();
  const second = createHash('md5').update(digest).digest();
  const bytes = [digest[0], digest[1], digest[2], digest[3], second[1], second[2]].map((b) => b ?? 0);
  bytes[0] = ((bytes[0] ?? 0) | 0x02) & ~0x01;
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
