/**
 * The genuine stock restore, xen-api's scripts/xe-restore-metadata, run on a backup of ours
 * that holds the vApp file: it must find the backup, import exactly the VM exports it imports
 * from any stock backup (all/*.vmmeta, or by-sr/<sr>/*.vmmeta), hand SRMETA.xml to its SR
 * helper, and never touch the vApp file.
 *
 * The script runs unchanged but for the @INVENTORY@/@OPTDIR@/@LIBEXECDIR@ placeholders, which
 * the host's install fills in (xen-api scripts/install.sh). It talks to a recording `xe`
 * (only the calls the script makes), the real python3 (uuid5), debugfs and fsck, and mounts a
 * loop device of a copy of the backup image in a private mount namespace. So it needs root,
 * unshare and losetup, and the script: XSDR_STOCK_RESTORE_SCRIPT, or
 * .cache/xen-api/xe-restore-metadata (.ci/run fetches it); without them the test says why.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackup, type BackupReport } from '../../src/dr/backup.js';
import { VAPPS_FILE } from '../../src/dr/vapps.js';
import { backupDir, backupVdiUuid } from '../../src/dr/layout.js';
import type { Ref } from '../../src/xenapi/index.js';
import { imageLs, startTestPool, vdiImagePath, type TestPool } from '../helpers/pool.js';

const ENV = { ...process.env, PATH: `${process.env['PATH']}:/usr/sbin:/sbin` };
const SCRIPT = process.env['XSDR_STOCK_RESTORE_SCRIPT'] ?? join(process.cwd(), '.cache/xen-api/xe-restore-metadata');

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { env: ENV }).status === 0;
}

/** Why the genuine script cannot run here (null: it can). */
function cannotRun(): string | null {
  if (!existsSync(SCRIPT)) return `no ${SCRIPT} (set XSDR_STOCK_RESTORE_SCRIPT or run .ci/run)`;
  if (process.getuid?.() !== 0) return 'it mounts a loop device: root only';
  for (const c of ['unshare', 'losetup', 'debugfs', 'python3']) if (!has(c)) return `no ${c}`;
  const probe = spawnSync('unshare', ['-m', 'true'], { env: ENV });
  return probe.status === 0 ? null : 'no private mount namespace (unshare -m)';
}
const why = cannotRun();

let prod: TestPool;
let work: string;
let srUuid: string;
let report: BackupReport;
let image: string;

/** The `xe` the script calls: answers what it asks, plugs the VBD as a loop device, logs imports. */
function xeShim(ids: { host: string; pool: string; sr: string; vdi: string }): string {
  return `#!/bin/bash
log=${work}/xe.log
echo "$*" >> "$log"
arg() { for a in "$@"; do case "$a" in "$key"=*) echo "\${a#*=}";; esac; done; }
case "$1" in
  pool-list) case "$*" in *params=master*) echo ${ids.host};; *) echo ${ids.pool};; esac ;;
  pool-param-get) echo ${ids.sr} ;;
  sr-list) key=uuid; arg "$@" ;;
  sr-param-get) echo "Local storage" ;;
  vdi-list) [ "$(key=uuid; arg "$@")" = ${ids.vdi} ] && echo ${ids.vdi} ;;
  vdi-param-set) ;;
  vbd-create) echo 0b0b0b0b-0000-4000-8000-000000000001 ;;
  vbd-plug) losetup -f --show ${work}/image > ${work}/loop ;;
  vbd-param-get) basename "$(cat ${work}/loop)" ;;
  vbd-unplug) losetup -d "$(cat ${work}/loop)" ;;
  vbd-destroy) ;;
  vm-import) f=$(key=filename; arg "$@"); echo "import $(basename "$f")" >> ${work}/imports; basename "$f" .vmmeta ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac
`;
}

beforeAll(async () => {
  if (why) return;
  prod = await startTestPool({ vms: 6, seed: 21 });
  const s = prod.session;
  const poolRef = (await s.call<Ref[]>('pool.get_all'))[0]!;
  srUuid = await s.call<string>('SR.get_uuid', await s.call<Ref>('pool.get_default_SR', poolRef));
  // A vApp holding two VMs, so the backup writes the vApp file with something in it.
  const vms = prod.sim.db.where('VM', (v) => !v.is_control_domain && !v.is_a_template && !v.is_a_snapshot).slice(0, 2);
  const app = await s.call<Ref>('VM_appliance.create', { name_label: 'Web tier', name_description: '' });
  for (const v of vms) await s.call('VM.set_appliance', v.ref, app);
  report = await runBackup(s, {});
  expect(report.vapps.vapps).toBe(1);
  image = vdiImagePath(prod.sim, backupVdiUuid(srUuid));
  expect(imageLs(image, backupDir(report.date))).toContain(VAPPS_FILE);

  work = await mkdtemp(join(tmpdir(), 'xsdr-stock-restore-'));
  await copyFile(image, join(work, 'image'));
  const host = prod.sim.db.where('host', () => true)[0]!.rec.uuid;
  const dom0 = prod.sim.db.where('VM', (v) => v.is_control_domain)[0]!.rec.uuid;
  const pool = await s.call<string>('pool.get_uuid', poolRef);
  await mkdir(join(work, 'opt/bin'), { recursive: true });
  await mkdir(join(work, 'libexec'));
  await writeFile(join(work, 'inventory'), `INSTALLATION_UUID='${host}'\nCONTROL_DOMAIN_UUID='${dom0}'\n`);
  await writeFile(join(work, 'opt/bin/xe'), xeShim({ host, pool, sr: srUuid, vdi: backupVdiUuid(srUuid) }));
  await writeFile(join(work, 'libexec/restore-sr-metadata.py'), `#!/bin/bash\necho "$*" >> ${work}/srmeta\n`);
  await chmod(join(work, 'opt/bin/xe'), 0o755);
  await chmod(join(work, 'libexec/restore-sr-metadata.py'), 0o755);
  // The placeholders install.sh fills in on a host; the script is otherwise run as it is.
  const text = (await readFile(SCRIPT, 'utf8')).replaceAll('@INVENTORY@', join(work, 'inventory')).replaceAll('@OPTDIR@', join(work, 'opt')).replaceAll('@LIBEXECDIR@', join(work, 'libexec'));
  await writeFile(join(work, 'xe-restore-metadata'), text, { mode: 0o755 });
}, 60_000);

afterAll(async () => {
  await prod?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Runs the genuine script (non-interactive) in its own mount namespace. */
function runStock(mode: 'all' | 'sr'): { status: number | null; out: string; imports: string[] } {
  execFileSync('rm', ['-f', join(work, 'imports'), join(work, 'srmeta')]);
  const r = spawnSync('unshare', ['-m', 'bash', join(work, 'xe-restore-metadata'), '-y', '-u', srUuid, '-m', mode], {
    env: { ...ENV, PATH: `${join(work, 'opt/bin')}:${ENV.PATH}` },
    encoding: 'utf8',
    timeout: 60_000,
  });
  const imports = existsSync(join(work, 'imports')) ? execFileSync('cat', [join(work, 'imports')], { encoding: 'utf8' }).trim().split('\n').map((l) => l.replace(/^import /, '')) : [];
  return { status: r.status, out: `${r.stdout}${r.stderr}`, imports: imports.sort() };
}

describe.skipIf(why !== null)(`the genuine xe-restore-metadata on our backup with the vApp file${why ? ` (not run: ${why})` : ''}`, () => {
  it('restores all VM metadata: every export in all/, SRMETA.xml to its helper, the vApp file untouched', async () => {
    const r = runStock('all');
    const dir = backupDir(report.date);
    const exported = imageLs(image, `${dir}/all`).sort();
    expect(r.status, r.out).toBe(0);
    expect(r.imports).toEqual(exported);
    expect(exported).toHaveLength(report.vmsExported + report.templatesExported);
    expect(r.out).toContain(`Restored ${exported.length} VM(s), and 0 error(s)`);
    expect(await readFile(join(work, 'srmeta'), 'utf8')).toMatch(new RegExp(`^-f /var/run/pool-backup-${backupVdiUuid(srUuid)}${dir}/SRMETA.xml\\n$`));
    expect(`${r.out}${await readFile(join(work, 'xe.log'), 'utf8')}`).not.toContain(VAPPS_FILE);
  });

  it('restores only the VMs on this SR: the by-sr links, nothing else', () => {
    const r = runStock('sr');
    expect(r.status, r.out).toBe(0);
    expect(r.imports).toEqual(imageLs(image, `${backupDir(report.date)}/by-sr/${srUuid}`).sort());
    expect(r.imports.length).toBeGreaterThan(0);
  });
});
