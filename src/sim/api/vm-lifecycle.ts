/**
 * VM power operations (xen-api ocaml/xapi/message_forwarding.ml VM.start/start_on/…,
 * xapi_vm.ml): start, start_on, resume, clean_shutdown, hard_shutdown, shutdown, pause,
 * unpause, suspend, assert_can_boot_here, assert_operation_valid, update_allowed_operations,
 * and the setters of the start/stop sequencing fields. Every operation runs inside
 * `withVmOperation` (current_operations + allowed_operations), so Async.* calls in flight
 * are visible to other clients as in XAPI.
 */
import { ApiFailure } from '../api-error.js';
import type { SimContext } from '../context.js';
import type { SimProfile } from '../profiles.js';
import type { Ref } from '../db.js';
import type { CallContext, MethodRegistry } from '../rpc-dispatch.js';
import { NULL_REF, VM_OPERATIONS } from '../schema.js';
import { createMessage } from '../messages.js';
import { newRef } from '../uuid.js';
import { withVifsOfVmMarked } from '../vif-ops.js';
import {
  apiAtLeast,
  assertCanBootHere,
  assertFeature,
  assertOperationValid,
  buildDomain,
  chooseHost,
  domainGone,
  restartDomain,
  setPaused,
  updateAllowedOperations,
  withVmOperation,
  type VmOperation,
} from '../vm-power.js';
import { createVdi, destroyVdi } from './storage.js';

/** Sleeps `seconds` (start_delay / shutdown_delay), ending early when the task is cancelled. */
function delay(seconds: number, signal: AbortSignal): Promise<void> {
  if (seconds <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, seconds * 1000);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}

/** The key of the operation in current_operations: the task, as in XAPI. */
function opKey(call: CallContext): Ref {
  return call.task ?? newRef();
}

/**
 * The pool message XAPI raises after a power operation (message_forwarding.ml
 * create_vm_message; names and priority 5 from api_messages.ml).
 */
function vmMessage(sim: SimContext, vm: Ref, name: string, what: string, host?: Ref): void {
  const db = sim.db;
  if (!db.exists('VM', vm)) return;
  const rec = db.get('VM', vm);
  const on = host !== undefined && db.exists('host', host) ? ` on host: ${db.getField('host', host, 'name_label')} (uuid: ${db.getField('host', host, 'uuid')})` : '';
  createMessage(sim, { name, priority: 5, cls: 'VM', obj_uuid: rec.uuid, body: `VM '${rec.name_label}' (uuid: ${rec.uuid}) ${what}${on}` });
}

/** Starts (or resumes) a VM on `host`, or on a host chosen as XAPI chooses one. */
export async function boot(call: CallContext, vm: Ref, op: VmOperation, host: Ref | undefined, paused: boolean): Promise<void> {
  const { sim } = call;
  const db = sim.db;
  if (op === 'start' || op === 'start_on') assertFeature(db, 'VM_start');
  await withVmOperation(db, vm, op, opKey(call), async () => {
    if (host !== undefined) {
      // start_on checks the named host with the memory check (reserve_memory_for_vm).
      assertCanBootHere(db, vm, host, { memory: true });
    }
    const target = host ?? chooseHost(db, vm);
    db.set('VM', vm, 'scheduled_to_be_resident_on', target);
    try {
      buildDomain(sim, vm, target, paused, { fresh: op === 'start' || op === 'start_on' });
    } finally {
      if (db.exists('VM', vm)) db.set('VM', vm, 'scheduled_to_be_resident_on', NULL_REF);
    }
    if (op === 'resume' || op === 'resume_on') await dropSuspendImage(sim, vm);
    await delay(db.getField('VM', vm, 'start_delay'), call.signal);
    return target;
  }).then((target) => {
    const resumed = op === 'resume' || op === 'resume_on';
    vmMessage(sim, vm, resumed ? 'VM_RESUMED' : 'VM_STARTED', resumed ? 'resumed' : 'started', target);
  });
}

async function dropSuspendImage(sim: SimContext, vm: Ref): Promise<void> {
  const vdi = sim.db.getField('VM', vm, 'suspend_VDI');
  if (vdi === NULL_REF) return;
  // XAPI logs and ignores a failure to destroy the image, then forgets it either way.
  if (sim.db.exists('VDI', vdi)) await destroyVdi(sim, vdi).catch(() => undefined);
  sim.db.set('VM', vm, 'suspend_VDI', NULL_REF);
}

export async function shutDown(call: CallContext, vm: Ref, op: 'clean_shutdown' | 'hard_shutdown' | 'shutdown'): Promise<void> {
  const { sim } = call;
  const db = sim.db;
  await withVmOperation(db, vm, op, opKey(call), async () => {
    db.set('VM', vm, 'ha_always_run', false);
    if (db.getField('VM', vm, 'power_state') === 'Suspended') {
      // hard_shutdown (and shutdown) of a suspended VM destroys its suspend image.
      await dropSuspendImage(sim, vm);
      domainGone(sim, vm, 'Halted');
      updateAllowedOperations(db, vm);
      return;
    }
    domainGone(sim, vm, 'Halted');
    await delay(db.getField('VM', vm, 'shutdown_delay'), call.signal);
  });
  vmMessage(sim, vm, 'VM_SHUTDOWN', op === 'hard_shutdown' ? 'shutdown forcibly' : 'shutdown');
}

/**
 * VM.clean_reboot / VM.hard_reboot (message_forwarding.ml, xapi_vm.ml, xapi_xenops.ml
 * `reboot`): checked and marked like any VM operation (clean_reboot from Running only,
 * needing the guest's co-operation; hard_reboot from Running or Paused), the VM's VIFs
 * marked `attach` while the domain is rebuilt on the same host (no memory check: the
 * settings cannot change across a reboot), then VM_REBOOTED.
 */
async function reboot(call: CallContext, vm: Ref, op: 'clean_reboot' | 'hard_reboot'): Promise<void> {
  const { sim } = call;
  const db = sim.db;
  const key = opKey(call);
  await withVmOperation(db, vm, op, key, () => withVifsOfVmMarked(db, vm, 'attach', key, async () => restartDomain(sim, vm)));
  vmMessage(sim, vm, 'VM_REBOOTED', op === 'clean_reboot' ? 'rebooted cleanly' : 'rebooted forcibly');
}

/** Where a suspend image goes: VM.suspend_SR, else the pool's, else the host's (xapi_xenops.ml). */
function suspendSr(sim: SimContext, vm: Ref): Ref {
  const db = sim.db;
  const candidates = [
    db.getField('VM', vm, 'suspend_SR'),
    db.getField('pool', db.refs('pool')[0] as Ref, 'suspend_image_SR'),
    db.getField('host', db.getField('VM', vm, 'resident_on'), 'suspend_image_sr'),
  ];
  const sr = candidates.find((s) => db.exists('SR', s));
  if (sr === undefined) throw new ApiFailure('VM_NO_SUSPEND_SR', [vm]);
  return sr;
}

async function suspend(call: CallContext, vm: Ref): Promise<void> {
  const { sim } = call;
  const db = sim.db;
  await withVmOperation(db, vm, 'suspend', opKey(call), async () => {
    const rec = db.get('VM', vm);
    const sr = suspendSr(sim, vm);
    const vdi = await createVdi(sim, {
      name_label: 'Suspend image',
      name_description: `Suspend image for VM ${rec.uuid}`,
      SR: sr,
      virtual_size: BigInt(rec.memory_static_max + 4 * 1024 * 1024),
      type: 'suspend',
      sharable: false,
      read_only: false,
      other_config: {},
    });
    db.set('VM', vm, 'ha_always_run', false);
    db.set('VM', vm, 'suspend_VDI', vdi);
    domainGone(sim, vm, 'Suspended');
  });
  vmMessage(sim, vm, 'VM_SUSPENDED', 'suspended');
}

const OPERATION_NAMES: readonly string[] = VM_OPERATIONS;

export function registerVmLifecycleMethods(reg: MethodRegistry, profile: SimProfile): void {
  const vmParam = { name: 'vm', type: 'ref' as const };
  const selfParam = { name: 'self', type: 'ref' as const };
  const hostParam = { name: 'host', type: 'ref' as const };
  const paused = { name: 'start_paused', type: 'bool' as const };
  const force = { name: 'force', type: 'bool' as const };
  const done = (): string => '';
  /** Resolves a VM ref first, so a dangling one is HANDLE_INVALID [VM, ref] as in XAPI. */
  const theVm = (sim: SimContext, ref: string): Ref => {
    sim.db.get('VM', ref);
    return ref;
  };
  const theHost = (sim: SimContext, ref: string): Ref => {
    sim.db.get('host', ref);
    return ref;
  };

  // start and resume pick a host; the _on forms take one (and check it, memory included).
  for (const op of ['start', 'start_on', 'resume', 'resume_on'] as const) {
    const on = op.endsWith('_on');
    reg.add({
      name: `VM.${op}`,
      params: on ? [vmParam, hostParam, paused, force] : [vmParam, paused, force],
      async: true,
      impl: async (call, a) => {
        const host = on ? theHost(call.sim, a.host as string) : undefined;
        await boot(call, theVm(call.sim, a.vm as string), op, host, a.start_paused as boolean);
        return done();
      },
    });
  }
  // VM.shutdown (clean, falling back to hard) came with API 2.0.
  for (const op of apiAtLeast(profile, 2, 0) ? (['clean_shutdown', 'hard_shutdown', 'shutdown'] as const) : (['clean_shutdown', 'hard_shutdown'] as const)) {
    reg.add({
      name: `VM.${op}`,
      params: [vmParam],
      async: true,
      impl: async (call, a) => {
        await shutDown(call, theVm(call.sim, a.vm as string), op);
        return done();
      },
    });
  }
  for (const op of ['clean_reboot', 'hard_reboot'] as const) {
    reg.add({
      name: `VM.${op}`,
      params: [vmParam],
      async: true,
      impl: async (call, a) => {
        await reboot(call, theVm(call.sim, a.vm as string), op);
        return done();
      },
    });
  }
  for (const op of ['pause', 'unpause'] as const) {
    reg.add({
      name: `VM.${op}`,
      params: [vmParam],
      async: true,
      impl: async (call, a) => {
        const vm = theVm(call.sim, a.vm as string);
        await withVmOperation(call.sim.db, vm, op, opKey(call), async () => setPaused(call.sim, vm, op === 'pause'));
        vmMessage(call.sim, vm, op === 'pause' ? 'VM_PAUSED' : 'VM_UNPAUSED', op === 'pause' ? 'paused' : 'unpaused');
        return done();
      },
    });
  }
  reg.add({
    name: 'VM.suspend',
    params: [vmParam],
    async: true,
    impl: async (call, a) => {
      await suspend(call, theVm(call.sim, a.vm as string));
      return done();
    },
  });
  reg.add({
    name: 'VM.assert_can_boot_here',
    params: [selfParam, hostParam],
    async: true,
    impl: ({ sim }, a) => {
      const vm = theVm(sim, a.self as string);
      const host = theHost(sim, a.host as string);
      if (sim.db.getField('VM', vm, 'power_state') === 'Halted') assertFeature(sim.db, 'VM_start');
      assertCanBootHere(sim.db, vm, host);
      return done();
    },
  });
  reg.add({
    name: 'VM.assert_operation_valid',
    params: [selfParam, { name: 'op', type: 'string' }],
    async: true,
    impl: ({ sim }, a) => {
      const op = a.op as string;
      if (!OPERATION_NAMES.includes(op)) throw new ApiFailure('ENUM_VALUE_INVALID', ['enum vm_operations', op]);
      assertOperationValid(sim.db, theVm(sim, a.self as string), op as VmOperation, false);
      return done();
    },
  });
  reg.add({
    name: 'VM.update_allowed_operations',
    params: [selfParam],
    async: true,
    impl: ({ sim }, a) => {
      updateAllowedOperations(sim.db, theVm(sim, a.self as string));
      return done();
    },
  });
  reg.add({
    name: 'VM.get_possible_hosts',
    params: [vmParam],
    async: true,
    impl: ({ sim }, a) => {
      const vm = theVm(sim, a.vm as string);
      return sim.db.refs('host').filter((h) => {
        try {
          assertCanBootHere(sim.db, vm, h);
          return true;
        } catch (err) {
          if (err instanceof ApiFailure) return false;
          throw err;
        }
      });
    },
  });
  // start/shutdown sequencing (VM fields since 1.9, set by their own messages).
  for (const field of apiAtLeast(profile, 1, 9) ? (['order', 'start_delay', 'shutdown_delay'] as const) : []) {
    reg.add({
      name: `VM.set_${field}`,
      params: [selfParam, { name: 'value', type: 'int' }],
      async: true,
      impl: ({ sim }, a) => {
        const value = a.value as number;
        // xapi_vm.ml: INVALID_VALUE ["<field> must be non-negative", value].
        if (value < 0) throw new ApiFailure('INVALID_VALUE', [`${field} must be non-negative`, String(value)]);
        sim.db.set('VM', theVm(sim, a.self as string), field, value);
        return done();
      },
    });
  }
}
