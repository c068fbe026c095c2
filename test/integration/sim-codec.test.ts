/**
 * The simulator's XML-RPC codec on its own: XAPI's output form, what it accepts, and the
 * defensive limits (no DOCTYPE, bounded depth, 64-bit ints).
 */
import { describe, expect, test } from 'vitest';
import {
  formatDouble,
  parseMethodCall,
  parseValue,
  serializeFailure,
  serializeSuccess,
  serializeValue,
  structOf,
  XmlRpcDateTime,
  XmlRpcParseError,
  type XmlRpcValue,
} from '../../src/sim/codec.js';
import { recordToValue, valueToField } from '../../src/sim/record-wire.js';
import { defaultRecord } from '../../src/sim/schema.js';

describe('serialisation (XAPI form)', () => {
  test('scalars', () => {
    expect(serializeValue('a<b>&"c"\u0001\t')).toBe('<value>a&lt;b&gt;&amp;&quot;c&quot;\t</value>');
    expect(serializeValue(1073741824n)).toBe('<value>1073741824</value>');
    expect(serializeValue(-1n)).toBe('<value>-1</value>');
    expect(serializeValue(true)).toBe('<value><boolean>1</boolean></value>');
    expect(serializeValue(false)).toBe('<value><boolean>0</boolean></value>');
    expect(serializeValue(0.5)).toBe('<value><double>0.5</double></value>');
    expect(serializeValue(new XmlRpcDateTime('2024-07-16T10:11:12Z'))).toBe('<value><dateTime.iso8601>20240716T10:11:12Z</dateTime.iso8601></value>');
    expect(serializeValue('')).toBe('<value></value>');
    expect(serializeValue(null)).toBe('<value></value>');
    expect(serializeValue([])).toBe('<value><array><data></data></array></value>');
    expect(serializeValue(structOf([]))).toBe('<value><struct></struct></value>');
  });

  test('%.16g like C (values checked against Python)', () => {
    const cases: Array<[number, string]> = [
      [0.25, '0.25'], [1, '1'], [0.1, '0.1'], [1 / 3, '0.3333333333333333'], [1e20, '1e+20'], [1e-5, '1e-05'],
      [123456789012345678, '1.234567890123457e+17'], [-2.5e-300, '-2.5e-300'], [1e16, '1e+16'],
      [9999999999999998, '9999999999999998'], [0.0001, '0.0001'], [100, '100'], [3.14159, '3.14159'],
      [2 ** 53, '9007199254740992'], [1e15, '1000000000000000'], [0, '0'], [-1, '-1'],
    ];
    for (const [x, want] of cases) expect(formatDouble(x), String(x)).toBe(want);
  });

  test('envelopes: one line, declaration, Status first', () => {
    expect(serializeSuccess('OpaqueRef:x')).toBe(
      '<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name><value>OpaqueRef:x</value></member></struct></value></param></params></methodResponse>',
    );
    expect(serializeFailure(['HOST_IS_SLAVE', '192.0.2.10'])).toBe(
      '<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value><array><data><value>HOST_IS_SLAVE</value><value>192.0.2.10</value></data></array></value></member></struct></value></param></params></methodResponse>',
    );
  });

  test('schema-driven records: ints bare, floats double, dates, maps', () => {
    const rec = defaultRecord('VDI');
    rec.virtual_size = 10737418240;
    rec.uuid = 'u';
    const xml = serializeValue(recordToValue('VDI', rec));
    expect(xml).toContain('<member><name>virtual_size</name><value>10737418240</value></member>');
    expect(xml).toContain('<member><name>sharable</name><value><boolean>0</boolean></value></member>');
    expect(xml).toContain('<member><name>snapshot_time</name><value><dateTime.iso8601>19700101T00:00:00Z</dateTime.iso8601></value></member>');
    expect(xml).toContain('<member><name>sm_config</name><value><struct></struct></value></member>');
    expect(xml.startsWith('<value><struct><member><name>uuid</name><value>u</value></member>')).toBe(true);
    const task = defaultRecord('task');
    task.progress = 1;
    expect(serializeValue(recordToValue('task', task))).toContain('<member><name>progress</name><value><double>1</double></value></member>');
  });
});

describe('parsing (what XAPI accepts)', () => {
  test('string forms', () => {
    expect(parseValue('<value>bare  text </value>')).toBe('bare  text ');
    expect(parseValue('<value><string>s</string></value>')).toBe('s');
    expect(parseValue('<value><string/></value>')).toBe('');
    expect(parseValue('<value></value>')).toBe('');
    expect(parseValue('<value><string><![CDATA[<&>]]></string></value>')).toBe('<&>');
    expect(parseValue('<value><![CDATA[x]]>y</value>')).toBe('xy');
    expect(parseValue('<value>&lt;&#65;&amp;</value>')).toBe('<A&');
  });

  test('numbers, booleans, dates, nil, nested', () => {
    expect(parseValue('<value><int>42</int></value>')).toBe(42n);
    expect(parseValue('<value><i4>-7</i4></value>')).toBe(-7n);
    expect(parseValue('<value><i8>9223372036854775807</i8></value>')).toBe(9223372036854775807n);
    expect(() => parseValue('<value><i8>9223372036854775808</i8></value>')).toThrow(XmlRpcParseError);
    expect(() => parseValue('<value><int>1.5</int></value>')).toThrow(XmlRpcParseError);
    expect(parseValue('<value><double>1e3</double></value>')).toBe(1000);
    expect(parseValue('<value><boolean>1</boolean></value>')).toBe(true);
    expect(() => parseValue('<value><boolean>yes</boolean></value>')).toThrow(XmlRpcParseError);
    expect((parseValue('<value><dateTime.iso8601>20240716T10:11:12</dateTime.iso8601></value>') as XmlRpcDateTime).text).toBe('20240716T10:11:12Z');
    expect((parseValue('<value><dateTime.iso8601>2024-07-16T10:11:12Z</dateTime.iso8601></value>') as XmlRpcDateTime).text).toBe('20240716T10:11:12Z');
    expect(parseValue('<value><nil/></value>')).toBe(null);
    const v = parseValue(
      '<value><struct>\n <member><name>__proto__</name><value>p</value></member>\n <member><name>a</name><value><array><data><value>1</value><value><int>2</int></value></data></array></value></member></struct></value>',
    ) as Record<string, XmlRpcValue>;
    expect(Object.keys(v)).toEqual(['__proto__', 'a']);
    expect(v.a).toEqual(['1', 2n]);
    expect(({} as Record<string, unknown>).p).toBeUndefined();
  });

  test('round trip of a metadata-export-like value', () => {
    const doc = structOf([
      ['version', structOf([['hostname', 'localhost'], ['xapi_major', 25n], ['export_vsn', 2n]])],
      ['objects', [structOf([['class', 'VM'], ['id', 'Ref:40'], ['snapshot', structOf([['is_a_template', false], ['memory_static_max', 2147483648n], ['HVM_shadow_multiplier', 1]])]])]],
    ]);
    const xml = serializeValue(doc);
    expect(serializeValue(parseValue(xml))).toBe(xml);
  });

  test('method calls and refusals', () => {
    expect(parseMethodCall('<?xml version="1.0"?><methodCall><methodName> VM.get_all </methodName><params><param><value>s</value></param></params></methodCall>')).toEqual({
      methodName: 'VM.get_all',
      params: ['s'],
    });
    expect(parseMethodCall('<methodCall><methodName>system.listMethods</methodName></methodCall>').params).toEqual([]);
    const refused = [
      '<!DOCTYPE x [<!ENTITY a "b">]><methodCall><methodName>&a;</methodName></methodCall>',
      '<methodCall><methodName>&a;</methodName></methodCall>',
      '<methodCall><methodName>m</methodName><params><param><value><base64>AA==</base64></value></param></params></methodCall>',
      '<methodCall><methodName>m</methodName><params><param><value><string>a</string><string>b</string></value></param></params></methodCall>',
      '<methodCall><methodName>m</methodName><params><param><value>x<string>a</string></value></param></params></methodCall>',
      `<methodCall><methodName>m</methodName><params><param>${'<value><array><data>'.repeat(200)}${'</data></array></value>'.repeat(200)}</param></params></methodCall>`,
      '<methodResponse/>',
      '',
    ];
    for (const x of refused) expect(() => parseMethodCall(x), x.slice(0, 60)).toThrow(XmlRpcParseError);
  });

  test('wire → database coercion as XAPI accepts it', () => {
    expect(valueToField({ kind: 'int' }, '1073741824', 'f')).toBe(1073741824);
    expect(valueToField({ kind: 'int' }, 5n, 'f')).toBe(5);
    expect(() => valueToField({ kind: 'int' }, 1.5, 'f')).toThrow(/FIELD_TYPE_ERROR/);
    expect(valueToField({ kind: 'float' }, '0.5', 'f')).toBe(0.5);
    expect(valueToField({ kind: 'float' }, 2n, 'f')).toBe(2);
    expect(() => valueToField({ kind: 'bool' }, 'true', 'f')).toThrow(/FIELD_TYPE_ERROR/);
    expect(valueToField({ kind: 'enum', values: ['Halted', 'Running'] }, 'running', 'f')).toBe('Running');
    expect(valueToField({ kind: 'datetime' }, '2024-07-16T10:11:12Z', 'f')).toBe('20240716T10:11:12Z');
  });
});
