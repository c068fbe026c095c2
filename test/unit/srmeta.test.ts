import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { buildSrMeta, parseSrMeta, SrMetaError, type SrNames } from '../../src/dr/srmeta.js';

const SR = '3f6e4b2c-1a2b-4c3d-8e9f-0123456789ab';
const VDI = '5f0c0000-1111-4222-8333-444455556666';

describe('SRMETA.xml', () => {
  it('is written exactly as minidom writes it on Python 3.6 (attributes sorted by name)', () => {
    const xml = buildSrMeta([
      { uuid: SR, nameLabel: 'NFS & "fast"', nameDescription: '<ssd>', vdis: [{ uuid: VDI, nameLabel: 'web-01 disk 0', nameDescription: '' }] },
      { uuid: VDI, nameLabel: 'empty', nameDescription: '', vdis: [] },
    ]);
    expect(xml).toBe(
      '<?xml version="1.0" encoding="utf-8"?><meta>' +
        `<sr name_description="&lt;ssd&gt;" name_label="NFS &amp; &quot;fast&quot;" uuid="${SR}">` +
        `<vdi name_description="" name_label="web-01 disk 0" uuid="${VDI}"/></sr>` +
        `<sr name_description="" name_label="empty" uuid="${VDI}"/></meta>`,
    );
  });

  it('round-trips', () => {
    const srs = [{ uuid: SR, nameLabel: 'a&b', nameDescription: 'ünïcödé', vdis: [{ uuid: VDI, nameLabel: 'x', nameDescription: 'y' }] }];
    expect(parseSrMeta(buildSrMeta(srs))).toEqual({ srs, skipped: 0 });
  });

  it('refuses entity declarations (no billion laughs)', () => {
    const bomb =
      '<?xml version="1.0"?><!DOCTYPE meta [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>' +
      `<meta><sr uuid="${SR}" name_label="&b;" name_description=""/></meta>`;
    expect(() => parseSrMeta(bomb)).toThrow(SrMetaError);
  });

  it('skips entries whose uuid is not a uuid and rejects non-XML', () => {
    const xml = `<?xml version="1.0"?><meta><sr uuid="../../etc" name_label="x" name_description=""/><sr uuid="${SR}" name_label="ok" name_description=""/></meta>`;
    const r = parseSrMeta(xml);
    expect(r.skipped).toBe(1);
    expect(r.srs.map((s) => s.nameLabel)).toEqual(['ok']);
    expect(() => parseSrMeta('not xml at all')).toThrow(SrMetaError);
    expect(() => parseSrMeta('<other/>')).toThrow(SrMetaError);
  });
});

/** test/fixtures/srmeta/README.md says how these files were made (the stock calls, real Python 3.6 and 3.11). */
const fixture = (name: string): Buffer => readFileSync(new URL(`../fixtures/srmeta/${name}`, import.meta.url));

interface SampleRecord {
  uuid: string;
  name_label: string;
  name_description: string;
}
const sample: SrNames[] = (JSON.parse(fixture('sample-input.json').toString('utf8')) as Array<SampleRecord & { VDIs: SampleRecord[] }>).map((sr) => ({
  uuid: sr.uuid,
  nameLabel: sr.name_label,
  nameDescription: sr.name_description,
  vdis: sr.VDIs.map((v) => ({ uuid: v.uuid, nameLabel: v.name_label, nameDescription: v.name_description })),
}));

describe('SRMETA.xml against the stock helper on the host', () => {
  it('equals, byte for byte, what backup-sr-metadata.py writes on Python 3.6', () => {
    expect(Buffer.from(buildSrMeta(sample), 'utf8').equals(fixture('SRMETA.xml'))).toBe(true);
  });

  it('reads the host sample and the insertion-order one Python >= 3.8 writes to the same names', () => {
    expect(parseSrMeta(fixture('SRMETA.xml'))).toEqual({ srs: sample, skipped: 0 });
    expect(parseSrMeta(fixture('SRMETA.insertion-order.xml'))).toEqual({ srs: sample, skipped: 0 });
  });
});
