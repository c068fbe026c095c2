/**
 * Typed XenAPI records. Each class module names the fields this program reads, each with its
 * datamodel type (xenapi-datamodel: `string`, `X ref`, `int`, `bool`, `enum`, `(string ->
 * string) map`, `X ref set`); a record is checked field by field as it is read. A field of
 * another type than the datamodel's is a protocol error naming the class and the field, not
 * a wrong value further on (`rec['read_only'] === true` read a "true" string as false).
 *
 * A field the host does not send reads as its empty value ("", false, {}, []): older hosts
 * lack newer fields, and a bulk read asked for some fields only (CallOptions.recordFields).
 * An int has no empty value: a missing one is an error, as a size must never read as 0.
 */
import { redactSecrets } from '../../redact.js';
import { describeTarget, TransportError } from '../errors.js';
import { toInt, toStrMap, type Ref } from '../values.js';
import type { CallOptions } from '../rpc.js';
import type { Session } from '../session.js';

/** One field type: reads the decoded value, throws TypeError when it is not of the type. */
export interface FieldType<T> {
  readonly name: string;
  read(value: unknown): T;
}

const shown = (v: unknown): string => {
  if (typeof v === 'string') {
    // Scrubbed before it is cut: a cut password would no longer be recognised.
    const t = redactSecrets(v);
    return JSON.stringify(t.length > 40 ? `${t.slice(0, 40)}…` : t);
  }
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a set';
  if (v instanceof Date) return 'a date';
  if (Buffer.isBuffer(v)) return 'binary data';
  return typeof v === 'object' ? 'a map' : `${typeof v} ${String(v)}`;
};

/** "expected a string, got a map": the value is described, never printed whole. */
export const mismatch = (type: string, v: unknown) => new TypeError(`expected ${type}, got ${shown(v)}`);

export const string: FieldType<string> = {
  name: 'a string',
  read(v) {
    if (v === undefined) return '';
    if (typeof v !== 'string') throw mismatch(this.name, v);
    return v;
  },
};

/** An object reference; "" when absent (isNullRef treats it as the null ref). */
export const ref: FieldType<Ref> = { ...string, name: 'a reference' };

/** An enum: its value as sent (a newer host may send a value this program does not know). */
export const enumeration: FieldType<string> = { ...string, name: 'an enum value' };

/** int64 (sent as a decimal string); refused beyond 2^53 by toInt. */
export const int: FieldType<number> = {
  name: 'an int',
  read(v) {
    if (v === undefined) throw new TypeError('missing (an int has no empty value)');
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'bigint') throw mismatch(this.name, v);
    return toInt(v);
  },
};

export const bool: FieldType<boolean> = {
  name: 'a boolean',
  read(v) {
    if (v === undefined) return false;
    if (typeof v !== 'boolean') throw mismatch(this.name, v);
    return v;
  },
};

/** (string -> string) map, such as other_config. */
export const stringMap: FieldType<Record<string, string>> = {
  name: 'a (string -> string) map',
  read(v) {
    if (v === undefined) return {};
    if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Date || Buffer.isBuffer(v)) throw mismatch(this.name, v);
    for (const [k, val] of Object.entries(v)) if (typeof val !== 'string') throw new TypeError(`key ${shown(k)}: ${mismatch('a string', val).message}`);
    return toStrMap(v);
  },
};

/** A set of refs, uuids or enum values. */
export const stringSet: FieldType<string[]> = {
  name: 'a set of strings',
  read(v) {
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw mismatch(this.name, v);
    return v.map((e, i) => {
      if (typeof e !== 'string') throw new TypeError(`element ${i}: ${mismatch('a string', e).message}`);
      return e;
    });
  },
};

export type Fields = Readonly<Record<string, FieldType<unknown>>>;
export type RecordOf<F extends Fields> = { [K in keyof F]: F[K] extends FieldType<infer T> ? T : never };

/** A protocol error about the answer of `method` (where: the session's pool). */
export function answerError(session: Session, method: string, detail: string): TransportError {
  return new TransportError(`${method}: the answer is not what the XenAPI datamodel says (${detail})`, {
    kind: 'protocol',
    target: describeTarget(session.url),
    detail: `${method}: ${detail}`,
  });
}

/** Reads `fields` of one raw record (a struct) of class `cls`. */
export function readRecord<F extends Fields, K extends keyof F & string>(
  session: Session,
  method: string,
  cls: string,
  spec: F,
  fields: readonly K[],
  raw: unknown,
): Pick<RecordOf<F>, K> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || raw instanceof Date || Buffer.isBuffer(raw)) {
    throw answerError(session, method, `a ${cls} record is ${shown(raw)}, not a struct`);
  }
  const src = raw as Record<string, unknown>;
  const out = {} as Pick<RecordOf<F>, K>;
  for (const f of fields) {
    const type = spec[f]!;
    try {
      // Own properties only: a member named like an Object.prototype key is not inherited.
      const v = Object.prototype.hasOwnProperty.call(src, f) ? src[f] : undefined;
      (out as Record<string, unknown>)[f] = type.read(v);
    } catch (err) {
      throw answerError(session, method, `${cls} field ${f}: ${(err as Error).message}`);
    }
  }
  return out;
}

/** A result that must be a (non-empty) ref, as from create and get_by_uuid. */
export function readRef(session: Session, method: string, v: unknown): Ref {
  if (typeof v !== 'string' || v === '') throw answerError(session, method, `expected a reference, got ${shown(v)}`);
  return v;
}

/** A result of one field type (a getter such as VBD.get_device). */
export function readValue<T>(session: Session, method: string, type: FieldType<T>, v: unknown): T {
  try {
    // A getter's answer is never absent: an empty answer would otherwise read as "".
    if (v === undefined) throw mismatch(type.name, v);
    return type.read(v);
  } catch (err) {
    throw answerError(session, method, (err as Error).message);
  }
}

/** The getters every class has: get_record, get_all_records(_where), get_by_uuid. */
export function classReader<F extends Fields>(cls: string, spec: F) {
  type Rec = RecordOf<F>;
  type Key = keyof F & string;
  const all = Object.keys(spec) as Key[];
  const bulk = async <K extends Key>(session: Session, method: string, params: unknown[], fields: readonly K[] | undefined, opts: CallOptions | undefined) => {
    const wanted = fields ?? (all as K[]);
    const raw = await session.invoke(method, params, { ...opts, recordFields: new Set(wanted) });
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw answerError(session, method, `expected a map of ${cls} records, got ${shown(raw)}`);
    const out = new Map<Ref, Pick<Rec, K>>();
    for (const [r, rec] of Object.entries(raw)) out.set(r, readRecord(session, method, cls, spec, wanted, rec));
    return out;
  };
  return {
    /** `<cls>.get_record`: every field this program reads. */
    async getRecord(session: Session, ref: Ref, opts?: CallOptions): Promise<Rec> {
      const method = `${cls}.get_record`;
      return readRecord(session, method, cls, spec, all, await session.invoke(method, [ref], opts)) as Rec;
    },
    /** `<cls>.get_all_records`, keeping only `fields` (all known ones by default) of each. */
    getAllRecords<K extends Key = Key>(session: Session, fields?: readonly K[], opts?: CallOptions): Promise<Map<Ref, Pick<Rec, K>>> {
      return bulk(session, `${cls}.get_all_records`, [], fields, opts);
    },
    /** `<cls>.get_all_records_where`; `expr` built with quoteWhere()/fieldEquals(). */
    getAllRecordsWhere<K extends Key = Key>(session: Session, expr: string, fields?: readonly K[], opts?: CallOptions): Promise<Map<Ref, Pick<Rec, K>>> {
      return bulk(session, `${cls}.get_all_records_where`, [expr], fields, opts);
    },
    /** `<cls>.get_by_uuid`: XAPI answers UUID_INVALID when there is none. */
    async getByUuid(session: Session, uuid: string, opts?: CallOptions): Promise<Ref> {
      const method = `${cls}.get_by_uuid`;
      return readRef(session, method, await session.invoke(method, [uuid], opts));
    },
  };
}
