import { describe, expect, it } from 'vitest';
import { TransportError, XenApiError, decodeValueXml, parseMethodResponse, serializeMethodCall, xenDouble } from '../../src/xenapi/index.js';
import { unwrapEnvelope } from '../../src/xenapi/rpc.js';

const wrap = (value: string) => `<?xml version="1.0"?><methodResponse><params><param>${value}</param></params></methodResponse>`;

describe('serializeMethodCall (XenAPI int64 convention)', () => {
  it('sends JS integers and bigints as decimal strings, floats as <double>', () => {
    const xml = serializeMethodCall('VDI.create', [
      'OpaqueRef:s',
      { virtual_size: 524288000, huge: 9223372036854775807n, ratio: 0.5, sharable: false, name_label: 'Pool Metadata Backup' },
    ]);
    expect(xml).toContain('<methodName>VDI.create</methodName>');
    expect(xml).toContain('<name>virtual_size</name><value><string>524288000</string></value>');
    expect(xml).toContain('<name>huge</name><value><string>9223372036854775807</string></value>');
    expect(xml).toContain('<name>ratio</name><value><double>0.5</double></value>');
    expect(xml).toContain('<name>sharable</name><value><boolean>0</boolean></value>');
    expect(xml).not.toContain('<int>');
  });

  it('xenDouble forces <double> for whole numbers (task progress -1.0)', () => {
    expect(serializeMethodCall('task.set_progress', ['s', 't', xenDouble(-1)])).toContain('<value><double>-1.0</double></value>');
  });

  it('sends Dates in UTC with Z, like XAPI', () => {
    const xml = serializeMethodCall('x.y', [new Date(Date.UTC(2024, 6, 16, 10, 11, 12))]);
    expect(xml).toContain('<dateTime.iso8601>20240716T10:11:12Z</dateTime.iso8601>');
  });

  it('arrays, empty strings, markup in strings, omitted undefined struct fields', () => {
    const xml = serializeMethodCall('a.b', [['x', 2], '', 'a<b&c', { keep: 'v', drop: undefined }]);
    expect(xml).toContain('<array><data><value><string>x</string></value><value><string>2</string></value></data></array>');
    expect(xml).toContain('<value><string/></value>');
    // npm xmlrpc uses CDATA for text with < or & (XAPI accepts it)
    expect(xml).toMatch(/a&lt;b&amp;c|<!\[CDATA\[a<b&c\]\]>/);
    expect(xml).toContain('<name>keep</name>');
    expect(xml).not.toContain('drop');
  });

  it('refuses values that would travel wrongly', () => {
    expect(() => serializeMethodCall('a.b', [undefined])).toThrow(TypeError);
    expect(() => serializeMethodCall('a.b', [2 ** 60])).toThrow(RangeError);
    expect(() => serializeMethodCall('a.b', [Number.NaN])).toThrow(TypeError);
    expect(() => serializeMethodCall('a b', [])).toThrow(TypeError);
  });
});

describe('parseMethodResponse / decodeValueXml', () => {
  it('reads XAPI bare values as strings (int64 stays text) and typed scalars', async () => {
    const v = await parseMethodResponse(
      wrap(
        '<value><struct><member><name>virtual_size</name><value>1073741824</value></member><member><name>progress</name><value><double>0.25</double></value></member><member><name>managed</name><value><boolean>1</boolean></value></member><member><name>empty</name><value></value></member><member><name>n</name><value><i4>3</i4></value></member></struct></value>',
      ),
    );
    expect(v).toEqual({ virtual_size: '1073741824', progress: 0.25, managed: true, empty: '', n: 3 });
  });

  it('a struct member called __proto__ stays an own property', async () => {
    const v = (await parseMethodResponse(
      wrap('<value><struct><member><name>__proto__</name><value><struct><member><name>polluted</name><value>yes</value></member></struct></value></member></struct></value>'),
    )) as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect((v as { polluted?: unknown }).polluted).toBeUndefined();
    expect(Object.keys(v)).toEqual(['__proto__']);
  });

  it('refuses a DTD, so no entity is ever declared or expanded', async () => {
    const xml = `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY big "AAAAAAAAAAAAAAAA">]><methodResponse><params><param><value>&big;</value></param></params></methodResponse>`;
    await expect(parseMethodResponse(xml)).rejects.toThrow(/DOCTYPE/);
    // Without a DTD an unknown entity is a well-formedness error, not text.
    await expect(parseMethodResponse('<methodResponse><params><param><value>&big;</value></param></params></methodResponse>')).rejects.toThrow();
  });

  it('rejects a document that is not a method response', async () => {
    await expect(parseMethodResponse('<html><body>HTTP 500 internal server error</body></html>')).rejects.toThrow();
    await expect(parseMethodResponse('not xml at all')).rejects.toThrow();
  });

  it('decodes task results: ref, set of refs, empty set, void, ""', async () => {
    expect(await decodeValueXml('<value>OpaqueRef:5c1f</value>')).toBe('OpaqueRef:5c1f');
    expect(await decodeValueXml('<value><array><data><value>OpaqueRef:a</value><value>OpaqueRef:b</value></data></array></value>')).toEqual([
      'OpaqueRef:a',
      'OpaqueRef:b',
    ]);
    expect(await decodeValueXml('<value><array><data></data></array></value>')).toEqual([]);
    expect(await decodeValueXml('<value></value>')).toBe('');
    expect(await decodeValueXml('')).toBeUndefined();
    expect(await decodeValueXml('OpaqueRef:bare')).toBe('OpaqueRef:bare');
    await expect(decodeValueXml('<foo/>')).rejects.toThrow();
  });
});

describe('unwrapEnvelope', () => {
  it('Success → Value; Failure → XenApiError; anything else → protocol error', () => {
    expect(unwrapEnvelope({ Status: 'Success', Value: 'OpaqueRef:x' }, 'm.n', 't')).toBe('OpaqueRef:x');
    try {
      unwrapEnvelope({ Status: 'Failure', ErrorDescription: ['HOST_IS_SLAVE', '192.0.2.10'] }, 'session.login_with_password', 't');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(XenApiError);
      expect((e as XenApiError).code).toBe('HOST_IS_SLAVE');
      expect((e as XenApiError).params).toEqual(['192.0.2.10']);
    }
    expect(() => unwrapEnvelope('x', 'm.n', 't')).toThrow(TransportError);
    expect(() => unwrapEnvelope({ Value: 1 }, 'm.n', 't')).toThrow(TransportError);
  });
});
