/**
 * Reading a .vmmeta (the tar that /export_metadata produces, holding one ova.xml) as
 * untrusted input: size limits before anything is parsed, the first entry must be a
 * regular file named ova.xml, no DTD (so no entity expansion), nesting and value counts
 * bounded, only the snapshot fields this program reads are built, the shape is checked as
 * XAPI's import reads it (ova-header.ts), and the object graph is followed only through
 * ids the file itself declares.
 */
import { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { MethodResponseDecoder } from '../xenapi/index.js';
import { ExpectedFailure } from '../failure/index.js';
import { SNAPSHOT_FIELDS, describeShapeProblems, exportShapeProblems, isStruct, memberCi, ocamlInt, type ShapeProblems } from './ova-header.js';
import { neutralise, quote } from '../safe-text.js';

/**
 * Largest .vmmeta accepted. Genuine ones are tens of KiB (a VM with two snapshots and six
 * disks: 73 KiB, 1 100 values); one with 100 snapshots of 10 disks each would be about
 * 4 MiB. The bound keeps one parse of a crafted file near 100 MB of memory.
 */
export const VMMETA_MAX_BYTES = 16 * 1024 * 1024;
/** Most values built from one ova.xml (only the snapshot fields read are built). */
export const OVA_MAX_VALUES = 1_000_000;

const NEXT_STEP = 'This export was not sent to XAPI. Check where the backup came from; try an older backup.';

/** A .vmmeta that is not a stock export: never sent to XAPI (code UNSAFE_BACKUP_FILE). */
export class VmmetaError extends ExpectedFailure {
  constructor(detail: string) {
    super('UNSAFE_BACKUP_FILE', `Not a usable VM metadata export: ${detail}`, NEXT_STEP);
    this.name = 'VmmetaError';
  }
}

export interface VmmetaDisk {
  vbdType: string;
  /** currently_attached at export time: a missing attached disk fails even a forced import. */
  attached: boolean;
  userdevice: string;
  vdiUuid: string;
  location: string;
  vdiName: string;
  srUuid: string;
  srName: string;
}

export interface VmmetaNetwork {
  device: string;
  mac: string;
  networkName: string;
  bridge: string;
  /** The source network's uuid as exported ("" when the export has none). */
  networkUuid: string;
  /** The source network's MTU (null: the export has none, before API 1.7). */
  mtu: number | null;
}

export interface VmmetaVm {
  uuid: string;
  name: string;
  powerState: string;
  isTemplate: boolean;
  isSnapshot: boolean;
  /** VM.version: how many times it was recovered (0 when the export has none). */
  version: number;
  vcpus: number;
  memoryStaticMax: number;
  disks: VmmetaDisk[];
  networks: VmmetaNetwork[];
}

export interface VmmetaSummary {
  version: { xapiMajor: number; xapiMinor: number; productBrand: string; productVersion: string; exportVsn: number };
  vms: VmmetaVm[];
  /**
   * What XAPI's import would refuse in this file (none for a stock export). Readers may
   * still show the rest; nothing with a problem is ever sent to XAPI.
   */
  shape: ShapeProblems;
}

/** The ova.xml inside a .vmmeta tar, as bytes, refusing anything else as the first entry. */
export async function extractOvaXmlBytes(tar: Buffer, maxBytes = VMMETA_MAX_BYTES): Promise<Buffer> {
  if (tar.length > maxBytes) throw new VmmetaError(`larger than ${maxBytes} bytes`);
  return new Promise<Buffer>((resolve, reject) => {
    const ex = extract();
    let settled = false;
    const fail = (msg: string) => {
      if (settled) return;
      settled = true;
      ex.destroy();
      reject(new VmmetaError(msg));
    };
    ex.on('entry', (header, stream, next) => {
      if (settled) {
        stream.resume();
        return;
      }
      if (header.name !== 'ova.xml' || header.type !== 'file') {
        stream.resume();
        fail(`the first entry is ${quote(header.name)} (${neutralise(header.type)}), not the file ova.xml`);
        return;
      }
      const parts: Buffer[] = [];
      stream.on('data', (c: unknown) => {
        parts.push(c as Buffer);
      });
      stream.on('end', () => {
        if (settled) return;
        settled = true;
        // One piece is a view of the tar itself: no copy of a large file.
        resolve(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
        ex.destroy();
      });
      stream.on('error', (e: Error) => fail(e.message));
      void next;
    });
    ex.on('error', (e: Error) => fail(`not a tar archive (${e.message})`));
    ex.on('finish', () => fail('the archive is empty'));
    Readable.from([tar]).pipe(ex);
  });
}

/** The ova.xml inside a .vmmeta tar, as text. */
export async function extractOvaXml(tar: Buffer, maxBytes = VMMETA_MAX_BYTES): Promise<string> {
  return (await extractOvaXmlBytes(tar, maxBytes)).toString('utf8');
}

type Obj = Record<string, unknown>;
const s = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'bigint' ? String(v) : '');
const n = (v: unknown): number => {
  const x = typeof v === 'number' ? v : Number(ocamlInt(v) ?? NaN);
  return Number.isFinite(x) ? x : 0;
};
/** An enum value in the datamodel's spelling (XAPI reads enums in any case). */
const canonical = (v: unknown, names: readonly string[]): string => {
  const t = s(v);
  return names.find((x) => x.toLowerCase() === t.toLowerCase()) ?? t;
};
const POWER_STATES = ['Halted', 'Paused', 'Running', 'Suspended'];
const VBD_TYPES = ['CD', 'Disk', 'Floppy'];

const DTD = /<!DOCTYPE|<!ENTITY/i;
/** Decoded in pieces: no text of the whole file is ever made (a 16 MiB one held 15 MB more). */
const DECODE_PIECE = 64 * 1024;

/** Decodes ova.xml within bounds; throws VmmetaError when it is not an XML-RPC value at all. */
function decodeOvaXml(xml: string | Buffer): { top: unknown; forbiddenChars: number } {
  // Entity declarations are the only way to make a parser expand text: refuse any DTD (the
  // decoder refuses one too; this names it). Other spellings are no XML: refused as such.
  if (typeof xml === 'string' ? DTD.test(xml) : xml.includes('<!DOCTYPE') || xml.includes('<!ENTITY')) {
    throw new VmmetaError('ova.xml contains a DTD');
  }
  if (xml.length > VMMETA_MAX_BYTES) throw new VmmetaError(`ova.xml is larger than ${VMMETA_MAX_BYTES} bytes`);
  try {
    const d = new MethodResponseDecoder({ root: 'value', integers: 'bigint', uniqueMembers: true, maxValues: OVA_MAX_VALUES, recordFields: SNAPSHOT_FIELDS, recordDepth: 2 });
    for (let at = 0; at < xml.length; at += DECODE_PIECE) d.write(xml.slice(at, at + DECODE_PIECE));
    return { top: d.end(), forbiddenChars: d.forbiddenChars };
  } catch (e) {
    throw new VmmetaError(`ova.xml is not XML-RPC (${(e as Error).message})`);
  }
}

export async function parseOvaXml(xml: string | Buffer): Promise<VmmetaSummary> {
  const { top, forbiddenChars } = decodeOvaXml(xml);
  const shape = exportShapeProblems(top, forbiddenChars);
  const header = isStruct(top) ? top : {};
  const v = memberCi(header, 'version');
  const version = isStruct(v) ? v : {};
  const objects = memberCi(header, 'objects');
  const byId = new Map<string, { cls: string; snap: Obj }>();
  for (const o of Array.isArray(objects) ? objects : []) {
    if (!isStruct(o)) continue;
    const snap = memberCi(o, 'snapshot');
    if (!isStruct(snap)) continue;
    byId.set(s(memberCi(o, 'id')), { cls: s(memberCi(o, 'class')), snap });
  }
  const get = (id: unknown, cls: string): Obj | undefined => {
    const o = byId.get(s(id));
    return o && o.cls === cls ? o.snap : undefined;
  };
  const vms: VmmetaVm[] = [];
  for (const { cls, snap } of byId.values()) {
    if (cls !== 'VM') continue;
    const disks: VmmetaDisk[] = [];
    for (const vbdId of Array.isArray(snap['VBDs']) ? snap['VBDs'] : []) {
      const vbd = get(vbdId, 'VBD');
      if (!vbd) continue;
      const vdi = get(vbd['VDI'], 'VDI');
      const sr = vdi ? get(vdi['SR'], 'SR') : undefined;
      disks.push({
        vbdType: canonical(vbd['type'], VBD_TYPES),
        attached: vbd['currently_attached'] === true,
        userdevice: s(vbd['userdevice']),
        vdiUuid: vdi ? s(vdi['uuid']) : '',
        location: vdi ? s(vdi['location']) : '',
        vdiName: vdi ? s(vdi['name_label']) : '',
        srUuid: sr ? s(sr['uuid']) : '',
        srName: sr ? s(sr['name_label']) : '',
      });
    }
    const networks: VmmetaNetwork[] = [];
    for (const vifId of Array.isArray(snap['VIFs']) ? snap['VIFs'] : []) {
      const vif = get(vifId, 'VIF');
      if (!vif) continue;
      const net = get(vif['network'], 'network');
      networks.push({
        device: s(vif['device']),
        mac: s(vif['MAC']),
        networkName: net ? s(net['name_label']) : '',
        bridge: net ? s(net['bridge']) : '',
        networkUuid: net ? s(net['uuid']) : '',
        mtu: net && net['MTU'] !== undefined && ocamlInt(net['MTU']) !== null ? n(net['MTU']) : null,
      });
    }
    vms.push({
      uuid: s(snap['uuid']),
      name: s(snap['name_label']),
      // The datamodel's default, as XAPI reads a record without one.
      powerState: snap['power_state'] === undefined ? 'Halted' : canonical(snap['power_state'], POWER_STATES),
      isTemplate: snap['is_a_template'] === true,
      isSnapshot: snap['is_a_snapshot'] === true,
      version: n(snap['version']),
      vcpus: n(snap['VCPUs_max']),
      memoryStaticMax: n(snap['memory_static_max']),
      disks,
      networks,
    });
  }
  return {
    version: {
      xapiMajor: n(version['xapi_major']),
      xapiMinor: n(version['xapi_minor']),
      productBrand: s(version['product_brand']),
      productVersion: s(version['product_version']),
      exportVsn: n(version['export_vsn']),
    },
    vms,
    shape,
  };
}

/** Reads a .vmmeta for display: its summary, with any shape problems listed in it. */
export async function readVmmeta(tar: Buffer, maxBytes = VMMETA_MAX_BYTES): Promise<VmmetaSummary> {
  return parseOvaXml(await extractOvaXmlBytes(tar, maxBytes));
}

/**
 * Reads a .vmmeta that is about to be sent to XAPI: throws VmmetaError (UNSAFE_BACKUP_FILE)
 * for anything XAPI's import would be the first to find wrong.
 */
export async function readSendableVmmeta(tar: Buffer, maxBytes = VMMETA_MAX_BYTES): Promise<VmmetaSummary> {
  const meta = await readVmmeta(tar, maxBytes);
  if (meta.shape.total > 0) throw new VmmetaError(describeShapeProblems(meta.shape));
  return meta;
}
