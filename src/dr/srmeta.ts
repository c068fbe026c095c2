/**
 * SRMETA.xml: SR and VDI names and descriptions saved with each backup.
 * Written byte-for-byte as the stock backup-sr-metadata.py writes it on the host's Python 3.6
 * (minidom's writexml, no indentation, one line, attributes in sorted order); read back as
 * untrusted input: size-limited, strict XML with no DTD (so no entity expansion), attributes
 * in any order, unknown elements ignored, uuids validated.
 */
import { SaxesParser } from 'saxes';
import { isUuid } from './layout.js';
import { ExpectedFailure } from '../failure/index.js';

export interface VdiNames {
  uuid: string;
  nameLabel: string;
  nameDescription: string;
}

export interface SrNames extends VdiNames {
  vdis: VdiNames[];
}

/** SRMETA.xml files of real pools are kilobytes; anything this large is not one. */
export const SRMETA_MAX_BYTES = 16 * 1024 * 1024;
/** The stock file nests three deep (meta, sr, vdi); a tower of elements is refused early. */
export const SRMETA_MAX_DEPTH = 16;
/** Elements of one SRMETA.xml (one per SR and per VDI): a 100 000-VDI pool stays far below. */
export const SRMETA_MAX_ELEMENTS = 1_000_000;
/** Attributes of one element (the stock file has three); saxes collects them before the element ends. */
const SRMETA_MAX_ATTRIBUTES = 16;

/** Attribute escaping as minidom's toxml() does it. */
function attr(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;').replace(/>/g, '&gt;');
}

/**
 * The stock helper sets uuid, name_label, name_description, but minidom before Python 3.8
 * (CPython Lib/xml/dom/minidom.py, Element.writexml; bpo-34160 changed it) writes attributes
 * sorted by name, and the dom0 runs 3.6: so the host's file has them in this order.
 */
function names(n: VdiNames): string {
  return `name_description="${attr(n.nameDescription)}" name_label="${attr(n.nameLabel)}" uuid="${attr(n.uuid)}"`;
}

export function buildSrMeta(srs: SrNames[]): string {
  let out = '<?xml version="1.0" encoding="utf-8"?><meta>';
  for (const sr of srs) {
    if (sr.vdis.length === 0) {
      out += `<sr ${names(sr)}/>`;
      continue;
    }
    out += `<sr ${names(sr)}>`;
    for (const vdi of sr.vdis) out += `<vdi ${names(vdi)}/>`;
    out += '</sr>';
  }
  return `${out}</meta>`;
}

export class SrMetaError extends ExpectedFailure {
  constructor(detail: string) {
    super('BAD_SRMETA', `SRMETA.xml is not usable: ${detail}`, 'SR and VDI names cannot be re-applied from this backup (the VMs can still be restored); check where the backup came from.');
    this.name = 'SrMetaError';
  }
}

export interface ParsedSrMeta {
  srs: SrNames[];
  /** Entries skipped because their uuid was not a uuid (reported, never applied). */
  skipped: number;
}

export function parseSrMeta(xml: string | Buffer): ParsedSrMeta {
  const text = typeof xml === 'string' ? xml : xml.toString('utf8');
  if (Buffer.byteLength(text) > SRMETA_MAX_BYTES) throw new SrMetaError('larger than 16 MiB');
  const parser = new SaxesParser({ xmlns: false });
  const srs: SrNames[] = [];
  let skipped = 0;
  let current: SrNames | null = null;
  let depth = 0;
  let elements = 0;
  let attributes = 0;
  let rootSeen = false;
  let error: Error | null = null;
  const read = (a: Record<string, string>): VdiNames | null => {
    const uuid = a['uuid'] ?? '';
    if (!isUuid(uuid)) return null;
    return { uuid, nameLabel: a['name_label'] ?? '', nameDescription: a['name_description'] ?? '' };
  };
  parser.on('doctype', () => {
    throw new SrMetaError('a DOCTYPE is not allowed');
  });
  parser.on('attribute', () => {
    if (++attributes > SRMETA_MAX_ATTRIBUTES) throw new SrMetaError(`an element with more than ${SRMETA_MAX_ATTRIBUTES} attributes`);
  });
  parser.on('opentag', (tag) => {
    attributes = 0;
    depth++;
    if (depth > SRMETA_MAX_DEPTH) throw new SrMetaError(`elements nested more than ${SRMETA_MAX_DEPTH} deep`);
    if (++elements > SRMETA_MAX_ELEMENTS) throw new SrMetaError(`more than ${SRMETA_MAX_ELEMENTS} elements`);
    const a = tag.attributes as Record<string, string>;
    if (depth === 1) {
      if (tag.name !== 'meta') throw new SrMetaError(`root element <${tag.name}>, expected <meta>`);
      rootSeen = true;
    } else if (depth === 2 && tag.name === 'sr') {
      const n = read(a);
      if (n) srs.push((current = { ...n, vdis: [] }));
      else skipped++;
    } else if (depth === 3 && tag.name === 'vdi') {
      const n = read(a);
      if (n && current) current.vdis.push(n);
      else skipped++;
    }
  });
  parser.on('closetag', (tag) => {
    if (depth === 2 && tag.name === 'sr') current = null;
    depth--;
  });
  parser.on('error', (e) => {
    error = e;
  });
  try {
    parser.write(text).close();
  } catch (e) {
    throw e instanceof SrMetaError ? e : new SrMetaError((e as Error).message);
  }
  if (error) throw new SrMetaError((error as Error).message);
  if (!rootSeen) throw new SrMetaError('no <meta> element');
  return { srs, skipped };
}
