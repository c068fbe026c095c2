/**
 * Object names with characters XML forbids, end to end through the built CLI.
 *
 * XAPI's XML-RPC writer drops C0 controls from string values (a VM named "a\x01b\x08"
 * reaches every client as "ab") but writes struct member names — map keys such as
 * other_config's — as they are, so such a key arrives raw, a character a strict XML parser
 * refuses: one such key failed the whole VM.get_all_records and the whole backup. The
 * simulator writes both as XAPI does. A .vmmeta written by another tool may hold such a
 * name raw in a value too; its exact value is shown, and XAPI's own reader would refuse it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DIST_CLI, runCli, type Run } from './commands-helpers.js';
import { startTestPool, vdiImagePath, type TestPool } from '../helpers/pool.js';
import { tarOf } from '../helpers/tar.js';
import type { Ref } from '../../src/xenapi/index.js';

const ENV = { ...process.env, PATH: `${process.env['PATH']}:/usr/sbin:/sbin` };
const NAME = 'a\u0001b\u0008';
const KEY = 'note\u0001\u0008';
const CRAFTED_UUID = '12121212-1212-4212-8212-121212121212';

let p: TestPool;
let pw: string;
let vm: { ref: Ref; uuid: string };
let backup: Record<string, any>;
const json = (r: Run) => JSON.parse(r.stdout) as Record<string, any>;
const cli = (...args: string[]) => runCli(DIST_CLI, ['--host', p.sim.url, '--sim-dom0', p.sim.stateDir, '--password-file', pw, ...args], { env: { XSDR_CACHE_DIR: join(p.dir, 'cache') } });

beforeAll(async () => {
  if (!existsSync(DIST_CLI)) throw new Error('dist/ is missing: run `npm run build` first (npm test does).');
  p = await startTestPool({ vms: 3 });
  pw = join(p.dir, 'pw');
  await writeFile(pw, 'demo\n', { mode: 0o600 });
  const { ref, rec } = p.sim.db.where('VM', (v) => !v.is_control_domain && !v.is_a_template && !v.is_a_snapshot)[0]!;
  vm = { ref, uuid: rec.uuid };
  // As XAPI's database holds them when set through JSON-RPC or xe.
  p.sim.db.set('VM', ref, 'name_label', NAME);
  p.sim.db.mapAdd('VM', ref, 'other_config', KEY, 'x');
});
afterAll(async () => {
  await p?.close();
});

describe('a pool with control characters in a VM name and an other_config key', () => {
  it('the key arrives exact, the name as XAPI sends it (controls dropped)', async () => {
    const other = await p.session.call<Record<string, string>>('VM.get_other_config', vm.ref);
    expect(Object.keys(other)).toContain(KEY);
    expect(other[KEY]).toBe('x');
    expect(await p.session.call<string>('VM.get_name_label', vm.ref)).toBe('ab');
  });

  it('is backed up whole: the answer with the raw key decodes, and that VM is exported', async () => {
    const r = await cli('backup', '--json');
    expect(r.code, r.stderr).toBe(0);
    backup = json(r);
    expect(backup.failures).toEqual([]);
    const image = vdiImagePath(p.sim, backup.vdi.uuid);
    const ls = execFileSync('debugfs', ['-R', `ls -p /metadata/${backup.date}/all`, image], { env: ENV, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    expect(ls).toContain(`${vm.uuid}.vmmeta`);
  });

  it('inspect shows that VM, and says a restore would not send its export (XAPI’s reader refuses raw controls)', async () => {
    const image = vdiImagePath(p.sim, backup.vdi.uuid);
    const r = await runCli(DIST_CLI, ['inspect', image, '--date', backup.date, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const entry = json(r).detail.vms.find((v: { uuid: string }) => v.uuid === vm.uuid);
    expect(entry).toMatchObject({ name: 'ab', error: expect.stringMatching(/raw control character\(s\) that XML forbids; XAPI's XML reader refuses the whole file; a restore would not send/) });
  });
});

describe('a .vmmeta holding a raw control character in a value (another writer, or crafted)', () => {
  it('shows the exact name in --json', async () => {
    const image = vdiImagePath(p.sim, backup.vdi.uuid);
    const ova =
      '<value><struct><member><name>version</name><value><struct><member><name>hostname</name><value>h</value></member><member><name>date</name><value>d</value></member>' +
      '<member><name>product_version</name><value>8.4.0</value></member><member><name>product_brand</name><value>XenServer</value></member><member><name>build_number</name><value>b</value></member>' +
      '<member><name>xapi_major</name><value>25</value></member><member><name>xapi_minor</name><value>27</value></member></struct></value></member>' +
      `<member><name>objects</name><value><array><data><value><struct><member><name>class</name><value>VM</value></member><member><name>id</name><value>Ref:1</value></member><member><name>snapshot</name><value><struct>` +
      `<member><name>uuid</name><value>${CRAFTED_UUID}</value></member><member><name>name_label</name><value>${NAME}</value></member><member><name>is_a_template</name><value><boolean>0</boolean></value></member>` +
      '</struct></value></member></struct></value></data></array></value></member></struct></value>';
    const tar = await tarOf('ova.xml', ova);
    const file = join(p.dir, 'crafted.vmmeta');
    await writeFile(file, tar);
    execFileSync('debugfs', ['-w', '-R', `write ${file} /metadata/${backup.date}/all/${CRAFTED_UUID}.vmmeta`, image], { env: ENV, stdio: 'ignore' });
    const r = await runCli(DIST_CLI, ['inspect', image, '--date', backup.date, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const entry = json(r).detail.vms.find((v: { uuid: string }) => v.uuid === CRAFTED_UUID);
    expect(entry.name).toBe(NAME);
    expect(entry.error).toMatch(/2 raw control character\(s\)/);
  });
});
