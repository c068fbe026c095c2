/**
 * A backup VDI written the stock way — mkfs.ext3, then e2fsprogs' debugfs placing files,
 * folders and relative symlinks exactly where xe-backup-metadata puts them, SRMETA.xml from
 * Python's minidom in the host's attribute order — must be listed, extended and restored by
 * our code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dumpPoolDatabase, exportMetadata, type Ref } from '../../src/xenapi/index.js';
import { backupVdiUuid } from '../../src/dr/layout.js';
import { BackupSource } from '../../src/dr/backup-source.js';
import { runBackup } from '../../src/dr/backup.js';
import { runRestore } from '../../src/dr/restore.js';
import { buildSrMeta } from '../../src/dr/srmeta.js';
import { makeExt3 } from '../../src/dr/volume/e2fsprogs.js';
import { attachSrFolder } from '../../src/sim/index.js';
import { fsckReadOnly, imageLs, startTestPool, vdiImagePath, type TestPool } from '../helpers/pool.js';

const ENV = { ...process.env, PATH: `${process.env['PATH']}:/usr/sbin:/sbin` };
const STOCK_DATE_OLD = '2024-06-01-02-00-00';
const STOCK_DATE = '2024-06-02-02-00-00';

let prod: TestPool;
let work: string;
let srUuid: string;
let image: string;
let vmUuids: string[];
let poolUuid: string;
let stockSrs: Array<StockNames & { vdis: StockNames[] }>;
let stockSrMeta: Buffer;

type StockNames = { uuid: string; name_label: string; name_description: string };

/**
 * What backup-sr-metadata.py does, with Python's own minidom, as the host writes it: the
 * dom0's Python 3.6 writes attributes sorted by name whatever order they were set in, and
 * Python >= 3.8 in the order set, so setting them sorted gives the host's bytes on any python3.
 */
function pythonSrMeta(srs: Array<StockNames & { vdis: StockNames[] }>): Buffer {
  const script = `
import json, sys
from xml.dom import minidom
KEYS = sorted(("uuid", "name_label", "name_description"))
srs = json.load(sys.stdin)
doc = minidom.Document()
meta = doc.createElement("meta")
doc.appendChild(meta)
for s in srs:
    e = doc.createElement("sr")
    for k in KEYS:
        e.setAttribute(k, s[k])
    for v in s["vdis"]:
        ve = doc.createElement("vdi")
        for k in KEYS:
            ve.setAttribute(k, v[k])
        e.appendChild(ve)
    meta.appendChild(e)
sys.stdout.buffer.write(doc.toxml(encoding="utf-8"))
`;
  return execFileSync('python3', ['-c', script], { input: JSON.stringify(srs) });
}

beforeAll(async () => {
  prod = await startTestPool({ vms: 5, seed: 11 });
  work = await mkdtemp(join(tmpdir(), 'xsdr-stock-'));
  const s = prod.session;
  const poolRef = (await s.call<Ref[]>('pool.get_all'))[0]!;
  poolUuid = await s.call<string>('pool.get_uuid', poolRef);
  const srRef = await s.call<Ref>('pool.get_default_SR', poolRef);
  srUuid = await s.call<string>('SR.get_uuid', srRef);

  // The backup VDI as `xe vdi-create … name-label="Pool Metadata Backup"` makes it.
  await s.call('VDI.create', { name_label: 'Pool Metadata Backup', name_description: '', SR: srRef, virtual_size: String(256 * 1024 * 1024), type: 'user', sharable: false, read_only: false, other_config: {}, xenstore_data: {}, sm_config: {}, tags: [] });
  const vdiUuid = backupVdiUuid(srUuid);
  image = vdiImagePath(prod.sim, vdiUuid);
  await makeExt3(image);

  // VMs on the default SR (xe vm-list is-control-domain=false) and their exports.
  const vms = prod.sim.db.where('VM', (v) => !v.is_control_domain && !v.is_a_template && !v.is_a_snapshot);
  vmUuids = vms.map((v) => v.rec.uuid);
  const onSr = vms.filter((v) => v.rec.VBDs.some((b) => {
    const vdi = prod.sim.db.tryGet('VBD', b)?.VDI;
    const rec = vdi ? prod.sim.db.tryGet('VDI', vdi) : undefined;
    return rec !== undefined && rec.SR === srRef;
  }));
  const cmds: string[] = [
    `write ${join(work, 'marker')} /.ctxs-metadata-backup`,
    'mkdir /conf',
    `write ${join(work, 'conf')} /conf/${vdiUuid}`,
    `write ${join(work, 'db')} /${poolUuid}.db`,
    `write ${join(work, 'db')} /${poolUuid}.db.1`,
    'mkdir /metadata',
  ];
  await writeFile(join(work, 'marker'), '1\n');
  await writeFile(join(work, 'conf'), `/var/run/pool-backup-${vdiUuid}/${poolUuid}.db {\n    rotate 12\n    missingok\n}\n`);
  await writeFile(join(work, 'db'), await dumpPoolDatabase(s));
  const srs = [...prod.sim.db.allRecords('SR').values()].map((sr) => ({
    uuid: sr.uuid,
    name_label: sr.name_label,
    name_description: sr.name_description,
    vdis: sr.VDIs.map((v) => prod.sim.db.get('VDI', v)).map((v) => ({ uuid: v.uuid, name_label: v.name_label, name_description: v.name_description })),
  }));
  stockSrs = srs;
  stockSrMeta = pythonSrMeta(srs);
  await writeFile(join(work, 'SRMETA.xml'), stockSrMeta);
  for (const date of [STOCK_DATE_OLD, STOCK_DATE]) {
    const d = `/metadata/${date}`;
    cmds.push(`mkdir ${d}`, `mkdir ${d}/all`, `mkdir ${d}/by-sr`, `mkdir ${d}/by-sr/${srUuid}`, `write ${join(work, 'SRMETA.xml')} ${d}/SRMETA.xml`);
    for (const vm of vms) {
      const f = join(work, `${vm.rec.uuid}.vmmeta`);
      await writeFile(f, await exportMetadata(s, { vmRef: vm.ref }));
      cmds.push(`write ${f} ${d}/all/${vm.rec.uuid}.vmmeta`);
    }
    for (const vm of onSr) cmds.push(`symlink ${d}/by-sr/${srUuid}/${vm.rec.uuid}.vmmeta ../../all/${vm.rec.uuid}.vmmeta`);
  }
  await writeFile(join(work, 'cmds'), `${cmds.join('\n')}\n`);
  execFileSync('debugfs', ['-w', '-f', join(work, 'cmds'), image], { env: ENV, stdio: 'ignore' });
  expect(fsckReadOnly(image).code).toBe(0);
});
afterAll(async () => {
  await prod?.close();
  await rm(work, { recursive: true, force: true });
});

describe('a stock-written backup VDI', () => {
  it('is listed and read by our code, links resolved', async () => {
    const src = await BackupSource.open(prod.session, { srUuid });
    try {
      const list = await src.summaries();
      expect(list.map((b) => b.date)).toEqual([STOCK_DATE, STOCK_DATE_OLD]);
      expect(list[0]!.vms).toBe(vmUuids.length);
      const { entries, problems } = await src.entries(STOCK_DATE, 'sr');
      expect(problems).toEqual([]);
      expect(entries.length).toBe(list[0]!.vmsOnSr);
      expect(entries.every((e) => e.path === `/metadata/${STOCK_DATE}/all/${e.name}`)).toBe(true);
    } finally {
      await src.close();
    }
  });

  it('has the SRMETA.xml our writer writes for the same SRs, byte for byte', () => {
    const ours = buildSrMeta(stockSrs.map((sr) => ({
      uuid: sr.uuid,
      nameLabel: sr.name_label,
      nameDescription: sr.name_description,
      vdis: sr.vdis.map((v) => ({ uuid: v.uuid, nameLabel: v.name_label, nameDescription: v.name_description })),
    })));
    expect(Buffer.from(ours, 'utf8').equals(stockSrMeta), ours).toBe(true);
  });

  it('is extended by our backup: database rotated, old backups kept, history applied', async () => {
    const r = await runBackup(prod.session, { history: 2 });
    expect(r.vdi.created).toBe(false);
    expect(imageLs(image, '/metadata').sort()).toEqual([STOCK_DATE, r.date].sort());
    expect(imageLs(image, '/').filter((n) => n.startsWith(poolUuid)).sort()).toEqual([`${poolUuid}.db`, `${poolUuid}.db.1`, `${poolUuid}.db.2`]);
    expect(fsckReadOnly(image).code).toBe(0);
  });

  it('restores at a DR site from the stock-written backup', async () => {
    const dr = await startTestPool({ vms: 0 });
    try {
      await attachSrFolder(dr.sim, join(prod.sim.stateDir, 'srs', srUuid));
      const r = await runRestore(dr.session, { srUuid, scope: 'sr', date: STOCK_DATE, force: true });
      expect(r.restored).toBeGreaterThan(0);
      for (const res of r.results.filter((x) => x.ok)) expect(dr.sim.db.findRefByUuid('VM', res.vmUuid)).toBeDefined();
      expect(r.names.some((n) => n.kind === 'SR' && n.applied)).toBe(true);
      // A stock backup records no vApps: the restore says so and makes none.
      expect(r.vapps).toEqual({ state: 'absent', warnings: [], vapps: [] });
      expect(dr.sim.db.allRecords('VM_appliance').size).toBe(0);
    } finally {
      await dr.close();
    }
  });
});
