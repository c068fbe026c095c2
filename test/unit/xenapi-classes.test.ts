/**
 * The typed helpers per XenAPI class (src/xenapi/classes): the calls they make, and their
 * readers — a field of another type than the datamodel's is a protocol error naming the
 * class and field (an expected failure with its own code), never a wrong value or a bug.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { registerSecret, resetSecretsForTests } from '../../src/redact.js';
import { describeFailure } from '../../src/failure/index.js';
import { Host, Pool, TransportError, VBD, VDI, VM, type CallOptions, type Session } from '../../src/xenapi/index.js';
import { bool, int, ref, string, stringMap, stringSet } from '../../src/xenapi/classes/fields.js';

interface Sent {
  method: string;
  params: readonly unknown[];
  opts: CallOptions | undefined;
}

/** A session whose XAPI answers `answer(method, params)`; records what was sent. */
function fakeSession(answer: (method: string, params: readonly unknown[]) => unknown): { session: Session; sent: Sent[] } {
  const sent: Sent[] = [];
  const session = {
    url: 'https://pool.example/',
    ref: 'OpaqueRef:session',
    async invoke(method: string, params: readonly unknown[], opts?: CallOptions) {
      sent.push({ method, params, opts });
      return answer(method, params);
    },
  } as unknown as Session;
  return { session, sent };
}

const VDI_RECORD = {
  uuid: '6f0c5a5e-0000-4000-8000-000000000001',
  name_label: 'Pool Metadata Backup',
  name_description: '',
  SR: 'OpaqueRef:sr',
  virtual_size: '268435456',
  read_only: false,
  type: 'user',
  is_a_snapshot: false,
  other_config: { 'ctxs-pool-backup': 'true' },
  location: 'abc',
  VBDs: ['OpaqueRef:vbd'],
  // Fields this program does not read pass unchecked and are not kept.
  sm_config: { anything: 'at all' },
};

async function failureOf(p: Promise<unknown>): Promise<TransportError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TransportError);
  return err as TransportError;
}

describe('field types', () => {
  it('read the datamodel types, and a missing field as its empty value', () => {
    expect(string.read('x')).toBe('x');
    expect(string.read(undefined)).toBe('');
    expect(ref.read('OpaqueRef:a')).toBe('OpaqueRef:a');
    expect(int.read('268435456')).toBe(268435456);
    expect(int.read(-1)).toBe(-1);
    expect(bool.read(true)).toBe(true);
    expect(bool.read(undefined)).toBe(false);
    expect(stringMap.read({ a: 'b' })).toEqual({ a: 'b' });
    expect(stringMap.read(undefined)).toEqual({});
    expect(stringSet.read(['OpaqueRef:a'])).toEqual(['OpaqueRef:a']);
    expect(stringSet.read(undefined)).toEqual([]);
  });

  it('refuse any other type, naming what came', () => {
    expect(() => string.read(['a'])).toThrow('expected a string, got a set');
    expect(() => string.read(5)).toThrow('expected a string, got number 5');
    expect(() => int.read('12 GiB')).toThrow(/not an integer/);
    expect(() => int.read(true)).toThrow('expected an int, got boolean true');
    expect(() => int.read('9007199254740993')).toThrow(/safe range/);
    // An int has no empty value: a size never reads as 0.
    expect(() => int.read(undefined)).toThrow(/missing/);
    // XAPI sends <boolean>; a string "true" is not one (it read as false before).
    expect(() => bool.read('true')).toThrow('expected a boolean, got "true"');
    expect(() => stringMap.read(['a'])).toThrow('expected a (string -> string) map, got a set');
    expect(() => stringMap.read({ a: { b: 'c' } })).toThrow('key "a": expected a string, got a map');
    expect(() => stringSet.read('OpaqueRef:a')).toThrow('expected a set of strings, got "OpaqueRef:a"');
    expect(() => stringSet.read(['a', 7])).toThrow('element 1: expected a string, got number 7');
    expect(() => bool.read('x'.repeat(100))).toThrow(/got "x{40}…"$/);
  });
});

describe('records', () => {
  afterEach(() => resetSecretsForTests());

  it('a password the host echoes in a wrong field is scrubbed before the value is cut', async () => {
    const password = `pw-${'s'.repeat(50)}`;
    registerSecret(password);
    const { session } = fakeSession(() => ({ ...VDI_RECORD, read_only: `yes ${password}` }));
    const err = await failureOf(VDI.getRecord(session, 'OpaqueRef:vdi'));
    expect(err.detail).toBe('VDI.get_record: VDI field read_only: expected a boolean, got "yes [redacted]"');
    expect(`${err.message} ${err.detail}`).not.toContain('pw-sss');
  });

  it('VDI.getRecord reads the typed fields, with the call options passed through', async () => {
    const { session, sent } = fakeSession(() => VDI_RECORD);
    const signal = new AbortController().signal;
    const rec = await VDI.getRecord(session, 'OpaqueRef:vdi', { signal });
    expect(sent).toEqual([{ method: 'VDI.get_record', params: ['OpaqueRef:vdi'], opts: { signal } }]);
    expect(rec).toEqual({
      uuid: VDI_RECORD.uuid,
      name_label: 'Pool Metadata Backup',
      name_description: '',
      SR: 'OpaqueRef:sr',
      virtual_size: 268435456,
      read_only: false,
      type: 'user',
      is_a_snapshot: false,
      other_config: { 'ctxs-pool-backup': 'true' },
      location: 'abc',
      VBDs: ['OpaqueRef:vbd'],
    });
  });

  it('a field of the wrong type is a protocol error naming the method, class and field: expected, not a bug', async () => {
    const { session } = fakeSession(() => ({ ...VDI_RECORD, read_only: 'true' }));
    const err = await failureOf(VDI.getRecord(session, 'OpaqueRef:vdi'));
    expect(err.kind).toBe('protocol');
    expect(err.detail).toBe('VDI.get_record: VDI field read_only: expected a boolean, got "true"');
    expect(err.target).toBe('https://pool.example/');
    const f = describeFailure(err);
    expect(f.kind).toBe('expected');
    expect(f.code).toBe('TRANSPORT_PROTOCOL');
    expect(f.meaning).toContain('VDI field read_only: expected a boolean');
  });

  it('an answer that is no record at all is refused too', async () => {
    const { session } = fakeSession(() => ['OpaqueRef:vdi']);
    expect((await failureOf(VDI.getRecord(session, 'OpaqueRef:vdi'))).detail).toBe('VDI.get_record: a VDI record is a set, not a struct');
    const { session: s2 } = fakeSession(() => 'nothing');
    expect((await failureOf(VM.getAllRecords(s2))).detail).toMatch(/^VM\.get_all_records: expected a map of VM records/);
  });

  it('a member named like an Object property is read as sent, never inherited', async () => {
    const raw = JSON.parse('{"uuid": "u", "__proto__": {"name_label": "inherited"}}') as unknown;
    const { session } = fakeSession(() => ({ 'OpaqueRef:vm': raw }));
    const recs = await VM.getAllRecords(session, ['uuid', 'name_label']);
    expect(recs.get('OpaqueRef:vm')).toEqual({ uuid: 'u', name_label: '' });
  });

  it('bulk reads ask for the fields they keep (all the class knows by default), as a Map by ref', async () => {
    const { session, sent } = fakeSession(() => ({ 'OpaqueRef:a': VDI_RECORD, 'OpaqueRef:b': { ...VDI_RECORD, uuid: 'b' } }));
    const some = await VDI.getAllRecordsWhere(session, 'field "SR" = "OpaqueRef:sr"', ['uuid', 'SR']);
    expect([...some]).toEqual([
      ['OpaqueRef:a', { uuid: VDI_RECORD.uuid, SR: 'OpaqueRef:sr' }],
      ['OpaqueRef:b', { uuid: 'b', SR: 'OpaqueRef:sr' }],
    ]);
    expect(sent[0]!.method).toBe('VDI.get_all_records_where');
    expect(sent[0]!.params).toEqual(['field "SR" = "OpaqueRef:sr"']);
    expect([...sent[0]!.opts!.recordFields!]).toEqual(['uuid', 'SR']);
    await VDI.getAllRecords(session);
    expect([...sent[1]!.opts!.recordFields!].sort()).toEqual(Object.keys(VDI_RECORD).filter((k) => k !== 'sm_config').sort());
  });

  it('one bad record of many fails the read, naming the class and field', async () => {
    const { session } = fakeSession(() => ({ 'OpaqueRef:a': { VM: 'OpaqueRef:vm', VDI: 'OpaqueRef:vdi' }, 'OpaqueRef:b': { VM: 7 } }));
    expect((await failureOf(VBD.getAllRecords(session, ['VM', 'VDI']))).detail).toBe('VBD.get_all_records: VBD field VM: expected a reference, got number 7');
  });
});

describe('calls', () => {
  it('VDI.create sends the struct xe vdi-create sends (sizes as decimal strings) and checks the ref', async () => {
    const { session, sent } = fakeSession(() => 'OpaqueRef:new');
    const made = await VDI.create(session, {
      name_label: 'Pool Metadata Backup',
      name_description: '',
      SR: 'OpaqueRef:sr',
      virtual_size: 256 * 1024 * 1024,
      type: 'user',
      sharable: false,
      read_only: false,
      other_config: { k: 'v' },
    });
    expect(made).toBe('OpaqueRef:new');
    expect(sent[0]!.params).toEqual([
      {
        name_label: 'Pool Metadata Backup',
        name_description: '',
        SR: 'OpaqueRef:sr',
        virtual_size: '268435456',
        type: 'user',
        sharable: false,
        read_only: false,
        other_config: { k: 'v' },
        xenstore_data: {},
        sm_config: {},
        tags: [],
      },
    ]);
    const { session: bad } = fakeSession(() => '');
    expect((await failureOf(VDI.create(bad, { ...(sent[0]!.params[0] as object), virtual_size: 1 } as never))).detail).toBe('VDI.create: expected a reference, got ""');
  });

  it('VBD.create fills the fields XAPI requires that a disk plug leaves empty', async () => {
    const { session, sent } = fakeSession(() => 'OpaqueRef:vbd');
    await VBD.create(session, { VM: 'OpaqueRef:dom0', VDI: 'OpaqueRef:vdi', userdevice: 'autodetect', bootable: false, mode: 'RO', type: 'Disk', unpluggable: true, empty: false, other_config: {} });
    expect(sent[0]).toMatchObject({ method: 'VBD.create', params: [{ qos_algorithm_type: '', qos_algorithm_params: {}, device: '', currently_attached: false, mode: 'RO' }] });
  });

  it('getters check their answer: other_config, device, get_all, get_by_uuid, the clock', async () => {
    const answers: Record<string, unknown> = {
      'VDI.get_other_config': { k: 5 },
      'VBD.get_device': ['xvdb'],
      'pool.get_all': 'OpaqueRef:pool',
      'VM.get_by_uuid': { ref: 'x' },
      'host.get_servertime': 'yesterday',
      // JSON-RPC has no date type: XAPI's date-time text is what it sends.
      'host.get_server_localtime': '20240101T10:11:12',
    };
    const { session } = fakeSession((m) => answers[m]);
    expect((await failureOf(VDI.getOtherConfig(session, 'OpaqueRef:vdi'))).detail).toBe('VDI.get_other_config: key "k": expected a string, got number 5');
    expect((await failureOf(VBD.getDevice(session, 'OpaqueRef:vbd'))).detail).toBe('VBD.get_device: expected a string, got a set');
    expect((await failureOf(Pool.getAll(session))).detail).toBe('pool.get_all: expected a set of strings, got "OpaqueRef:pool"');
    expect((await failureOf(VM.getByUuid(session, 'u'))).detail).toBe('VM.get_by_uuid: expected a reference, got a map');
    expect((await failureOf(Host.getServertime(session, 'OpaqueRef:host'))).detail).toBe('host.get_servertime: expected a dateTime, got "yesterday"');
    expect((await Host.getServerLocaltime(session, 'OpaqueRef:host')).toISOString()).toBe('2024-01-01T10:11:12.000Z');
    // A getter's answer is never absent.
    const { session: empty } = fakeSession(() => undefined);
    expect((await failureOf(VBD.getDevice(empty, 'OpaqueRef:vbd'))).detail).toBe('VBD.get_device: expected a string, got nothing');
  });

  it('Pool.get: the one pool with its ref, or null while XAPI has none', async () => {
    const { session, sent } = fakeSession(() => ({ 'OpaqueRef:pool': { uuid: 'p', name_label: 'DR site', master: 'OpaqueRef:h', default_SR: 'OpaqueRef:NULL' } }));
    expect(await Pool.get(session)).toEqual({ ref: 'OpaqueRef:pool', uuid: 'p', name_label: 'DR site', master: 'OpaqueRef:h', default_SR: 'OpaqueRef:NULL' });
    expect(sent.map((s) => s.method)).toEqual(['pool.get_all_records']);
    const { session: none } = fakeSession(() => ({}));
    expect(await Pool.get(none)).toBeNull();
  });

  it('Host.ofSession asks for this session’s host with the session ref', async () => {
    const { session, sent } = fakeSession(() => 'OpaqueRef:h');
    expect(await Host.ofSession(session)).toBe('OpaqueRef:h');
    expect(sent[0]).toMatchObject({ method: 'session.get_this_host', params: ['OpaqueRef:session'] });
  });
});
