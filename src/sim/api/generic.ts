/**
 * Methods every class has, generated from the schema: get_all, get_all_records,
 * get_all_records_where, get_record, get_by_uuid, get_by_name_label, get_<field> for every
 * field, set_<field> for writable ones, add_to_/remove_from_<map>, add_/remove_<set>.
 * A field the profile's release does not have yet (schema `since`, releases.ts) is hidden
 * entirely: not in records, no getter or setter.
 */
import { ApiFailure } from '../api-error.js';
import { newStruct, type XmlRpcValue } from '../codec.js';
import type { SimDb } from '../db.js';
import type { SimProfile } from '../profiles.js';
import { fieldToValue, recordToValue, valueToField } from '../record-wire.js';
import { inRelease } from '../releases.js';
import type { MethodRegistry } from '../rpc-dispatch.js';
import { CLASS_NAMES, SCHEMA, classSince, fieldNames, fieldSpec, isRelationSet, type AnyRecord, type ClassName, type FieldSpec } from '../schema.js';
import { evalWhere, parseWhere } from '../where-expr.js';

/** Classes without list/iterate methods in the public API. */
const NO_LISTING: readonly ClassName[] = ['session'];

/** False for a class the profile's release does not have yet (no methods at all). */
export function classVisible(profile: SimProfile, cls: ClassName): boolean {
  return inRelease(classSince(cls), profile.release);
}

/** False for fields the profile's release does not have (or the class does not have at all). */
export function fieldVisible(profile: SimProfile, cls: ClassName, field: string): boolean {
  const spec = fieldSpec(cls, field);
  return spec !== undefined && classVisible(profile, cls) && inRelease(spec.since, profile.release);
}

const visibleCache = new Map<string, readonly string[]>();

/** The fields of cls the profile serves, in schema order. */
export function visibleFields(profile: SimProfile, cls: ClassName): readonly string[] {
  const key = `${profile.release}/${cls}`;
  let fields = visibleCache.get(key);
  if (!fields) {
    fields = fieldNames(cls).filter((f) => fieldVisible(profile, cls, f));
    visibleCache.set(key, fields);
  }
  return fields;
}

/** A record as the profile serves it: get_record, get_all_records, events, ova.xml. */
export function publicRecord(profile: SimProfile, cls: ClassName, rec: AnyRecord): XmlRpcValue {
  return recordToValue(cls, rec, visibleFields(profile, cls));
}

function allRecordsStruct(db: SimDb, profile: SimProfile, cls: ClassName, pred?: (rec: AnyRecord) => boolean): XmlRpcValue {
  const out = newStruct();
  for (const [ref, rec] of db.allRecords(cls)) {
    if (pred && !pred(rec as AnyRecord)) continue;
    out[ref] = publicRecord(profile, cls, rec as AnyRecord);
  }
  return out;
}

export function registerGenericMethods(reg: MethodRegistry, profile: SimProfile): void {
  for (const cls of CLASS_NAMES) {
    if (!classVisible(profile, cls)) continue;
    const self = { name: 'self', type: 'ref' as const };
    if (!NO_LISTING.includes(cls)) {
      reg.add({ name: `${cls}.get_all`, params: [], impl: ({ sim }) => sim.db.refs(cls) });
      reg.add({
        name: `${cls}.get_all_records`,
        params: [],
        impl: ({ sim }) => allRecordsStruct(sim.db, profile, cls),
      });
      reg.add({
        name: `${cls}.get_all_records_where`,
        params: [{ name: 'expr', type: 'string' }],
        impl: ({ sim }, a) => {
          const expr = parseWhere(a.expr as string);
          return allRecordsStruct(sim.db, profile, cls, (rec) => evalWhere(cls, expr, rec));
        },
      });
    }
    reg.add({
      name: `${cls}.get_record`,
      params: [self],
      impl: ({ sim }, a) => publicRecord(profile, cls, sim.db.get(cls, a.self as string) as AnyRecord),
    });
    reg.add({
      name: `${cls}.get_by_uuid`,
      params: [{ name: 'uuid', type: 'string' }],
      impl: ({ sim }, a) => sim.db.refByUuid(cls, a.uuid as string),
    });
    if (fieldSpec(cls, 'name_label') && cls !== 'task') {
      reg.add({
        name: `${cls}.get_by_name_label`,
        params: [{ name: 'label', type: 'string' }],
        impl: ({ sim }, a) => sim.db.where(cls, (r) => (r as AnyRecord).name_label === a.label).map((x) => x.ref),
      });
    }
    for (const [field, spec] of Object.entries(SCHEMA[cls] as Record<string, FieldSpec>)) {
      if (!fieldVisible(profile, cls, field)) continue;
      reg.add({
        name: `${cls}.get_${field}`,
        params: [self],
        impl: ({ sim }, a) => fieldToValue(spec.type, (sim.db.get(cls, a.self as string) as AnyRecord)[field]),
      });
      if (!spec.rw || isRelationSet(cls, field)) continue;
      reg.add({
        name: `${cls}.set_${field}`,
        params: [self, { name: 'value', type: 'any' }],
        impl: ({ sim }, a) => {
          const value = valueToField(spec.type, a.value as XmlRpcValue, field);
          sim.db.update(cls, a.self as string, { [field]: value } as never);
          return '';
        },
      });
      if (spec.type.kind === 'map') {
        const mapType = spec.type;
        reg.add({
          name: `${cls}.add_to_${field}`,
          params: [self, { name: 'key', type: 'string' }, { name: 'value', type: 'any' }],
          impl: ({ sim }, a) => {
            const cur = (sim.db.get(cls, a.self as string) as AnyRecord)[field] as Record<string, unknown>;
            const key = a.key as string;
            // XAPI refuses to overwrite an existing key through add_to_.
            if (Object.prototype.hasOwnProperty.call(cur, key)) throw new ApiFailure('MAP_DUPLICATE_KEY', [cls, field, a.self as string, key]);
            const single = valueToField({ kind: 'map', key: mapType.key, value: mapType.value }, { [key]: a.value as XmlRpcValue }, field) as Record<string, string | number>;
            sim.db.mapAdd(cls, a.self as string, field as never, key, single[key] as string | number);
            return '';
          },
        });
        reg.add({
          name: `${cls}.remove_from_${field}`,
          params: [self, { name: 'key', type: 'string' }],
          impl: ({ sim }, a) => {
            sim.db.mapRemove(cls, a.self as string, field as never, a.key as string);
            return '';
          },
        });
      } else if (spec.type.kind === 'set') {
        const setType = spec.type;
        reg.add({
          name: `${cls}.add_${field}`,
          params: [self, { name: 'value', type: 'any' }],
          impl: ({ sim }, a) => {
            const [member] = valueToField(setType, [a.value as XmlRpcValue], field) as string[];
            sim.db.setAdd(cls, a.self as string, field as never, member as string);
            return '';
          },
        });
        reg.add({
          name: `${cls}.remove_${field}`,
          params: [self, { name: 'value', type: 'any' }],
          impl: ({ sim }, a) => {
            const [member] = valueToField(setType, [a.value as XmlRpcValue], field) as string[];
            sim.db.setRemove(cls, a.self as string, field as never, member as string);
            return '';
          },
        });
      }
    }
  }
}
