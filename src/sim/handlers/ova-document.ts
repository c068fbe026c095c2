/**
 * ova.xml as a document: `{version, objects}` read from XML-RPC, and XAPI's compatibility
 * rule on the exporter's version (xen-api ocaml/xapi/importexport.ml). Malformed documents
 * fail the way XAPI's unmarshaller does (INTERNAL_ERROR), before any object is looked at.
 */
import { ApiFailure } from '../api-error.js';
import { isStruct, parseValue, XmlRpcParseError, type XmlRpcStruct, type XmlRpcValue } from '../codec.js';
import type { SimProfile } from '../profiles.js';

export interface ExportObject {
  cls: string;
  id: string;
  snapshot: XmlRpcValue;
}

export interface ExportHeader {
  version: { xapiMajor: number; xapiMinor: number; exportVsn: number };
  objects: ExportObject[];
}

function member(s: XmlRpcStruct, name: string, where: string): XmlRpcValue {
  if (!Object.prototype.hasOwnProperty.call(s, name)) throw new ApiFailure('INTERNAL_ERROR', [`Failed to find key '${name}' in ${where}`]);
  return s[name] as XmlRpcValue;
}

function intOf(v: XmlRpcValue, what: string): number {
  const s = typeof v === 'bigint' ? v.toString() : typeof v === 'string' ? v.trim() : '';
  if (!/^\d{1,9}$/.test(s)) throw new ApiFailure('INTERNAL_ERROR', [`int_of_string: bad ${what}`]);
  return Number(s);
}

/** Parses ova.xml into {version, objects}; INTERNAL_ERROR when it is not such a document. */
export function parseOvaXml(xml: string): ExportHeader {
  let v: XmlRpcValue;
  try {
    v = parseValue(xml);
  } catch (e) {
    if (e instanceof XmlRpcParseError) throw new ApiFailure('INTERNAL_ERROR', [`Xmlrpc parse error: ${e.message}`]);
    throw e;
  }
  if (!isStruct(v)) throw new ApiFailure('INTERNAL_ERROR', ['contents data is not a struct']);
  const version = member(v, 'version', 'contents data');
  const objects = member(v, 'objects', 'contents data');
  if (!isStruct(version)) throw new ApiFailure('INTERNAL_ERROR', ['version data is not a struct']);
  if (!Array.isArray(objects)) throw new ApiFailure('INTERNAL_ERROR', ['objects is not an array']);
  let exportVsn = 0;
  try {
    exportVsn = intOf(member(version, 'export_vsn', 'version data'), 'export_vsn');
  } catch {
    // Missing or unreadable: 0, as XAPI defaults it.
  }
  return {
    version: {
      xapiMajor: intOf(member(version, 'xapi_major', 'version data'), 'xapi_major'),
      xapiMinor: intOf(member(version, 'xapi_minor', 'version data'), 'xapi_minor'),
      exportVsn,
    },
    objects: objects.map((o) => {
      if (!isStruct(o)) throw new ApiFailure('INTERNAL_ERROR', ['object data is not a struct']);
      const cls = member(o, 'class', 'object data');
      const id = member(o, 'id', 'object data');
      if (typeof cls !== 'string' || typeof id !== 'string') throw new ApiFailure('INTERNAL_ERROR', ['object class/id is not a string']);
      return { cls, id, snapshot: member(o, 'snapshot', 'object data') };
    }),
  };
}

/** IMPORT_INCOMPATIBLE_VERSION when the export comes from a newer XAPI than this profile. */
export function assertCompatible(profile: SimProfile, header: ExportHeader): void {
  const { xapiMajor, xapiMinor } = header.version;
  if (xapiMajor > profile.xapiMajor || (xapiMajor === profile.xapiMajor && xapiMinor > profile.xapiMinor)) {
    throw new ApiFailure('IMPORT_INCOMPATIBLE_VERSION', []);
  }
}
