/**
 * vApps across a backup and a restore at a DR site, over the real simulator: a production
 * pool with two vApps (different order and delays) and a VM outside any → backup → a fresh
 * pool attaching the replicated SR → dry run (nothing made), restore (vApps recreated with
 * their members, order and delays), a second restore (reused, not doubled), a name clash,
 * a hostile vApp file (the VM restore goes on), and a pool without vApps (XS 4.1).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { runBackup, type BackupReport } from '../../src/dr/backup.js';
import { runRestore } from '../../src/dr/restore.js';
import { inspectImage } from '../../src/dr/inspect.js';
import { inspectText } from '../../src/commands/inspect.js';
import { VAPPS_FILE, parseVappsFile, recreateVapps } from '../../src/dr/vapps.js';
import { backupDir, backupVdiUuid } from '../../src/dr/layout.js';
import { writeFileBytes } from '../../src/dr/volume/files.js';
import { attachSrFolder } from '../../src/sim/index.js';
import type { Ref } from '../../src/xenapi/index.js';
import { openImageForWrite } from '../helpers/image-writer.js';
import { debugfs, imageLs, srsOfVmDisks, startTestPool, vdiImagePath, vmsOnlyOnSr, type TestPool } from '../helpers/pool.js';

let prod: TestPool;
let srUuid: string;
let backup: BackupReport;
/** Production's VMs on the backed-up SR: [web-a, web-b, db-a, db-b, outside]. */
let vms: Array<{ uuid: string; ref: Ref }>;

const WEB = { name: 'Web tier', description: 'front ends' };
const DB = { name: 'Database tier', description: '' };
const OTHER = 'Elsewhere tier';
/** uuid → [order, start_delay, shutdown_delay] as set in production. */
const SEQ = new Map<number, [number, number, number]>([
  [0, [1, 30, 10]],
  [1, [2, 0, 5]],
  [2, [0, 120, 60]],
  [3, [0, 15, 0]],
  [4, [3, 7, 9]],
]);

async function dbVapps(p: TestPool) {
  const db = p.sim.db;
  return [...db.allRecords('VM_appliance').values()]
    .map((a) => ({
      name: a.name_label,
      description: a.name_description,
      vms: a.VMs.map((r) => {
        const v = db.get('VM', r);
        return `${v.uuid}:${v.order}:${v.start_delay}:${v.shutdown_delay}`;
      }).sort(),
    }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.vms.length - b.vms.length));
}

const member = (i: number) => {
  const [o, s, d] = SEQ.get(i)!;
  return `${vms[i]!.uuid}:${o}:${s}:${d}`;
};

/** Every VM of the test restored (VMs with disks on other SRs fail at the DR site: not ours). */
function oursRestored(r: { results: Array<{ vmUuid: string; ok: boolean }> }): boolean {
  const ok = new Set(r.results.filter((x) => x.ok).map((x) => x.vmUuid));
  return vms.every((v) => ok.has(v.uuid));
}

/** A fresh DR pool attaching production's SR. */
async function drPool(own = 0): Promise<TestPool> {
  const dr = await startTestPool({ vms: own });
  await attachSrFolder(dr.sim, join(prod.sim.stateDir, 'srs', srUuid));
  return dr;
}

beforeAll(async () => {
  prod = await startTestPool({ vms: 10, seed: 21 });
  const s = prod.session;
  const db = prod.sim.db;
  const poolRef = (await s.call<Ref[]>('pool.get_all'))[0]!;
  const srRef = await s.call<Ref>('pool.get_default_SR', poolRef);
  srUuid = await s.call<string>('SR.get_uuid', srRef);
  // VMs whose disks are all on the default SR: the DR site attaches only that SR.
  const onSr = vmsOnlyOnSr(prod.sim, srRef);
  expect(onSr.length).toBeGreaterThanOrEqual(5);
  vms = onSr.slice(0, 5).map(([ref, v]) => ({ ref, uuid: v.uuid }));
  // A third vApp whose one VM has a disk elsewhere: the DR site cannot restore it.
  const [elsewhere] = [...db.allRecords('VM').entries()].find(([, v]) => !v.is_a_template && !v.is_control_domain && !v.is_a_snapshot && srsOfVmDisks(prod.sim, v.VBDs).some((sr) => sr !== srRef))!;
  await s.call('VM.set_appliance', elsewhere, await s.call<Ref>('VM_appliance.create', { name_label: OTHER, name_description: '' }));
  const web = await s.call<Ref>('VM_appliance.create', { name_label: WEB.name, name_description: WEB.description });
  const dbApp = await s.call<Ref>('VM_appliance.create', { name_label: DB.name, name_description: DB.description });
  for (const [i, [order, start, stop]] of SEQ) {
    const vm = vms[i]!.ref;
    if (i < 4) await s.call('VM.set_appliance', vm, i < 2 ? web : dbApp);
    await s.call('VM.set_order', vm, String(order));
    await s.call('VM.set_start_delay', vm, String(start));
    await s.call('VM.set_shutdown_delay', vm, String(stop));
  }
  backup = await runBackup(prod.session, {});
});
afterAll(async () => {
  await prod?.close();
});

describe('the backup', () => {
  it('records both vApps with their members, order and delays, and says so', () => {
    expect(backup.vapps).toEqual({ supported: true, vapps: 3, vms: 5 });
    const image = vdiImagePath(prod.sim, backupVdiUuid(srUuid));
    const text = debugfs(image, `cat ${backupDir(backup.date)}/${VAPPS_FILE}`);
    const read = parseVappsFile(Buffer.from(text));
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    expect(read.warnings).toEqual([]);
    const byName = new Map(read.vapps.map((a) => [a.nameLabel, a]));
    expect(byName.get(WEB.name)!.nameDescription).toBe(WEB.description);
    expect(byName.get(WEB.name)!.vms).toEqual([0, 1].map((i) => ({ uuid: vms[i]!.uuid, order: SEQ.get(i)![0], startDelay: SEQ.get(i)![1], shutdownDelay: SEQ.get(i)![2] })));
    expect(byName.get(DB.name)!.vms.map((m) => m.uuid).sort()).toEqual([vms[2]!.uuid, vms[3]!.uuid].sort());
  });

  it('leaves the stock layout as it was: the file sits beside SRMETA.xml, never in all/ or by-sr/', () => {
    const image = vdiImagePath(prod.sim, backupVdiUuid(srUuid));
    const dir = backupDir(backup.date);
    expect(imageLs(image, dir).sort()).toEqual(['SRMETA.xml', 'all', 'by-sr', VAPPS_FILE].sort());
    // What xe-restore-metadata imports: `*.vmmeta` in all/ or by-sr/<sr>/ (xen-api scripts/xe-restore-metadata).
    expect(imageLs(image, `${dir}/all`).every((n) => n.endsWith('.vmmeta'))).toBe(true);
    expect(imageLs(image, `${dir}/by-sr/${srUuid}`).every((n) => n.endsWith('.vmmeta'))).toBe(true);
  });

  it('inspect shows the recorded vApps of a backup, offline', async () => {
    const image = vdiImagePath(prod.sim, backupVdiUuid(srUuid));
    const r = await inspectImage(image, { date: backup.date });
    expect(r.detail!.vappsWarnings).toEqual([]);
    const byName = new Map(r.detail!.vapps!.map((a) => [a.name, a.vms]));
    expect(byName.get(WEB.name)).toBe(2);
    expect(byName.get(DB.name)).toBe(2);
    expect(inspectText(r)).toContain(`"${WEB.name}": 2 VM(s)`);
  });
});

describe('the restore at the DR site', () => {
  let dr: TestPool;
  beforeAll(async () => {
    dr = await drPool();
  });
  afterAll(async () => {
    await dr?.close();
  });

  it('a dry run says which vApps it would recreate and creates none', async () => {
    const r = await runRestore(dr.session, { srUuid, dryRun: true });
    expect(r.vapps.state).toBe('read');
    expect(r.vapps.vapps.map((a) => [a.name, a.action, a.members]).sort()).toEqual([
      [DB.name, 'would-create', 2],
      [WEB.name, 'would-create', 2],
    ]);
    expect(dr.sim.db.allRecords('VM_appliance').size).toBe(0);
  });

  it('recreates the vApps with their members, order and delays; the VM outside stays outside', async () => {
    const r = await runRestore(dr.session, { srUuid });
    expect(oursRestored(r)).toBe(true);
    expect(r.vapps.warnings).toEqual([]);
    expect(r.vapps.vapps.map((a) => [a.name, a.action, a.members, a.restoredMembers]).sort()).toEqual([
      [DB.name, 'created', 2, 2],
      [WEB.name, 'created', 2, 2],
    ]);
    expect(await dbVapps(dr)).toEqual([
      { name: DB.name, description: DB.description, vms: [member(2), member(3)].sort() },
      { name: WEB.name, description: WEB.description, vms: [member(0), member(1)].sort() },
    ]);
    const outside = dr.sim.db.get('VM', dr.sim.db.refByUuid('VM', vms[4]!.uuid));
    expect(outside.appliance).toBe('OpaqueRef:NULL');
    expect([outside.order, outside.start_delay, outside.shutdown_delay]).toEqual(SEQ.get(4));
  });

  it('a second (forced) restore reuses the vApps it made, and makes none twice', async () => {
    // Forced, the VM with a disk elsewhere is imported without it: its vApp comes too.
    const r = await runRestore(dr.session, { srUuid, force: true });
    expect(r.vapps.vapps.map((a) => [a.name, a.action, a.members]).sort()).toEqual([
      [DB.name, 'reused', 2],
      [OTHER, 'created', 1],
      [WEB.name, 'reused', 2],
    ]);
    expect((await dbVapps(dr)).map((a) => [a.name, a.vms.length])).toEqual([
      [DB.name, 2],
      [OTHER, 1],
      [WEB.name, 2],
    ]);
  });
});

describe('a name already taken at the DR site', () => {
  it('leaves the other vApp alone and makes one of the same name beside it, saying so', async () => {
    const dr = await drPool(1);
    try {
      // A vApp named like the backup's, holding a VM of the DR site's own.
      const [own] = [...dr.sim.db.allRecords('VM').entries()].find(([, v]) => !v.is_a_template && !v.is_control_domain && !v.is_a_snapshot)!;
      const clash = await dr.session.call<Ref>('VM_appliance.create', { name_label: WEB.name, name_description: 'the DR site own' });
      await dr.session.call('VM.set_appliance', own, clash);
      const r = await runRestore(dr.session, { srUuid });
      const web = r.vapps.vapps.find((a) => a.name === WEB.name)!;
      expect(web.action).toBe('created');
      expect(web.note).toMatch(/already here holds other VMs/);
      const named = (await dbVapps(dr)).filter((a) => a.name === WEB.name);
      expect(named.map((a) => a.vms.length).sort()).toEqual([1, 2]);
      expect(dr.sim.db.get('VM_appliance', clash).name_description).toBe('the DR site own');
    } finally {
      await dr.close();
    }
  });
});

describe('a vApp XAPI refuses to make', () => {
  it('is reported with its code and what to do; the other vApps and every VM are restored', async () => {
    const dr = await drPool();
    try {
      dr.sim.faults.add({ method: 'VM_appliance.create', error: ['LICENCE_RESTRICTION', 'VM_appliance'], times: 1 });
      const r = await runRestore(dr.session, { srUuid });
      expect(oursRestored(r)).toBe(true);
      const failed = r.vapps.vapps.filter((a) => a.action === 'failed');
      expect(failed).toHaveLength(1);
      expect(failed[0]!.error).toMatchObject({ code: 'LICENCE_RESTRICTION' });
      expect(failed[0]!.error!.nextStep).not.toBe('');
      expect(r.vapps.vapps.filter((a) => a.action === 'created')).toHaveLength(1);
      expect(dr.sim.db.allRecords('VM_appliance').size).toBe(1);
    } finally {
      await dr.close();
    }
  });
});

describe('only the VMs on this SR', () => {
  it('recreates only vApps with restored members: not the one whose VM is on another SR', async () => {
    const dr = await drPool();
    try {
      const r = await runRestore(dr.session, { srUuid, scope: 'sr' });
      expect(oursRestored(r)).toBe(true);
      expect(r.vapps.vapps.map((a) => [a.name, a.action, a.members]).sort()).toEqual([
        [DB.name, 'created', 2],
        [WEB.name, 'created', 2],
      ]);
      expect((await dbVapps(dr)).map((a) => a.name)).toEqual([DB.name, WEB.name]);
    } finally {
      await dr.close();
    }
  });
});

describe('a hostile vApp file', () => {
  const cases: Array<[string, Buffer | string | null, RegExp]> = [
    ['a link in its place (never followed)', null, /not a regular file/],
    ['too big', Buffer.alloc(4 * 1024 * 1024 + 1, 0x20), /ignored: .*more than/],
    ['not JSON', '{"format": "xsconsole-dr-vapps", ', /not JSON/],
    ['an unknown schema', JSON.stringify({ format: 'xsconsole-dr-vapps', schema: 99, vapps: [] }), /schema 99 is not one this version reads/],
  ];
  it.each(cases)('%s: ignored with a warning, and every VM is restored', async (_what, content, warning) => {
    const dr = await drPool();
    try {
      await plantVappsFile(content);
      const r = await runRestore(dr.session, { srUuid, dryRun: true });
      expect(oursRestored(r)).toBe(true);
      expect(r.vapps.state).toBe('ignored');
      expect(r.vapps.warnings.join('\n')).toMatch(warning);
    } finally {
      await restoreVappsFile();
      await dr.close();
    }
  });

  it('wrong types and control characters: bad entries skipped, names kept exact (shown neutralised)', async () => {
    const dr = await drPool();
    try {
      // What XML can carry and a terminal must never get raw: C1 CSI, CR/LF, a bidi override.
      const evil = 'Web\u009b2J\r\nBackup Successful\u202e';
      const file = {
        format: 'xsconsole-dr-vapps',
        schema: 1,
        vapps: [
          { uuid: 'not-a-uuid', name_label: 'x', name_description: '', vms: [] },
          { uuid: '11111111-2222-4333-8444-555555555555', name_label: 7, name_description: '', vms: [] },
          { uuid: '11111111-2222-4333-8444-777777777777', name_label: 'Web\u001b[2J', name_description: '', vms: [] },
          { uuid: '11111111-2222-4333-8444-666666666666', name_label: evil, name_description: '', vms: [
            { uuid: vms[0]!.uuid, order: '1', start_delay: 0, shutdown_delay: 0 },
            { uuid: vms[1]!.uuid, order: -1, start_delay: 0, shutdown_delay: 0 },
            { uuid: vms[2]!.uuid, order: 4, start_delay: 1.5, shutdown_delay: 0 },
            { uuid: vms[3]!.uuid, order: 4, start_delay: 2, shutdown_delay: 3 },
          ] },
        ],
      };
      await plantVappsFile(JSON.stringify(file));
      const r = await runRestore(dr.session, { srUuid });
      expect(oursRestored(r)).toBe(true);
      expect(r.vapps.warnings).toHaveLength(6);
      expect(r.vapps.vapps).toEqual([expect.objectContaining({ name: evil, action: 'created', members: 1, restoredMembers: 1 })]);
      const [app] = await dbVapps(dr);
      expect(app).toEqual({ name: evil, description: '', vms: [`${vms[3]!.uuid}:4:2:3`] });
    } finally {
      await restoreVappsFile();
      await dr.close();
    }
  });
});

let savedFile: string | null = null;

/** Replaces the backup's vApp file (kept to be put back); null: a link to SRMETA.xml in its place. */
async function plantVappsFile(content: Buffer | string | null): Promise<void> {
  const image = vdiImagePath(prod.sim, backupVdiUuid(srUuid));
  const path = `${backupDir(backup.date)}/${VAPPS_FILE}`;
  savedFile ??= debugfs(image, `cat ${path}`);
  const vol = await openImageForWrite(image);
  await vol.fs.unlink(path);
  if (content === null) await vol.fs.symlink('SRMETA.xml', path);
  else await writeFileBytes(vol.fs, path, content);
  await vol.close();
}

async function restoreVappsFile(): Promise<void> {
  if (savedFile !== null) await plantVappsFile(savedFile);
}

describe('a pool without vApps (XenServer 4.1, API 1.2)', () => {
  it('a backup there records none and writes no vApp file', async () => {
    const old = await startTestPool({ vms: 2, profile: 'xs41' });
    try {
      const r = await runBackup(old.session, { vdiSize: 64 * 1024 * 1024 });
      expect(r.vapps).toEqual({ supported: false, vapps: 0, vms: 0 });
      const sr = old.sim.db.get('SR', old.sim.db.refByUuid('SR', r.sr.uuid));
      expect(sr).toBeTruthy();
      const image = vdiImagePath(old.sim, r.vdi.uuid);
      expect(imageLs(image, backupDir(r.date))).not.toContain(VAPPS_FILE);
    } finally {
      await old.close();
    }
  });

  it('a restore there says the vApps cannot be recreated, and makes none', async () => {
    const old = await startTestPool({ vms: 0, profile: 'xs41' });
    try {
      const file = Buffer.from(debugfs(vdiImagePath(prod.sim, backupVdiUuid(srUuid)), `cat ${backupDir(backup.date)}/${VAPPS_FILE}`));
      const r = await recreateVapps(old.session, file, new Set([vms[0]!.uuid]), { dryRun: false, concurrency: 4 });
      expect(r.state).toBe('unsupported');
      expect(r.warnings.join('\n')).toMatch(/cannot be recreated here/);
      expect(old.sim.db.allRecords('VM_appliance').size).toBe(0);
    } finally {
      await old.close();
    }
  });
});
