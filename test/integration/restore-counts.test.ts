/**
 * What the operator reads about one backup agrees wherever it is read: the list, the
 * preflight and the summary count its exports (VMs, custom templates, an unreadable one,
 * a skipped entry) the same way; a VM already here is told once; names set are only those
 * that changed; created VMs are named, never by their reference; a missing disk names its SR.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackup } from '../../src/dr/backup.js';
import { BackupSource, type BackupSummary } from '../../src/dr/backup-source.js';
import { preflightRestore, runRestore, type PreflightReport, type RestoreReport } from '../../src/dr/restore.js';
import { attachSrFolder } from '../../src/sim/index.js';
import { plainText } from '../../components/dialogues/TextDialogue.js';
import { dateRow, preflightLines, summaryLines } from '../../components/restore/texts.js';
import { preflightText, restoreText } from '../../src/commands/restore.js';
import { preflightGroups } from '../../src/dr/restore-text.js';
import { startTestPool, vdiImagePath, type TestPool } from '../helpers/pool.js';

const ENV = { ...process.env, PATH: `${process.env['PATH']}:/usr/sbin:/sbin` };
const BROKEN_UUID = '99999999-9999-4999-8999-999999999999';
const GONE_UUID = '88888888-8888-4888-8888-888888888888';

let prod: TestPool;
let dr: TestPool;
let work: string;
let srUuid: string;
let date: string;

beforeAll(async () => {
  prod = await startTestPool({ vms: 6, seed: 11 });
  work = await mkdtemp(join(tmpdir(), 'xsdr-counts-'));
  const b = await runBackup(prod.session, {});
  date = b.date;
  srUuid = b.sr.uuid;
  // One export that cannot be read, and an entry that is no export at all.
  await writeFile(join(work, 'broken'), 'not a tar');
  const d = `/metadata/${date}/all`;
  // And, on this SR, the link of an export whose backup failed (the link is there, the export is not).
  const link = `symlink /metadata/${date}/by-sr/${srUuid}/${GONE_UUID}.vmmeta ../../all/${GONE_UUID}.vmmeta`;
  await writeFile(join(work, 'cmds'), `write ${join(work, 'broken')} ${d}/${BROKEN_UUID}.vmmeta\nwrite ${join(work, 'broken')} ${d}/notes.txt\n${link}\n`);
  execFileSync('debugfs', ['-w', '-f', join(work, 'cmds'), vdiImagePath(prod.sim, b.vdi.uuid)], { env: ENV, stdio: 'ignore' });
  // The DR site attaches the replicated SR only: disks on the production's other SRs are missing there.
  dr = await startTestPool({ vms: 0 });
  await attachSrFolder(dr.sim, join(prod.sim.stateDir, 'srs', srUuid));
});
afterAll(async () => {
  await dr?.close();
  await prod?.close();
  await rm(work, { recursive: true, force: true });
});

async function listed(): Promise<BackupSummary> {
  const src = await BackupSource.open(dr.session, { srUuid });
  try {
    return (await src.summaries()).find((s) => s.date === date)!;
  } finally {
    await src.close();
  }
}

const flat = (s: string) => s.replace(/\s+/g, ' ');

describe('one backup with templates, an unreadable export, a skipped entry and clashes', () => {
  let list: BackupSummary;
  let pf: PreflightReport;
  let r: RestoreReport;

  beforeAll(async () => {
    // A first restore of the VMs on this SR: they are here when all are restored next (the clashes).
    await runRestore(dr.session, { srUuid, scope: 'sr', force: true });
    list = await listed();
    pf = await preflightRestore(dr.session, { srUuid, scope: 'all' });
    r = await runRestore(dr.session, { srUuid, scope: 'all' });
  });

  it('the backup is as described', () => {
    expect(pf.counts.templates).toBeGreaterThan(0);
    expect(pf.counts.clashes).toBeGreaterThan(0);
    expect(pf.counts.unreadable).toBe(1);
    expect(pf.skipped.map((s) => s.name)).toEqual(['notes.txt']);
  });

  it('list, preflight and summary give the same counts', () => {
    // The list cannot tell VMs from templates without reading them: its total is the exports.
    expect(list.vms).toBe(pf.counts.exports);
    expect(list.skipped).toBe(pf.counts.skipped);
    const { exports, vms, templates, unreadable, skipped } = pf.counts;
    expect(r.counts).toMatchObject({ exports, vms, templates, unreadable, skipped });
    expect(vms + templates + unreadable).toBe(exports);
    expect(r.results).toHaveLength(exports);
    expect(r.counts.restoredVms + r.counts.restoredTemplates).toBe(r.restored);
    // And the texts each front end shows say the same numbers.
    expect(dateRow(list)).toContain(`${exports} VM exports, ${list.vmsOnSr} on this SR, 1 other entry skipped`);
    const held = `${exports} VM exports: ${vms} VMs and ${templates} templates to import`;
    expect(flat(plainText(preflightLines(pf, pf.vdi)))).toContain(held);
    expect(preflightText(pf)).toContain(held);
    const summary = `Of ${exports} VM exports (${vms} VMs, ${templates} templates, 1 unreadable)`;
    expect(plainText(summaryLines(r, pf, new Date()))).toContain(summary);
    expect(restoreText(r)).toContain(summary);
  });

  it('the list counts the VMs on this SR by the rule of the restore: a link to a failed export is skipped, not counted', async () => {
    const onSr = await preflightRestore(dr.session, { srUuid, scope: 'sr' });
    expect(list.vmsOnSr).toBe(onSr.counts.exports);
    expect(list.skippedOnSr).toBe(1);
    expect(onSr.skipped.map((s) => s.name)).toEqual([`${GONE_UUID}.vmmeta`]);
  });

  it('tells each VM already here once: with its error, not again as a warning', () => {
    const t = plainText(summaryLines(r, pf, new Date()));
    const clashed = pf.vms.filter((v) => v.clash && !v.error);
    for (const v of clashed) expect(t.split(`("${v.clash!.name}", ${v.clash!.powerState})`).length - 1, v.uuid).toBe(1);
    // The preflight lists each of them in one clash group, once.
    const inGroups = preflightGroups(pf).filter((g) => g.kind === 'clash-halted' || g.kind === 'clash-running').flatMap((g) => g.items.map((i) => i.uuid));
    expect(inGroups.sort()).toEqual(clashed.map((v) => v.uuid).sort());
  });

  it('a clash refused by XAPI names the VM already here by name and uuid, never by its OpaqueRef', () => {
    const refused = r.results.filter((x) => x.error?.code === 'VM_TO_IMPORT_IS_NOT_NEWER_VERSION' || x.error?.code === 'VM_BAD_POWER_STATE');
    expect(refused.length).toBeGreaterThan(0);
    for (const x of refused) {
      const here = dr.sim.db.get('VM', dr.sim.db.refByUuid('VM', x.vmUuid));
      expect(x.error!.meaning).toContain(`VM "${here.name_label}" (${x.vmUuid})`);
      expect(x.error!.params[0]).toBe(`"${here.name_label}" (${x.vmUuid})`);
    }
    const texts = [plainText(summaryLines(r, pf, new Date())), restoreText(r), JSON.stringify(r)].join('\n');
    expect(texts).not.toMatch(/OpaqueRef/);
  });

  it('counts as set only the names that changed: the preflight foretells it', () => {
    expect(r.counts.namesUnchanged).toBeGreaterThan(0);
    expect(r.counts.namesSet).toBe(pf.counts.namesToSet);
    expect(r.counts.namesSet + r.counts.namesUnchanged + r.counts.namesFailed).toBe(r.names.length);
  });

  it('names the SR holding each missing disk: not in this pool, by the name the backup recorded', () => {
    const missing = pf.vms.flatMap((v) => v.missingDisks);
    expect(missing.length).toBeGreaterThan(0);
    const screen = plainText(preflightLines(pf, pf.vdi));
    for (const d of missing) {
      const sr = prod.sim.db.get('SR', prod.sim.db.refByUuid('SR', d.srUuid));
      expect(d).toMatchObject({ srInPool: false, srName: sr.name_label });
      expect(screen).toContain(`Disks on SR "${sr.name_label}" (${d.srUuid}), which is not in this pool (`);
    }
  });
});

describe('created VMs whose record cannot be read', () => {
  it('are named from the export, never by their reference', async () => {
    // The VMs of this SR removed first, so that the restore creates them anew.
    const ours = (await preflightRestore(dr.session, { srUuid, scope: 'sr' })).vms.filter((v) => v.clash?.powerState === 'Halted').map((v) => v.uuid);
    for (const uuid of ours) await dr.session.call('VM.destroy', dr.sim.db.refByUuid('VM', uuid));
    const rule = dr.sim.faults.add({ method: 'VM.get_record', error: ['HANDLE_INVALID', 'VM', 'x'] });
    let r: RestoreReport;
    try {
      // Forced: the halted VMs already here are replaced, so imports go through.
      r = await runRestore(dr.session, { srUuid, scope: 'sr', force: true });
    } finally {
      dr.sim.faults.remove(rule);
    }
    // (A forced import leaves a VM here that is not halted as it is: it creates nothing.)
    const ok = r.results.filter((x) => x.ok && x.created.length);
    expect(ok.length).toBeGreaterThan(0);
    for (const x of ok) expect(x.created).toEqual([{ uuid: x.vmUuid, name: x.name }]);
    const texts = [plainText(summaryLines(r, null, new Date())), restoreText(r)].join('\n');
    expect(texts).not.toMatch(/OpaqueRef/);
    for (const x of ok) expect(restoreText(r)).toContain(`\n${x.vmUuid}\n`);
  });
});
