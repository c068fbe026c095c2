/**
 * event.from (result shape: xen-api ocaml/xapi-types/event_types.ml): a change log fed by
 * the database, tokens = database generation.
 * `classes` holds class names (any case), "*", or "<class>/<ref>"; token "" returns every
 * current object as an "add"; otherwise the call waits up to `timeout` seconds for a
 * change newer than the token. A token older than the kept log → EVENTS_LOST.
 */
import { ApiFailure } from '../api-error.js';
import { newStruct, type XmlRpcStruct, type XmlRpcValue } from '../codec.js';
import type { DbChange, SimDb } from '../db.js';
import type { SimProfile } from '../profiles.js';
import type { MethodRegistry } from '../rpc-dispatch.js';
import { CLASS_NAMES, type AnyRecord, type ClassName } from '../schema.js';
import { publicRecord } from './generic.js';

const KEEP = 20_000;
/** Longest wait honoured (the xe CLI uses 30 s). */
const MAX_WAIT_MS = 60_000;

interface Filter {
  classes: Set<ClassName>;
  objects: Set<string>;
}

export class EventLog {
  private log: DbChange[] = [];
  private waiters = new Set<() => void>();
  private readonly unsubscribe: () => void;

  constructor(private readonly db: SimDb) {
    this.unsubscribe = db.onChange((c) => {
      this.log.push(c);
      if (this.log.length > KEEP * 1.25) this.log = this.log.slice(-KEEP);
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
    return this.log.filter((c) => c.generation > gen && (f.classes.has(c.cls) || f.objects.has(`${c.cls.toLowerCase()}/${c.ref}`)));
  }

  /** Resolves at the next change or after ms (or at close). */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Releases every waiter (server stop). */
  close(): void {
    this.unsubscribe();
    for (const w of [...this.waiters]) w();
  }
}

function parseClasses(classes: string[]): Filter {
  const f: Filter = { classes: new Set(), objects: new Set() };
  for (const c of classes) {
    if (c === '*') {
      for (const n of CLASS_NAMES) if (n !== 'session') f.classes.add(n);
      continue;
    }
    const [name, ref] = c.split('/', 2) as [string, string | undefined];
    const cls = CLASS_NAMES.find((n) => n.toLowerCase() === name.toLowerCase());
    if (!cls) continue;
    if (ref !== undefined) f.objects.add(`${cls.toLowerCase()}/${ref}`);
    else f.classes.add(cls);
  }
  return f;
}

/** One event; the snapshot is the object's current record (absent once deleted). */
function eventStruct(profile: SimProfile, c: { generation: number; cls: ClassName; operation: string; ref: string; snapshot: AnyRecord | undefined }): XmlRpcStruct {
  const s = newStruct();
  s.id = String(c.generation);
  s.timestamp = (Date.now() / 1000).toFixed(6);
  s.class = c.cls.toLowerCase();
  s.operation = c.snapshot === undefined ? 'del' : c.operation;
  s.ref = c.ref;
  if (c.snapshot !== undefined) s.snapshot = publicRecord(profile, c.cls, c.snapshot);
  return s;
}

export function registerEventMethods(reg: MethodRegistry, profile: SimProfile, log: EventLog): void {
  reg.add({
    name: 'event.from',
    params: [
      { name: 'classes', type: 'stringSet' },
      { name: 'token', type: 'string' },
      { name: 'timeout', type: 'float' },
    ],
    impl: async ({ sim, signal }, a) => {
      const f = parseClasses(a.classes as string[]);
      const token = a.token as string;
      const events: XmlRpcValue[] = [];
      if (token === '') {
        for (const cls of f.classes) {
          for (const [ref, rec] of sim.db.allRecords(cls)) {
            events.push(eventStruct(profile, { generation: sim.db.generation, cls, operation: 'add', ref, snapshot: rec as AnyRecord }));
          }
        }
      } else {
        if (!/^\d+$/.test(token)) throw new ApiFailure('EVENT_FROM_TOKEN_PARSE_FAILURE', [token]);
        const gen = Number(token);
        const deadline = Date.now() + Math.min(MAX_WAIT_MS, Math.max(0, (a.timeout as number) * 1000));
        let found = log.since(gen, f);
        while (found.length === 0 && Date.now() < deadline && !signal.aborted) {
          await log.wait(deadline - Date.now(), signal);
          found = log.since(gen, f);
        }
        // Coalesce to the latest state per object, as XAPI reports the current snapshot.
        const latest = new Map<string, DbChange>();
        for (const c of found) latest.set(c.ref, c);
        for (const c of latest.values()) {
          events.push(eventStruct(profile, { ...c, snapshot: sim.db.tryGet(c.cls, c.ref) as AnyRecord | undefined }));
        }
      }
      const counts = newStruct();
      for (const cls of f.classes) counts[cls.toLowerCase()] = BigInt(sim.db.count(cls));
      const out = newStruct();
      out.events = events;
      out.valid_ref_counts = counts;
      out.token = String(sim.db.generation);
      return out;
    },
  });
}
