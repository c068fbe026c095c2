/**
 * task.* (xen-api ocaml/xapi/xapi_task.ml): create (label, description), cancel, destroy,
 * and the setters a client uses for tasks it created to follow HTTP transfers.
 */
import type { XmlRpcValue } from '../codec.js';
import { masterHost } from '../context.js';
import type { MethodRegistry } from '../rpc-dispatch.js';
import { TASK_STATUSES } from '../schema.js';
import { valueToField } from '../record-wire.js';
import { nowStamp } from '../tasks.js';

export function registerTaskMethods(reg: MethodRegistry): void {
  const self = { name: 'self', type: 'ref' as const };
  reg.add({
    name: 'task.create',
    params: [
      { name: 'label', type: 'string' },
      { name: 'description', type: 'string' },
    ],
    impl: ({ sim }, a) => sim.tasks.create(a.label as string, { description: a.description as string, residentOn: masterHost(sim.db) }),
  });
  reg.add({
    name: 'task.cancel',
    params: [{ name: 'task', type: 'ref' }],
    async: true,
    impl: ({ sim }, a) => {
      sim.tasks.cancel(a.task as string);
      return '';
    },
  });
  reg.add({
    name: 'task.destroy',
    params: [self],
    impl: ({ sim }, a) => {
      sim.tasks.destroy(a.self as string);
      return '';
    },
  });
  reg.add({
    name: 'task.set_progress',
    params: [self, { name: 'value', type: 'float' }],
    impl: ({ sim }, a) => {
      sim.db.get('task', a.self as string);
      sim.db.set('task', a.self as string, 'progress', a.value as number);
      return '';
    },
  });
  reg.add({
    name: 'task.set_status',
    params: [self, { name: 'value', type: 'string' }],
    impl: ({ sim }, a) => {
      const status = valueToField({ kind: 'enum', values: TASK_STATUSES }, a.value as XmlRpcValue, 'value') as (typeof TASK_STATUSES)[number];
      const ref = a.self as string;
      sim.db.get('task', ref);
      if (status !== 'pending') sim.db.update('task', ref, { finished: nowStamp(), allowed_operations: [] });
      sim.db.set('task', ref, 'status', status);
      return '';
    },
  });
  reg.add({
    name: 'task.set_result',
    params: [self, { name: 'value', type: 'string' }],
    impl: ({ sim }, a) => {
      sim.db.set('task', a.self as string, 'result', a.value as string);
      return '';
    },
  });
  reg.add({
    name: 'task.set_error_info',
    params: [self, { name: 'value', type: 'stringSet' }],
    impl: ({ sim }, a) => {
      sim.db.set('task', a.self as string, 'error_info', a.value as string[]);
      return '';
    },
  });
}
