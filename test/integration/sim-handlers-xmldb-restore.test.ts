/**
 * PUT /pool/xmldbdump (pool-restore-database): 200 before the body, the schema version
 * check, dry_run, the reader's refusals, the host/PIF rewrite and its errors, and a real
 * restore replacing the database.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { dbSchemaVersion } from '../../src/sim/handlers/xmldbdump.js';
import { httpRequest, newTask, query, startDemoSim, taskDone, taskRecord, type DemoSim } from './sim-handlers-fixture.js';

let a: DemoSim;
let b: DemoSim;

beforeAll(async () => {
  a = await startDemoSim({ vms: 3, seed: 21 });
  b = await startDemoSim({ vms: 4, seed: 22 });
});
afterAll(async () => {
  await a?.close();
  await b?.close();
});

async function dump(s: DemoSim): Promise<string> {
  const res = await httpRequest('GET', `${s.sim.url}/pool/xmldbdump?${query(s, await newTask(s, 'dump'))}`);
  expect(res.status).toBe(200);
  return res.body.toString('utf8');
}

/** PUTs `xml`; returns the HTTP status and the finished task. */
async function restore(s: DemoSim, xml: string | Buffer, params: Record<string, string> = {}, headers: Record<string, string> = {}) {
  const task = await newTask(s, 'restore');
  const res = await httpRequest('PUT', `${s.sim.url}/pool/xmldbdump?${query(s, task, params)}`, { body: Buffer.from(xml), headers });
  await taskDone(s, task);
  return { status: res.status, headers: res.headers, aborted: res.aborted, task: await taskRecord(s, task) };
}

function vmLabels(s: DemoSim): string[] {
  const db = s.sim.db;
  return db
    .refs('VM')
    .filter((r) => !db.get('VM', r).is_control_domain)
    .map((r) => db.get('VM', r).name_label)
    .sort();
}

describe('checks before restoring', () => {
  test('a dump from another schema version fails with RESTORE_INCOMPATIBLE_VERSION and no parameters', async () => {
    const v = dbSchemaVersion(a.sim.profile);
    const xml = (await dump(a)).replace(`key="schema_minor_vsn" value="${v.minor}"`, `key="schema_minor_vsn" value="${v.minor + 1}"`);
    const r = await restore(a, xml, { dry_run: 'true' });
    expect(r.status).toBe(200);
    expect(r.headers.connection).toBe('close');
    // The failure is the task's: the 200 response still ends normally.
    expect(r.aborted).toBe(false);
    expect(r.task.status).toBe('failure');
    expect(r.task.error_info).toEqual(['RESTORE_INCOMPATIBLE_VERSION']);
  });

  test('a column the schema does not know is refused by the reader', async () => {
    const xml = (await dump(a)).replace('<table name="VM"><row ', '<table name="VM"><row flavour="x" ');
    const r = await restore(a, xml, { dry_run: 'true' });
    expect(r.task.status).toBe('failure');
    expect(r.task.error_info).toEqual(['INTERNAL_ERROR', 'Unexpected column in table VM: flavour']);
  });

  test('a row without ref and a foreign tag are refused', async () => {
    const noRef = (await dump(a)).replace(/<table name="SR"><row ref="[^"]*"/, '<table name="SR"><row');
    expect((await restore(a, noRef, { dry_run: 'true' })).task.error_info).toEqual(['INTERNAL_ERROR', 'Row does not have ref attribute']);
    const foreign = (await dump(a)).replace('</manifest>', '</manifest><extra/>');
    expect((await restore(a, foreign, { dry_run: 'true' })).task.error_info).toEqual(['INTERNAL_ERROR', 'Unexpected tag: extra']);
  });

  test('no Content-Length: 400 and the task completes', async () => {
    const task = await newTask(a, 'restore');
    const res = await httpRequest('PUT', `${a.sim.url}/pool/xmldbdump?${query(a, task)}`, { body: Buffer.from(await dump(a)), headers: { 'transfer-encoding': 'chunked' } });
    expect(res.status).toBe(400);
    await taskDone(a, task);
    expect((await taskRecord(a, task)).status).toBe('success');
  });

  test('a physical PIF whose device this host lacks: RESTORE_TARGET_MISSING_DEVICE [device]', async () => {
    const xml = (await dump(a)).replace(/(<row [^>]*device=")eth1("[^>]*physical="true")/, '$1eth7$2');
    expect(xml).toContain('device="eth7"');
    const r = await restore(a, xml, { dry_run: 'true' });
    expect(r.task.error_info).toEqual(['RESTORE_TARGET_MISSING_DEVICE', 'eth7']);
  });

  test("a backup without this host's management device: RESTORE_TARGET_MGMT_IF_NOT_IN_BACKUP [its devices]", async () => {
    const db = a.sim.db;
    const mgmt = db.refs('PIF').find((p) => db.get('PIF', p).management)!;
    const device = db.get('PIF', mgmt).device;
    const uuid = db.get('PIF', mgmt).uuid;
    // The backup's management PIF becomes a non-physical one on another device.
    const xml = (await dump(a)).replace(new RegExp(`(<row [^>]*uuid="${uuid}"[^>]*/>)`), (row) =>
      row.replace(`device="${device}"`, 'device="bond0"').replace('physical="true"', 'physical="false"'),
    );
    const r = await restore(a, xml, { dry_run: 'true' });
    expect(r.task.error_info[0]).toBe('RESTORE_TARGET_MGMT_IF_NOT_IN_BACKUP');
    const backupDevices = db
      .refs('PIF')
      .map((p) => (p === mgmt ? 'bond0' : db.get('PIF', p).device))
      .sort();
    expect([...r.task.error_info.slice(1)].sort()).toEqual(backupDevices);
  });
});

describe('restoring', () => {
  test('dry_run=true checks a good dump and changes nothing; only exactly "true" is a dry run', async () => {
    const xml = await dump(a);
    const vm = a.demo.vms[0]!;
    a.sim.db.set('VM', vm, 'name_label', 'renamed after the dump');
    const gen = a.sim.db.generation;
    const dry = await restore(a, xml, { dry_run: 'true' });
    expect(dry.task.status).toBe('success');
    expect(dry.task.result).toBe('');
    expect(a.sim.db.get('VM', vm).name_label).toBe('renamed after the dump');
    // Only the task's own updates happened (a restore would change hundreds of rows).
    expect(a.sim.db.generation - gen).toBeLessThan(20);

    const notDry = await restore(a, xml, { dry_run: 'yes' });
    expect(notDry.task.status).toBe('success');
    expect(a.sim.db.get('VM', vm).name_label).not.toBe('renamed after the dump');
  });

  test("another pool's dump replaces the database; this host keeps its uuids, former members and their PIFs are gone", async () => {
    const bdb = b.sim.db;
    const bMaster = bdb.get('pool', bdb.refs('pool')[0]!).master;
    const member = bdb.create('host', { name_label: 'former member', uuid: '0e3a3c1e-7c8b-4d39-9c84-3e2b9f0a1111' });
    bdb.create('PIF', { host: member, device: 'eth0', physical: true, MAC: '02:00:00:00:00:99', network: bdb.refs('network')[0]! });
    const xml = await dump(b);

    const adb = a.sim.db;
    const aMaster = adb.get('pool', adb.refs('pool')[0]!).master;
    const aHostUuid = adb.get('host', aMaster).uuid;
    const aDom0 = adb.findRef('VM', (vm) => vm.is_control_domain && vm.resident_on === aMaster)!;
    const aDom0Uuid = adb.get('VM', aDom0).uuid;
    const aMacs = new Map(adb.refs('PIF').filter((p) => adb.get('PIF', p).physical).map((p) => [adb.get('PIF', p).device, adb.get('PIF', p).MAC]));
    const session = a.session;

    const r = await restore(a, xml);
    expect(r.task.status).toBe('success');

    // Pool, VMs, SRs of the dump, under the dump's refs.
    expect(vmLabels(a)).toEqual(vmLabels(b));
    expect(adb.refs('pool')).toEqual(bdb.refs('pool'));
    expect(adb.get('pool', adb.refs('pool')[0]!).uuid).toBe(bdb.get('pool', bdb.refs('pool')[0]!).uuid);
    expect(adb.refs('SR').sort()).toEqual(bdb.refs('SR').sort());
    // The master is the dump's, with this host's uuid; the former member is dropped with its PIF.
    expect(adb.refs('host')).toEqual([bMaster]);
    expect(adb.get('host', bMaster).uuid).toBe(aHostUuid);
    expect(adb.get('host', bMaster).name_label).toBe(bdb.get('host', bMaster).name_label);
    const dom0 = adb.findRef('VM', (vm) => vm.is_control_domain && vm.resident_on === bMaster)!;
    expect(dom0).toBe(bdb.findRef('VM', (vm) => vm.is_control_domain && vm.resident_on === bMaster));
    expect(adb.get('VM', dom0).uuid).toBe(aDom0Uuid);
    expect(adb.refs('PIF').every((p) => adb.get('PIF', p).host === bMaster)).toBe(true);
    expect(adb.count('PIF')).toBe(bdb.count('PIF') - 1);
    // Physical PIFs take this host's MACs; management follows this host's device.
    for (const p of adb.refs('PIF')) {
      const pif = adb.get('PIF', p);
      if (pif.physical) expect(pif.MAC).toBe(aMacs.get(pif.device));
    }
    expect(adb.refs('PIF').filter((p) => adb.get('PIF', p).management).map((p) => adb.get('PIF', p).device)).toEqual(['eth0']);
    // Derived sets are rebuilt from the restored rows.
    const vm = adb.refs('VM').find((r) => !adb.get('VM', r).is_control_domain && adb.get('VM', r).VBDs.length > 0)!;
    expect(adb.get('VM', vm).VBDs.sort()).toEqual(bdb.get('VM', vm).VBDs.sort());
    // The simulator keeps sessions across the swap (XAPI's reboot would end them).
    const all = await a.rpc('VM.get_all', session);
    expect((all as string[]).sort()).toEqual(adb.refs('VM').sort());
  });
});
