/**
 * The shape of an ova.xml as XAPI's import reads it, checked before a file is sent to XAPI
 * (read from xen-api: import.ml, importexport.ml, the generated record readers, and the rpc
 * library's readers). What XAPI would refuse is reported here, field by field, so that no
 * crafted export is ever first parsed by XAPI; what XAPI accepts is accepted.
 *
 *  - The document is one XML-RPC struct {version, objects}. Its member names, and those of
 *    each object {class, id, snapshot}, are matched without regard to case (XAPI lower-cases
 *    them); members XAPI does not know are ignored.
 *  - version: hostname, date, product_version, product_brand and build_number must be
 *    strings (bare or <string>), xapi_major and xapi_minor integers (<int>, <i4>, <i8>, or a
 *    string OCaml's int_of_string reads); export_vsn is optional (anything else reads as 0).
 *  - objects is an array of structs whose class and id are strings; the snapshot of every
 *    class XAPI imports must be a struct. Objects of other classes are ignored, as XAPI does.
 *  - Inside the snapshots, the fields this program reads are checked with XAPI's types:
 *    strings, booleans (<boolean> only), enums (strings, any case), references and sets of
 *    references; those without a datamodel default must be present, as XAPI fails
 *    "Field … not present" otherwise.
 *  - Raw control characters (which XML forbids) make XAPI's XML reader refuse the whole file.
 */

import { neutralise, quote } from '../safe-text.js';

type Obj = Record<string, unknown>;

export const isStruct = (v: unknown): v is Obj =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && !Buffer.isBuffer(v);

/** The XML-RPC type a decoded value came from (the decoder reads integers as bigint here). */
export function wireType(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'nil';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'number') return 'double';
  if (typeof v === 'boolean') return 'boolean';
  if (Buffer.isBuffer(v)) return 'base64';
  if (v instanceof Date) return 'dateTime.iso8601';
  return Array.isArray(v) ? 'array' : 'struct';
}

/** "an int", "a string", "an array": the found type, for messages. */
export function aWireType(v: unknown): string {
  const t = wireType(v);
  return t === 'missing' ? 'missing' : `${/^[aeiou]/.test(t) ? 'an' : 'a'} ${t}`;
}

/** A member by name without regard to case; the last one wins, as in XAPI's record readers. */
export function memberCi(o: Obj, name: string): unknown {
  let found: unknown;
  const want = name.toLowerCase();
  for (const k of Object.keys(o)) if (k.toLowerCase() === want) found = o[k];
  return found;
}

const OCAML_INT = /^[+-]?(?:0[xX][0-9a-fA-F][0-9a-fA-F_]*|0[oO][0-7][0-7_]*|0[bB][01][01_]*|0[uU][0-9][0-9_]*|[0-9][0-9_]*)$/;
/** OCaml's int is 63 bits. */
const OCAML_INT_MAX = 2n ** 62n - 1n;

/** An integer as XAPI's int reader takes it (Int, or a String int_of_string accepts), else null. */
export function ocamlInt(v: unknown): bigint | null {
  if (typeof v === 'bigint') return v;
  if (typeof v !== 'string' || !OCAML_INT.test(v)) return null;
  const neg = v.startsWith('-');
  let t = v.replace(/^[+-]/, '').replace(/_/g, '');
  if (/^0[uU]/.test(t)) t = t.slice(2);
  else if (/^0[oO]/.test(t)) t = `0o${t.slice(2)}`;
  const n = BigInt(t);
  if (n > OCAML_INT_MAX + (neg ? 1n : 0n)) return null;
  return neg ? -n : n;
}

/** The classes import.ml has a handler for; each decodes its snapshot as a record (a struct). */
export const IMPORTED_CLASSES = new Set([
  'host',
  'SR',
  'VDI',
  'VM_guest_metrics',
  'VM_metrics',
  'VM',
  'network',
  'GPU_group',
  'VBD',
  'VIF',
  'VGPU_type',
  'VGPU',
  'PVS_site',
  'PVS_proxy',
  'VTPM',
]);

type FieldType = { kind: 'string' } | { kind: 'int' } | { kind: 'bool' } | { kind: 'ref' } | { kind: 'refs' } | { kind: 'enum'; values: readonly string[] };
interface FieldRule {
  type: FieldType;
  /** No datamodel default: XAPI's record reader fails when it is missing. */
  required: boolean;
}

const str = (required: boolean): FieldRule => ({ type: { kind: 'string' }, required });
const bool = (required: boolean): FieldRule => ({ type: { kind: 'bool' }, required });
const int = (required: boolean): FieldRule => ({ type: { kind: 'int' }, required });
const ref = (required: boolean): FieldRule => ({ type: { kind: 'ref' }, required });
const refs: FieldRule = { type: { kind: 'refs' }, required: false }; // sets of refs default to []
const oneOf = (required: boolean, ...values: string[]): FieldRule => ({ type: { kind: 'enum', values }, required });

/** The snapshot fields this program reads, with the types and defaults of XAPI's datamodel. */
export const READ_FIELDS: Readonly<Record<string, Readonly<Record<string, FieldRule>>>> = {
  VM: {
    uuid: str(true),
    name_label: str(false),
    power_state: oneOf(false, 'halted', 'paused', 'running', 'suspended'),
    is_a_template: bool(true),
    is_a_snapshot: bool(false),
    // Read to compare a backup with a pool (backup-compare.ts); each has a datamodel default.
    version: int(false),
    VCPUs_max: int(false),
    memory_static_max: int(false),
    VBDs: refs,
    VIFs: refs,
  },
  VBD: { VDI: ref(true), type: oneOf(true, 'cd', 'disk', 'floppy'), userdevice: str(true), currently_attached: bool(false) },
  VDI: { uuid: str(true), name_label: str(false), location: str(false), SR: ref(true) },
  SR: { uuid: str(true), name_label: str(false) },
  VIF: { device: str(true), MAC: str(true), network: ref(true) },
  // MTU came with API 1.7 (XenServer 5.6): older exports have none.
  network: { uuid: str(false), name_label: str(false), bridge: str(false), MTU: int(false) },
};

/** Every field READ_FIELDS names: the only snapshot members the decoder needs to build. */
export const SNAPSHOT_FIELDS: ReadonlySet<string> = new Set(Object.values(READ_FIELDS).flatMap((f) => Object.keys(f)));

const VERSION_STRINGS = ['hostname', 'date', 'product_version', 'product_brand', 'build_number'];
const VERSION_INTS = ['xapi_major', 'xapi_minor'];

function fieldProblem(where: string, rule: FieldRule, v: unknown): string | null {
  if (v === undefined) return rule.required ? `${where} is missing; XAPI's import requires it` : null;
  const t = rule.type;
  switch (t.kind) {
    case 'string':
    case 'ref':
      return typeof v === 'string' ? null : `${where} is ${aWireType(v)}; XAPI reads a string there`;
    case 'int':
      return ocamlInt(v) !== null ? null : `${where} is ${aWireType(v)}; XAPI reads an integer there`;
    case 'bool':
      return typeof v === 'boolean' ? null : `${where} is ${aWireType(v)}; XAPI reads a <boolean> there`;
    case 'refs':
      if (!Array.isArray(v)) return `${where} is ${aWireType(v)}; XAPI reads an array of references there`;
      return v.every((x) => typeof x === 'string') ? null : `${where} holds ${aWireType(v.find((x) => typeof x !== 'string'))}; XAPI reads references (strings) there`;
    case 'enum':
      if (typeof v !== 'string') return `${where} is ${aWireType(v)}; XAPI reads one of ${t.values.join(', ')} there`;
      return t.values.includes(v.toLowerCase()) ? null : `${where} is ${quote(v.slice(0, 40))}; XAPI knows only ${t.values.join(', ')}`;
  }
}

/** Problems kept word for word; beyond them only counted (a crafted file may have a million). */
export const MAX_LISTED_PROBLEMS = 20;

/** What XAPI would refuse: the first problems in words, and how many there are in all. */
export interface ShapeProblems {
  problems: string[];
  total: number;
}

class ProblemList {
  readonly problems: string[] = [];
  total = 0;
  push(p: string): void {
    if (this.total++ < MAX_LISTED_PROBLEMS) this.problems.push(p);
  }
}

/**
 * What XAPI's import would refuse in a decoded ova.xml (none when nothing), each naming the
 * field and what was expected. `forbiddenChars`: raw characters XML forbids that it held.
 */
export function exportShapeProblems(top: unknown, forbiddenChars = 0): ShapeProblems {
  const out = new ProblemList();
  checkShape(out, top, forbiddenChars);
  return { problems: out.problems, total: out.total };
}

function checkShape(out: ProblemList, top: unknown, forbiddenChars: number): void {
  if (forbiddenChars > 0) {
    out.push(`ova.xml holds ${forbiddenChars} raw control character(s) that XML forbids; XAPI's XML reader refuses the whole file`);
  }
  if (!isStruct(top)) {
    out.push(`ova.xml is ${aWireType(top)}, not the struct {version, objects} that XAPI's import reads`);
    return;
  }
  const version = memberCi(top, 'version');
  if (!isStruct(version)) {
    out.push(version === undefined ? 'ova.xml has no version header; XAPI checks it before anything else' : `version is ${aWireType(version)}, not the version struct XAPI checks`);
  } else {
    // version_of_rpc looks its members up by their exact names.
    for (const f of VERSION_STRINGS) {
      const v = version[f];
      if (v === undefined) out.push(`version.${f} is missing; XAPI's import requires it`);
      else if (typeof v !== 'string') out.push(`version.${f} is ${aWireType(v)}; XAPI reads a string there`);
    }
    for (const f of VERSION_INTS) {
      const v = version[f];
      if (v === undefined) out.push(`version.${f} is missing; XAPI's import requires it`);
      else if (ocamlInt(v) === null) out.push(`version.${f} is ${aWireType(v)}${typeof v === 'string' ? ` (${quote(v.slice(0, 20))})` : ''}; XAPI reads an integer there`);
    }
  }
  const objects = memberCi(top, 'objects');
  if (!Array.isArray(objects)) {
    out.push(objects === undefined ? 'ova.xml has no objects list' : `objects is ${aWireType(objects)}; XAPI reads an array there`);
    return;
  }
  objects.forEach((o, i) => {
    if (!isStruct(o)) {
      out.push(`objects[${i}] is ${aWireType(o)}, not a struct {class, id, snapshot}`);
      return;
    }
    const cls = memberCi(o, 'class');
    const id = memberCi(o, 'id');
    const snap = memberCi(o, 'snapshot');
    for (const [name, v] of [['class', cls], ['id', id]] as const) {
      if (v === undefined) out.push(`objects[${i}].${name} is missing; XAPI's import requires it`);
      else if (typeof v !== 'string') out.push(`objects[${i}].${name} is ${aWireType(v)}; XAPI reads a string there`);
    }
    if (snap === undefined) out.push(`objects[${i}].snapshot is missing; XAPI's import requires it`);
    if (typeof cls !== 'string' || !IMPORTED_CLASSES.has(cls) || snap === undefined) return;
    if (!isStruct(snap)) {
      out.push(`objects[${i}] (${cls}): its snapshot is ${aWireType(snap)}; XAPI reads a ${cls} record (a struct) there`);
      return;
    }
    const rules = READ_FIELDS[cls];
    if (!rules) return;
    for (const [field, rule] of Object.entries(rules)) {
      const p = fieldProblem(`objects[${i}] (${cls} ${typeof id === 'string' ? neutralise(id.slice(0, 40)) : '?'}).${field}`, rule, snap[field]);
      if (p) out.push(p);
    }
  });
}

/** One sentence for the operator: the first problem, and how many more there are. */
export function describeShapeProblems(p: ShapeProblems): string {
  const first = p.problems[0];
  if (first === undefined) return '';
  return p.total > 1 ? `${first} (and ${p.total - 1} more problem(s))` : first;
}
