import { describe, expect, it } from 'vitest';
import { AbortError, TransportError, XenApiError, chunkHeader, chunkedBodyLength, decodeChunkFrames, encodeChunkFrames, fieldEquals, isNullRef, masterUrl, normalizeFingerprint, quoteWhere, redirectTarget, tlsMode, tlsWarning, toBigInt, toBool, toFloat, toInt, toStrMap } from '../../src/xenapi/index.js';
import { explainError, explainXenApiError } from '../../src/failure/index.js';
import { toTransportError, type TransportErrorKind } from '../../src/xenapi/errors.js';

describe('int64 / bool helpers', () => {
  it('toInt reads XAPI bare-text ints and refuses inexact or non-integers', () => {
    expect(toInt('1073741824')).toBe(1073741824);
    expect(toInt('-1')).toBe(-1);
    expect(toInt(42)).toBe(42);
    expect(toInt(7n)).toBe(7);
    expect(() => toInt('9223372036854775807')).toThrow(RangeError);
    expect(() => toInt('12abc')).toThrow(TypeError);
    expect(() => toInt('1.5')).toThrow(TypeError);
    expect(() => toInt(undefined)).toThrow(TypeError);
  });

  it('toBigInt is exact over the whole int64 range', () => {
    expect(toBigInt('9223372036854775807')).toBe(9223372036854775807n);
    expect(toBigInt('-9223372036854775808')).toBe(-9223372036854775808n);
    expect(() => toBigInt('0x10')).toThrow(TypeError);
  });

  it('toBool accepts booleans and the map-value strings, case-insensitively', () => {
    expect(toBool(true)).toBe(true);
    expect(toBool('true')).toBe(true);
    expect(toBool('TRUE')).toBe(true);
    expect(toBool('false')).toBe(false);
    expect(toBool('')).toBe(false);
    expect(() => toBool('yes')).toThrow(TypeError);
  });

  it('toFloat and toStrMap', () => {
    expect(toFloat(0.25)).toBe(0.25);
    expect(toFloat('-1.0')).toBe(-1);
    expect(() => toFloat('x')).toThrow(TypeError);
    const m = toStrMap({ product_brand: 'XenServer', __proto__x: 'y' });
    expect(m.product_brand).toBe('XenServer');
    expect(() => toStrMap(['a'])).toThrow(TypeError);
  });

  it('isNullRef knows OpaqueRef:NULL and the empty forms', () => {
    expect(isNullRef('OpaqueRef:NULL')).toBe(true);
    expect(isNullRef('')).toBe(true);
    expect(isNullRef('Ref:12')).toBe(true);
    expect(isNullRef('OpaqueRef:0b6f6c4e-1111-2222-3333-444455556666')).toBe(false);
  });
});

describe('where-expressions', () => {
  it('quotes plain values and refuses a double quote', () => {
    expect(quoteWhere('Pool Metadata Backup')).toBe('"Pool Metadata Backup"');
    expect(() => quoteWhere('x" or true or "')).toThrow(RangeError);
    expect(fieldEquals('name__label', 'Pool Metadata Backup')).toBe('field "name__label" = "Pool Metadata Backup"');
    expect(() => fieldEquals('name label', 'x')).toThrow(RangeError);
  });
});

describe('chunk protocol frames', () => {
  it('encodes little-endian {offset u64, length u32} headers and a zero terminator', () => {
    expect([...chunkHeader(0x0102030405n, 0x0a0b0c)]).toEqual([5, 4, 3, 2, 1, 0, 0, 0, 0x0c, 0x0b, 0x0a, 0]);
    const body = encodeChunkFrames([
      { offset: 4096, data: Buffer.from('abc') },
      { offset: 2 ** 40, data: Buffer.from([0xff]) },
    ]);
    expect(body.length).toBe(12 + 3 + 12 + 1 + 12);
    expect(chunkedBodyLength([{ offset: 4096, data: Buffer.from('abc') }, { offset: 2 ** 40, data: Buffer.from([0xff]) }])).toBe(body.length);
    expect(body.readBigUInt64LE(0)).toBe(4096n);
    expect(body.readUInt32LE(8)).toBe(3);
    expect(body.subarray(12, 15).toString()).toBe('abc');
    expect(body.readBigUInt64LE(15)).toBe(2n ** 40n);
    expect(body.subarray(body.length - 12).every((b) => b === 0)).toBe(true);
    const back = decodeChunkFrames(body);
    expect(back.map((r) => [r.offset, Buffer.from(r.data).toString('hex')])).toEqual([
      [4096, '616263'],
      [2 ** 40, 'ff'],
    ]);
  });

  it('skips empty regions (a zero frame would end the stream) and rejects malformed bodies', () => {
    expect(encodeChunkFrames([{ offset: 0, data: Buffer.alloc(0) }]).length).toBe(12);
    expect(() => decodeChunkFrames(Buffer.alloc(5))).toThrow(RangeError);
    expect(() => decodeChunkFrames(Buffer.concat([chunkHeader(0, 10), Buffer.alloc(3)]))).toThrow(RangeError);
    expect(() => chunkHeader(-1, 1)).toThrow(RangeError);
    expect(() => chunkHeader(0, 2 ** 32)).toThrow(RangeError);
  });
});

describe('TLS policy helpers', () => {
  const fp = 'ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89';
  it('normalizes fingerprints with or without colons, any case', () => {
    const canon = fp.toUpperCase();
    expect(normalizeFingerprint(fp)).toBe(canon);
    expect(normalizeFingerprint(fp.replace(/:/g, ''))).toBe(canon);
    expect(normalizeFingerprint(`SHA256 ${fp}`)).toBe(canon);
    expect(() => normalizeFingerprint('AB:CD')).toThrow(TypeError);
  });

  it('is never silently insecure', () => {
    expect(tlsMode(undefined)).toBe('verify');
    expect(tlsWarning(undefined)).toBeUndefined();
    expect(tlsMode({ insecure: true })).toBe('insecure');
    expect(tlsWarning({ insecure: true })).toMatch(/verification is OFF/);
    // A pin is stricter than "insecure": it wins.
    expect(tlsMode({ insecure: true, fingerprint: fp })).toBe('pinned');
    expect(tlsWarning({ fingerprint: fp })).toBeUndefined();
  });
});

describe('URLs', () => {
  it('masterUrl keeps scheme, port and path, and brackets IPv6', () => {
    const from = new URL('https://192.0.2.5:8443/');
    expect(masterUrl(from, '192.0.2.10').href).toBe('https://192.0.2.10:8443/');
    expect(masterUrl(from, 'fd00::10').href).toBe('https://[fd00::10]:8443/');
    expect(masterUrl(new URL('http://h/'), 'master.example').href).toBe('http://master.example/');
    expect(() => masterUrl(from, 'evil/path')).toThrow(TypeError);
  });

  it('redirectTarget re-adds session_id and task_id the Location dropped', () => {
    const from = new URL('https://a/export_raw_vdi?session_id=OpaqueRef:s&task_id=OpaqueRef:t&vdi=v');
    const to = redirectTarget(from, 'https://b:444/export_raw_vdi?vdi=v', 'OpaqueRef:s', 'OpaqueRef:t');
    expect(to.host).toBe('b:444');
    expect(to.searchParams.get('vdi')).toBe('v');
    expect(to.searchParams.get('session_id')).toBe('OpaqueRef:s');
    expect(to.searchParams.get('task_id')).toBe('OpaqueRef:t');
    const kept = redirectTarget(from, '/x?task_id=OpaqueRef:other&session_id=OpaqueRef:s', 'OpaqueRef:s', 'OpaqueRef:t');
    expect(kept.searchParams.getAll('task_id')).toEqual(['OpaqueRef:other']);
    expect(kept.host).toBe('a');
  });
});

describe('error explanations', () => {
  const specific = [
    'SESSION_AUTHENTICATION_FAILED',
    'SESSION_AUTHORIZATION_FAILED',
    'HOST_IS_SLAVE',
    'SESSION_INVALID',
    'HANDLE_INVALID',
    'UUID_INVALID',
    'OPERATION_NOT_ALLOWED',
    'OTHER_OPERATION_IN_PROGRESS',
    'VM_BAD_POWER_STATE',
    'VDI_IN_USE',
    'VDI_READONLY',
    'SR_FULL',
    'SR_NO_PBDS',
    'DEVICE_ALREADY_ATTACHED',
    'DEVICE_ALREADY_DETACHED',
    'DEVICE_DETACH_REJECTED',
    'DEVICE_ALREADY_EXISTS',
    'TASK_CANCELLED',
    'RBAC_PERMISSION_DENIED',
    'IMPORT_INCOMPATIBLE_VERSION',
    'VDI_LOCATION_MISSING',
    'VDI_CONTENT_ID_MISSING',
    'VM_TO_IMPORT_IS_NOT_NEWER_VERSION',
    'DUPLICATE_MAC_SEED',
    'IMPORT_ERROR_FAILED_TO_FIND_OBJECT',
    'IMPORT_ERROR_ATTACHED_DISKS_NOT_FOUND',
    'IMPORT_ERROR_UNEXPECTED_FILE',
    'IMPORT_ERROR_PREMATURE_EOF',
    'IMPORT_ERROR_SOME_CHECKSUMS_FAILED',
    'IMPORT_ERROR_CANNOT_HANDLE_CHUNKED',
    'IMPORT_ERROR',
    'MESSAGE_METHOD_UNKNOWN',
    'MESSAGE_PARAMETER_COUNT_MISMATCH',
    'INTERNAL_ERROR',
  ];

  it.each(specific)('%s has its own operator text', (code) => {
    const e = explainXenApiError(new XenApiError([code, 'p1', 'p2', 'p3']));
    expect(e.code).toBe(code);
    expect(e.meaning).not.toMatch(/^XAPI reported/);
    expect(e.meaning.length).toBeGreaterThan(10);
    expect(e.nextStep.length).toBeGreaterThan(5);
  });

  it('interpolates XAPI params into the text', () => {
    expect(explainXenApiError(new XenApiError(['HOST_IS_SLAVE', '192.0.2.10'])).nextStep).toContain('192.0.2.10');
    expect(explainXenApiError(new XenApiError(['VDI_LOCATION_MISSING', 'OpaqueRef:sr', 'loc-1'])).meaning).toContain('loc-1');
    expect(explainXenApiError(new XenApiError(['SR_FULL', '100', '50'])).meaning).toMatch(/100.*50/);
  });

  it('the default still shows code and params', () => {
    const e = explainXenApiError(new XenApiError(['SOME_NEW_CODE', 'a', 'b'], 'VM.frob'));
    expect(e.code).toBe('SOME_NEW_CODE');
    expect(e.meaning).toContain('SOME_NEW_CODE');
    expect(e.meaning).toContain('a, b');
    expect(e.meaning).toContain('VM.frob');
  });

  it('XenApiError keeps code, params and method', () => {
    const e = new XenApiError(['HANDLE_INVALID', 'VM', 'OpaqueRef:x'], 'VM.get_record');
    expect(e.code).toBe('HANDLE_INVALID');
    expect(e.params).toEqual(['VM', 'OpaqueRef:x']);
    expect(e.method).toBe('VM.get_record');
    expect(e.message).toBe('VM.get_record: HANDLE_INVALID [VM, OpaqueRef:x]');
    expect(XenApiError.is(e, 'HANDLE_INVALID')).toBe(true);
    expect(XenApiError.is(e, 'UUID_INVALID')).toBe(false);
  });

  it('maps socket errors to transport kinds, each with text', () => {
    const cases: Array<[string, TransportErrorKind]> = [
      ['ECONNREFUSED', 'connection-refused'],
      ['ECONNRESET', 'connection-reset'],
      ['EPIPE', 'connection-reset'],
      ['ENOTFOUND', 'dns'],
      ['EHOSTUNREACH', 'unreachable'],
      ['DEPTH_ZERO_SELF_SIGNED_CERT', 'tls-untrusted'],
      ['SELF_SIGNED_CERT_IN_CHAIN', 'tls-untrusted'],
      ['ERR_TLS_CERT_ALTNAME_INVALID', 'tls-hostname'],
      ['ERR_SSL_WRONG_VERSION_NUMBER', 'tls'],
    ];
    for (const [code, kind] of cases) {
      const err = Object.assign(new Error(`x ${code}`), { code });
      const t = toTransportError(err, 'https://h:443/');
      expect(t).toBeInstanceOf(TransportError);
      expect((t as TransportError).kind).toBe(kind);
      const x = explainError(t);
      expect(x.code).toBe(`TRANSPORT_${kind.toUpperCase().replace(/-/g, '_')}`);
      expect(x.meaning).toContain('h:443');
    }
  });

  it('explains every transport kind, aborts and unknown errors', () => {
    const kinds: TransportErrorKind[] = [
      'connection-refused', 'connection-reset', 'unreachable', 'dns', 'timeout', 'tls-untrusted', 'tls-hostname',
      'tls-fingerprint-mismatch', 'tls', 'http-status', 'unauthorized', 'forbidden', 'protocol', 'too-large', 'socket',
    ];
    for (const kind of kinds) {
      const x = explainError(new TransportError('m', { kind, target: 'http://h/', status: 500 }));
      expect(x.meaning.length).toBeGreaterThan(0);
      expect(x.nextStep.length).toBeGreaterThan(0);
    }
    expect(explainError(new TransportError('m', { kind: 'http-status', target: 'http://h/x', status: 500 })).meaning).toContain('500');
    expect(explainError(new AbortError()).code).toBe('CANCELLED');
    // Anything else is a bug, said as one (src/failure/describe.ts).
    expect(explainError(new Error('boom'))).toMatchObject({ code: 'INTERNAL_BUG', meaning: expect.stringContaining('Error: boom') });
  });
});
