/**
 * A .vmmeta whose ova.xml XAPI's import would refuse (no version header, wrong XML-RPC
 * types) is refused by restore, preflight and the classic import with UNSAFE_BACKUP_FILE,
 * naming the field, and never sent to XAPI; a genuine one with an XML declaration and
 * indentation (XenServer 5.5 style), which XAPI accepts, is sent and imported.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackup } from '../../src/dr/backup.js';
import { importClassic } from '../../src/dr/legacy.js';
import { preflightRestore, runRestore } from '../../src/dr/restore.js';
import { extractOvaXml } from '../../src/dr/vmmeta.js';
import { exportMetadata, type Ref } from '../../src/xenapi/index.js';
import { startTestPool, vdiImagePath, type TestPool } from '../helpers/pool.js';
import { tarOf as tarNamed } from '../helpers/tar.js';

const ENV = { ...process.env, PATH: `${process.env['PATH']}:/usr/sbin:/sbin` };
const TYPES_UUID = '99999999-9999-4999-8999-999999999991';
const NOVERSION_UUID = '99999999-9999-4999-8999-999999999992';

let p: TestPool;
let work: string;
let srUuid: string;
let ova: string;
let vmUuid: string;

const tarOf = (body: string) => tarNamed('ova.xml', body);

const imports = () => p.sim.stats.snapshot().routes['/import_metadata']?.requests ?? 0;
/** Wrong XML-RPC types in the header: XAPI's version reader fails on both. */
const wrongTypes = (x: string) => x.replace(/<name>xapi_major<\/name><value>\d+<\/value>/, '<name>xapi_major</name><value><double>25.0</double></value>').replace(/<name>hostname<\/name><value>[^<]*<\/value>/, '<name>hostname</name><value><int>7</int></value>');
const noVersion = (x: string) => x.replace(/<member><name>version<\/name><value><struct>.*?<\/struct><\/value><\/member>/, '');
/** What XAPI accepts and main refused: a declaration and line breaks between elements. */
const declared = (x: string) => `<?xml version="1.0" encoding="UTF-8"?>\n${x.replace(/<\/member>/g, '</member>\n  ').replace(/<struct>/g, '<struct>\n  ')}\n`;

beforeAll(async () => {
  p = await startTestPool({ vms: 2 });
  work = await mkdtemp(join(tmpdir(), 'xsdr-shape-'));
  const vm = p.sim.db.where('VM', (v) => !v.is_control_domain && !v.is_a_template && !v.is_a_snapshot)[0]!;
  vmUuid = vm.rec.uuid;
  ova = await extractOvaXml(await exportMetadata(p.session, { vmRef: vm.ref as Ref, exportSnapshots: false }));
  expect(wrongTypes(ova)).not.toBe(ova);
  expect(noVersion(ova)).not.toBe(ova);

  const r = await runBackup(p.session, {});
  srUuid = r.sr.uuid;
  const d = `/metadata/${r.date}`;
  await writeFile(join(work, 'types'), await tarOf(wrongTypes(ova)));
  await writeFile(join(work, 'nover'), await tarOf(noVersion(ova)));
  await writeFile(join(work, 'declared'), await tarOf(declared(ova)));
  const cmds = [
    `write ${join(work, 'types')} ${d}/all/${TYPES_UUID}.vmmeta`,
    `write ${join(work, 'nover')} ${d}/all/${NOVERSION_UUID}.vmmeta`,
    // The genuine VM's own export, as an older host wrote it.
    `rm ${d}/all/${vmUuid}.vmmeta`,
    `write ${join(work, 'declared')} ${d}/all/${vmUuid}.vmmeta`,
  ];
  await writeFile(join(work, 'cmds'), `${cmds.join('\n')}\n`);
  execFileSync('debugfs', ['-w', '-f', join(work, 'cmds'), vdiImagePath(p.sim, r.vdi.uuid)], { env: ENV, stdio: 'ignore' });
});
afterAll(async () => {
  await p?.close();
  await rm(work, { recursive: true, force: true });
});

describe('restore', () => {
  it('preflight names the field XAPI would refuse', async () => {
    const pf = await preflightRestore(p.session, { srUuid, scope: 'all' });
    const by = Object.fromEntries(pf.vms.map((v) => [v.file, v]));
    expect(by[`${TYPES_UUID}.vmmeta`]!.error).toMatch(/version\.hostname is an int; XAPI reads a string there \(and 1 more problem\(s\)\); this export would not be sent to XAPI/);
    expect(by[`${NOVERSION_UUID}.vmmeta`]!.error).toMatch(/no version header/);
    expect(by[`${vmUuid}.vmmeta`]!.error).toBeUndefined();
    expect(by[`${vmUuid}.vmmeta`]!.uuid).toBe(vmUuid);
  });

  it('refuses them with UNSAFE_BACKUP_FILE without sending, and sends the declared, indented genuine one to XAPI', async () => {
    const before = imports();
    const r = await runRestore(p.session, { srUuid, scope: 'all', dryRun: true });
    const by = Object.fromEntries(r.results.map((x) => [x.file, x]));
    for (const f of [TYPES_UUID, NOVERSION_UUID]) {
      expect(by[`${f}.vmmeta`]!.error).toMatchObject({ code: 'UNSAFE_BACKUP_FILE', meaning: expect.stringMatching(/^Not a usable VM metadata export: (version|ova\.xml)/) });
    }
    // Sent: XAPI itself answers (the VM is still in this pool, so it refuses the replacement).
    expect(by[`${vmUuid}.vmmeta`]!.error?.code).toMatch(/^(VM_BAD_POWER_STATE|VM_TO_IMPORT_IS_NOT_NEWER_VERSION)$/);
    const sent = r.results.filter((x) => x.error?.code !== 'UNSAFE_BACKUP_FILE').length;
    expect(imports() - before).toBe(sent);
    expect(r.results.length - sent).toBe(2);
  });
});

describe('classic import', () => {
  it('imports a declared genuine file, refuses a crafted one by field, and sends only the first', async () => {
    const base = join(work, 'set.xva');
    await writeFile(base, await tarOf(declared(ova)));
    await writeFile(`${base}2`, await tarOf(wrongTypes(ova)));
    const before = imports();
    const r = await importClassic(p.session, { file: base, dryRun: true });
    expect(r.results.map((x) => x.ok)).toEqual([true, false]);
    expect(r.results[1]!.error).toMatchObject({ code: 'UNSAFE_BACKUP_FILE', meaning: expect.stringMatching(/version\.hostname is an int/) });
    expect(imports() - before).toBe(1);
  });
});
