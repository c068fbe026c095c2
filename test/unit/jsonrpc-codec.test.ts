/**
 * The client's JSON-RPC codec (src/xenapi/jsonrpc-codec.ts): requests in XenAPI's JSON
 * forms, answers read chunk by chunk within bounds, int64 beyond 2^53 kept exact, and XAPI's
 * two answer forms unwrapped into the error model the XML-RPC path uses.
 */
import { describe, expect, it } from 'vitest';
import {
  DECODED_CONTAINER_BYTES,
  JsonAnswerReader,
  JsonAnswerTooLarge,
  JsonRpcAnswerError,
  keepRecordFields,
  serializeJsonRpcCall,
  unwrapJsonRpc,
} from '../../src/xenapi/jsonrpc-codec.js';
import { MAX_VALUE_DEPTH, toBigInt, toInt, xenDouble } from '../../src/xenapi/index.js';
import { jsonRpcDependable } from '../../src/xenapi/session.js';

const LIMIT = 64 * 1024 * 1024;

/** Feeds `text` to a reader in pieces of `step` bytes (so every boundary is met). */
function read(text: string | Buffer, step = Infinity, maxDecodedBytes = LIMIT): unknown {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8');
  const r = new JsonAnswerReader({ maxDecodedBytes });
  for (let i = 0; i < bytes.length; i += step) r.write(bytes.subarray(i, Math.min(bytes.length, i + step)));
  return r.end();
}

describe('requests', () => {
  it('writes a JSON-RPC 2.0 call with XenAPI value forms', () => {
    const text = serializeJsonRpcCall(
      'VDI.create',
      ['OpaqueRef:s', { virtual_size: 1073741824, big: 2n ** 63n - 1n, ratio: 0.5, whole: xenDouble(1), when: new Date(Date.UTC(2024, 6, 16, 10, 11, 12)), sharable: false, left: undefined, none: null }],
      7,
    );
    expect(text).toBe(
      '{"jsonrpc":"2.0","method":"VDI.create","params":["OpaqueRef:s",{"virtual_size":1073741824,"big":9223372036854775807,"ratio":0.5,"whole":1.0,"when":"20240716T10:11:12Z","sharable":false,"none":null}],"id":7}',
    );
    // Valid JSON, and the bigint's digits are exactly there (not through a double).
    expect(JSON.parse(text).id).toBe(7);
  });

  it('writes a member named __proto__ as a member, Maps as structs, and escapes strings', () => {
    const obj = JSON.parse('{"__proto__":"x"}') as Record<string, unknown>;
    expect(serializeJsonRpcCall('m.n', [obj, new Map([['a"b', 'c\n']])], 1)).toBe('{"jsonrpc":"2.0","method":"m.n","params":[{"__proto__":"x"},{"a\\"b":"c\\n"}],"id":1}');
  });

  it('refuses what XenAPI cannot carry or a JS number cannot hold', () => {
    expect(() => serializeJsonRpcCall('m.n', [Buffer.from('x')], 1)).toThrow(/no binary type/);
    expect(() => serializeJsonRpcCall('m.n', [2 ** 53 + 2], 1)).toThrow(/not exact; pass a bigint/);
    expect(() => serializeJsonRpcCall('m.n', [NaN], 1)).toThrow(/cannot send NaN/);
    expect(() => serializeJsonRpcCall('m.n', [undefined], 1)).toThrow(/undefined cannot be sent/);
    expect(() => serializeJsonRpcCall('VM.get_all"}', [], 1)).toThrow(/invalid XenAPI method name/);
  });
});

describe('answers', () => {
  const answer = '{"jsonrpc":"2.0","result":{"OpaqueRef:1":{"name_label":"caf\u00e9 \\"q\\" \\\\","tags":["a\\\\","b\\""],"size":10737418240,"progress":0.25}},"id":3}';

  it('reads the same value whatever the chunk boundaries (escapes and multi-byte characters split)', () => {
    const whole = read(answer);
    expect(whole).toEqual(JSON.parse(answer));
    for (const step of [1, 2, 3, 5, 7]) expect(read(answer, step)).toEqual(whole);
  });

  it('keeps an int64 beyond 2^53 as its exact decimal text, as XML-RPC gives it; others stay numbers', () => {
    const text = '{"result":[9007199254740991,9007199254740993,-9223372036854775808,18446744073709551615,1.2345678901234567e30,12345678901234567.5,"12345678901234567890"],"error":null,"id":1}';
    for (const step of [Infinity, 1, 4]) {
      const v = unwrapJsonRpc(read(text, step), 1);
      expect(v).toEqual({ ok: true, value: [9007199254740991, '9007199254740993', '-9223372036854775808', '18446744073709551615', 1.2345678901234567e30, 12345678901234567.5, '12345678901234567890'] });
    }
    const [safe, big, min] = (unwrapJsonRpc(read(text), 1) as { value: unknown[] }).value;
    expect(toInt(safe)).toBe(9007199254740991);
    expect(toBigInt(big)).toBe(9007199254740993n);
    expect(toBigInt(min)).toBe(-(2n ** 63n));
    // The XML-RPC path refuses such a value where a number is read: so does this one.
    expect(() => toInt(big)).toThrow(/out of safe range/);
  });

  it('refuses values nested deeper than XenAPI has, before parsing', () => {
    const nested = (n: number) => `{"result":${'['.repeat(n)}${']'.repeat(n)},"id":1}`;
    expect(() => read(nested(MAX_VALUE_DEPTH))).not.toThrow();
    expect(() => read(nested(MAX_VALUE_DEPTH + 1))).toThrow(/nested more than 64 deep/);
    // A million deep fails as soon as the depth is passed, in the first chunk.
    const r = new JsonAnswerReader({ maxDecodedBytes: LIMIT });
    expect(() => r.write(Buffer.from(`{"result":${'['.repeat(1_000_000)}`))).toThrow(JsonRpcAnswerError);
  });

  it('refuses an answer that would decode far beyond its size, while it arrives', () => {
    // 3 bytes of text per empty object: a body this dense would cost ~20 × its size.
    const r = new JsonAnswerReader({ maxDecodedBytes: 1024 * 1024 });
    const piece = Buffer.from('{},'.repeat(10_000));
    r.write(Buffer.from('{"result":['));
    let fed = 0;
    const feed = () => {
      for (;;) {
        r.write(piece);
        fed += piece.length;
      }
    };
    expect(feed).toThrow(JsonAnswerTooLarge);
    // Refused after about limit / (a container's cost) objects, long before the text reached the limit.
    expect(fed).toBeLessThan(((1024 * 1024) / DECODED_CONTAINER_BYTES) * 3 + piece.length);
  });

  it('refuses a truncated answer, trailing text and text that is not JSON', () => {
    expect(() => read('{"result":"abc')).toThrow(/ends before it is complete/);
    expect(() => read('{"result":[1,2')).toThrow(/ends before it is complete/);
    expect(() => read('{"result":1,"id":1} x')).toThrow(/not JSON/);
    expect(() => read('<html><body>HTTP 500 internal server error</body></html>')).toThrow(/not JSON/);
    expect(() => read('{"result":"a\u0001b","id":1}')).toThrow(/not JSON/);
    expect(() => read('')).toThrow(/not JSON/);
  });
});

describe('unwrapJsonRpc', () => {
  it('reads both of XAPI forms of a result and of an error', () => {
    expect(unwrapJsonRpc({ result: 'OpaqueRef:x', error: null, id: 2 }, 2)).toEqual({ ok: true, value: 'OpaqueRef:x' });
    expect(unwrapJsonRpc({ jsonrpc: '2.0', result: '', id: 2 }, 2)).toEqual({ ok: true, value: '' });
    expect(unwrapJsonRpc({ result: null, error: ['HANDLE_INVALID', 'VM', 'OpaqueRef:y'], id: 2 }, 2)).toEqual({ ok: false, description: ['HANDLE_INVALID', 'VM', 'OpaqueRef:y'] });
    expect(unwrapJsonRpc({ jsonrpc: '2.0', error: { code: 1, message: 'SESSION_INVALID', data: ['OpaqueRef:s'] }, id: 2 }, 2)).toEqual({
      ok: false,
      description: ['SESSION_INVALID', 'OpaqueRef:s'],
    });
  });

  it('refuses an answer to another request, without result or error, or with an error XenAPI never sends', () => {
    expect(() => unwrapJsonRpc({ result: 1, error: null, id: 3 }, 2)).toThrow(/for request 3, not 2/);
    expect(() => unwrapJsonRpc({ jsonrpc: '2.0', id: 2 }, 2)).toThrow(/neither a result nor an error/);
    expect(() => unwrapJsonRpc({ jsonrpc: '2.0', error: { code: -32600 }, id: 2 }, 2)).toThrow(/error XenAPI does not send/);
    expect(() => unwrapJsonRpc([1], 2)).toThrow(/not a JSON-RPC object/);
  });
});

describe('keepRecordFields', () => {
  it('keeps only the fields asked for, as own members whatever their name', () => {
    const parsed = JSON.parse('{"OpaqueRef:a":{"uuid":"u","name_label":"n","__proto__":"p","other":1}}') as Record<string, unknown>;
    const kept = keepRecordFields(parsed, new Set(['uuid', '__proto__'])) as Record<string, Record<string, unknown>>;
    expect(Object.keys(kept['OpaqueRef:a']!)).toEqual(['uuid', '__proto__']);
    expect(Object.getPrototypeOf(kept['OpaqueRef:a'])).toBe(Object.prototype);
    expect(kept['OpaqueRef:a']!['__proto__']).toBe('p');
  });
});

describe('jsonRpcDependable', () => {
  it('follows XenCenter: API 2.6, and 2.8 on', () => {
    const v = (major: number, minor: number) => jsonRpcDependable({ major, minor });
    expect([v(1, 2), v(2, 5), v(2, 6), v(2, 7), v(2, 8), v(2, 21), v(3, 0)]).toEqual([false, false, true, false, true, true, true]);
  });
});
