/**
 * Terminal safety of the built CLI: a pool whose VMs, SR, VDIs, networks and pool are named
 * with CR/LF + "Backup Successful", ESC and C1 (U+009B CSI, U+009D OSC) sequences, bidi
 * overrides and isolates, separators and other C0 controls — and a backup image crafted
 * with such file names, link names and SRMETA.xml names. Backup, list, preflight, restore
 * (dry run and real, at a DR site attaching the SR), inspect and the classic export/import
 * run in text mode and with --json. No raw control or bidi character may reach stdout or
 * stderr, no output line may begin with the text a name forged, the names must still be
 * there (escaped), and --json must hold them exactly as the pool or the backup gave them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackup } from '../../src/dr/backup.js';
import { attachSrFolder } from '../../src/sim/index.js';
import type { Ref } from '../../src/xenapi/index.js';
import { DIST_CLI, runCli, SBIN_PATH, type Run } from './commands-helpers.js';
import { startTestPool, vdiImagePath, type TestPool } from '../helpers/pool.js';
import { FORGED, HOSTILE, forgedLines, nameHostilePool, rawUnsafe } from '../helpers/hostile-text.js';

let dir: string;
let pw: string;
let prod: TestPool;
let dr: TestPool;
let srUuid: string;
let vdiUuid: string;
let image: string;
let date: string;
/** Names as this pool's client sees them (the transport keeps C1 and bidi, drops ESC). */
let vmNames: string[];
let srName: string;
let poolName: string;

const json = (r: Run) => JSON.parse(r.stdout) as Record<string, any>;
/** Each test runs the CLI several times, on a machine that may be busy. */
const SLOW = 120_000;

/** The built CLI against `pool`, as a process in its control domain (the VDI is attached). */
function cliOn(pool: TestPool, args: string[]): Promise<Run> {
  return runCli(DIST_CLI, ['--host', pool.sim.url, '--sim-dom0', pool.sim.stateDir, '--password-file', pw, ...args]);
}

/** Text mode: nothing raw on either stream, no forged line; the exit code is the command's. */
function expectSafeText(r: Run, what: string): string {
  const both = `${r.stdout}\n${r.stderr}`;
  expect(rawUnsafe(r.stdout, { lines: true }), `${what}: stdout\n${r.stdout}`).toEqual([]);
  expect(rawUnsafe(r.stderr, { lines: true }), `${what}: stderr\n${r.stderr}`).toEqual([]);
  expect(forgedLines(both), what).toEqual([]);
  return both;
}

/** --json: one document, nothing raw in it (not even inside strings), values exact. */
function expectSafeJson(r: Run, what: string): Record<string, any> {
  expect(rawUnsafe(r.stdout, { lines: true }), `${what}\n${r.stdout}`).toEqual([]);
  expect(r.stderr, what).toBe('');
  return json(r);
}

/** How neutralise shows a name: each unsafe character as \uXXXX. */
function shown(name: string): string {
  let out = '';
  for (const ch of name) {
    const cp = ch.codePointAt(0)!;
    const unsafe = cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || [0x061c, 0x200e, 0x200f, 0x2028, 0x2029].includes(cp) || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
    out += ch === '\\' ? '\\\\' : unsafe ? `\\u${cp.toString(16).padStart(4, '0')}` : ch;
  }
  return out;
}

function debugfs(img: string, request: string): void {
  execFileSync('debugfs', ['-w', '-R', request, img], { env: { ...process.env, PATH: SBIN_PATH }, stdio: 'ignore' });
}

beforeAll(async () => {
  if (!existsSync(DIST_CLI)) throw new Error('dist/ is missing: run `npm run build` first (npm test does).');
  dir = await mkdtemp(join(tmpdir(), 'xsdr-e2e-hostile-'));
  pw = join(dir, 'pw');
  await writeFile(pw, 'demo\n', { mode: 0o600 });
  prod = await startTestPool({ vms: 4, seed: 11 });
  ({ srUuid } = nameHostilePool(prod.sim));
  // A first backup (a small VDI), dated in the past.
  const first = await runBackup(prod.session, { srUuid, vdiSize: 64 * 1024 * 1024, now: () => new Date(2025, 0, 2, 3, 4, 5) });
  vdiUuid = first.vdi.uuid;
  image = vdiImagePath(prod.sim, vdiUuid);
  const vms = await prod.session.getAllRecords('VM', { recordFields: new Set(['name_label', 'is_control_domain', 'is_a_template', 'is_a_snapshot']) });
  vmNames = Object.values(vms)
    .filter((v) => v['is_control_domain'] !== true && v['is_a_template'] !== true && v['is_a_snapshot'] !== true)
    .map((v) => String(v['name_label']));
  const srRef = await prod.session.call<Ref>('SR.get_by_uuid', srUuid);
  srName = await prod.session.call<string>('SR.get_name_label', srRef);
  poolName = await prod.session.call<string>('pool.get_name_label', (await prod.session.call<Ref[]>('pool.get_all'))[0]!);
  // The transport really delivers hostile names: C1 and bidi controls arrive as they are.
  expect(vmNames.join('')).toMatch(/\u009b31m[\s\S]*\u202eevil|\u202eevil[\s\S]*\u009b31m/);
  expect(srName).toContain('\nBackup Successful\u2028');
}, 60_000);

afterAll(async () => {
  await dr?.close();
  await prod?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a pool with hostile names', () => {
  it('backup: the text report shows the names escaped on their own lines; --json has them exactly', async () => {
    const text = await cliOn(prod, ['backup']);
    const asJson = await cliOn(prod, ['backup', '--json']);
    // The newest backup, which the later tests read (whatever this test finds).
    date = (JSON.parse(asJson.stdout) as { date: string }).date;
    expect(text.code).toBe(0);
    const out = expectSafeText(text, 'backup');
    expect(text.stdout.split('\n')[0]).toBe(`Using SR: ${shown(srName)} (${srUuid})`);
    expect(text.stderr).toContain(`Using SR: ${shown(srName)}`);
    expect(out).toContain('\\u000aBackup Successful\\u2028Backup Successful');

    expect(asJson.code).toBe(0);
    const j = expectSafeJson(asJson, 'backup --json');
    expect(j.sr).toEqual({ uuid: srUuid, name: srName });
    expect(j.pool.name).toBe(poolName);
    expect(j.pool.name).toContain('\u0085Backup Successful');
  }, SLOW);

  it('export --all: VM names on the progress and result lines are escaped; --json keeps them', async () => {
    const out = join(dir, 'vms.xva');
    const text = await cliOn(prod, ['export', '--all', '--out', out]);
    expect(text.code).toBe(0);
    const both = expectSafeText(text, 'export');
    for (const name of vmNames) expect(both).toContain(`"${shown(name)}"`);
    const asJson = await cliOn(prod, ['export', '--all', '--out', join(dir, 'again.xva'), '--json']);
    const j = expectSafeJson(asJson, 'export --json');
    expect(j.files.map((f: { vm: { name: string } }) => f.vm.name).sort()).toEqual([...vmNames].sort());
  }, SLOW);

  it('at the DR site: list, preflight and restore (dry run, then real) print no raw name', async () => {
    dr = await startTestPool({ vms: 0 });
    await attachSrFolder(dr.sim, join(prod.sim.stateDir, 'srs', srUuid));
    const on = (...a: string[]) => cliOn(dr, [...a, '--sr', srUuid]);

    const list = await on('list');
    expect(list.code).toBe(0);
    expectSafeText(list, 'list');
    expect(list.stdout).toContain(date);

    const preflight = await on('preflight');
    expect(preflight.code).toBe(0);
    const pf = expectSafeText(preflight, 'preflight');
    const pfJson = expectSafeJson(await on('preflight', '--json'), 'preflight --json');
    expect(pfJson.vms.map((v: { name: string }) => v.name).filter((n: string) => vmNames.includes(n)).sort()).toEqual([...vmNames].sort());
    // The text names the VMs of each problem group (the first 10 of each), escaped.
    const inText = pfJson.groups.flatMap((g: { items: Array<{ name: string }> }) => g.items.slice(0, 10).map((i) => i.name)).filter((n: string) => vmNames.includes(n));
    expect(inText.length).toBeGreaterThan(0);
    for (const name of inText) expect(pf).toContain(shown(name));

    const dry = await on('restore', '--dry-run');
    expectSafeText(dry, 'restore --dry-run');
    const dryJson = expectSafeJson(await on('restore', '--dry-run', '--json'), 'restore --dry-run --json');
    expect(dryJson.results.length).toBeGreaterThan(0);
    expect(dryJson.results.map((x: { name: string }) => x.name).filter((n: string) => vmNames.includes(n)).sort()).toEqual([...vmNames].sort());
    // SRMETA.xml keeps names in attributes, where XML turns line breaks into spaces; C1 and bidi stay.
    const srNames = dryJson.names.find((n: { uuid: string }) => n.uuid === srUuid);
    expect(srNames).toMatchObject({ kind: 'SR', nameLabel: srName.replace(/[\n\r\t]/g, ' ') });
    expect(srNames.nameDescription).toContain('\u0085Backup Successful');

    const real = await on('restore', '--yes');
    const r = expectSafeText(real, 'restore');
    const summary = /^Restored (\d+) VM\(s\), and (\d+) error\(s\)$/m.exec(r);
    expect(Number(summary![1])).toBeGreaterThan(0);
    expect(real.code).toBe(Number(summary![2]));
    // The names restored at the DR site are the backup's, exactly.
    const drSr = dr.sim.db.get('SR', dr.sim.db.refByUuid('SR', srUuid));
    expect(drSr.name_label).toBe(srName.replace(/[\n\r\t]/g, ' '));
    const restored = dr.sim.db.where('VM', (v) => !v.is_control_domain && !v.is_a_template);
    expect(restored.length).toBeGreaterThan(0);
    for (const { rec } of restored) expect(vmNames).toContain(rec.name_label);
  }, SLOW);

  it('classic import: file progress and results name no VM raw', async () => {
    const dry = await cliOn(dr, ['import', join(dir, 'vms.xva'), '--sr', srUuid, '--dry-run']);
    expectSafeText(dry, 'import --dry-run');
    expect(dry.stderr).toMatch(/^Importing .*vms\.xva: "/m);
    const j = expectSafeJson(await cliOn(dr, ['import', join(dir, 'vms.xva'), '--sr', srUuid, '--dry-run', '--json']), 'import --json');
    expect(j.results.length).toBeGreaterThan(0);
  }, SLOW);

  it('inspect of the backup image, offline: the VM and SR names of a backup, escaped / exact', async () => {
    const text = await runCli(DIST_CLI, ['inspect', image, '--date', date]);
    expect(text.code).toBe(0);
    const out = expectSafeText(text, 'inspect --date');
    for (const name of vmNames) expect(out).toContain(`"${shown(name.replace(/\r\n?/g, '\n'))}"`);
    const j = expectSafeJson(await runCli(DIST_CLI, ['inspect', image, '--date', date, '--json']), 'inspect --json');
    const backedUp = j.detail.vms.map((v: { name: string }) => v.name);
    for (const name of vmNames) expect(backedUp).toContain(name.replace(/\r\n?/g, '\n'));
    expect(j.detail.srMeta.find((s: { uuid: string }) => s.uuid === srUuid).nameLabel).toBe(srName.replace(/[\n\r\t]/g, ' '));
  }, SLOW);
});

describe('a crafted backup image', () => {
  const ODD_UUID = '99999999-9999-4999-8999-999999999999';
  const CRAFTED_SR_NAME = '\nBackup Successful\u009b31m\u202e';
  const CRAFTED_DESCRIPTION = '\r\nBackup Successful';
  const CRAFTED_VDI_NAME = '\u2028Backup Successful\u2066';
  const names = {
    notADate: '2030-01-01-00-00-00\nBackup Successful',
    incomplete: '.incomplete-\u001b[2J\rBackup Successful',
    notAnEntry: '\u009b31m\nBackup Successful.vmmeta',
    bySrLink: '\r\nBackup Successful.vmmeta',
    linkTarget: '\u202e../../all/\nBackup Successful',
  };

  beforeAll(async () => {
    const d = `/metadata/${date}`;
    const small = join(dir, 'small');
    await writeFile(small, 'x');
    const srmeta = join(dir, 'SRMETA.xml');
    const otherVdi = dr.sim.db.get('SR', dr.sim.db.refByUuid('SR', srUuid)).VDIs.map((ref) => dr.sim.db.get('VDI', ref).uuid).find((u) => u !== vdiUuid)!;
    // Character references: the only way XML carries a line break inside an attribute.
    await writeFile(
      srmeta,
      '<?xml version="1.0" encoding="utf-8"?><meta>' +
        `<sr uuid="${srUuid}" name_label="&#10;Backup Successful&#x9b;31m&#x202e;" name_description="&#13;&#10;Backup Successful">` +
        `<vdi uuid="${otherVdi}" name_label="&#x2028;Backup Successful&#x2066;" name_description=""/></sr></meta>`,
    );
    debugfs(image, `mkdir "/metadata/${names.notADate}"`);
    debugfs(image, `mkdir "/metadata/${names.incomplete}"`);
    debugfs(image, `write ${small} "${d}/all/${names.notAnEntry}"`);
    debugfs(image, `symlink "${d}/by-sr/${srUuid}/${names.bySrLink}" ../../all/x.vmmeta`);
    debugfs(image, `symlink "${d}/by-sr/${srUuid}/${ODD_UUID}.vmmeta" "${names.linkTarget}"`);
    debugfs(image, `rm ${d}/SRMETA.xml`);
    debugfs(image, `write ${srmeta} ${d}/SRMETA.xml`);
  });

  it('inspect: folder, file and SR names of the image are escaped or quoted; --json has them exactly', async () => {
    const text = await runCli(DIST_CLI, ['inspect', image, '--date', date]);
    expect(text.code).toBe(0);
    const out = expectSafeText(text, 'inspect crafted');
    expect(out).toContain(`Not a backup name (ignored): "${shown(names.notADate)}"`);
    expect(out).toContain(`Interrupted run (ignored): ${shown(names.incomplete)}`);
    expect(out).toContain(`ignored: "${shown(names.notAnEntry)}"`);
    expect(out).toContain(`"${shown(CRAFTED_SR_NAME)}"`);
    const j = expectSafeJson(await runCli(DIST_CLI, ['inspect', image, '--date', date, '--json']), 'inspect crafted --json');
    expect(j.ignored).toContain(names.notADate);
    expect(j.incomplete).toContain(names.incomplete);
    expect(j.detail.ignored).toContain(names.notAnEntry);
    expect(j.detail.srMeta.find((s: { uuid: string }) => s.uuid === srUuid)).toMatchObject({ nameLabel: CRAFTED_SR_NAME, nameDescription: CRAFTED_DESCRIPTION });
  }, SLOW);

  it('preflight and dry runs at the DR site: crafted entry and link names, link targets and SRMETA names stay on their line', async () => {
    const on = (...a: string[]) => cliOn(dr, [...a, '--sr', srUuid]);
    for (const mode of ['sr', 'all']) {
      const pf = await on('preflight', '--mode', mode);
      expect(pf.code).toBe(0);
      const text = expectSafeText(pf, `preflight --mode ${mode}`);
      // In the group of skipped entries, one per line.
      expect(text).toContain(`\n  ${shown(mode === 'sr' ? names.bySrLink : names.notAnEntry)}: `);
      const dry = await on('restore', '--dry-run', '--mode', mode);
      const d = expectSafeText(dry, `restore --dry-run --mode ${mode}`);
      expect(d).toContain(`Name: ${shown(CRAFTED_SR_NAME)}`);
      expect(d).toContain(`Description: ${shown(CRAFTED_DESCRIPTION)}`);
      expect(d).toContain(`Name: ${shown(CRAFTED_VDI_NAME)}`);
      if (mode === 'sr') expect(d).toContain(`Skipped ${ODD_UUID}.vmmeta: link to "${shown(names.linkTarget)}" leaves the backup; ignored`);
      const j = expectSafeJson(await on('restore', '--dry-run', '--mode', mode, '--json'), `restore --dry-run --mode ${mode} --json`);
      expect(j.names.find((n: { uuid: string }) => n.uuid === srUuid)).toMatchObject({ kind: 'SR', nameLabel: CRAFTED_SR_NAME, nameDescription: CRAFTED_DESCRIPTION });
      expect(j.skipped.map((s: { name: string }) => s.name)).toContain(mode === 'sr' ? names.bySrLink : names.notAnEntry);
    }
  }, SLOW);
});

describe('the checks themselves', () => {
  it(`find a raw name: its line breaks would start lines with "${FORGED}"`, () => {
    expect(forgedLines(`Using SR: ${HOSTILE.sr}`)).toHaveLength(2);
    expect(forgedLines(`FAILED VM "${HOSTILE.vms[0]}"`)).toHaveLength(1);
    expect(rawUnsafe(`x ${HOSTILE.vms[2]}`, { lines: true })).toHaveLength(2);
  });
});
