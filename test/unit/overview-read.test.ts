/**
 * The status pane's pool overview as read through the typed helpers: the calls it makes,
 * what it makes of the answer, and the reads the typed records made stricter — a size XAPI
 * did not send is a protocol error naming the SR field, no longer shown as 0.
 */
import { describe, expect, it } from 'vitest';
import { ExpectedFailure } from '../../src/failure/index.js';
import { readPoolOverview } from '../../src/dr/overview.js';
import { TransportError, type CallOptions, type Session } from '../../src/xenapi/index.js';

const GiB = 1024 ** 3;

const ANSWERS: Record<string, unknown> = {
  'pool.get_all_records': { 'OpaqueRef:pool': { uuid: 'pool-uuid', name_label: 'DR site', master: 'OpaqueRef:host', default_SR: 'OpaqueRef:nfs' } },
  'SR.get_all_records': {
    'OpaqueRef:nfs': { uuid: 'nfs-uuid', name_label: 'NFS', type: 'nfs', content_type: 'user', shared: true, physical_size: String(100 * GiB), physical_utilisation: String(25 * GiB), allowed_operations: ['vdi_create'] },
    // An SR that cannot tell its size says -1 (a udev SR, for one): read as sent.
    'OpaqueRef:dvd': { uuid: 'dvd-uuid', name_label: 'DVD drives', type: 'udev', content_type: 'iso', shared: false, physical_size: '-1', physical_utilisation: '-1', allowed_operations: [] },
  },
  'VM.get_all_records_where': {
    a: { is_a_template: false, is_default_template: false, other_config: {}, power_state: 'Running' },
    b: { is_a_template: false, is_default_template: false, other_config: {}, power_state: 'Halted' },
    c: { is_a_template: true, is_default_template: false, other_config: {}, power_state: 'Halted' },
    d: { is_a_template: true, is_default_template: false, other_config: { default_template: 'true' }, power_state: 'Halted' },
    e: { is_a_template: true, is_default_template: true, other_config: {}, power_state: 'Halted' },
  },
  'host.get_record': {
    uuid: 'host-uuid',
    name_label: 'xs1',
    hostname: 'xs1.example',
    address: '192.0.2.10',
    API_version_major: '2',
    API_version_minor: '21',
    software_version: { product_brand: 'XenServer', product_version: '8.4.0' },
    control_domain: 'OpaqueRef:dom0',
  },
};

function fakeSession(answers: Record<string, unknown>): { session: Session; sent: Array<{ method: string; params: readonly unknown[] }> } {
  const sent: Array<{ method: string; params: readonly unknown[] }> = [];
  const session = {
    url: 'https://pool.example/',
    ref: 'OpaqueRef:session',
    async invoke(method: string, params: readonly unknown[], _opts?: CallOptions) {
      sent.push({ method, params });
      return answers[method];
    },
  } as unknown as Session;
  return { session, sent };
}

describe('readPoolOverview', () => {
  it('reads the pool, its SRs and guests side by side, then the coordinator', async () => {
    const { session, sent } = fakeSession(ANSWERS);
    const o = await readPoolOverview(session);
    expect(sent).toEqual([
      { method: 'pool.get_all_records', params: [] },
      { method: 'SR.get_all_records', params: [] },
      { method: 'VM.get_all_records_where', params: ['field "is_control_domain" = "false" and field "is_a_snapshot" = "false"'] },
      { method: 'host.get_record', params: ['OpaqueRef:host'] },
    ]);
    expect(o).toMatchObject({
      poolUuid: 'pool-uuid',
      poolName: 'DR site',
      masterHostname: 'xs1.example',
      masterAddress: '192.0.2.10',
      productBrand: 'XenServer',
      productVersion: '8.4.0',
      apiVersion: '2.21',
      vms: { total: 2, running: 1 },
      customTemplates: 1,
    });
    expect(o.srs.map((s) => [s.nameLabel, s.physicalSize, s.physicalUtilisation, s.isDefault, s.shared])).toEqual([
      ['DVD drives', -1, -1, false, false],
      ['NFS', 100 * GiB, 25 * GiB, true, true],
    ]);
  });

  it('a pool with no pool object is the domain’s NO_POOL_OBJECT', async () => {
    const { session } = fakeSession({ ...ANSWERS, 'pool.get_all_records': {} });
    const err = await readPoolOverview(session).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExpectedFailure);
    expect((err as ExpectedFailure).code).toBe('NO_POOL_OBJECT');
  });

  it('an SR size XAPI did not send, or not as an int, is a protocol error naming the field', async () => {
    const srs = ANSWERS['SR.get_all_records'] as Record<string, Record<string, unknown>>;
    const { physical_size: _dropped, ...noSize } = srs['OpaqueRef:nfs']!;
    for (const [nfs, detail] of [
      [noSize, 'SR.get_all_records: SR field physical_size: missing (an int has no empty value)'],
      [{ ...noSize, physical_size: 'lots' }, 'SR.get_all_records: SR field physical_size: not an integer: "lots"'],
    ] as const) {
      const { session } = fakeSession({ ...ANSWERS, 'SR.get_all_records': { ...srs, 'OpaqueRef:nfs': nfs } });
      const err = await readPoolOverview(session).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransportError);
      expect((err as TransportError).kind).toBe('protocol');
      expect((err as TransportError).detail).toBe(detail);
    }
  });
});
