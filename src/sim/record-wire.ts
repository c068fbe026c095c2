/**
 * Crossing between database values (schema.ts) and XML-RPC values (codec.ts), driven by
 * the schema so ints go out bare, floats as <double>, datetimes as <dateTime.iso8601>.
 *
 * Outgoing: {@link recordToValue} (get_record, event and ova.xml snapshots), {@link fieldToValue}.
 * Incoming: {@link valueToField} coerces what XAPI accepts (ints as strings or <int>,
 * floats as <double>/ints/numeric strings, enums in any case, datetimes with or without
 * dashes); {@link structToFields} reads a record parameter (VDI.create, VBD.create, …).
 */
import { ApiFailure } from './api-error.js';
import { isStruct, newStruct, XmlRpcDateTime, type XmlRpcStruct, type XmlRpcValue } from './codec.js';
import { fieldSpec, fieldNames, isRelationSet, type AnyRecord, type ClassName, type FieldType, type ScalarType } from './schema.js';

function scalarToValue(t: ScalarType, v: unknown): XmlRpcValue {
  switch (t.kind) {
    case 'int':
      return BigInt(Math.trunc(Number(v)));
    case 'float':
      return Number(v);
    case 'bool':
      return Boolean(v);
    case 'datetime':
      try {
        return new XmlRpcDateTime(String(v));
      } catch {
        return String(v);
      }
    default:
      return String(v);
  }
}

/** One database value → its XML-RPC form. */
export function fieldToValue(t: FieldType, v: unknown): XmlRpcValue {
  if (t.kind === 'set') return (Array.isArray(v) ? v : []).map((e) => scalarToValue(t.of, e));
  if (t.kind === 'map') {
    const s = newStruct();
    const value = t.value;
    for (const [k, x] of Object.entries((v ?? {}) as Record<string, unknown>)) {
      s[k] = value.kind === 'set' ? fieldToValue(value, x) : scalarToValue(value, x);
    }
    return s;
  }
  return scalarToValue(t, v);
}

/**
 * A database record → struct with the given fields (default: every schema field), in
 * schema order. What a profile serves is chosen by `publicRecord` (api/generic.ts).
 */
export function recordToValue(cls: ClassName, rec: AnyRecord, fields: readonly string[] = fieldNames(cls)): XmlRpcStruct {
  const s = newStruct();
  for (const name of fields) {
    const spec = fieldSpec(cls, name);
    if (spec) s[name] = fieldToValue(spec.type, rec[name]);
  }
  return s;
}

function typeError(field: string): never {
  throw new ApiFailure('FIELD_TYPE_ERROR', [field]);
}

const INT_RE = /^[+-]?\d+$/;

function valueToScalar(t: ScalarType, v: XmlRpcValue, field: string): string | number | boolean {
  switch (t.kind) {
    case 'string':
    case 'ref':
      if (typeof v !== 'string') typeError(field);
      return v;
    case 'int': {
      let n: bigint;
      if (typeof v === 'bigint') n = v;
      else if (typeof v === 'string' && INT_RE.test(v.trim())) n = BigInt(v.trim());
      else typeError(field);
      if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) typeError(field);
      return Number(n);
    }
    case 'float': {
      if (typeof v === 'number') return v;
      if (typeof v === 'bigint') return Number(v);
      if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v.trim()))) return Number(v.trim());
      typeError(field);
    }
    case 'bool':
      if (typeof v !== 'boolean') typeError(field);
      return v;
    case 'datetime':
      if (v instanceof XmlRpcDateTime) return v.text;
      if (typeof v === 'string') {
        try {
          return new XmlRpcDateTime(v).text;
        } catch {
          typeError(field);
        }
      }
      typeError(field);
    case 'enum': {
      if (typeof v !== 'string') typeError(field);
      const canon = t.values.find((e) => e.toLowerCase() === v.toLowerCase());
      if (canon === undefined) throw new ApiFailure('INVALID_VALUE', [field, v]);
      return canon;
    }
  }
}

/** An XML-RPC value → database value of type t (FIELD_TYPE_ERROR [field] when it cannot be). */
export function valueToField(t: FieldType, v: XmlRpcValue, field: string): unknown {
  if (t.kind === 'set') {
    if (!Array.isArray(v)) typeError(field);
    return v.map((e) => valueToScalar(t.of, e, field));
  }
  if (t.kind === 'map') {
    if (!isStruct(v)) typeError(field);
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) {
      if (t.key.kind === 'enum') valueToScalar(t.key, k, field);
      const value = t.value;
      out[k] = value.kind === 'set' ? valueToField(value, v[k] as XmlRpcValue, field) : valueToScalar(value, v[k] as XmlRpcValue, field);
    }
    return out;
  }
  return valueToScalar(t, v, field);
}

export interface StructToFieldsOptions {
  /** Fields that must be present (XAPI: fields without a datamodel default). */
  required?: readonly string[];
  /** Fields taken even if not settable through the API (constructor records). Default: all schema fields. */
  only?: readonly string[];
}

/**
 * A record parameter → partial database record. Unknown members are ignored (as XAPI
 * does); derived relation sets are ignored; a missing required member fails like XAPI's
 * unmarshaller: INTERNAL_ERROR ["Field <name> not present in rpc"].
 */
export function structToFields(cls: ClassName, v: XmlRpcValue, paramName: string, opts: StructToFieldsOptions = {}): AnyRecord {
  if (!isStruct(v)) typeError(paramName);
  for (const r of opts.required ?? []) {
    if (!Object.prototype.hasOwnProperty.call(v, r)) throw new ApiFailure('INTERNAL_ERROR', [`Field ${r} not present in rpc`]);
  }
  const out: AnyRecord = {};
  for (const k of Object.keys(v)) {
    if (opts.only && !opts.only.includes(k)) continue;
    const spec = fieldSpec(cls, k);
    if (!spec || isRelationSet(cls, k)) continue;
    out[k] = valueToField(spec.type, v[k] as XmlRpcValue, k);
  }
  return out;
}
