/**
 * The simulator writes control characters as XAPI's writer (the rpc library's Xmlrpc) does:
 * dropped from string values, kept raw in struct member names, which it never escapes.
 */
import { describe, expect, it } from 'vitest';
import { serializeSuccess, serializeValue, structOf } from '../../src/sim/codec.js';

describe('control characters on the wire', () => {
  it('are dropped from values and kept raw in member names, as XAPI writes them', () => {
    const out = serializeSuccess(structOf([['note\u0001\u0008', 'a\u0001b\u0008\t\n\r'], ['name_label', 'x\u001fy']]));
    expect(out).toContain('<member><name>note\u0001\u0008</name><value>ab\t\n\r</value></member>');
    expect(out).toContain('<value>xy</value>');
  });

  it('still escapes markup in names and values', () => {
    expect(serializeValue(structOf([['a<b&"c"', '<&>']]))).toBe('<value><struct><member><name>a&lt;b&amp;&quot;c&quot;</name><value>&lt;&amp;&gt;</value></member></struct></value>');
  });
});
