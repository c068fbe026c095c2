/**
 * Reading a .vmmeta (the tar that /export_metadata produces, holding one ova.xml) as
 * untrusted input: size limits before anything is parsed, the first entry must be a
 * regular file named ova.xml, no DTD (so no entity expansion), and the object graph is
 * followed only through ids the file itself declares.
 */
import { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { decodeValueXml } from '../xenapi/index.js';
import { neutralise, quote } from '../safe-text.js';

/** Largest .vmmeta accepted (a VM with hundreds of disks is well under 1 MiB). */
export const VMMETA_MAX_BYTES = 64 * 1024 * 1024;

export class VmmetaError extends Error {
  constructor(detail: string) {
    super(`Not a usable VM metadata export: ${detail}`);
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
}

export interface VmmetaVm {
  uuid: string;
  name: string;
  powerState: string;
  isTemplate: boolean;
  isSnapshot: boolean;
  disks: VmmetaDisk[];
  networks: VmmetaNetwork[];
}

export interface VmmetaSummary {
  version: { xapiMajor: number; xapiMinor: number; productBrand: string; productVersion: string; exportVsn: number };
  vms: VmmetaVm[];
}

/** The ova.xml inside a .vmmeta tar, refusing anything else as the first entry. */
export async function extractOvaXml(tar: Buffer, maxBytes = VMMETA_MAX_BYTES): Promise<string> {
  if (tar.length > maxBytes) throw new VmmetaError(`larger than ${maxBytes} bytes`);
  return new Promise<string>((resolve, reject) => {
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
        resolve(Buffer.concat(parts).toString('utf8'));
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

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
const s = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');
const n = (v: unknown): number => {
  const x = typeof v === 'number' ? v : Number(s(v));
  return Number.isFinite(x) ? x : 0;
};

export async function parseOvaXml(xml: string): Promise<VmmetaSummary> {
  // Entity declarations are the only way to make a parser expand text: refuse any DTD.
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw new VmmetaError('ova.xml contains a DTD');
  let top: unknown;
  try {
    top = await decodeValueXml(xml);
  } catch (e) {
    throw new VmmetaError(`ova.xml is not XML-RPC (${(e as Error).message})`);
  }
  if (!isObj(top) || !isObj(top['version']) || !Array.isArray(top['objects'])) {
    throw new VmmetaError('ova.xml lacks the version and objects members');
  }
  const v = top['version'];
  const byId = new Map<string, { cls: string; snap: Obj }>();
  for (const o of top['objects']) {
    if (!isObj(o) || !isObj(o['snapshot'])) continue;
    byId.set(s(o['id']), { cls: s(o['class']), snap: o['snapshot'] });
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
        vbdType: s(vbd['type']),
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
      networks.push({ device: s(vif['device']), mac: s(vif['MAC']), networkName: net ? s(net['name_label']) : '', bridge: net ? s(net['bridge']) : '' });
    }
    vms.push({
      uuid: s(snap['uuid']),
      name: s(snap['name_label']),
      powerState: s(snap['power_state']),
      isTemplate: snap['is_a_template'] === true,
      isSnapshot: snap['is_a_snapshot'] === true,
      disks,
      networks,
    });
  }
  return {
    version: {
      xapiMajor: n(v['xapi_major']),
      xapiMinor: n(v['xapi_minor']),
      productBrand: s(v['product_brand']),
      productVersion: s(v['product_version']),
      exportVsn: n(v['export_vsn']),
    },
    vms,
  };
}

export async function readVmmeta(tar: Buffer, maxBytes = VMMETA_MAX_BYTES): Promise<VmmetaSummary> {
  return parseOvaXml(await extractOvaXml(tar, maxBytes));
}
