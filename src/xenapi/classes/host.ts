/** Hosts: the coordinator's identity, control domain and clock. */
import type { CallOptions } from '../rpc.js';
import type { Session } from '../session.js';
import type { Ref } from '../values.js';
import { decodeXenDateTime } from '../xmlrpc-decoder.js';
import { answerError, classReader, int, mismatch, readValue, ref, string, stringMap, type RecordOf } from './fields.js';

const FIELDS = {
  uuid: string,
  name_label: string,
  hostname: string,
  address: string,
  API_version_major: int,
  API_version_minor: int,
  software_version: stringMap,
  control_domain: ref,
};
export type HostRecord = RecordOf<typeof FIELDS>;

const reader = classReader('host', FIELDS);
export const { getRecord, getAllRecords, getByUuid } = reader;

export async function getUuid(session: Session, host: Ref, opts?: CallOptions): Promise<string> {
  return readValue(session, 'host.get_uuid', string, await session.invoke('host.get_uuid', [host], opts));
}

export async function getHostname(session: Session, host: Ref, opts?: CallOptions): Promise<string> {
  return readValue(session, 'host.get_hostname', string, await session.invoke('host.get_hostname', [host], opts));
}

/** host.control_domain (API 2.6, XenServer 7.1, on): older hosts answer MESSAGE_METHOD_UNKNOWN. */
export async function getControlDomain(session: Session, host: Ref, opts?: CallOptions): Promise<Ref> {
  return readValue(session, 'host.get_control_domain', ref, await session.invoke('host.get_control_domain', [host], opts));
}

/** session.get_this_host: the host this session is logged in to. */
export async function ofSession(session: Session, opts?: CallOptions): Promise<Ref> {
  return readValue(session, 'session.get_this_host', ref, await session.invoke('session.get_this_host', [session.ref], opts));
}

async function date(session: Session, method: string, host: Ref, opts?: CallOptions): Promise<Date> {
  const v = await session.invoke(method, [host], opts);
  // An out-of-range reading decodes to an invalid Date: that is the caller's to judge.
  if (v instanceof Date) return v;
  // JSON-RPC has no date type: XAPI sends its date-time text, read as the XML-RPC decoder reads it.
  const d = typeof v === 'string' ? decodeXenDateTime(v) : undefined;
  if (!d) throw answerError(session, method, mismatch('a dateTime', v).message);
  return d;
}

/** The host's clock in UTC (API 1.3 on). */
export const getServertime = (session: Session, host: Ref, opts?: CallOptions) => date(session, 'host.get_servertime', host, opts);

/** The host's local wall clock, its zone stripped, read as UTC fields (API 1.8 on). */
export const getServerLocaltime = (session: Session, host: Ref, opts?: CallOptions) => date(session, 'host.get_server_localtime', host, opts);
