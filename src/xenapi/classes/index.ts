/**
 * Typed XenAPI calls per class: `VDI.getByUuid(session, uuid)`, `VBD.create(session, {…})`,
 * `Pool.get(session)`. Each function makes one XenAPI call (VBD.plug: one task), takes the
 * call's options last (signal, deadline) and checks the answer's type; records carry only
 * the fields this program reads (fields.ts). The domain calls XAPI through these, never with
 * a method string (test/unit/xapi-calls.test.ts).
 */
export * as Pool from './pool.js';
export * as Host from './host.js';
export * as SR from './sr.js';
export * as PBD from './pbd.js';
export * as VDI from './vdi.js';
export * as VBD from './vbd.js';
export * as VM from './vm.js';
export * as Network from './network.js';
export * as VMAppliance from './vm-appliance.js';
export * as VIF from './vif.js';
export type { PoolRecord } from './pool.js';
export type { HostRecord } from './host.js';
export type { SrRecord } from './sr.js';
export type { PbdRecord } from './pbd.js';
export type { VdiRecord, VdiCreate } from './vdi.js';
export type { VbdRecord, VbdCreate } from './vbd.js';
export type { VmRecord } from './vm.js';
export type { NetworkRecord } from './network.js';
export type { VmApplianceRecord, VmSequencingRecord } from './vm-appliance.js';
export type { VifRecord, VifCreate } from './vif.js';
export type { FieldType, RecordOf } from './fields.js';
