/**
 * VM_appliance (vApp, API 1.9; xen-api ocaml/xapi/xapi_vm_appliance.ml and
 * xapi_vm_appliance_lifecycle.ml): create, destroy, start, clean_shutdown, hard_shutdown,
 * shutdown, assert_operation_valid, and VM.set_appliance (recover and assert_can_be_recovered
 * are not modelled).
 *
 * An operation targets the member VMs not yet in the wanted state, grouped by VM.order:
 * ascending for start, descending for the shutdowns. Each group's VMs get an Async.VM.<op>
 * task at once and the next group waits for all of them (so the gap between groups is the
 * group's longest start_delay). A failed VM does not stop later groups; at the end every VM
 * still not in the wanted state is listed in OPERATION_PARTIALLY_FAILED [operation, vm…].
 */
import { ApiFailure, errorDescription } from '../api-error.js';
import type { XmlRpcValue } from '../codec.js';
import { masterHost } from '../context.js';
import type { Ref } from '../db.js';
import type { SimProfile } from '../profiles.js';
import { structToFields } from '../record-wire.js';
import type { CallContext, MethodRegistry } from '../rpc-dispatch.js';
import { NULL_REF, type RecordOf } from '../schema.js';
import { newRef } from '../uuid.js';
import { apiAtLeast, applianceOperationError, assertFeature, updateAllowedOperations, updateApplianceAllowedOperations, type ApplianceOperation } from '../vm-power.js';
import { boot, shutDown } from './vm-lifecycle.js';

type PowerState = RecordOf<'VM'>['power_state'];

/** The member VMs in groups of equal `order`, lowest order first. */
function groupsByOrder(call: CallContext, vms: Ref[]): Ref[][] {
  const byOrder = new Map<number, Ref[]>();
  for (const vm of vms) {
    const order = call.sim.db.getField('VM', vm, 'order');
    byOrder.set(order, [...(byOrder.get(order) ?? []), vm]);
  }
  return [...byOrder.entries()].sort(([a], [b]) => a - b).map(([, g]) => g);
}

/** Runs one VM's operation as its own Async.VM.<op> task, as XAPI's appliance code does. */
async function asVmTask(call: CallContext, label: string, run: (c: CallContext) => Promise<void>): Promise<void> {
  const { sim } = call;
  const task = sim.tasks.create(label, { residentOn: masterHost(sim.db) });
  try {
    await run({ sim, method: label.slice('Async.'.length), session: call.session, task, signal: sim.tasks.signal(task) });
    sim.tasks.succeed(task, '');
  } catch (err) {
    sim.tasks.fail(task, errorDescription(err));
  }
}

async function perform(call: CallContext, self: Ref, op: ApplianceOperation, wanted: PowerState, paused: boolean): Promise<void> {
  const db = call.sim.db;
  const err = applianceOperationError(db, self, op);
  if (err) throw new ApiFailure(err[0], err[1]);
  const key = call.task ?? newRef();
  db.mapAdd('VM_appliance', self, 'current_operations', key, op);
  updateApplianceAllowedOperations(db, self);
  try {
    const targets = db.getField('VM_appliance', self, 'VMs').filter((vm) => db.getField('VM', vm, 'power_state') !== wanted);
    const groups = groupsByOrder(call, targets);
    if (op !== 'start') groups.reverse();
    for (const group of groups) {
      await Promise.all(
        group.map((vm) =>
          asVmTask(call, `Async.VM.${op}`, (c) =>
            op === 'start' ? boot(c, vm, 'start', undefined, paused) : shutDown(c, vm, op),
          ),
        ),
      );
    }
    const failed = targets.filter((vm) => !db.exists('VM', vm) || db.getField('VM', vm, 'power_state') !== wanted);
    if (failed.length > 0) throw new ApiFailure('OPERATION_PARTIALLY_FAILED', [`VM_appliance.${op}`, ...failed]);
  } finally {
    if (db.exists('VM_appliance', self)) {
      db.mapRemove('VM_appliance', self, 'current_operations', key);
      updateApplianceAllowedOperations(db, self);
    }
  }
}

export function registerVmApplianceMethods(reg: MethodRegistry, profile: SimProfile): void {
  // vApps came with API 1.9 (boston); older profiles answer MESSAGE_METHOD_UNKNOWN.
  if (!apiAtLeast(profile, 1, 9)) return;
  const self = { name: 'self', type: 'ref' as const };
  const appliance = (call: CallContext, ref: string): Ref => {
    call.sim.db.get('VM_appliance', ref);
    return ref;
  };
  reg.add({
    name: 'VM_appliance.create',
    params: [{ name: 'args', type: 'struct' }],
    async: true,
    impl: ({ sim }, a) => {
      const f = structToFields('VM_appliance', a.args as XmlRpcValue, 'args', {
        required: ['name_label', 'name_description'],
        only: ['name_label', 'name_description'],
      }) as Partial<RecordOf<'VM_appliance'>>;
      const ref = sim.db.create('VM_appliance', { ...f, allowed_operations: [], current_operations: {} });
      updateApplianceAllowedOperations(sim.db, ref);
      return ref;
    },
  });
  reg.add({
    name: 'VM_appliance.destroy',
    params: [self],
    async: true,
    impl: (call, a) => {
      call.sim.db.destroy('VM_appliance', appliance(call, a.self as string));
      return '';
    },
  });
  reg.add({
    name: 'VM_appliance.start',
    params: [self, { name: 'paused', type: 'bool' }],
    async: true,
    impl: async (call, a) => {
      const paused = a.paused as boolean;
      assertFeature(call.sim.db, 'VM_appliance_start');
      await perform(call, appliance(call, a.self as string), 'start', paused ? 'Paused' : 'Running', paused);
      return '';
    },
  });
  for (const op of ['clean_shutdown', 'hard_shutdown', 'shutdown'] as const) {
    reg.add({
      name: `VM_appliance.${op}`,
      params: [self],
      async: true,
      impl: async (call, a) => {
        await perform(call, appliance(call, a.self as string), op, 'Halted', false);
        return '';
      },
    });
  }
  reg.add({
    name: 'VM_appliance.assert_operation_valid',
    params: [self, { name: 'op', type: 'string' }],
    async: true,
    impl: (call, a) => {
      const op = a.op as string;
      if (!['start', 'clean_shutdown', 'hard_shutdown', 'shutdown'].includes(op)) throw new ApiFailure('ENUM_VALUE_INVALID', ['enum vm_appliance_operation', op]);
      const err = applianceOperationError(call.sim.db, appliance(call, a.self as string), op as ApplianceOperation);
      if (err) throw new ApiFailure(err[0], err[1]);
      return '';
    },
  });
  // VM.set_appliance (xapi_vm.ml): not for control domains, templates or snapshots; both
  // appliances' allowed_operations follow the membership.
  reg.add({
    name: 'VM.set_appliance',
    params: [self, { name: 'value', type: 'ref' }],
    async: true,
    impl: ({ sim }, a) => {
      const db = sim.db;
      const vm = a.self as string;
      const rec = db.get('VM', vm);
      const value = a.value as string;
      if (value !== NULL_REF) db.get('VM_appliance', value);
      if (rec.is_control_domain || rec.is_a_template || rec.is_a_snapshot) {
        throw new ApiFailure('OPERATION_NOT_ALLOWED', ['Control domains, templates and snapshots cannot be assigned to appliances.']);
      }
      db.set('VM', vm, 'appliance', value);
      if (db.exists('VM_appliance', rec.appliance)) updateApplianceAllowedOperations(db, rec.appliance);
      updateAllowedOperations(db, vm);
      return '';
    },
  });
}
