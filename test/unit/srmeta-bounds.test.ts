/**
 * SRMETA.xml from a backup nobody vouches for: element towers, element floods and
 * attribute floods end with SrMetaError at once, before the parser builds anything large;
 * a genuine file of a big pool still reads.
 */
import { describe, expect, it } from 'vitest';
import { buildSrMeta, parseSrMeta, SrMetaError, SRMETA_MAX_ELEMENTS } from '../../src/dr/srmeta.js';

const SR = '3f6e4b2c-1a2b-4c3d-8e9f-0123456789ab';
const vdiUuid = (i: number) => `5f0c0000-1111-4222-8333-${i.toString(16).padStart(12, '0')}`;

describe('SRMETA.xml bounds', () => {
  it('reads a genuine file of a big pool', () => {
    const srs = [{ uuid: SR, nameLabel: 'NFS', nameDescription: '', vdis: Array.from({ length: 20_000 }, (_, i) => ({ uuid: vdiUuid(i), nameLabel: `disk ${i}`, nameDescription: '' })) }];
    expect(parseSrMeta(buildSrMeta(srs)).srs[0]!.vdis).toHaveLength(20_000);
  });

  it('refuses elements nested deeper than the stock file ever is', () => {
    expect(() => parseSrMeta(`<meta>${'<sr>'.repeat(100_000)}`)).toThrow(SrMetaError);
    expect(() => parseSrMeta(`<meta>${'<sr>'.repeat(100_000)}`)).toThrow(/nested more than 16 deep/);
  });

  it('refuses an element with a flood of attributes', () => {
    let attrs = '';
    for (let i = 0; i < 200_000; i++) attrs += ` a${i}=""`;
    expect(() => parseSrMeta(`<meta><sr uuid="${SR}"${attrs}/></meta>`)).toThrow(/more than 16 attributes/);
  });

  it('refuses more elements than any pool has SRs and VDIs', () => {
    const many = `<meta><sr uuid="${SR}">${'<x/>'.repeat(SRMETA_MAX_ELEMENTS)}</sr></meta>`;
    expect(many.length).toBeLessThan(16 * 1024 * 1024);
    expect(() => parseSrMeta(many)).toThrow(/more than 1000000 elements/);
  });
});
