/**
 * The answer decoder against what a hostile or merely odd host sends: raw characters XML
 * forbids (XAPI writes map keys unescaped), nesting and size bombs, stray text, standalone
 * <value> documents with a declaration. Every refusal is an Error with a clear message; no
 * case may overflow the stack, here or in whatever walks the decoded value.
 */
import { describe, expect, it } from 'vitest';
import { MAX_VALUE_DEPTH, MethodResponseDecoder, decodeMethodResponse, decodeValueDocument } from '../../src/xenapi/xmlrpc-decoder.js';
import { maskForbiddenChars, unmaskForbiddenChars } from '../../src/xenapi/xml-forbidden-chars.js';

const wrap = (value: string) => `<?xml version="1.0"?><methodResponse><params><param>${value}</param></params></methodResponse>`;
const member = (name: string, value: string) => `<member><name>${name}</name><value>${value}</value></member>`;
const struct = (...members: string[]) => `<struct>${members.join('')}</struct>`;

function inPieces(xml: Buffer, size: number): unknown {
  const d = new MethodResponseDecoder();
  for (let at = 0; at < xml.length; at += size) d.write(xml.subarray(at, at + size));
  return d.end();
}

describe('characters XML forbids', () => {
  const name = 'a\u0001b\u0008';
  // What XAPI's writer sends for a VM whose other_config has such a key: the key raw.
  const answer = wrap(`<value>${struct(member('Status', 'Success'), member('Value', struct(member(name, 'v\u001f'), member('name_label', `${name} café \u{1F600}`))))}</value>`);

  it('decodes an answer holding raw C0 controls, keeping the exact values and names', () => {
    const v = decodeMethodResponse(answer) as { Value: Record<string, string> };
    expect(Object.keys(v.Value)).toEqual([name, 'name_label']);
    expect(v.Value[name]).toBe('v\u001f');
    expect(v.Value['name_label']).toBe(`${name} café \u{1F600}`);
  });

  it('gives the same values whatever the chunk boundaries, UTF-8 sequences split included', () => {
    const bytes = Buffer.from(answer);
    const whole = decodeMethodResponse(bytes);
    for (const size of [1, 2, 3, 5, 7, 64]) expect(inPieces(bytes, size), `chunks of ${size}`).toEqual(whole);
  });

  it('keeps NUL, U+FFFE, U+FFFF, TAB, LF, C1 controls, U+2028 and private-use characters exact', () => {
    const tricky = ['\u0000', '\ufffe', '\uffff', '\t', '\n', '\u0085', '\u009b', '\u2028', '\ue000', '\ue001', '\ue022', '\ue000\ue001', 'x\ue000'];
    for (const t of tricky) {
      const v = decodeMethodResponse(wrap(`<value>${struct(member(`k${t}`, `v${t}`))}</value>`)) as Record<string, string>;
      expect(v, JSON.stringify(t)).toEqual({ [`k${t}`]: `v${t}` });
    }
  });

  it('masks reversibly for any text', () => {
    let all = '';
    for (let c = 0; c < 0x30; c++) all += String.fromCharCode(c);
    for (let c = 0xdfff; c < 0xe030; c++) if (c > 0xdfff) all += String.fromCharCode(c);
    all += '\ufffd\ufffe\uffff';
    expect(unmaskForbiddenChars(maskForbiddenChars(all))).toBe(all);
    expect(maskForbiddenChars('plain text')).toBe('plain text');
  });

  it('still refuses what is not well-formed (a raw < in a key is not a control character)', () => {
    expect(() => decodeMethodResponse(wrap(`<value>${struct(member('a<b', 'x'))}</value>`))).toThrow();
    expect(() => decodeMethodResponse(wrap('<value>a & b</value>'))).toThrow();
  });
});

describe('bounds', () => {
  it('refuses values nested deeper than MAX_VALUE_DEPTH with a clear message, long before a stack overflow', () => {
    const deep = (n: number) => wrap(`${'<value><array><data>'.repeat(n)}${'</data></array></value>'.repeat(n)}`);
    expect(() => decodeMethodResponse(deep(MAX_VALUE_DEPTH - 1))).not.toThrow();
    expect(() => decodeMethodResponse(deep(MAX_VALUE_DEPTH + 1))).toThrow(/values nested more than 64 deep/);
    // What used to end in "Maximum call stack size exceeded" in whatever printed the value.
    expect(() => decodeMethodResponse(deep(200_000))).toThrow(/nested more than/);
  });

  it('refuses elements nested without values (a <data> or <member> tower)', () => {
    expect(() => decodeMethodResponse(wrap(`<value><array>${'<data>'.repeat(100_000)}`))).toThrow(/elements nested more than/);
  });

  it('refuses an element with many attributes before saxes collects them all', () => {
    let attrs = '';
    for (let i = 0; i < 100_000; i++) attrs += ` a${i}=""`;
    expect(() => decodeMethodResponse(wrap(`<value${attrs}>x</value>`))).toThrow(/more than 16 attributes/);
  });

  it('counts values and members when asked', () => {
    const many = wrap(`<value><array><data>${'<value>x</value>'.repeat(1001)}</data></array></value>`);
    expect(() => decodeMethodResponse(many, { maxValues: 1000 })).toThrow(/more than 1000 values/);
    expect((decodeMethodResponse(many, { maxValues: 2000 }) as unknown[]).length).toBe(1001);
  });

  it('refuses text mixed into the markup, as XAPI’s reader does', () => {
    expect(() => decodeMethodResponse(wrap('<value>junk<string>x</string></value>'))).toThrow(/text before <string>/);
    expect(() => decodeMethodResponse(wrap('<value><string>x</string>junk</value>'))).toThrow(/text inside <value>/);
    expect(() => decodeMethodResponse(wrap(`<value><struct>junk${member('a', 'b')}</struct></value>`))).toThrow(/text before <member>/);
    // White space between elements is no text.
    expect(decodeMethodResponse(wrap(`<value>\n  <struct>\n   ${member('a', ' b ')}\n  </struct>\n</value>`))).toEqual({ a: ' b ' });
  });

  it('refuses a duplicate member when asked', () => {
    const dup = wrap(`<value>${struct(member('a', '1'), member('a', '2'))}</value>`);
    expect(decodeMethodResponse(dup)).toEqual({ a: '2' });
    expect(() => decodeMethodResponse(dup, { uniqueMembers: true })).toThrow(/names member "a" twice/);
  });
});

describe('standalone <value> documents', () => {
  const doc = `<value>${struct(member('n', '<int>5</int>'), member('d', '<double>5</double>'), member('s', '5'), member('i8', '<i8>9007199254740993</i8>'))}</value>`;

  it('reads one with or without an XML declaration, indented or not', () => {
    const plain = decodeValueDocument(doc, { integers: 'bigint' });
    expect(plain).toEqual({ value: { n: 5n, d: 5, s: '5', i8: 9007199254740993n }, forbiddenChars: 0 });
    expect(decodeValueDocument(`<?xml version="1.0" encoding="UTF-8"?>\n${doc}\n`, { integers: 'bigint' })).toEqual(plain);
    const indented = `<?xml version="1.0"?>\n<value>\n  <struct>\n    <member>\n      <name>n</name>\n      <value><int>5</int></value>\n    </member>\n  </struct>\n</value>\n`;
    expect(decodeValueDocument(indented).value).toEqual({ n: 5 });
  });

  it('counts the forbidden characters it decoded, and refuses another document element', () => {
    expect(decodeValueDocument('<value>a\u0001\u0002</value>')).toEqual({ value: 'a\u0001\u0002', forbiddenChars: 2 });
    expect(() => decodeValueDocument(wrap('<value>x</value>'))).toThrow(/not an XML-RPC <value>/);
    expect(() => decodeMethodResponse('<value>x</value>')).toThrow(/not an XML-RPC <methodResponse>/);
  });
});
