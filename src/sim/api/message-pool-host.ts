/**
 * The message class (xen-api ocaml/xapi/xapi_message.ml; ocaml/idl/datamodel.ml module
 * Message: published in "orlando", API 1.3, no Async forms and no per-field accessors),
 * pool.sync_database (xapi_pool.ml) and host.call_plugin (xapi_host.ml, xapi_plugins.ml).
 */
import { ApiFailure } from '../api-error.js';
import { newStruct, type XmlRpcValue } from '../codec.js';
import type { SimContext } from '../context.js';
import type { Ref } from '../db.js';
import { publicRecord } from './generic.js';
import {
  createMessage,
  destroyMessage,
  hasMessages,
  messageObjectExists,
  messagesNewestFirst,
  messageTime,
  stampSeconds,
  type MessageClass,
} from '../messages.js';
import type { SimProfile } from '../profiles.js';
import type { MethodRegistry } from '../rpc-dispatch.js';
import { fieldNames, type AnyRecord } from '../schema.js';
import { apiAtLeast } from '../vm-power.js';
import { evalWhere, parseWhere } from '../where-expr.js';

const CLASSES: readonly MessageClass[] = ['VM', 'Host', 'SR', 'Pool', 'VMPP', 'VMSS', 'PVS_proxy', 'VDI', 'Certificate'];

/** An enum parameter is read case-insensitively, like the generated unmarshallers. */
function messageClass(value: string): MessageClass {
  const cls = CLASSES.find((c) => c.toLowerCase() === value.toLowerCase());
  if (cls === undefined) throw new ApiFailure('ENUM_VALUE_INVALID', ['enum cls', value]);
  return cls;
}

/** A JSON-RPC string can carry a lone surrogate; XAPI refuses a body that is not UTF-8. */
function isWellFormed(s: string): boolean {
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}

/** Seconds of a datetime parameter (the dispatcher has normalised it to UTC). */
const sinceSeconds = (v: unknown): number => stampSeconds(v as string);

function recordMap(profile: SimProfile, rows: Array<{ ref: Ref; rec: AnyRecord }>): XmlRpcValue {
  const out = newStruct();
  for (const { ref, rec } of rows) out[ref] = publicRecord(profile, 'message', rec);
  return out;
}

/**
 * pool.sync_database: XAPI pushes the master's database to every live host (or flushes it
 * to the HA metadata VDI). The simulated pool has one host, whose copy is db.json, so the
 * call writes it out now instead of after the usual short delay.
 */
async function syncDatabase(sim: SimContext): Promise<string> {
  await sim.db.flush();
  return '';
}

/** Python's repr() of a str, as the echo plugin prints its arguments. */
export function pythonRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === '\\' || ch === quote) out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch !== ' ' && /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u.test(ch)) {
      out += cp < 0x100 ? `\\x${cp.toString(16).padStart(2, '0')}` : cp < 0x10000 ? `\\u${cp.toString(16).padStart(4, '0')}` : `\\U${cp.toString(16).padStart(8, '0')}`;
    } else out += ch;
  }
  return out + quote;
}

/**
 * The plugins xen-api installs in /etc/xapi.d/plugins that the simulator can answer
 * truthfully: `echo` (python3/plugins/echo.py, installed by python3/Makefile) with its one
 * function `main`, which sleeps `sleep` seconds when asked and answers its arguments.
 * XenAPIPlugin.dispatch turns an unknown function into UNKNOWN_XENAPI_PLUGIN_FUNCTION and
 * an exception into XENAPI_PLUGIN_FAILURE [fn, exception class, message].
 */
async function callEcho(fn: string, args: Record<string, string>): Promise<string> {
  if (fn !== 'main') throw new ApiFailure('UNKNOWN_XENAPI_PLUGIN_FUNCTION', [fn]);
  if ('sleep' in args) {
    const text = args.sleep ?? '';
    // Python's int(): optional sign, digits with single underscores between them, spaces around.
    if (!/^\s*[+-]?\d+(_\d+)*\s*$/.test(text)) {
      throw new ApiFailure('XENAPI_PLUGIN_FAILURE', [fn, 'ValueError', `invalid literal for int() with base 10: ${pythonRepr(text)}`]);
    }
    const secs = Number(text.replace(/_/g, '').trim());
    if (secs < 0) throw new ApiFailure('XENAPI_PLUGIN_FAILURE', [fn, 'ValueError', 'sleep length must be non-negative']);
    // A plugin runs to its end: cancelling the task does not stop the process.
    await new Promise<void>((resolve) => setTimeout(resolve, secs * 1000));
  }
  const shown = Object.entries(args).map(([k, v]) => `${pythonRepr(k)}: ${pythonRepr(v)}`);
  return `args were: {${shown.join(', ')}}`;
}

export function registerMessagePoolHostMethods(reg: MethodRegistry, profile: SimProfile): void {
  // The generic per-class methods include accessors XAPI's message class does not have.
  for (const f of fieldNames('message')) reg.remove(`message.get_${f}`);
  if (!hasMessages({ profile })) {
    for (const m of ['get_all', 'get_all_records', 'get_all_records_where', 'get_record', 'get_by_uuid']) reg.remove(`message.${m}`);
  }

  if (hasMessages({ profile })) {
    const self = { name: 'self', type: 'ref' as const };
    const since = { name: 'since', type: 'datetime' as const };
    reg.add({
      name: 'message.create',
      params: [
        { name: 'name', type: 'string' },
        { name: 'priority', type: 'int' },
        { name: 'cls', type: 'string' },
        { name: 'obj_uuid', type: 'string' },
        { name: 'body', type: 'string' },
      ],
      impl: ({ sim }, a) => {
        const cls = messageClass(a.cls as string);
        const body = a.body as string;
        if (!isWellFormed(body)) throw new ApiFailure('INVALID_VALUE', ['UTF8 expected']);
        const uuid = a.obj_uuid as string;
        if (!messageObjectExists(sim.db, cls, uuid)) throw new ApiFailure('UUID_INVALID', [cls, uuid]);
        const ref = createMessage(sim, { name: a.name as string, priority: a.priority as number, cls, obj_uuid: uuid, body });
        return ref ?? 'OpaqueRef:NULL';
      },
    });
    reg.add({
      name: 'message.destroy',
      params: [self],
      impl: ({ sim }, a) => {
        destroyMessage(sim.db, a.self as string);
        return '';
      },
    });
    // destroy_many: prototyped in xapi 22.19.0 (ocaml/idl/datamodel.ml), a later numbering
    // than the 1.x xapi versions of the older profiles.
    if (profile.xapiMajor >= 22 && !(profile.xapiMajor === 22 && profile.xapiMinor < 19)) {
      reg.add({
        name: 'message.destroy_many',
        params: [{ name: 'messages', type: 'stringSet' }],
        async: true,
        impl: ({ sim }, a) => {
          for (const ref of a.messages as string[]) destroyMessage(sim.db, ref);
          return '';
        },
      });
    }
    reg.add({
      name: 'message.get_since',
      params: [since],
      // Compares the precise creation time (the file name) with the cut-off.
      impl: ({ sim }, a) => {
        const cut = sinceSeconds(a.since);
        return recordMap(profile, messagesNewestFirst(sim.db, (ref) => messageTime(sim.db, ref) > cut));
      },
    });
    reg.add({
      name: 'message.get',
      params: [{ name: 'cls', type: 'string' }, { name: 'obj_uuid', type: 'string' }, since],
      // Reads whole-second records, so a message in the cut-off's own second is not later.
      impl: ({ sim }, a) => {
        const cls = messageClass(a.cls as string);
        const uuid = a.obj_uuid as string;
        if (!messageObjectExists(sim.db, cls, uuid)) throw new ApiFailure('UUID_INVALID', []);
        const cut = sinceSeconds(a.since);
        return recordMap(profile, messagesNewestFirst(sim.db, (_ref, rec) => rec.cls === cls && rec.obj_uuid === uuid && stampSeconds(rec.timestamp) > cut));
      },
    });
    reg.add({
      name: 'message.get_all_records',
      params: [],
      impl: ({ sim }) => recordMap(profile, messagesNewestFirst(sim.db, () => true)),
    });
    reg.add({
      name: 'message.get_all_records_where',
      params: [{ name: 'expr', type: 'string' }],
      impl: ({ sim }, a) => {
        const expr = parseWhere(a.expr as string);
        return recordMap(profile, messagesNewestFirst(sim.db, (_ref, rec) => evalWhere('message', expr, rec as AnyRecord)));
      },
    });
    reg.add({
      name: 'message.get_record',
      params: [self],
      impl: ({ sim }, a) => {
        const ref = a.self as string;
        if (sim.db.classOf(ref) !== 'message') throw new ApiFailure('HANDLE_INVALID', ['message', ref]);
        return publicRecord(profile, 'message', sim.db.get('message', ref) as AnyRecord);
      },
    });
    reg.add({
      name: 'message.get_by_uuid',
      params: [{ name: 'uuid', type: 'string' }],
      impl: ({ sim }, a) => {
        const ref = sim.db.findRefByUuid('message', a.uuid as string);
        if (ref === undefined) throw new ApiFailure('UUID_INVALID', ['message', a.uuid as string]);
        return ref;
      },
    });
  }

  reg.add({
    name: 'pool.sync_database',
    params: [],
    async: true,
    impl: ({ sim }) => syncDatabase(sim),
  });

  if (apiAtLeast(profile, 1, 3)) {
    reg.add({
      name: 'host.call_plugin',
      params: [
        { name: 'host', type: 'ref' },
        { name: 'plugin', type: 'string' },
        { name: 'fn', type: 'string' },
        { name: 'args', type: 'struct' },
      ],
      async: true,
      impl: async ({ sim }, a) => {
        sim.db.get('host', a.host as string);
        const plugin = a.plugin as string;
        const args: Record<string, string> = {};
        for (const [k, v] of Object.entries(a.args as Record<string, XmlRpcValue>)) {
          if (typeof v !== 'string') throw new ApiFailure('FIELD_TYPE_ERROR', ['args']);
          args[k] = v;
        }
        if (plugin !== 'echo') throw new ApiFailure('XENAPI_MISSING_PLUGIN', [plugin]);
        return callEcho(a.fn as string, args);
      },
    });
  }
}
