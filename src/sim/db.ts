/**
 * The simulator's object database: one table per class of {@link SCHEMA}, keyed by ref
 * ("OpaqueRef:<uuid v4>"), with a uuid index, derived one-to-many relations, a change
 * counter and change listeners (for event.from and for persistence), and JSON persistence
 * to `<stateDir>/db.json`.
 *
 * Rules a caller can rely on:
 *  - Records handed out are copies; change objects only through create/set/update/destroy,
 *    so relations and the persisted file stay right.
 *  - Values are checked against the schema (types, enum spelling, safe integers); a bad
 *    value throws ApiFailure FIELD_TYPE_ERROR [field]. Unknown fields throw too.
 *  - The set side of a relation (VM.VBDs, SR.VDIs, VDI.VBDs, host.PBDs, network.VIFs, …,
 *    see RELATIONS) is derived from the ref side: setting VBD.VM updates both VMs' VBDs.
 *    Giving a derived set to create()/update() is ignored (it is recomputed).
 *  - Unknown refs throw ApiFailure HANDLE_INVALID [class, ref]; unknown uuids in
 *    getByUuid/refByUuid throw UUID_INVALID [class, uuid] — exactly what XAPI sends.
 *  - Sessions and tasks are not persisted (XAPI forgets them on restart too).
 *
 * Persistence: every change schedules a debounced write (write to a temporary file, fsync,
 * rename over db.json); {@link SimDb.flush} writes at once. {@link SimDb.open} loads an
 * existing file, fills fields the file lacks with defaults, drops fields the schema no
 * longer has, and recomputes relations.
 */
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ApiFailure } from './api-error.js';
import {
  CLASS_NAMES,
  NULL_REF,
  copyFlat,
  RELATIONS,
  SCHEMA,
  TRANSIENT_CLASSES,
  defaultRecord,
  fieldSpec,
  isClassName,
  isRelationSet,
  type AnyRecord,
  type ClassName,
  type FieldOf,
  type FieldSpec,
  type RecordOf,
  type ScalarType,
} from './schema.js';
import { newRef, uuidV4 } from './uuid.js';

export type Ref = string;

/** One change, as event.from reports it. */
export interface DbChange {
  cls: ClassName;
  ref: Ref;
  operation: 'add' | 'mod' | 'del';
  /** Generation after this change (strictly increasing). */
  generation: number;
  /** For 'del': the record as it was (event.next sends it as the snapshot, as XAPI does). */
  before?: AnyRecord;
}

export interface SimDbOptions {
  /** File to persist to (normally `<stateDir>/db.json`); none = memory only. */
  file?: string;
  /** Delay between a change and the write it triggers (coalesces bursts). Default 50 ms. */
  debounceMs?: number;
}

const FILE_FORMAT = 'xsconsole-dr-sim-db';
const FILE_VERSION = 1;
/** A db.json larger than this is refused rather than parsed (defensive; real ones are MBs). */
const MAX_FILE_BYTES = 512 * 1024 * 1024;

interface Table {
  rows: Map<Ref, AnyRecord>;
  byUuid: Map<string, Ref>;
}

/** Copy of a stored record (field values are scalars or flat arrays/maps: two levels suffice). */
function cloneRecord(row: AnyRecord): AnyRecord {
  const out: AnyRecord = {};
  for (const k in row) out[k] = copyFlat(row[k]);
  return out;
}

function failType(field: string): never {
  throw new ApiFailure('FIELD_TYPE_ERROR', [field]);
}

/** Checks (and returns a normalised copy of) one scalar; enum spelling is canonicalised. */
function checkScalar(t: ScalarType, v: unknown, field: string): string | number | boolean {
  switch (t.kind) {
    case 'string':
    case 'datetime':
    case 'ref':
      if (typeof v !== 'string') failType(field);
      return v;
    case 'int':
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) failType(field);
      return v;
    case 'float':
      if (typeof v !== 'number') failType(field);
      return v;
    case 'bool':
      if (typeof v !== 'boolean') failType(field);
      return v;
    case 'enum': {
      if (typeof v !== 'string') failType(field);
      const canon = t.values.find((e) => e.toLowerCase() === v.toLowerCase());
      if (canon === undefined) throw new ApiFailure('INVALID_VALUE', [field, v]);
      return canon;
    }
  }
}

/** Checks a value against a field spec and returns a private copy to store. */
export function checkFieldValue(spec: FieldSpec, v: unknown, field: string): unknown {
  const t = spec.type;
  if (t.kind === 'set') {
    if (!Array.isArray(v)) failType(field);
    return v.map((e) => checkScalar(t.of, e, field));
  }
  if (t.kind === 'map') {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) failType(field);
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      checkScalar(t.key.kind === 'enum' ? t.key : { kind: 'string' }, k, field);
      const value = t.value;
      if (value.kind === 'set') {
        if (!Array.isArray(x)) failType(field);
        out[k] = x.map((e) => checkScalar(value.of, e, field));
      } else out[k] = checkScalar(value, x, field);
    }
    return out;
  }
  return checkScalar(t, v, field);
}

export class SimDb {
  private readonly tables = new Map<ClassName, Table>();
  private readonly classByRef = new Map<Ref, ClassName>();
  private readonly listeners = new Set<(c: DbChange) => void>();
  /** Per relation (RELATIONS index): target ref → members whose ref field names it. */
  private readonly reverse: Array<Map<string, string[]>> = RELATIONS.map(() => new Map());
  private gen = 0;
  private readonly file: string | undefined;
  private readonly debounceMs: number;
  private readonly classVersions = new Map<ClassName, number>();
  /** Database order (creation order) of every object, for sorting a few refs without a scan. */
  private readonly creation = new Map<Ref, number>();
  private nextCreation = 0;
  private readonly derivedCache = new Map<string, { cls: ClassName; version: number; value: unknown }>();
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private dirty = false;
  private closed = false;
  /** How long the last write of db.json took (ms): it spaces out the next one. */
  private lastWriteMs = 0;
  /** Small persisted key/value store for simulator internals (e.g. the root password hash). */
  private metaStore: Record<string, string> = {};

  constructor(opts: SimDbOptions = {}) {
    this.file = opts.file;
    this.debounceMs = opts.debounceMs ?? 50;
    for (const cls of CLASS_NAMES) this.tables.set(cls, { rows: new Map(), byUuid: new Map() });
  }

  /**
   * Opens the database persisted in `file`: loads it when it exists (returns isNew=false),
   * else starts empty (isNew=true; the caller bootstraps it).
   */
  static async open(file: string, opts: Omit<SimDbOptions, 'file'> = {}): Promise<{ db: SimDb; isNew: boolean }> {
    const db = new SimDb({ ...opts, file });
    let text: string;
    try {
      const fh = await open(file, 'r');
      try {
        const st = await fh.stat();
        if (st.size > MAX_FILE_BYTES) throw new Error(`${file} is larger than ${MAX_FILE_BYTES} bytes`);
        text = await fh.readFile('utf8');
      } finally {
        await fh.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { db, isNew: true };
      throw err;
    }
    db.loadJson(text, file);
    return { db, isNew: false };
  }

  // ------------------------------------------------------------------ reading

  /** Number of changes since the database was created or loaded (event tokens build on it). */
  get generation(): number {
    return this.gen;
  }

  /** Class of an existing ref, or undefined. */
  classOf(ref: Ref): ClassName | undefined {
    return this.classByRef.get(ref);
  }

  exists(cls: ClassName, ref: Ref): boolean {
    return this.table(cls).rows.has(ref);
  }

  /** A copy of the record; HANDLE_INVALID [cls, ref] when absent. */
  get<C extends ClassName>(cls: C, ref: Ref): RecordOf<C> {
    const row = this.table(cls).rows.get(ref);
    if (!row) throw new ApiFailure('HANDLE_INVALID', [cls, ref]);
    return cloneRecord(row) as RecordOf<C>;
  }

  /** A copy of the record, or undefined when absent. */
  tryGet<C extends ClassName>(cls: C, ref: Ref): RecordOf<C> | undefined {
    const row = this.table(cls).rows.get(ref);
    return row ? (cloneRecord(row) as RecordOf<C>) : undefined;
  }

  /** One field (a copy); HANDLE_INVALID when the object is absent. */
  getField<C extends ClassName, K extends FieldOf<C>>(cls: C, ref: Ref, field: K): RecordOf<C>[K] {
    const row = this.table(cls).rows.get(ref);
    if (!row) throw new ApiFailure('HANDLE_INVALID', [cls, ref]);
    if (!fieldSpec(cls, field)) throw new Error(`no field ${cls}.${field}`);
    return copyFlat(row[field]) as RecordOf<C>[K];
  }

  /** Ref of the object with this uuid; UUID_INVALID [cls, uuid] when there is none. */
  refByUuid(cls: ClassName, uuid: string): Ref {
    const ref = this.table(cls).byUuid.get(uuid);
    if (ref === undefined) throw new ApiFailure('UUID_INVALID', [cls, uuid]);
    return ref;
  }

  /**
   * A value derived from one class's records (not its derived relation sets), rebuilt
   * only after such a record changed
   * (lookup indexes that every request would otherwise rebuild: XAPI's database indexes
   * them; a scan per request made a 1000-VM restore quadratic).
   */
  derived<T>(key: string, cls: ClassName, build: () => T): T {
    const version = this.classVersions.get(cls) ?? 0;
    const hit = this.derivedCache.get(key);
    if (hit && hit.cls === cls && hit.version === version) return hit.value as T;
    const value = build();
    this.derivedCache.set(key, { cls, version, value });
    return value;
  }

  /** Ref of the object with this uuid, or undefined. */
  findRefByUuid(cls: ClassName, uuid: string): Ref | undefined {
    return this.table(cls).byUuid.get(uuid);
  }

  /** `refs` (of one class) sorted into database order, as refs(cls) would list them. */
  inDatabaseOrder(refs: Iterable<Ref>): Ref[] {
    return [...refs].sort((a, b) => (this.creation.get(a) ?? 0) - (this.creation.get(b) ?? 0));
  }

  /** All refs of a class, in creation order. */
  refs(cls: ClassName): Ref[] {
    return [...this.table(cls).rows.keys()];
  }

  /** Copies of every record of a class, ref → record, in creation order. */
  allRecords<C extends ClassName>(cls: C): Map<Ref, RecordOf<C>> {
    const out = new Map<Ref, RecordOf<C>>();
    for (const [ref, row] of this.table(cls).rows) out.set(ref, cloneRecord(row) as RecordOf<C>);
    return out;
  }

  /** Records for which `pred` holds (pred sees the stored record: do not mutate it). */
  where<C extends ClassName>(cls: C, pred: (rec: Readonly<RecordOf<C>>, ref: Ref) => boolean): Array<{ ref: Ref; rec: RecordOf<C> }> {
    const out: Array<{ ref: Ref; rec: RecordOf<C> }> = [];
    for (const [ref, row] of this.table(cls).rows) {
      if (pred(row as RecordOf<C>, ref)) out.push({ ref, rec: cloneRecord(row) as RecordOf<C> });
    }
    return out;
  }

  /**
   * Folds over the rows in place (nothing copied): for sums over many rows, such as the
   * memory of every VM on a host at each start, where copying each match made a start O(n).
   * `fn` must not keep or change the rows.
   */
  reduce<C extends ClassName, T>(cls: C, init: T, fn: (acc: T, rec: Readonly<RecordOf<C>>, ref: Ref) => T): T {
    let acc = init;
    for (const [ref, row] of this.table(cls).rows) acc = fn(acc, row as RecordOf<C>, ref);
    return acc;
  }

  /** First ref for which `pred` holds, or undefined. */
  findRef<C extends ClassName>(cls: C, pred: (rec: Readonly<RecordOf<C>>, ref: Ref) => boolean): Ref | undefined {
    for (const [ref, row] of this.table(cls).rows) if (pred(row as RecordOf<C>, ref)) return ref;
    return undefined;
  }

  count(cls: ClassName): number {
    return this.table(cls).rows.size;
  }

  // ------------------------------------------------------------------ writing

  /**
   * Creates an object. Missing fields get schema defaults; `uuid` defaults to a fresh v4
   * (a given uuid must be unused in the class); `opts.ref` forces the ref (tests, import).
   * Returns the new ref.
   */
  create<C extends ClassName>(cls: C, fields: Partial<RecordOf<C>> = {}, opts: { ref?: Ref } = {}): Ref {
    const table = this.table(cls);
    const rec = defaultRecord(cls) as AnyRecord;
    for (const [k, v] of Object.entries(fields as AnyRecord)) {
      if (v === undefined) continue;
      const spec = fieldSpec(cls, k);
      if (!spec) throw new Error(`${cls} has no field ${k}`);
      if (isRelationSet(cls, k)) continue;
      rec[k] = checkFieldValue(spec, v, k);
    }
    if (rec.uuid === '') rec.uuid = uuidV4();
    const uuid = rec.uuid as string;
    if (table.byUuid.has(uuid)) throw new ApiFailure('INTERNAL_ERROR', [`${cls} with uuid ${uuid} already exists`]);
    const ref = opts.ref ?? newRef();
    if (this.classByRef.has(ref)) throw new ApiFailure('INTERNAL_ERROR', [`ref ${ref} already exists`]);
    table.rows.set(ref, rec);
    table.byUuid.set(uuid, ref);
    this.classByRef.set(ref, cls);
    this.creation.set(ref, this.nextCreation++);
    // With a caller-chosen ref, objects created earlier may already point at it.
    if (opts.ref !== undefined) {
      RELATIONS.forEach((r, i) => {
        if (r.setClass === cls) rec[r.setField] = this.membersOf(i, ref);
      });
    }
    this.changed(cls, ref, 'add');
    RELATIONS.forEach((r, i) => {
      if (r.refClass === cls) this.relink(i, ref, undefined, rec[r.refField] as string);
    });
    return ref;
  }

  /** Sets one field (schema-checked). Setting a relation's ref side updates both set sides. */
  set<C extends ClassName, K extends FieldOf<C>>(cls: C, ref: Ref, field: K, value: RecordOf<C>[K]): void {
    this.update(cls, ref, { [field]: value } as unknown as Partial<RecordOf<C>>);
  }

  /** Sets several fields at once (one change event). */
  update<C extends ClassName>(cls: C, ref: Ref, fields: Partial<RecordOf<C>>): void {
    const row = this.table(cls).rows.get(ref);
    if (!row) throw new ApiFailure('HANDLE_INVALID', [cls, ref]);
    const checked: AnyRecord = {};
    for (const [k, v] of Object.entries(fields as AnyRecord)) {
      if (v === undefined) continue;
      const spec = fieldSpec(cls, k);
      if (!spec) throw new Error(`${cls} has no field ${k}`);
      if (isRelationSet(cls, k)) continue;
      checked[k] = checkFieldValue(spec, v, k);
    }
    if ('uuid' in checked && checked.uuid !== row.uuid) {
      const table = this.table(cls);
      const uuid = checked.uuid as string;
      if (table.byUuid.has(uuid)) throw new ApiFailure('INTERNAL_ERROR', [`${cls} with uuid ${uuid} already exists`]);
      table.byUuid.delete(row.uuid as string);
      table.byUuid.set(uuid, ref);
    }
    const old: AnyRecord = {};
    for (const [k, v] of Object.entries(checked)) {
      old[k] = row[k];
      row[k] = v;
    }
    this.changed(cls, ref, 'mod');
    RELATIONS.forEach((r, i) => {
      if (r.refClass === cls && r.refField in checked) this.relink(i, ref, old[r.refField] as string, checked[r.refField] as string);
    });
  }

  /** map field: add or replace one key. */
  mapAdd<C extends ClassName>(cls: C, ref: Ref, field: FieldOf<C>, key: string, value: string | number): void {
    const cur = this.getField(cls, ref, field) as unknown as Record<string, unknown>;
    if (typeof cur !== 'object' || Array.isArray(cur)) throw new Error(`${cls}.${field} is not a map`);
    cur[key] = value;
    this.update(cls, ref, { [field]: cur } as unknown as Partial<RecordOf<C>>);
  }

  /** map field: remove one key (absent key = no-op, as XAPI). */
  mapRemove<C extends ClassName>(cls: C, ref: Ref, field: FieldOf<C>, key: string): void {
    const cur = this.getField(cls, ref, field) as unknown as Record<string, unknown>;
    if (typeof cur !== 'object' || Array.isArray(cur)) throw new Error(`${cls}.${field} is not a map`);
    if (!(key in cur)) return;
    delete cur[key];
    this.update(cls, ref, { [field]: cur } as unknown as Partial<RecordOf<C>>);
  }

  /** set field: add a member unless present. */
  setAdd<C extends ClassName>(cls: C, ref: Ref, field: FieldOf<C>, member: string): void {
    const cur = this.getField(cls, ref, field) as unknown as string[];
    if (!Array.isArray(cur)) throw new Error(`${cls}.${field} is not a set`);
    if (cur.includes(member)) return;
    this.update(cls, ref, { [field]: [...cur, member] } as unknown as Partial<RecordOf<C>>);
  }

  /** set field: remove a member (absent = no-op). */
  setRemove<C extends ClassName>(cls: C, ref: Ref, field: FieldOf<C>, member: string): void {
    const cur = this.getField(cls, ref, field) as unknown as string[];
    if (!Array.isArray(cur)) throw new Error(`${cls}.${field} is not a set`);
    if (!cur.includes(member)) return;
    this.update(cls, ref, { [field]: cur.filter((m) => m !== member) } as unknown as Partial<RecordOf<C>>);
  }

  /**
   * Removes an object and drops it from the derived sets that listed it. Ref fields of
   * other objects that still point at it are left dangling, as in XAPI (its GC nulls them later).
   */
  destroy(cls: ClassName, ref: Ref): void {
    const table = this.table(cls);
    const row = table.rows.get(ref);
    if (!row) throw new ApiFailure('HANDLE_INVALID', [cls, ref]);
    table.rows.delete(ref);
    this.creation.delete(ref);
    table.byUuid.delete(row.uuid as string);
    this.classByRef.delete(ref);
    this.changed(cls, ref, 'del', false, row);
    RELATIONS.forEach((r, i) => {
      if (r.refClass === cls) this.relink(i, ref, row[r.refField] as string, undefined);
    });
  }

  // ------------------------------------------------------------------ meta, listeners, persistence

  /** Persisted simulator-internal value (not part of any XenAPI object). */
  getMeta(key: string): string | undefined {
    return Object.prototype.hasOwnProperty.call(this.metaStore, key) ? this.metaStore[key] : undefined;
  }

  setMeta(key: string, value: string): void {
    this.metaStore[key] = value;
    this.gen++;
    this.scheduleWrite();
  }

  /** Calls `cb` after every change; returns the unsubscribe function. */
  onChange(cb: (c: DbChange) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** Writes pending changes now (resolves when db.json is on disk). */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (!this.file) return;
    // Serialise writes: a flush waits for an in-flight write, then writes if still dirty.
    this.writing = this.writing.then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      await this.writeFile();
    });
    await this.writing;
  }

  /** Flushes and stops scheduling writes. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  /** The persisted form (also used by tests and debugging). */
  toJson(): string {
    const tables: Record<string, Record<Ref, AnyRecord>> = {};
    for (const cls of CLASS_NAMES) {
      if (TRANSIENT_CLASSES.includes(cls)) continue;
      tables[cls] = Object.fromEntries(this.table(cls).rows);
    }
    return JSON.stringify({ format: FILE_FORMAT, version: FILE_VERSION, meta: this.metaStore, tables });
  }

  // ------------------------------------------------------------------ internals

  private table(cls: ClassName): Table {
    const t = this.tables.get(cls);
    if (!t) throw new Error(`unknown class ${String(cls)}`);
    return t;
  }

  /** Members of relation i pointing at target, from the reverse index (a fresh array). */
  private membersOf(i: number, target: Ref): string[] {
    return [...(this.reverse[i]?.get(target) ?? [])];
  }

  /**
   * Relation i: `member` now points at `newTarget` instead of `oldTarget` (undefined = the
   * member is being created / destroyed). Keeps the reverse index and both derived sets.
   */
  private relink(i: number, member: Ref, oldTarget: string | undefined, newTarget: string | undefined): void {
    if (oldTarget === newTarget) return;
    const r = RELATIONS[i] as (typeof RELATIONS)[number];
    const index = this.reverse[i] as Map<string, string[]>;
    const rows = this.table(r.setClass).rows;
    if (oldTarget !== undefined) {
      const list = index.get(oldTarget);
      if (list) {
        const at = list.indexOf(member);
        if (at >= 0) list.splice(at, 1);
        if (list.length === 0) index.delete(oldTarget);
      }
      const from = rows.get(oldTarget);
      if (from) {
        from[r.setField] = (from[r.setField] as string[]).filter((m) => m !== member);
        this.changed(r.setClass, oldTarget, 'mod', true);
      }
    }
    if (newTarget !== undefined) {
      if (newTarget !== NULL_REF) {
        const list = index.get(newTarget);
        if (list) list.push(member);
        else index.set(newTarget, [member]);
      }
      const to = rows.get(newTarget);
      if (to) {
        // A member is only ever in the set of the object its ref field names, so no duplicate check.
        (to[r.setField] as string[]).push(member);
        this.changed(r.setClass, newTarget, 'mod', true);
      }
    }
  }

  /** `relationOnly`: only a derived set changed (not seen by derived() values). */
  private changed(cls: ClassName, ref: Ref, operation: DbChange['operation'], relationOnly = false, before?: AnyRecord): void {
    this.gen++;
    if (!relationOnly) this.classVersions.set(cls, (this.classVersions.get(cls) ?? 0) + 1);
    if (!TRANSIENT_CLASSES.includes(cls)) this.scheduleWrite();
    if (this.listeners.size === 0) return;
    // Listeners read the current record themselves if they need it (cheap for bulk changes).
    const change: DbChange = { cls, ref, operation, generation: this.gen, ...(before !== undefined && { before }) };
    for (const l of this.listeners) {
      try {
        l(change);
      } catch {
        // A listener's failure must not break the database operation that triggered it.
      }
    }
  }

  private scheduleWrite(): void {
    this.dirty = true;
    if (!this.file || this.closed || this.timer) return;
    // A big pool's db.json takes long to serialise; spacing writes at 10x that keeps
    // persistence under ~10 % of the simulator's CPU instead of most of it under load.
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush().catch((err: unknown) => {
        process.emitWarning(`simulator: cannot write ${this.file}: ${(err as Error).message}`);
      });
    }, Math.max(this.debounceMs, 10 * this.lastWriteMs));
    this.timer.unref();
  }

  private async writeFile(): Promise<void> {
    const file = this.file;
    if (!file) return;
    await mkdir(dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    const started = Date.now();
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(this.toJson(), 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, file);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    this.lastWriteMs = Date.now() - started;
  }

  private loadJson(text: string, source: string): void {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw new Error(`${source}: not valid JSON (${(err as Error).message})`);
    }
    const d = data as { format?: unknown; version?: unknown; meta?: unknown; tables?: unknown };
    if (typeof d !== 'object' || d === null || d.format !== FILE_FORMAT || d.version !== FILE_VERSION) {
      throw new Error(`${source}: not a simulator database (format ${FILE_FORMAT} v${FILE_VERSION})`);
    }
    if (typeof d.meta === 'object' && d.meta !== null) {
      for (const [k, v] of Object.entries(d.meta)) if (typeof v === 'string') this.metaStore[k] = v;
    }
    const tables = (typeof d.tables === 'object' && d.tables !== null ? d.tables : {}) as Record<string, unknown>;
    for (const [clsName, rows] of Object.entries(tables)) {
      if (!isClassName(clsName) || TRANSIENT_CLASSES.includes(clsName)) continue;
      if (typeof rows !== 'object' || rows === null) continue;
      const table = this.table(clsName);
      const specs = SCHEMA[clsName] as Record<string, FieldSpec>;
      for (const [ref, raw] of Object.entries(rows as Record<string, unknown>)) {
        if (typeof raw !== 'object' || raw === null) continue;
        const rec = defaultRecord(clsName) as AnyRecord;
        for (const [k, spec] of Object.entries(specs)) {
          const v = (raw as AnyRecord)[k];
          if (v === undefined) continue;
          try {
            rec[k] = checkFieldValue(spec, v, k);
          } catch {
            // A value the current schema rejects keeps the default rather than failing the load.
          }
        }
        if (typeof rec.uuid !== 'string' || rec.uuid === '' || table.byUuid.has(rec.uuid)) continue;
        if (this.classByRef.has(ref)) continue;
        table.rows.set(ref, rec);
        this.creation.set(ref, this.nextCreation++);
        table.byUuid.set(rec.uuid, ref);
        this.classByRef.set(ref, clsName);
      }
    }
    // Derived sets are recomputed rather than trusted.
    RELATIONS.forEach((r, i) => {
      const index = this.reverse[i] as Map<string, string[]>;
      for (const [ref, row] of this.table(r.refClass).rows) {
        const target = row[r.refField] as string;
        if (target === NULL_REF) continue;
        const list = index.get(target);
        if (list) list.push(ref);
        else index.set(target, [ref]);
      }
      for (const [ref, row] of this.table(r.setClass).rows) row[r.setField] = this.membersOf(i, ref);
    });
  }
}
