/**
 * Reading an exported record (an ova.xml `snapshot` struct) into a database record.
 * The struct comes from an uploaded file, so it is read defensively: a member of the
 * wrong type is a {@link RecordFormatError} (the import reports IMPORT_ERROR [msg]),
 * members the schema does not know are ignored, members the file lacks keep the schema
 * default. Writing goes through record-wire.ts (the same marshalling as get_record).
 */
import { ApiFailure } from '../api-error.js';
import { isStruct, type XmlRpcValue } from '../codec.js';
import { valueToField } from '../record-wire.js';
import { SCHEMA, defaultRecord, type AnyRecord, type ClassName, type FieldSpec } from '../schema.js';

export class RecordFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecordFormatError';
  }
}

/**
 * An exported record → a full database record of class `cls` (defaults filled in).
 * `required` members must be present (XAPI needs every field without a datamodel
 * default; the simulator insists on the ones it matches on).
 */
export function rpcToRecord(cls: ClassName, v: XmlRpcValue, required: readonly string[] = ['uuid']): AnyRecord {
  if (!isStruct(v)) throw new RecordFormatError(`${cls} snapshot is not a struct`);
  for (const name of required) {
    if (!Object.prototype.hasOwnProperty.call(v, name)) throw new RecordFormatError(`Field ${name} not present in rpc of ${cls}`);
  }
  const rec = defaultRecord(cls) as AnyRecord;
  for (const [name, spec] of Object.entries(SCHEMA[cls] as Record<string, FieldSpec>)) {
    if (!Object.prototype.hasOwnProperty.call(v, name)) continue;
    try {
      rec[name] = valueToField(spec.type, v[name] as XmlRpcValue, name);
    } catch (e) {
      if (e instanceof ApiFailure) throw new RecordFormatError(`${cls}.${name}: ${e.code} ${e.params.join(' ')}`.trim());
      throw e;
    }
  }
  return rec;
}
