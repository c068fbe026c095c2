/**
 * GET /pool/xmldbdump (xen-api ocaml/xapi/pool_db_backup.ml): the whole database in XAPI's
 * XML form, streamed until the connection closes (no content-type, no length, no task
 * header).
 *
 * Form (XAPI's db_xml.ml): `<database>`, a `<manifest>` of `<pair key value/>`, then one
 * `<table name>` per class in name order, rows in ref order, one attribute per database
 * column (`name__label`, …). Values are the database text: sets and maps as S-expressions,
 * booleans `true`/`false`; whitespace and `%` are protected XAPI's way (`%.` for a space,
 * `%n`, `%t`, `%r`, `%%`) before XML escaping. Tables XAPI does not persist (session, task)
 * are written empty. schema_minor_vsn is the simulator's own number, not a real XAPI one.
 */
import { escapeText } from '../codec.js';
import type { SimDb } from '../db.js';
import type { HandlerContext, SimRoute } from '../http-route.js';
import type { SimProfile } from '../profiles.js';
import { CLASS_NAMES, columnName, fieldNames, type ClassName } from '../schema.js';
import { columnText } from '../where-expr.js';
import { endResponse, writeHead } from './http-reply.js';

/** XAPI's Xml_spaces.protect: keeps whitespace intact through XML attribute normalisation. */
export function protectSpaces(s: string): string {
  return s.replace(/[ \t\n\r%]/g, (c) => ({ ' ': '%.', '\t': '%t', '\n': '%n', '\r': '%r', '%': '%%' })[c] as string);
}

/** Classes that live in XAPI's database (messages are kept elsewhere). */
export const DB_CLASSES: readonly ClassName[] = [...CLASS_NAMES].filter((c) => c !== 'message').sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
/** XAPI writes these tables without rows (not persistent). */
export const NOT_PERSISTED: ReadonlySet<ClassName> = new Set(['session', 'task']);

/**
 * The database schema version a profile's XAPI writes and accepts back (major 5 as XAPI's;
 * the minor is the simulator's own number per profile, not the real release's).
 */
export function dbSchemaVersion(profile: SimProfile): { major: number; minor: number } {
  return { major: 5, minor: profile.apiMajor * 100 + profile.apiMinor };
}

function manifest(db: SimDb, profile: SimProfile): string {
  const pair = (k: string, v: string) => `<pair key="${k}" value="${v}"/>`;
  const v = dbSchemaVersion(profile);
  return `<manifest>${pair('schema_major_vsn', String(v.major))}${pair('schema_minor_vsn', String(v.minor))}${pair('generation_count', String(db.generation))}</manifest>`;
}

/** Rows per piece sent: the simulator keeps answering other requests during a big dump. */
const ROWS_PER_PIECE = 200;

function* table(db: SimDb, cls: ClassName): Generator<string> {
  if (NOT_PERSISTED.has(cls)) {
    yield `<table name="${cls}"/>`;
    return;
  }
  const fields = fieldNames(cls);
  const rows = [...db.allRecords(cls)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  let out = `<table name="${cls}">`;
  let inPiece = 0;
  for (const [ref, rec] of rows) {
    out += `<row ref="${escapeText(ref)}"`;
    for (const f of fields) {
      const text = columnText(cls, f, (rec as Record<string, unknown>)[f]);
      out += ` ${columnName(cls, f)}="${escapeText(protectSpaces(text))}"`;
    }
    out += '/>';
    if (++inPiece === ROWS_PER_PIECE) {
      yield out;
      out = '';
      inPiece = 0;
    }
  }
  yield `${out}</table>`;
}

async function handleXmlDbDump(ctx: HandlerContext): Promise<void> {
  writeHead(ctx, {
    status: 200,
    reason: 'OK',
    headers: [
      ['connection', 'close'],
      ['cache-control', 'no-cache, no-store'],
    ],
    keepTaskIdHeader: false,
  });
  try {
    await ctx.send(`<?xml version="1.0" encoding="UTF-8"?><database>${manifest(ctx.db, ctx.profile)}`);
    for (const cls of DB_CLASSES) {
      for (const piece of table(ctx.db, cls)) {
        await ctx.send(piece);
        // A socket write can complete without returning to the event loop: yield, so other
        // requests are served while a big dump is produced (XAPI streams it from a thread).
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    await ctx.send('</database>');
  } catch {
    // Connection cut mid-dump.
    ctx.task.fail('INTERNAL_ERROR', ['the connection was closed during the database dump']);
    ctx.res.destroy();
    return;
  }
  ctx.task.succeed();
  await endResponse(ctx);
}

export const xmlDbDumpRoute: SimRoute = {
  method: 'GET',
  path: '/pool/xmldbdump',
  label: 'get_pool_xmldbdump',
  taskName: 'pool.dump_database',
  handler: handleXmlDbDump,
};
