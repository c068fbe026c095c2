/**
 * Pool messages (alerts) as XAPI keeps them (xen-api ocaml/xapi/xapi_message.ml): each one
 * is stamped with the master's clock to the microsecond, and its file is named after that
 * time ("%0.5f" seconds, bumped by 10 µs on a clash). The record's `timestamp` is that time
 * cut to the second (the XML file, which records are read from, holds whole seconds), but
 * message.get_since compares the file name, so it still sees sub-second order.
 *
 * The simulator keeps the precise times beside the database (not persisted): a message read
 * back from db.json after a restart, or made with SimDb.create directly, counts as made at
 * the start of its second.
 */
import { ApiFailure } from './api-error.js';
import { XmlRpcDateTime } from './codec.js';
import type { SimContext } from './context.js';
import type { Ref, SimDb } from './db.js';
import type { ClassName, RecordOf } from './schema.js';

export type MessageClass = RecordOf<'message'>['cls'];

/** Message classes and the simulator class whose uuids they name (none: never valid here). */
const CLS_TABLE: Record<MessageClass, ClassName | undefined> = {
  VM: 'VM',
  Host: 'host',
  SR: 'SR',
  Pool: 'pool',
  VDI: 'VDI',
  VMPP: undefined,
  VMSS: undefined,
  PVS_proxy: undefined,
  Certificate: undefined,
};

interface Times {
  byRef: Map<Ref, number>;
  names: Set<string>;
}
const preciseTimes = new WeakMap<SimDb, Times>();

function timesOf(db: SimDb): Times {
  let t = preciseTimes.get(db);
  if (!t) {
    t = { byRef: new Map(), names: new Set() };
    preciseTimes.set(db, t);
  }
  return t;
}

/** Seconds since the epoch of a stored timestamp ("20240716T10:11:12Z"). */
export function stampSeconds(stamp: string): number {
  return new XmlRpcDateTime(stamp).toDate().getTime() / 1000;
}

/** When a message was made, as precisely as the simulator knows. */
export function messageTime(db: SimDb, ref: Ref): number {
  return timesOf(db).byRef.get(ref) ?? stampSeconds(db.getField('message', ref, 'timestamp'));
}

/** True when the profile has the message class (XenServer 5.0 "orlando", API 1.3). */
export function hasMessages(sim: Pick<SimContext, 'profile'>): boolean {
  const p = sim.profile;
  return p.apiMajor > 1 || (p.apiMajor === 1 && p.apiMinor >= 3);
}

/** True when `uuid` names an object of the message class `cls` (xapi_message.ml `check_uuid`). */
export function messageObjectExists(db: SimDb, cls: MessageClass, uuid: string): boolean {
  const target = CLS_TABLE[cls];
  return target !== undefined && db.findRefByUuid(target, uuid) !== undefined;
}

export interface NewMessage {
  name: string;
  priority: number;
  cls: MessageClass;
  obj_uuid: string;
  body: string;
}

/**
 * Makes a message as message.create does once its arguments are checked; returns its ref,
 * or undefined on a profile that has no messages.
 */
export function createMessage(sim: SimContext, m: NewMessage): Ref | undefined {
  if (!hasMessages(sim)) return undefined;
  const times = timesOf(sim.db);
  let t = sim.clock.now().getTime() / 1000;
  while (times.names.has(t.toFixed(5))) t += 0.00001;
  const ref = sim.db.create('message', { ...m, timestamp: XmlRpcDateTime.fromDate(new Date(Math.floor(t) * 1000)).text });
  times.byRef.set(ref, t);
  times.names.add(t.toFixed(5));
  return ref;
}

export function destroyMessage(db: SimDb, ref: Ref): void {
  if (db.classOf(ref) !== 'message') throw new ApiFailure('HANDLE_INVALID', ['message', ref]);
  const times = timesOf(db);
  const t = times.byRef.get(ref);
  if (t !== undefined) times.names.delete(t.toFixed(5));
  times.byRef.delete(ref);
  db.destroy('message', ref);
}

/** Messages newest first, as XAPI lists its message folder. */
export function messagesNewestFirst(db: SimDb, pred: (ref: Ref, rec: RecordOf<'message'>) => boolean): Array<{ ref: Ref; rec: RecordOf<'message'> }> {
  return db.where('message', (rec, ref) => pred(ref, rec)).reverse();
}
