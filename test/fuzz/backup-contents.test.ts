/**
 * Fuzzing the parsers of what a backup VDI holds, which a guest may have crafted (XSA-459):
 * a .vmmeta tar and its ova.xml, SRMETA.xml, directory blocks, file names. Valid inputs are
 * mutated by a seeded PRNG (see mutate.ts). Every case must return or throw an Error within
 * its time bound; nothing may hang, crash the process, or escape as an unhandled error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSrMeta, parseSrMeta } from '../../src/dr/srmeta.js';
import { extractOvaXml, parseOvaXml, readVmmeta } from '../../src/dr/vmmeta.js';
import { dbGenerationOf, formatBackupDate, isBackupDate, isUuid, parseLogrotateHistory, vmUuidOfEntry } from '../../src/dr/layout.js';
import { parseDirectoryEntries } from '../../src/dr/volume/directory.js';
import { exportMetadata, type Ref } from '../../src/xenapi/index.js';
import { startTestPool, type TestPool } from '../helpers/pool.js';
import { BOUND_MS, CASES, bounded, cases, settled } from './mutate.js';

let pool: TestPool;
let vmmeta: Buffer;
let ovaXml: string;

beforeAll(async () => {
  pool = await startTestPool({ vms: 1 });
  const vm = pool.sim.db.where('VM', (v) => !v.is_control_domain && !v.is_a_template && !v.is_a_snapshot)[0]!;
  vmmeta = await exportMetadata(pool.session, { vmRef: vm.ref as Ref, exportSnapshots: true });
  ovaXml = await extractOvaXml(vmmeta);
});
afterAll(async () => {
  await pool?.close();
});

describe('backup VDI contents', () => {
  it('.vmmeta tar (tar-stream + ova.xml) never hangs or escapes', async () => {
    expect((await readVmmeta(vmmeta)).vms.length).toBeGreaterThan(0);
    let reachedXml = 0;
    for (const { i, input } of cases([vmmeta])) {
      const o = await bounded(() => readVmmeta(input), BOUND_MS);
      settled(o, `tar case ${i}`);
      if (o.kind === 'value' || /ova\.xml/.test(String((o.error as Error | undefined)?.message))) reachedXml++;
    }
    // Many mutations keep the tar intact, so the strict XML parser behind it is exercised.
    expect(reachedXml).toBeGreaterThan(CASES / 4);
  });

  it('ova.xml never hangs or escapes, and yields only strings where it promises them', async () => {
    const seeds = [Buffer.from(ovaXml)];
    for (const { i, input } of cases(seeds)) {
      const o = await bounded(() => parseOvaXml(input.toString('utf8')), BOUND_MS);
      settled(o, `ova.xml case ${i}`);
      if (o.kind === 'value') {
        for (const vm of (o.value as Awaited<ReturnType<typeof parseOvaXml>>).vms) {
          expect(typeof vm.uuid, `ova.xml case ${i}`).toBe('string');
          for (const d of vm.disks) expect(typeof d.location, `ova.xml case ${i}`).toBe('string');
        }
      }
    }
  });

  it('SRMETA.xml never hangs or escapes; every name it yields has a valid uuid', async () => {
    const xml = buildSrMeta([
      { uuid: '3f6e4b2c-1a2b-4c3d-8e9f-0123456789ab', nameLabel: 'NFS <&> "storage"', nameDescription: 'x', vdis: [{ uuid: '5f0c0000-1a2b-4c3d-8e9f-0123456789ab', nameLabel: 'disk 0', nameDescription: '' }] },
      { uuid: '00000000-0000-4000-8000-000000000001', nameLabel: 'ISO', nameDescription: '', vdis: [] },
    ]);
    for (const { i, input } of cases([Buffer.from(xml)])) {
      const o = await bounded(() => parseSrMeta(input), BOUND_MS);
      settled(o, `SRMETA case ${i}`);
      if (o.kind === 'value') {
        for (const sr of (o.value as ReturnType<typeof parseSrMeta>).srs) {
          expect(isUuid(sr.uuid), `SRMETA case ${i}`).toBe(true);
          for (const v of sr.vdis) expect(isUuid(v.uuid), `SRMETA case ${i}`).toBe(true);
        }
      }
    }
  });

  it('directory blocks never yield ".", "..", or a name with "/" or NUL', async () => {
    const seeds = [directoryBlock(['.', '..', 'all', 'by-sr', 'SRMETA.xml']), directoryBlock(['.', '..', ...Array.from({ length: 40 }, (_, k) => `${k}-0b1d4e2a-4c55-4f7e-9a0c-5e3f7d2c1b00.vmmeta`)])];
    expect(parseDirectoryEntries(seeds[0]!)).toEqual(['all', 'by-sr', 'SRMETA.xml']);
    for (const { i, input } of cases(seeds, 2000)) {
      const o = await bounded(() => parseDirectoryEntries(input), BOUND_MS);
      settled(o, `directory case ${i}`);
      if (o.kind === 'value') {
        for (const n of o.value as string[]) {
          expect(n === '.' || n === '..' || n.includes('/') || n.includes('\0'), `directory case ${i}: ${JSON.stringify(n)}`).toBe(false);
        }
      }
    }
  });

  it('file names: only exact stock shapes are accepted', async () => {
    const pool = '8d1c2f3e-0000-4000-8000-00000000a001';
    const seeds = [
      formatBackupDate(new Date(2025, 0, 31, 23, 59, 59)),
      '8d1c2f3e-0000-4000-8000-00000000a001.vmmeta',
      `${pool}.db.11`,
      '/var/run/pool-backup-x/y.db {\n    rotate 12\n    missingok\n}\n',
    ].map((t) => Buffer.from(t));
    for (const { i, input } of cases(seeds, 3000)) {
      const name = input.toString('utf8');
      const o = await bounded(() => [isBackupDate(name), vmUuidOfEntry(name), dbGenerationOf(name, pool), parseLogrotateHistory(name)], BOUND_MS);
      settled(o, `name case ${i}`);
      const [date, uuid, gen, rotate] = o.value as [boolean, string | null, number | null, number | null];
      if (date) expect(name, `name case ${i}`).toMatch(/^\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d$/);
      if (uuid !== null) expect(`${uuid}.vmmeta` === name && isUuid(uuid), `name case ${i}`).toBe(true);
      if (gen !== null) expect(Number.isInteger(gen) && gen >= 0, `name case ${i}`).toBe(true);
      if (rotate !== null) expect(Number.isInteger(rotate) && rotate > 0, `name case ${i}`).toBe(true);
    }
  });
});

/** One 4 KiB ext2 directory block holding `names` (inode numbers arbitrary). */
function directoryBlock(names: string[]): Buffer {
  const block = Buffer.alloc(4096);
  let off = 0;
  names.forEach((name, k) => {
    const nameBytes = Buffer.from(name);
    const last = k === names.length - 1;
    const len = last ? 4096 - off : (8 + nameBytes.length + 3) & ~3;
    block.writeUInt32LE(100 + k, off);
    block.writeUInt16LE(len, off + 4);
    block[off + 6] = nameBytes.length;
    block[off + 7] = 1;
    nameBytes.copy(block, off + 8);
    off += len;
  });
  return block;
}
