/**
 * The classic (XenServer 4.1) path against the simulator: numbered export files as
 * `xe vm-export --multiple metadata=true` names them, and the import loop that follows the
 * numbers until one is missing.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicError, exportClassic, importClassic, numberedFile } from '../../src/dr/legacy.js';
import { readVmmeta } from '../../src/dr/vmmeta.js';
import { startTestPool, type TestPool } from '../helpers/pool.js';

let dir: string;
let pool: TestPool;
let n = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xsdr-classic-'));
  pool = await startTestPool({ vms: 4 });
});
afterAll(async () => {
  await pool.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => pool.sim.faults.clear());

/** The first file name of a new set, in a folder of its own. */
const out = async () => {
  const d = join(dir, `set${++n}`);
  await mkdir(d);
  return join(d, 'vms.xva');
};
/** What `xe vm-list` selects: VMs that are not templates, snapshots or the control domain, in database order. */
const plainVms = (p: TestPool) => p.sim.db.where('VM', (v) => !v.is_a_template && !v.is_a_snapshot && !v.is_control_domain).map((v) => v.rec);
const vmOf = async (file: string) => (await readVmmeta(await readFile(file))).vms.filter((v) => !v.isSnapshot);

describe('numbering', () => {
  it('is F, F2, F3, … as xe names them', () => {
    expect([1, 2, 3, 10].map((i) => numberedFile('/b/backup.xva', i))).toEqual(['/b/backup.xva', '/b/backup.xva2', '/b/backup.xva3', '/b/backup.xva10']);
    expect(() => numberedFile('x', 0)).toThrow(RangeError);
  });
});

describe('export', () => {
  it('--all writes one file per VM (no templates, snapshots or dom0), numbered in database order', async () => {
    const f = await out();
    const expected = plainVms(pool);
    expect(expected.length).toBe(4);
    const seen: string[] = [];
    const r = await exportClassic(pool.session, { all: true, out: f, onProgress: (e) => seen.push(`${e.index}/${e.total} ${e.file}`) });
    expect(r).toMatchObject({ exported: 4, failed: 0, removedStale: [], warnings: [] });
    expect(r.files.map((x) => x.file)).toEqual([f, `${f}2`, `${f}3`, `${f}4`]);
    expect(seen).toEqual([`1/4 ${f}`, `2/4 ${f}2`, `3/4 ${f}3`, `4/4 ${f}4`]);
    expect((await readdir(join(f, '..'))).sort()).toEqual(['vms.xva', 'vms.xva2', 'vms.xva3', 'vms.xva4']);
    for (const [i, vm] of expected.entries()) {
      const file = numberedFile(f, i + 1);
      const inFile = await vmOf(file);
      expect(inFile.map((v) => v.uuid)).toEqual([vm.uuid]);
      expect(inFile[0]!.name).toBe(vm.name_label);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
    }
  });

  it('--vm writes exactly FILE; a template, dom0 or unknown uuid matches nothing', async () => {
    const vm = plainVms(pool)[1]!;
    const f = await out();
    const r = await exportClassic(pool.session, { vmUuid: vm.uuid, out: f });
    expect(r.files.map((x) => [x.file, x.vm.uuid, x.ok])).toEqual([[f, vm.uuid, true]]);
    expect((await vmOf(f)).map((v) => v.uuid)).toEqual([vm.uuid]);

    const template = pool.sim.db.where('VM', (v) => v.is_a_template && !v.is_a_snapshot)[0]!.rec.uuid;
    const dom0 = pool.sim.db.where('VM', (v) => v.is_control_domain)[0]!.rec.uuid;
    for (const uuid of [template, dom0, '00000000-0000-4000-8000-000000000000']) {
      const err = await exportClassic(pool.session, { vmUuid: uuid, out: await out() }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ClassicError);
      expect((err as ClassicError).code).toBe('NO_MATCH');
      expect((err as Error).message).toMatch(/^No matching VMs found/);
    }
    await expect(exportClassic(pool.session, { out: await out() })).rejects.toMatchObject({ code: 'BAD_SELECTION' });
  });

  it('does not overwrite a set, nor leave a stale next number an import would follow; --force replaces both', async () => {
    const f = await out();
    const vm = plainVms(pool)[0]!;
    // An older, larger set: F, F2, F3.
    for (const x of [f, `${f}2`, `${f}3`]) await writeFile(x, 'old');
    await expect(exportClassic(pool.session, { vmUuid: vm.uuid, out: f })).rejects.toMatchObject({ code: 'FILE_EXISTS' });
    expect(await readFile(f, 'utf8')).toBe('old');
    const r = await exportClassic(pool.session, { vmUuid: vm.uuid, out: f, force: true });
    expect(r.removedStale).toEqual([`${f}2`, `${f}3`]);
    expect((await readdir(join(f, '..'))).sort()).toEqual(['vms.xva']);
    expect((await vmOf(f))[0]!.uuid).toBe(vm.uuid);
  });

  it('a failed VM keeps its number: the file is missing, the others are written, and the gap is reported', async () => {
    const f = await out();
    pool.sim.faults.add({ route: '/export_metadata', taskError: ['VM_BAD_POWER_STATE', 'x', 'halted', 'paused'], after: 1, times: 1 });
    const r = await exportClassic(pool.session, { all: true, out: f });
    expect(r.files.map((x) => [x.index, x.ok])).toEqual([[1, true], [2, false], [3, true], [4, true]]);
    expect(r.files[1]!.error?.code).toBe('VM_BAD_POWER_STATE');
    expect(r).toMatchObject({ exported: 3, failed: 1 });
    expect(r.warnings[0]).toMatch(/vms\.xva2 is missing/);
    expect((await readdir(join(f, '..'))).sort()).toEqual(['vms.xva', 'vms.xva3', 'vms.xva4']); // no partial file
  });
});

describe('import', () => {
  it('round trip: imports FILE, FILE2, … until one is missing, as new VMs (new uuids) unless --preserve', async () => {
    const f = await out();
    const originals = plainVms(pool);
    await exportClassic(pool.session, { all: true, out: f });
    const before = pool.sim.db.allRecords('VM').size;

    const seen: string[] = [];
    const r = await importClassic(pool.session, { file: f, onProgress: (e) => seen.push(`${e.index} ${e.vms.map((v) => v.name).join()}`) });
    expect(r).toMatchObject({ imported: 4, errors: 0, preserve: false, dryRun: false, summary: 'Imported 4 file(s), and 0 error(s)' });
    expect(seen).toEqual(originals.map((v, i) => `${i + 1} ${v.name_label}`));
    for (const [i, item] of r.results.entries()) {
      expect(item.file).toBe(numberedFile(f, i + 1));
      expect(item.vms.map((v) => v.uuid)).toEqual([originals[i]!.uuid]);
      expect(item.created).toHaveLength(1);
      expect(item.created[0]!.uuid).not.toBe(originals[i]!.uuid); // new identity, as xe vm-import metadata=true
      expect(item.created[0]!.name).toBe(originals[i]!.name_label);
      expect(pool.sim.db.findRefByUuid('VM', item.created[0]!.uuid)).toBeDefined();
    }
    expect(pool.sim.db.allRecords('VM').size).toBe(before + 4);

    // --preserve keeps the uuids, so it meets the originals: a running VM cannot be
    // replaced, a halted one only by a newer export (xen-api ocaml/xapi/import.ml).
    const p = await importClassic(pool.session, { file: f, preserve: true, dryRun: true });
    expect(p).toMatchObject({ imported: 0, errors: 4, dryRun: true, preserve: true });
    for (const [i, x] of p.results.entries()) {
      expect(x.error?.code).toBe(originals[i]!.power_state === 'Running' ? 'VM_BAD_POWER_STATE' : 'VM_TO_IMPORT_IS_NOT_NEWER_VERSION');
    }
    expect(pool.sim.db.allRecords('VM').size).toBe(before + 4); // a dry run creates nothing
  });

  it('stops at the first missing number, and reads every file as untrusted before sending it', async () => {
    const f = await out();
    const [a, b] = plainVms(pool);
    await exportClassic(pool.session, { vmUuid: a!.uuid, out: f });
    await writeFile(`${f}2`, 'this is not a metadata export');
    await exportClassic(pool.session, { vmUuid: b!.uuid, out: `${f}3` });
    await exportClassic(pool.session, { vmUuid: b!.uuid, out: `${f}5` }); // after the gap: never read
    const before = pool.sim.db.allRecords('VM').size;
    const r = await importClassic(pool.session, { file: f });
    expect(r.results.map((x) => [x.file, x.ok])).toEqual([[f, true], [`${f}2`, false], [`${f}3`, true]]);
    expect(r.results[1]!.error?.meaning).toMatch(/Not a usable VM metadata export/);
    expect(r).toMatchObject({ imported: 2, errors: 1 });
    expect(pool.sim.db.allRecords('VM').size).toBe(before + 2);

    await expect(importClassic(pool.session, { file: join(dir, 'none.xva') })).rejects.toMatchObject({ code: 'NO_FILE' });
  });
});

describe('dry run on old pools', () => {
  it('is refused below API 1.10, where XAPI would ignore the flag and import for real', async () => {
    const f = await out();
    await exportClassic(pool.session, { vmUuid: plainVms(pool)[0]!.uuid, out: f });
    const master = pool.sim.db.where('host', () => true)[0]!.ref;
    const [major, minor] = [pool.sim.db.get('host', master).API_version_major, pool.sim.db.get('host', master).API_version_minor];
    pool.sim.db.update('host', master, { API_version_major: 1, API_version_minor: 9 }); // XenServer 6.0
    try {
      const before = pool.sim.db.allRecords('VM').size;
      const err = await importClassic(pool.session, { file: f, dryRun: true }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ClassicError);
      expect((err as ClassicError).code).toBe('NO_DRY_RUN');
      expect((err as Error).message).toContain('API 1.9');
      expect(pool.sim.db.allRecords('VM').size).toBe(before);
      pool.sim.db.update('host', master, { API_version_major: 1, API_version_minor: 10 }); // XenServer 6.1
      expect((await importClassic(pool.session, { file: f, dryRun: true })).results[0]!.ok).toBe(true);
      expect(pool.sim.db.allRecords('VM').size).toBe(before);
    } finally {
      pool.sim.db.update('host', master, { API_version_major: major, API_version_minor: minor });
    }
  });
});

describe('XenServer 4.1 (the seed article\'s classic path)', () => {
  it('exports every VM to numbered files and imports them back on a 4.1 pool', async () => {
    const old = await startTestPool({ vms: 2, profile: 'xs41' });
    try {
      const dir = await mkdtemp(join(tmpdir(), 'xsdr-41-'));
      const f = join(dir, 'backup.xva');
      const exp = await exportClassic(old.session, { all: true, out: f });
      expect(exp.exported).toBe(2);
      expect(exp.files.map((x) => x.file)).toEqual([f, `${f}2`]);
      await expect(importClassic(old.session, { file: f, dryRun: true })).rejects.toBeInstanceOf(ClassicError);
      const imp = await importClassic(old.session, { file: f });
      expect(imp).toMatchObject({ imported: 2, errors: 0 });
      await rm(dir, { recursive: true, force: true });
    } finally {
      await old.close();
    }
  });
});
