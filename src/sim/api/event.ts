/**
 * The event API as XAPI has it (xen-api ocaml/xapi/xapi_event.ml, result shapes in
 * ocaml/xapi-types/event_types.ml):
 *
 * - event.from(classes, token, timeout): a change log fed by the database. The token is two
 *   zero-padded 20-digit counters joined by a comma, "<db generation>,<message generation>"
 *   (so tokens compare as strings); "" starts from the beginning (every current object as an
 *   "add"). Within the range an object created is an "add", one only changed a "mod", one
 *   deleted a "del" (not reported when it was also created in the range); its snapshot is
 *   its current record. `valid_ref_counts` counts every table's rows, as 32-bit ints.
 * - event.inject(class, ref): touches the object (a "mod" for it) and answers the token just
 *   before that change, so a client's event.from from it sees the object.
 * - event.register / unregister / next / get_current_id: the older per-session queue.
 *   A queued event has a counter id and the record at the time of the change (the old one
 *   for a "del"); next blocks until an event matches, raising SESSION_NOT_REGISTERED
 *   ["trackid=<md5 of the session ref>"] for a session that never registered, EVENTS_LOST
 *   when the queue dropped events the session had not read, SESSION_INVALID when the session
 *   ends while waiting.
 * `classes` hold class names (any case), "*", or "<class>/<ref>".
 */
import { createHash } from 'node:crypto';
import { ApiFailure } from '../api-error.js';
import { newStruct, XmlRpcInt32, type XmlRpcStruct, type XmlRpcValue } from '../codec.js';
import type { DbChange, SimDb } from '../db.js';
import type { SimProfile } from '../profiles.js';
import { DropConnection, type MethodRegistry } from '../rpc-dispatch.js';
import { CLASS_NAMES, type AnyRecord, type ClassName } from '../schema.js';
import { classVisible, publicRecord } from './generic.js';

const KEEP = 20_000;
/** Longest event.from wait honoured (the xe CLI uses 30 s, Xen Orchestra 60.1 s). */
const MAX_WAIT_MS = 120_000;
/** Events kept for event.next; older ones are dropped and reported as EVENTS_LOST. */
const NEXT_QUEUE_MAX = 10_000;

interface Filter {
  all: boolean;
  /** Classes the profile's release has: "*" means those only. */
  visible: (cls: ClassName) => boolean;
  classes: Set<string>;
  objects: Set<string>;
}

function parseClasses(classes: readonly string[], profile: SimProfile): Filter {
  const f: Filter = { all: false, visible: (cls) => classVisible(profile, cls), classes: new Set(), objects: new Set() };
  for (const c of classes) {
    if (c === '*') {
      f.all = true;
      continue;
    }
    const slash = c.indexOf('/');
    if (slash < 0) f.classes.add(c.toLowerCase());
    else f.objects.add(`${c.slice(0, slash).toLowerCase()}/${c.slice(slash + 1)}`);
  }
  return f;
}

function matches(f: Filter, cls: ClassName, ref: string): boolean {
  const lc = cls.toLowerCase();
  return (f.all && cls !== 'session' && f.visible(cls)) || f.classes.has(lc) || f.objects.has(`${lc}/${ref}`);
}

/** XAPI's token form (Token.to_string in xapi_event.ml). */
export function eventToken(generation: number, messageGeneration = 0): string {
  return `${String(generation).padStart(20, '0')},${String(messageGeneration).padStart(20, '0')}`;
}

/** [generation, message generation]; "" is the beginning. */
function parseToken(token: string): [number, number] {
  if (token === '') return [0, 0];
  const parts = token.split(',');
  if (parts.length === 2 && parts.every((p) => /^[+-]?\d{1,20}$/.test(p))) {
    const [a, b] = parts.map(Number) as [number, number];
    if (Number.isSafeInteger(a) && Number.isSafeInteger(b)) return [a, b];
  }
  throw new ApiFailure('EVENT_FROM_TOKEN_PARSE_FAILURE', [token]);
}

interface QueuedEvent {
  id: number;
  cls: ClassName;
  ref: string;
  operation: DbChange['operation'];
  timestamp: string;
  snapshot: XmlRpcValue | undefined;
}

interface Registration {
  lastId: number;
  subs: string[];
  invalid: boolean;
}

export class EventLog {
  private log: DbChange[] = [];
  private waiters = new Set<() => void>();
  private readonly unsubscribe: () => void;
  private closed = false;

  // event.next: one queue for every registered session
  private queue: QueuedEvent[] = [];
  private nextId = 0;
  private highestForgotten = -1;
  private readonly registrations = new Map<string, Registration>();

  constructor(
    private readonly db: SimDb,
    private readonly profile: SimProfile,
  ) {
    this.unsubscribe = db.onChange((c) => {
      this.log.push(c);
      if (this.log.length > KEEP * 1.25) this.log = this.log.slice(-KEEP);
      if (c.cls === 'session' && c.operation === 'del') {
        const reg = this.registrations.get(c.ref);
        if (reg) {
          reg.invalid = true;
          this.registrations.delete(c.ref);
        }
      }
      this.enqueue(c);
      for (const w of [...this.waiters]) w();
    });
  }

  /** Oldest generation still answerable. */
  private get floor(): number {
    const first = this.log[0];
    return first ? first.generation - 1 : this.db.generation;
  }

  since(gen: number, f: Filter): DbChange[] {
    if (gen < this.floor) throw new ApiFailure('EVENTS_LOST', []);
    return this.log.filter((c) => c.generation > gen && matches(f, c.cls, c.ref));
  }

  /** Resolves at the next change or after ms (or at close). */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Releases every waiter (server stop). */
  close(): void {
    this.closed = true;
    this.unsubscribe();
    for (const w of [...this.waiters]) w();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  // ---------------------------------------------------------------- event.next

  /** Queues a change when a registered session wants it (XAPI drops the others). */
  private enqueue(c: DbChange): void {
    if (this.registrations.size === 0) return;
    let wanted = false;
    for (const r of this.registrations.values()) if (matches(parseClasses(r.subs, this.profile), c.cls, c.ref)) wanted = true;
    if (!wanted) return;
    const rec = c.operation === 'del' ? c.before : (this.db.tryGet(c.cls, c.ref) as AnyRecord | undefined);
    this.queue.push({
      id: this.nextId,
      cls: c.cls,
      ref: c.ref,
      operation: c.operation,
      // OCaml's string_of_float of Unix.time (): whole seconds and a trailing dot
      timestamp: `${Math.floor(Date.now() / 1000)}.`,
      snapshot: rec === undefined ? undefined : publicRecord(this.profile, c.cls, rec),
    });
    this.nextId++;
    if (this.queue.length > NEXT_QUEUE_MAX) {
      const dropped = this.queue.splice(0, this.queue.length - NEXT_QUEUE_MAX);
      this.highestForgotten = (dropped[dropped.length - 1] as QueuedEvent).id;
    }
  }

  /** The id the next queued event gets (event.get_current_id). */
  get currentId(): number {
    return this.nextId;
  }

  /** XAPI creates the registration on first use, starting at the current id. */
  private registration(session: string): Registration {
    let r = this.registrations.get(session);
    if (!r) {
      r = { lastId: this.nextId, subs: [], invalid: false };
      this.registrations.set(session, r);
    }
    return r;
  }

  register(session: string, classes: readonly string[]): void {
    const r = this.registration(session);
    r.subs = [...classes, ...r.subs];
  }

  unregister(session: string, classes: readonly string[]): void {
    const r = this.registration(session);
    r.subs = r.subs.filter((s) => !classes.includes(s));
  }

  /** Blocks until an event matches the session's registration. */
  async next(session: string, signal: AbortSignal): Promise<QueuedEvent[]> {
    const r = this.registrations.get(session);
    if (!r) throw new ApiFailure('SESSION_NOT_REGISTERED', [`trackid=${createHash('md5').update(session).digest('hex')}`]);
    for (;;) {
      while (r.lastId === this.nextId && !r.invalid) {
        if (this.closed || signal.aborted) throw new DropConnection();
        await this.wait(MAX_WAIT_MS, signal);
      }
      if (r.invalid) throw new ApiFailure('SESSION_INVALID', [session]);
      const from = r.lastId;
      const to = this.nextId;
      r.lastId = to;
      if (this.highestForgotten >= from) throw new ApiFailure('EVENTS_LOST', []);
      const f = parseClasses(r.subs, this.profile);
      const relevant = this.queue.filter((e) => e.id >= from && e.id < to && matches(f, e.cls, e.ref));
      if (relevant.length > 0) return relevant;
    }
  }
}

function eventStruct(id: string, timestamp: string, cls: ClassName, operation: string, ref: string, snapshot: XmlRpcValue | undefined): XmlRpcStruct {
  const s = newStruct();
  s.id = id;
  s.timestamp = timestamp;
  s.class = cls.toLowerCase();
  s.operation = operation;
  s.ref = ref;
  if (snapshot !== undefined) s.snapshot = snapshot;
  return s;
}

/** True when the profile's API version is at least major.minor. */
function apiAtLeast(profile: SimProfile, major: number, minor: number): boolean {
  return profile.apiMajor > major || (profile.apiMajor === major && profile.apiMinor >= minor);
}

export function registerEventMethods(reg: MethodRegistry, profile: SimProfile, log: EventLog): void {
  const classes = { name: 'classes', type: 'stringSet' as const };
  reg.add({
    name: 'event.register',
    params: [classes],
    async: true,
    impl: ({ session }, a) => {
      log.register(session, a.classes as string[]);
      return '';
    },
  });
  reg.add({
    name: 'event.unregister',
    params: [classes],
    async: true,
    impl: ({ session }, a) => {
      log.unregister(session, a.classes as string[]);
      return '';
    },
  });
  reg.add({
    name: 'event.next',
    params: [],
    impl: async ({ session, signal }) =>
      (await log.next(session, signal)).map((e) => eventStruct(String(e.id), e.timestamp, e.cls, e.operation, e.ref, e.snapshot)),
  });
  reg.add({ name: 'event.get_current_id', params: [], impl: () => BigInt(log.currentId) });

  // event.from came with XenServer 6.0 (API 1.9), event.inject with 6.1 (API 1.10).
  if (apiAtLeast(profile, 1, 9)) {
    reg.add({
      name: 'event.from',
      params: [classes, { name: 'token', type: 'string' }, { name: 'timeout', type: 'float' }],
      impl: async ({ sim, signal }, a) => eventFrom(sim.db, profile, log, a.classes as string[], a.token as string, a.timeout as number, signal),
    });
  }
  if (apiAtLeast(profile, 1, 10)) {
    reg.add({
      name: 'event.inject',
      params: [
        { name: 'class', type: 'string' },
        { name: 'ref', type: 'string' },
      ],
      impl: ({ sim }, a) => {
        const cls = a.class as string;
        const ref = a.ref as string;
        // XAPI compares the table name exactly ("VM", "pool"), HANDLE_INVALID [class, ref].
        if (sim.db.classOf(ref) !== cls) throw new ApiFailure('HANDLE_INVALID', [cls, ref]);
        const before = sim.db.generation;
        sim.db.update(cls as ClassName, ref, {});
        return eventToken(before);
      },
    });
  }
}

async function eventFrom(
  db: SimDb,
  profile: SimProfile,
  log: EventLog,
  classes: string[],
  token: string,
  timeoutSeconds: number,
  signal: AbortSignal,
): Promise<XmlRpcStruct> {
  const f = parseClasses(classes, profile);
  const [gen] = parseToken(token);
  const events: XmlRpcValue[] = [];
  if (gen === 0) {
    for (const cls of CLASS_NAMES) {
      if (!matches(f, cls, '')) continue;
      for (const [ref, rec] of db.allRecords(cls)) {
        events.push(eventStruct(String(db.generation), '0.0', cls, 'add', ref, publicRecord(profile, cls, rec as AnyRecord)));
      }
    }
    for (const o of f.objects) {
      const slash = o.indexOf('/');
      const ref = o.slice(slash + 1);
      const cls = db.classOf(ref);
      if (cls === undefined || f.classes.has(cls.toLowerCase()) || f.all || cls.toLowerCase() !== o.slice(0, slash)) continue;
      events.push(eventStruct(String(db.generation), '0.0', cls, 'add', ref, publicRecord(profile, cls, db.get(cls, ref) as AnyRecord)));
    }
  } else {
    const deadline = Date.now() + Math.min(MAX_WAIT_MS, Math.max(0, timeoutSeconds * 1000));
    let found = log.since(gen, f);
    while (found.length === 0 && Date.now() < deadline && !signal.aborted && !log.isClosed) {
      await log.wait(deadline - Date.now(), signal);
      found = log.since(gen, f);
    }
    // One event per object, with XAPI's rules for what the range did to it.
    const per = new Map<string, { cls: ClassName; created: boolean; last: number }>();
    for (const c of found) {
      const e = per.get(c.ref) ?? { cls: c.cls, created: false, last: c.generation };
      if (c.operation === 'add') e.created = true;
      e.last = c.generation;
      per.set(c.ref, e);
    }
    for (const [ref, e] of per) {
      const rec = db.tryGet(e.cls, ref) as AnyRecord | undefined;
      if (rec === undefined) {
        if (!e.created) events.push(eventStruct(String(e.last), '0.0', e.cls, 'del', ref, undefined));
        continue;
      }
      events.push(eventStruct(String(e.last), '0.0', e.cls, e.created ? 'add' : 'mod', ref, publicRecord(profile, e.cls, rec)));
    }
  }
  const counts = newStruct();
  for (const cls of CLASS_NAMES) if (classVisible(profile, cls)) counts[cls.toLowerCase()] = new XmlRpcInt32(db.count(cls));
  const out = newStruct();
  out.events = events;
  out.valid_ref_counts = counts;
  out.token = eventToken(db.generation);
  return out;
}
