/**
 * The streaming response decoder (src/xenapi/xmlrpc-decoder.ts): the same values whether
 * the answer arrives whole or cut at any byte (inside a tag, an entity, a UTF-8 sequence),
 * record projection, and refusals.
 */
import { describe, expect, it } from 'vitest';
import { MethodResponseDecoder, XmlRpcFault, decodeMethodResponse } from '../../src/xenapi/xmlrpc-decoder.js';

const wrap = (value: string) => `<?xml version="1.0"?><methodResponse><params><param>${value}</param></params></methodResponse>`;
const member = (name: string, value: string) => `<member><name>${name}</name><value>${value}</value></member>`;
const struct = (...members: string[]) => `<struct>${members.join('')}</struct>`;

/** get_all_records as XAPI writes it: {Status, Value: {ref: record}}. */
const records = wrap(
  `<value>${struct(
    member('Status', 'Success'),
    member(
      'Value',
      struct(
        member('OpaqueRef:a', struct(member('uuid', 'u-a'), member('name_label', 'caf&#xE9; &amp; €'), member('VBDs', '<array><data><value>OpaqueRef:v1</value></data></array>'), member('other_config', struct(member('k', 'v'))), member('memory', '<i8>9007199254740993</i8>'))),
        member('OpaqueRef:b', struct(member('uuid', 'u-b'), member('name_label', '<![CDATA[<b>]]>'), member('VBDs', '<array><data></data></array>'), member('other_config', struct()), member('memory', '<i8>1</i8>'))),
      ),
    ),
  )}</value>`,
);

function decodeInPieces(xml: Buffer, cuts: number[], opts = {}): unknown {
  const d = new MethodResponseDecoder(opts);
  let at = 0;
  for (const c of [...cuts, xml.length]) {
    d.write(xml.subarray(at, c));
    at = c;
  }
  return d.end();
}

describe('MethodResponseDecoder', () => {
  it('decodes the same value whatever the chunk boundaries', () => {
    const xml = Buffer.from(records);
    const whole = decodeMethodResponse(xml);
    expect(whole).toEqual({
      Status: 'Success',
      Value: {
        'OpaqueRef:a': { uuid: 'u-a', name_label: 'café & €', VBDs: ['OpaqueRef:v1'], other_config: { k: 'v' }, memory: '9007199254740993' },
        'OpaqueRef:b': { uuid: 'u-b', name_label: '<b>', VBDs: [], other_config: {}, memory: '1' },
      },
    });
    for (let i = 1; i < xml.length; i++) expect(decodeInPieces(xml, [i])).toEqual(whole);
    // One byte at a time: every UTF-8 sequence and entity is split.
    expect(decodeInPieces(xml, [...Array(xml.length - 1).keys()].map((i) => i + 1))).toEqual(whole);
  });

  it('keeps only the asked record fields, and only at record depth', () => {
    const v = decodeMethodResponse(records, { recordFields: new Set(['uuid', 'VBDs']) }) as { Value: Record<string, unknown> };
    expect(v.Value).toEqual({ 'OpaqueRef:a': { uuid: 'u-a', VBDs: ['OpaqueRef:v1'] }, 'OpaqueRef:b': { uuid: 'u-b', VBDs: [] } });
    // A skipped member may hold anything (nested structs, arrays, CDATA) without effect.
    const cut = Buffer.from(records);
    expect(decodeInPieces(cut, [100, 333, 500], { recordFields: new Set(['name_label']) })).toEqual({
      Status: 'Success',
      Value: { 'OpaqueRef:a': { name_label: 'café & €' }, 'OpaqueRef:b': { name_label: '<b>' } },
    });
  });

  it('decodes the scalar types as npm xmlrpc does', () => {
    const v = decodeMethodResponse(
      wrap(
        `<value>${struct(
          member('s', '<string>x</string>'),
          member('e', ''),
          member('i', '<int>-3</int>'),
          member('i4', '<i4>7</i4>'),
          member('d', '<double>0.25</double>'),
          member('t', '<boolean>1</boolean>'),
          member('f', '<boolean>0</boolean>'),
          member('n', '<nil/>'),
          member('b', '<base64>aGk=</base64>'),
          member('dt', '<dateTime.iso8601>20240716T10:11:12Z</dateTime.iso8601>'),
        )}</value>`,
      ),
    ) as Record<string, unknown>;
    expect(v).toEqual({ s: 'x', e: '', i: -3, i4: 7, d: 0.25, t: true, f: false, n: null, b: Buffer.from('hi'), dt: new Date('2024-07-16T10:11:12Z') });
  });

  it('turns a <fault> into XmlRpcFault', () => {
    const xml = `<methodResponse><fault><value>${struct(member('faultCode', '<int>4</int>'), member('faultString', 'Too many params'))}</value></fault></methodResponse>`;
    expect(() => decodeMethodResponse(xml)).toThrow(XmlRpcFault);
    expect(() => decodeMethodResponse(xml)).toThrow('XML-RPC fault 4: Too many params');
  });

  it('refuses what is not one XML-RPC value: no DTD, unknown tags, bad scalars, truncation, two params', () => {
    const bad = [
      `<!DOCTYPE m [<!ENTITY a "b">]>${wrap('<value>&a;</value>')}`,
      wrap('<value><script>x</script></value>'),
      wrap('<value><boolean>2</boolean></value>'),
      wrap('<value><int>x</int></value>'),
      wrap('<value><i8>1.5</i8></value>'),
      wrap(`<value>${struct('<member><value>no name</value></member>')}</value>`),
      wrap('<value>a</value>').slice(0, -10),
      '<methodResponse><params><param><value>a</value></param><param><value>b</value></param></params></methodResponse>',
      '<html><body>HTTP 500 internal server error</body></html>',
      '',
    ];
    for (const xml of bad) expect(() => decodeMethodResponse(xml), xml).toThrow();
  });

  it('gives __proto__ and constructor members as own properties, never touching prototypes', () => {
    const v = decodeMethodResponse(wrap(`<value>${struct(member('__proto__', struct(member('polluted', 'yes'))), member('constructor', 'c'))}</value>`)) as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.keys(v)).toEqual(['__proto__', 'constructor']);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});
