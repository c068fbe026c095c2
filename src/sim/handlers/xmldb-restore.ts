/**
 * PUT /pool/xmldbdump: pool-restore-database (xen-api ocaml/xapi/pool_db_backup.ml,
 * `push_database_restore_handler`, `restore_from_xml`, `version_check`,
 * `prepare_database_for_restore`; reader rules from ocaml/database/db_xml.ml).
 *
 * Without Content-Length: `400`, and the task completes without error (XAPI returns from the
 * handler normally). Otherwise `200` with `connection: close` goes out before the body is
 * read, then, in this order:
 *  1. the dump is parsed (an unknown tag, a row without `ref`, a column the schema does not
 *     know fail the task with INTERNAL_ERROR); missing columns and tables get defaults;
 *  2. its (schema_major_vsn, schema_minor_vsn) must equal the profile's exactly, else
 *     RESTORE_INCOMPATIBLE_VERSION with no parameters;
 *  3. the restored database is prepared: hosts other than the dump's master are dropped with
 *     their PIFs; the master takes this host's uuid and its control domain this dom0's uuid;
 *     each of the master's PIFs gets `management` iff its device is this host's management
 *     device; a physical PIF whose device this host lacks fails with
 *     RESTORE_TARGET_MISSING_DEVICE [device], else takes this host's MAC for that device;
 *     no PIF on this host's management device fails with
 *     RESTORE_TARGET_MGMT_IF_NOT_IN_BACKUP [the backup's devices];
 *  4. `dry_run=true` (exactly) stops there. Otherwise the prepared database replaces the
 *     simulator's persistent tables before the task succeeds.
 *
 * XAPI then reboots the host 30 s later and comes back with the restored database; the
 * simulator swaps the tables in place instead and keeps sessions, tasks and messages (see
 * docs/SIMULATOR.md).
 */
import { ApiFailure, errorDescription } from '../api-error.js';
import type { Ref, SimDb } from '../db.js';
import type { HandlerContext, SimRoute } from '../http-route.js';
import { CLASS_NAMES, fieldOfColumn, fieldSpec, NULL_REF, type AnyRecord, type ClassName, type ScalarType } from '../schema.js';
import { endResponse, writeHead } from './http-reply.js';
import { DB_CLASSES, dbSchemaVersion, NOT_PERSISTED } from './xmldbdump.js';

/** A dump larger than this is refused rather than held in memory (real ones are MBs). */
const MAX_DUMP_BYTES = 512 * 1024 * 1024;

/** A dump the reader refuses (XAPI: Db_xml.Unmarshall_error, surfacing as INTERNAL_ERROR). */
function unreadable(text: string): ApiFailure {
  return new ApiFailure('INTERNAL_ERROR', [text]);
}

/** XAPI's Xml_spaces.unprotect, with the legacy `%_` (two spaces) of old dumps. */
export function unprotectSpaces(s: string): string {
  return s.replace(/%([.tnr%_])/g, (_m, c: string) => ({ '.': ' ', t: '\t', n: '\n', r: '\r', '%': '%', _: '  ' })[c] as string);
}

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|lt|gt|amp|quot|apos);/g, (_m, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(parseInt(e.slice(1), 10));
    return ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" })[e] as string;
  });
}

const ATTR = /\s*([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/y;

function parseAttributes(src: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  ATTR.lastIndex = 0;
  let at = 0;
  while (at < src.length) {
    if (src.slice(at).trim() === '') break;
    ATTR.lastIndex = at;
    const m = ATTR.exec(src);
    if (!m) throw unreadable(`malformed attributes: ${src.slice(at, at + 40)}`);
    out.push([m[1] as string, decodeEntities(m[2] ?? m[3] ?? '')]);
    at = ATTR.lastIndex;
  }
  return out;
}

export interface DumpRow {
  ref: Ref;
  /** Column name → database text (spaces unprotected). */
  columns: Array<[string, string]>;
}

export interface ParsedDump {
  schemaMajor: number;
  schemaMinor: number;
  generation: number;
  tables: Map<string, DumpRow[]>;
}

function manifestInt(manifest: Map<string, string>, key: string): number {
  const v = manifest.get(key);
  if (v === undefined || !/^-?\d+$/.test(v.trim())) throw unreadable(`manifest has no integer ${key}`);
  return Number(v.trim());
}

/** Reads a database dump the way XAPI's Db_xml.From does (tags database, manifest, pair, table, row). */
export function parseDump(xml: string): ParsedDump {
  const manifest = new Map<string, string>();
  const tables = new Map<string, DumpRow[]>();
  const stack: string[] = [];
  let table: string | undefined;
  const tag = /<(\/?)([A-Za-z_][-A-Za-z0-9_.:]*)([^>]*?)(\/?)>|<\?[^>]*\?>|<!--[\s\S]*?-->|<!DOCTYPE[^>]*>/g;
  let m: RegExpExecArray | null;
  let sawRoot = false;
  while ((m = tag.exec(xml)) !== null) {
    const name = m[2];
    if (name === undefined) continue; // declaration, comment, doctype
    const closing = m[1] === '/';
    const selfClosing = m[4] === '/';
    if (closing) {
      if (stack.pop() !== name) throw unreadable(`Unexpected tag: ${name}`);
      if (name === 'table') table = undefined;
      continue;
    }
    const attrs = parseAttributes(m[3] ?? '');
    switch (name) {
      case 'database':
        sawRoot = true;
        break;
      case 'manifest':
        break;
      case 'pair': {
        const key = attrs.find(([k]) => k === 'key')?.[1];
        const value = attrs.find(([k]) => k === 'value')?.[1];
        if (key === undefined || value === undefined || attrs.length !== 2) throw unreadable('Unexpected tag: pair');
        manifest.set(key, value);
        break;
      }
      case 'table': {
        const tn = attrs.length === 1 && attrs[0]?.[0] === 'name' ? attrs[0][1] : undefined;
        if (tn === undefined) throw unreadable('Unexpected tag: table');
        table = tn;
        if (!tables.has(tn)) tables.set(tn, []);
        break;
      }
      case 'row': {
        const ref = attrs.find(([k]) => k === 'ref')?.[1];
        if (ref === undefined) throw unreadable('Row does not have ref attribute');
        if (table === undefined) throw unreadable('row outside a table');
        const columns = attrs.filter(([k]) => k !== 'ref' && k !== '__ctime' && k !== '__mtime').map(([k, v]): [string, string] => [k, unprotectSpaces(v)]);
        tables.get(table)?.push({ ref, columns });
        break;
      }
      default:
        throw unreadable(`Unexpected tag: ${name}`);
    }
    if (!selfClosing) stack.push(name);
  }
  if (!sawRoot || stack.length !== 0) throw unreadable('Unexpected end of file');
  return {
    schemaMajor: manifestInt(manifest, 'schema_major_vsn'),
    schemaMinor: manifestInt(manifest, 'schema_minor_vsn'),
    generation: manifestInt(manifest, 'generation_count'),
    tables,
  };
}

/** Reads the database's S-expression text of a set or map: a nested list of strings. */
type Sexpr = string | Sexpr[];

function parseSexpr(text: string): Sexpr {
  let at = 0;
  const skip = () => {
    while (at < text.length && /\s/.test(text[at] as string)) at++;
  };
  const value = (): Sexpr => {
    skip();
    const c = text[at];
    if (c === '(') {
      at++;
      const list: Sexpr[] = [];
      for (;;) {
        skip();
        if (text[at] === ')') {
          at++;
          return list;
        }
        if (at >= text.length) throw new Error('unclosed list');
        list.push(value());
      }
    }
    if (c === "'" || c === '"') {
      at++;
      let s = '';
      while (at < text.length && text[at] !== c) {
        if (text[at] === '\\' && at + 1 < text.length) at++;
        s += text[at];
        at++;
      }
      if (at >= text.length) throw new Error('unclosed string');
      at++;
      return s;
    }
    // A bare symbol.
    const start = at;
    while (at < text.length && !/[\s()]/.test(text[at] as string)) at++;
    if (start === at) throw new Error('empty value');
    return text.slice(start, at);
  };
  const v = value();
  skip();
  if (at !== text.length) throw new Error('trailing text');
  return v;
}

function scalarOf(t: ScalarType, text: string): string | number | boolean {
  switch (t.kind) {
    case 'int': {
      const n = Number(text);
      if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(n)) throw new Error(`not an int: ${text}`);
      return n;
    }
    case 'float': {
      const n = Number(text);
      if (text.trim() === '' || Number.isNaN(n)) throw new Error(`not a float: ${text}`);
      return n;
    }
    case 'bool':
      if (text !== 'true' && text !== 'false') throw new Error(`not a bool: ${text}`);
      return text === 'true';
    default:
      return text;
  }
}

/** The typed value of one column's database text. */
function valueOf(cls: ClassName, field: string, text: string): unknown {
  const spec = fieldSpec(cls, field);
  if (!spec) throw new Error(`no field ${field}`);
  const t = spec.type;
  if (t.kind === 'set' || t.kind === 'map') {
    const s = parseSexpr(text);
    if (!Array.isArray(s)) throw new Error(`not a ${t.kind}: ${text}`);
    if (t.kind === 'set') return s.map((e) => scalarOf(t.of, String(e)));
    const out: Record<string, unknown> = {};
    for (const pair of s) {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') throw new Error(`not a map: ${text}`);
      const value = t.value;
      if (value.kind === 'set') {
        const members = parseSexpr(pair[1]);
        if (!Array.isArray(members)) throw new Error(`not a set: ${pair[1]}`);
        out[pair[0]] = members.map((e) => scalarOf(value.of, String(e)));
      } else out[pair[0]] = scalarOf(value, pair[1]);
    }
    return out;
  }
  return scalarOf(t, text);
}

type Staged = Map<ClassName, Map<Ref, AnyRecord>>;

const PERSISTENT: readonly ClassName[] = DB_CLASSES.filter((c) => !NOT_PERSISTED.has(c));

function isDbClass(name: string): name is ClassName {
  return (CLASS_NAMES as readonly string[]).includes(name) && DB_CLASSES.includes(name as ClassName);
}

/** Typed rows per persistent class; an unknown column (or a row of an unknown table) is refused as XAPI does. */
function stage(dump: ParsedDump): Staged {
  const staged: Staged = new Map(PERSISTENT.map((c) => [c, new Map()]));
  for (const [name, rows] of dump.tables) {
    for (const row of rows) {
      if (!isDbClass(name)) throw unreadable(`Unexpected column in table ${name}: ${row.columns[0]?.[0] ?? 'ref'}`);
      // session and task rows would not survive XAPI's restart.
      if (NOT_PERSISTED.has(name)) continue;
      const rec: AnyRecord = {};
      for (const [column, text] of row.columns) {
        const field = fieldOfColumn(name, column);
        if (field === undefined) throw unreadable(`Unexpected column in table ${name}: ${column}`);
        try {
          rec[field] = valueOf(name, field, text);
        } catch (e) {
          throw unreadable(`${name}.${column}: ${(e as Error).message}`);
        }
      }
      staged.get(name)?.set(row.ref, rec);
    }
  }
  return staged;
}

function rows(staged: Staged, cls: ClassName): Map<Ref, AnyRecord> {
  return staged.get(cls) as Map<Ref, AnyRecord>;
}

/** XAPI's prepare_database_for_restore, on the staged rows, against this host's current state. */
function prepare(db: SimDb, staged: Staged): void {
  const pools = [...rows(staged, 'pool').values()];
  const master = pools[0]?.master as string | undefined;
  const hosts = rows(staged, 'host');
  if (pools.length !== 1 || master === undefined || !hosts.has(master)) throw new ApiFailure('INTERNAL_ERROR', ['the backup has no pool master']);

  const pifs = rows(staged, 'PIF');
  for (const h of [...hosts.keys()]) {
    if (h === master) continue;
    for (const [p, pif] of [...pifs]) if (pif.host === h) pifs.delete(p);
    hosts.delete(h);
  }

  const me = db.get('pool', db.refs('pool')[0] as Ref).master;
  const meRec = db.get('host', me);
  const masterRec = hosts.get(master) as AnyRecord;
  masterRec.uuid = meRec.uuid;
  const vms = rows(staged, 'VM');
  const dom0 =
    typeof masterRec.control_domain === 'string' && vms.has(masterRec.control_domain)
      ? masterRec.control_domain
      : [...vms].find(([, vm]) => vm.is_control_domain === true && vm.resident_on === master)?.[0];
  const myDom0 = db.findRef('VM', (vm) => vm.is_control_domain && vm.resident_on === me);
  if (dom0 === undefined || myDom0 === undefined) throw new ApiFailure('HANDLE_INVALID', ['VM', NULL_REF]);
  (vms.get(dom0) as AnyRecord).uuid = db.get('VM', myDom0).uuid;

  const myPifs = db.refs('PIF').filter((p) => db.get('PIF', p).host === me);
  const physical = new Map<string, Ref>();
  for (const p of myPifs) if (db.get('PIF', p).physical) physical.set(db.get('PIF', p).device, p);
  const managed = myPifs.filter((p) => db.get('PIF', p).management);
  const mgmtDevice = managed.length === 1 ? db.get('PIF', managed[0] as Ref).device : undefined;

  const inBackup: string[] = [];
  let foundMgmt = false;
  for (const pif of pifs.values()) {
    if (pif.host !== master) continue;
    const device = String(pif.device ?? '');
    inBackup.unshift(device);
    const isMgmt = device === mgmtDevice;
    pif.management = isMgmt;
    if (isMgmt) foundMgmt = true;
    if (pif.physical === true) {
      const mine = physical.get(device);
      if (mine === undefined) throw new ApiFailure('RESTORE_TARGET_MISSING_DEVICE', [device]);
      pif.MAC = db.get('PIF', mine).MAC;
    }
  }
  if (!foundMgmt && mgmtDevice !== undefined) throw new ApiFailure('RESTORE_TARGET_MGMT_IF_NOT_IN_BACKUP', inBackup);
}

/** Replaces every persistent table with the staged rows (refs kept, so references hold). */
function replaceTables(db: SimDb, staged: Staged): void {
  for (const cls of PERSISTENT) for (const ref of db.refs(cls)) db.destroy(cls, ref);
  for (const cls of PERSISTENT) {
    for (const [ref, rec] of rows(staged, cls)) db.create(cls, rec as never, { ref });
  }
}

async function readBody(ctx: HandlerContext, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  try {
    for await (const chunk of ctx.body) {
      const b = chunk as Buffer;
      parts.push(b.subarray(0, limit - got));
      got += Math.min(b.length, limit - got);
      if (got >= limit) break;
    }
  } catch {
    // A cut upload leaves what arrived, as XAPI's bounded copy does; the parse then fails.
  }
  return Buffer.concat(parts);
}

async function handleRestore(ctx: HandlerContext): Promise<void> {
  const lengthHeader = ctx.req.headers['content-length'];
  if (lengthHeader === undefined) {
    ctx.httpError(400);
    ctx.task.succeed();
    return;
  }
  const length = Number(lengthHeader);
  if (!Number.isSafeInteger(length) || length < 0) {
    ctx.httpError(400);
    ctx.task.succeed();
    return;
  }
  writeHead(ctx, { status: 200, reason: 'OK', headers: [['connection', 'close'], ['cache-control', 'no-cache, no-store']] });
  // The head goes out before the body is read, as XAPI's handler writes it first.
  ctx.res.flushHeaders();
  try {
    if (length > MAX_DUMP_BYTES) throw unreadable(`database dump of ${length} bytes is larger than the simulator accepts`);
    const xml = (await readBody(ctx, length)).toString('utf8');
    const dryRun = ctx.query.get('dry_run') === 'true';
    const dump = parseDump(xml);
    const want = dbSchemaVersion(ctx.profile);
    if (dump.schemaMajor !== want.major || dump.schemaMinor !== want.minor) throw new ApiFailure('RESTORE_INCOMPATIBLE_VERSION', []);
    const staged = stage(dump);
    prepare(ctx.db, staged);
    if (!dryRun) replaceTables(ctx.db, staged);
    ctx.task.succeed();
  } catch (e) {
    // The failure is the task's; the connection still closes normally after the 200.
    const [code = 'INTERNAL_ERROR', ...params] = errorDescription(e);
    ctx.task.fail(code, params);
  }
  // XAPI closes the connection once the handler is done, not when the body is in.
  await endResponse(ctx);
}

export const xmlDbRestoreRoute: SimRoute = {
  method: 'PUT',
  path: '/pool/xmldbdump',
  label: 'put_pool_xml_db_sync',
  taskName: 'Reading database as XML',
  handler: handleRestore,
};
