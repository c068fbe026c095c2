import { describe, expect, it } from 'vitest';
import { buildSrMeta, parseSrMeta, SrMetaError } from '../../src/dr/srmeta.js';

const SR = '3f6e4b2c-1a2b-4c3d-8e9f-0123456789ab';
const VDI = '5f0c0000-1111-4222-8333-444455556666';

describe('SRMETA.xml', () => {
  it('is written exactly as minidom writes it', () => {
    const xml = buildSrMeta([
      { uuid: SR, nameLabel: 'NFS & "fast"', nameDescription: '<ssd>', vdis: [{ uuid: VDI, nameLabel: 'web-01 disk 0', nameDescription: '' }] },
      { uuid: VDI, nameLabel: 'empty', nameDescription: '', vdis: [] },
    ]);
    expect(xml).toBe(
      '<?xml version="1.0" encoding="utf-8"?><meta>' +
        `<sr uuid="${SR}" name_label="NFS &amp; &quot;fast&quot;" name_description="&lt;ssd&gt;">` +
        `<vdi uuid="${VDI}" name_label="web-01 disk 0" name_description=""/></sr>` +
        `<sr uuid="${VDI}" name_label="empty" name_description=""/></meta>`,
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
