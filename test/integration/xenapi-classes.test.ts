/**
 * The typed helpers per XenAPI class against the simulated pool: each makes the call its name
 * says and reads the answer into its datamodel types; a host that sends a field of another
 * type gives the domain a protocol error naming the field (an expected failure), where an
 * untyped read gave a bug report or a wrong value.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackupVdi, findBackupVdi, resolveSr } from '../../src/dr/backup-vdi.js';
import { describeFailure } from '../../src/failure/index.js';
import { DEMO_ROOT_PASSWORD } from '../../src/sim/index.js';
import { Host, Pool, SR, Session, TransportError, VBD, VDI, VM, XenApiError, fieldEquals, type Ref } from '../../src/xenapi/index.js';
import { answerWith, startHostileFront, stringValue, type HostileFront } from '../helpers/hostile-front.js';
import { startTestPool, type TestPool } from '../helpers/pool.js';

let pool: TestPool;
let s: Session;
const proxies: HostileFront[] = [];

beforeAll(async () => {
  pool = await startTestPool({ vms: 3, seed: 11 });
  s = pool.session;
});
afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await pool.close();
});

async function theDefaultSr(): Promise<Ref> {
  const p = await Pool.get(s);
  return p!.default_SR;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('resolved');
    },
    (e: unknown) => e,
  );
}

describe('the helpers against the pool', () => {
  it('the pool, its coordinator and its control domain, read several ways, agree', async () => {
    const p = await Pool.get(s);
    expect(p).not.toBeNull();
    expect(await Pool.getAll(s)).toEqual([p!.ref]);
    expect(await Pool.getMaster(s, p!.ref)).toBe(p!.master);
    expect(await Pool.getDefaultSr(s, p!.ref)).toBe(p!.default_SR);
    expect(await Pool.getNameLabel(s, p!.ref)).toBe(p!.name_label);
    expect(await Host.ofSession(s)).toBe(p!.master);
    const host = await Host.getRecord(s, p!.master);
    expect(await Host.getUuid(s, p!.master)).toBe(host.uuid);
    expect(await Host.getHostname(s, p!.master)).toBe(host.hostname);
    expect(await s.apiVersion()).toEqual({ major: host.API_version_major, minor: host.API_version_minor });
    expect(host.software_version['product_version']).toBe((await s.productVersion()).version);
    const dom0 = await Host.getControlDomain(s, p!.master);
    expect(dom0).toBe(host.control_domain);
    const vm = await VM.getRecord(s, dom0);
    expect(vm).toMatchObject({ is_control_domain: true, domid: 0, resident_on: p!.master, is_a_template: false });
    expect(await VM.getByUuid(s, vm.uuid)).toBe(dom0);
    expect((await Host.getServertime(s, p!.master)).getTime()).not.toBeNaN();
  });

  it("a VDI's life: created, found by uuid and by SR, marked, renamed, destroyed", async () => {
    const sr = await theDefaultSr();
    const size = 4 * 1024 * 1024;
    const ref = await VDI.create(s, { name_label: 'typed', name_description: 'd', SR: sr, virtual_size: size, type: 'user', sharable: false, read_only: false, other_config: { a: '1' } });
    const rec = await VDI.getRecord(s, ref);
    expect(rec).toMatchObject({ name_label: 'typed', name_description: 'd', SR: sr, virtual_size: size, read_only: false, type: 'user', is_a_snapshot: false, other_config: { a: '1' } });
    expect(await VDI.getByUuid(s, rec.uuid)).toBe(ref);
    expect((await SR.getRecord(s, sr)).VDIs).toContain(ref);
    const onSr = await VDI.getAllRecordsWhere(s, fieldEquals('SR', sr), ['uuid']);
    expect(onSr.get(ref)).toEqual({ uuid: rec.uuid });

    await VDI.addToOtherConfig(s, ref, 'b', '2');
    const dup = await rejection(VDI.addToOtherConfig(s, ref, 'b', '3'));
    expect(XenApiError.is(dup, 'MAP_DUPLICATE_KEY')).toBe(true);
    await VDI.removeFromOtherConfig(s, ref, 'a');
    expect(await VDI.getOtherConfig(s, ref)).toEqual({ b: '2' });
    await VDI.setNameLabel(s, ref, 'renamed');
    await VDI.setNameDescription(s, ref, 'again');
    expect(await VDI.getRecord(s, ref)).toMatchObject({ name_label: 'renamed', name_description: 'again' });

    await VDI.destroy(s, ref);
    expect(XenApiError.is(await rejection(VDI.getRecord(s, ref)), 'HANDLE_INVALID')).toBe(true);
    expect(XenApiError.is(await rejection(VDI.getByUuid(s, rec.uuid)), 'UUID_INVALID')).toBe(true);
  });

  it('a VBD on the control domain: created, found by its VDI, plugged, unplugged, destroyed', async () => {
    const sr = await theDefaultSr();
    const vdi = await VDI.create(s, { name_label: 'plugged', name_description: '', SR: sr, virtual_size: 1024 * 1024, type: 'user', sharable: false, read_only: false, other_config: {} });
    const dom0 = await Host.getControlDomain(s, (await Pool.get(s))!.master);
    const vbd = await VBD.create(s, { VM: dom0, VDI: vdi, userdevice: 'autodetect', bootable: false, mode: 'RO', type: 'Disk', unpluggable: true, empty: false, other_config: { mine: 'yes' } });
    const found = await VBD.getAllRecordsWhere(s, fieldEquals('VDI', vdi));
    expect([...found.keys()]).toEqual([vbd]);
    expect(found.get(vbd)).toMatchObject({ VM: dom0, VDI: vdi, currently_attached: false, other_config: { mine: 'yes' } });
    await VBD.plug(s, vbd);
    expect(await VBD.getDevice(s, vbd)).toMatch(/^[a-z]+$/);
    expect((await VBD.getRecord(s, vbd)).currently_attached).toBe(true);
    await VBD.unplug(s, vbd);
    await VBD.destroy(s, vbd);
    expect((await VBD.getAllRecordsWhere(s, fieldEquals('VDI', vdi))).size).toBe(0);
    await VDI.destroy(s, vdi);
  });

  it('a bulk read keeps only the fields asked for', async () => {
    const vms = await VM.getAllRecords(s, ['uuid', 'is_control_domain']);
    expect(vms.size).toBeGreaterThan(3);
    for (const r of vms.values()) expect(Object.keys(r).sort()).toEqual(['is_control_domain', 'uuid']);
    expect([...vms.values()].filter((r) => r.is_control_domain)).toHaveLength(1);
  });

  it('the call options reach the call: a cancelled read sends nothing', async () => {
    const ac = new AbortController();
    ac.abort();
    const err = await rejection(VM.getAllRecords(s, undefined, { signal: ac.signal }));
    expect((err as Error).name).toBe('AbortError');
  });
});

describe('a host that sends a field of another type than the datamodel says', () => {
  async function hostileSession(method: string, valueXml: string): Promise<Session> {
    const proxy = await startHostileFront(pool.sim.url);
    proxy.rpc.set(method, answerWith(valueXml));
    proxies.push(proxy);
    return Session.login({ url: proxy.url, user: 'root', password: DEMO_ROOT_PASSWORD });
  }
  const struct = (members: Record<string, string>) =>
    `<value><struct>${Object.entries(members)
      .map(([k, v]) => `<member><name>${k}</name>${v}</member>`)
      .join('')}</struct></value>`;

  it('an SR name that is a set: the SR lookup fails with the protocol error naming it, not a bug', async () => {
    const srUuid = (await SR.getRecord(s, await theDefaultSr())).uuid;
    const hs = await hostileSession('SR.get_record', struct({ uuid: stringValue(srUuid), name_label: `<value><array><data>${stringValue('a')}</data></array></value>` }));
    try {
      const err = await rejection(resolveSr(hs, srUuid));
      expect(err).toBeInstanceOf(TransportError);
      const f = describeFailure(err);
      expect(f).toMatchObject({ kind: 'expected', code: 'TRANSPORT_PROTOCOL' });
      expect(f.meaning).toContain('SR.get_record: SR field name_label: expected a string, got a set');
    } finally {
      await hs.logout();
    }
  });

  it('a backup VDI whose read_only is the string "true" is refused, not taken as writable', async () => {
    const sr = await resolveSr(s);
    const made = await createBackupVdi(s, sr, 8 * 1024 * 1024);
    try {
      expect(made.deterministic).toBe(true);
      const hs = await hostileSession(
        'VDI.get_record',
        struct({ uuid: stringValue(made.uuid), SR: stringValue(sr.ref), virtual_size: stringValue(String(made.virtualSize)), read_only: stringValue('true') }),
      );
      try {
        const f = describeFailure(await rejection(findBackupVdi(hs, sr)));
        expect(f).toMatchObject({ kind: 'expected', code: 'TRANSPORT_PROTOCOL' });
        expect(f.meaning).toContain('VDI field read_only: expected a boolean, got "true"');
      } finally {
        await hs.logout();
      }
      // The pool's own answer reads as it is.
      expect(await findBackupVdi(s, sr)).toMatchObject({ ref: made.ref, readOnly: false, virtualSize: 8 * 1024 * 1024 });
    } finally {
      await VDI.destroy(s, made.ref);
    }
  });
});
