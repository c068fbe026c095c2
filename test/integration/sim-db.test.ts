/**
 * The object database on its own: schema checks, derived relation sets (checked against a
 * brute-force recomputation after random operations), persistence and a defensive load.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { ApiFailure } from '../../src/sim/api-error.js';
import { SimDb } from '../../src/sim/db.js';
import { NULL_REF, RELATIONS, type AnyRecord } from '../../src/sim/schema.js';
import { tempDir } from './sim-helpers.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function bruteForceSets(db: SimDb): void {
  for (const r of RELATIONS) {
    for (const [ref, rec] of db.allRecords(r.setClass)) {
      const want = [...db.allRecords(r.refClass)].filter(([, m]) => (m as AnyRecord)[r.refField] === ref).map(([m]) => m).sort();
      expect([...((rec as AnyRecord)[r.setField] as string[])].sort(), `${r.setClass}.${r.setField}`).toEqual(want);
    }
  }
}

describe('SimDb', () => {
  test('defaults, copies, schema checks, uuid index, errors as XAPI sends them', () => {
    const db = new SimDb();
    const vm = db.create('VM', { name_label: 'a', power_state: 'running' as 'Running' });
    const rec = db.get('VM', vm);
    expect(rec.power_state).toBe('Running'); // enum spelling canonicalised
    expect(rec.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(rec.snapshot_of).toBe(NULL_REF);
    expect(rec.actions_after_crash).toBe('restart');
    rec.other_config.x = 'mutated copy';
    expect(db.get('VM', vm).other_config).toEqual({});
    expect(db.refByUuid('VM', rec.uuid)).toBe(vm);
    expect(() => db.set('VM', vm, 'memory_static_max', 1.5)).toThrow(ApiFailure);
    expect(() => db.set('VM', vm, 'memory_static_max', 2 ** 60)).toThrow(/FIELD_TYPE_ERROR/);
    expect(() => db.set('VM', vm, 'power_state', 'Exploded' as 'Halted')).toThrow(/INVALID_VALUE/);
    expect(() => db.create('VM', { nonsense: 1 } as never)).toThrow(/no field nonsense/);
    expect(() => db.create('VM', { uuid: rec.uuid })).toThrow(/already exists/);
    const thrown = (f: () => unknown): string[] => {
      try {
        f();
      } catch (e) {
        return (e as ApiFailure).toDescription();
      }
      throw new Error('expected a throw');
    };
    expect(thrown(() => db.get('VDI', 'OpaqueRef:x'))).toEqual(['HANDLE_INVALID', 'VDI', 'OpaqueRef:x']);
    expect(thrown(() => db.refByUuid('SR', 'u'))).toEqual(['UUID_INVALID', 'SR', 'u']);
  });

  test('relation sets follow creates, moves and destroys (random operations vs brute force)', () => {
    const db = new SimDb();
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const vms = Array.from({ length: 5 }, (_, i) => db.create('VM', { name_label: `vm${i}` }));
    const srs = Array.from({ length: 3 }, () => db.create('SR', {}));
    const vdis: string[] = [];
    const vbds: string[] = [];
    for (let step = 0; step < 400; step++) {
      const op = rnd(6);
      if (op === 0 || vdis.length === 0) vdis.push(db.create('VDI', { SR: srs[rnd(srs.length)] as string }));
      else if (op === 1) vbds.push(db.create('VBD', { VM: vms[rnd(vms.length)] as string, VDI: vdis[rnd(vdis.length)] as string }));
      else if (op === 2 && vbds.length > 0) db.set('VBD', vbds[rnd(vbds.length)] as string, 'VM', vms[rnd(vms.length)] as string);
      else if (op === 3 && vbds.length > 0) db.destroy('VBD', vbds.splice(rnd(vbds.length), 1)[0] as string);
      else if (op === 4 && vdis.length > 0) db.set('VDI', vdis[rnd(vdis.length)] as string, 'SR', srs[rnd(srs.length)] as string);
      else if (op === 5) db.set('VM', vms[rnd(vms.length)] as string, 'snapshot_of', rnd(2) ? (vms[rnd(vms.length)] as string) : NULL_REF);
    }
    bruteForceSets(db);
    // a ref forced at create time picks up members that already point at it
    const later = 'OpaqueRef:later-vm';
    const early = db.create('VBD', { VM: later });
    db.create('VM', { name_label: 'late' }, { ref: later });
    expect(db.get('VM', later).VBDs).toEqual([early]);
    // derived sets cannot be set directly
    db.update('VM', later, { VBDs: [] });
    expect(db.get('VM', later).VBDs).toEqual([early]);
  });

  test('persistence: debounced atomic write, load fills defaults, drops junk, recomputes relations', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const file = join(dir, 'db.json');
    const { db, isNew } = await SimDb.open(file, { debounceMs: 5 });
    expect(isNew).toBe(true);
    const vm = db.create('VM', { name_label: 'kept' });
    const vbd = db.create('VBD', { VM: vm });
    db.create('session', {});
    db.setMeta('k', 'v');
    await db.flush();
    const json = JSON.parse(await readFile(file, 'utf8')) as { tables: Record<string, Record<string, AnyRecord>> };
    expect(json.tables.session).toBeUndefined(); // sessions are not persisted
    // tamper: unknown field, wrong type, a stale derived set, a non-object row, an unknown class
    const row = json.tables.VM?.[vm] as AnyRecord;
    row.bogus_field = 1;
    row.memory_static_max = 'lots';
    row.VBDs = ['OpaqueRef:ghost'];
    (json.tables.VM as Record<string, unknown>)['OpaqueRef:junk'] = 'x';
    (json.tables as Record<string, unknown>).NotAClass = {};
    await writeFile(file, JSON.stringify(json));
    const again = await SimDb.open(file);
    expect(again.isNew).toBe(false);
    const rec = again.db.get('VM', vm) as unknown as AnyRecord;
    expect(rec.name_label).toBe('kept');
    expect(rec.memory_static_max).toBe(0);
    expect('bogus_field' in rec).toBe(false);
    expect(rec.VBDs).toEqual([vbd]);
    expect(again.db.getMeta('k')).toBe('v');
    expect(again.db.count('VM')).toBe(1);

    await writeFile(file, '{"format":"something else"}');
    await expect(SimDb.open(file)).rejects.toThrow(/not a simulator database/);
    await writeFile(file, '{not json');
    await expect(SimDb.open(file)).rejects.toThrow(/not valid JSON/);
  });
});
