/**
 * inspect of a crafted image stays bounded: what made it run for minutes (the same large
 * "export" linked under dozens of names, many distinct large ones, folders of tens of MiB)
 * is read once, charged to a byte budget and a deadline, or refused by size; it ends with
 * a clear TOO_LARGE / TOO_SLOW message instead of running on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspectImage } from '../../src/dr/inspect.js';
import { tarOf } from '../helpers/tar.js';

const ENV = { ...process.env, PATH: `${process.env['PATH']}:/usr/sbin:/sbin` };
const DATE = '2025-03-04-05-06-07';
const BIG_FOLDER_DATE = '2025-03-05-05-06-07';
const uuid = (i: number) => `0b1d4e2a-4c55-4f7e-9a0c-${i.toString(16).padStart(12, '0')}`;
const LINKS = 40;
const DISTINCT = 6;

let work: string;
let image: string;

/** A tar whose ova.xml is `bytes` of an XML-RPC array: large, and no export. */
function bigVmmeta(bytes: number, salt: number): Promise<Buffer> {
  const item = `<value>v${salt}</value>`;
  const body = `<value><array><data>${item.repeat(Math.floor(bytes / item.length))}</data></array></value>`;
  return tarOf('ova.xml', body);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'xsdr-inspect-bounds-'));
  image = join(work, 'vdi.img');
  await truncate(await writeFile(image, '').then(() => image), 256 * 1024 * 1024);
  execFileSync('mkfs.ext3', ['-q', '-F', image], { env: ENV });
  await writeFile(join(work, 'marker'), '1\n');
  const cmds = ['write marker /.ctxs-metadata-backup', 'mkdir /metadata', `mkdir /metadata/${DATE}`, `mkdir /metadata/${DATE}/all`];
  for (let i = 0; i < DISTINCT; i++) {
    await writeFile(join(work, `f${i}`), await bigVmmeta(8 * 1024 * 1024, i));
    cmds.push(`write ${join(work, `f${i}`)} /metadata/${DATE}/all/${uuid(i)}.vmmeta`);
  }
  // The first one under many more names (debugfs's ln does not grow a folder: expand_dir does).
  for (let k = 0; k < 4; k++) cmds.push(`expand_dir /metadata/${DATE}/all`);
  for (let k = 1; k <= LINKS; k++) cmds.push(`ln /metadata/${DATE}/all/${uuid(0)}.vmmeta /metadata/${DATE}/all/${uuid(1000 + k)}.vmmeta`);
  // A folder of 32 MiB (its size says so; reading it would take its full length).
  cmds.push(`mkdir /metadata/${BIG_FOLDER_DATE}`, `mkdir /metadata/${BIG_FOLDER_DATE}/all`, `sif /metadata/${BIG_FOLDER_DATE}/all size 0x2000000`);
  execFileSync('debugfs', ['-w', '-f', '-', image], { input: `${cmds.join('\n')}\n`, cwd: work, env: ENV, stdio: ['pipe', 'ignore', 'ignore'] });
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('inspect of a crafted image', () => {
  it('reads a file with forty names once, and every distinct one within the default budget', async () => {
    const r = await inspectImage(image, { date: DATE });
    const vms = r.detail!.vms;
    expect(vms).toHaveLength(DISTINCT + LINKS);
    expect(vms.filter((v) => /the same file as/.test(v.error ?? ''))).toHaveLength(LINKS);
    // The distinct ones are read and refused for what they are (no export), not skipped.
    expect(vms.filter((v) => v.error && !/the same file as/.test(v.error))).toHaveLength(DISTINCT);
  });

  it('stops with TOO_LARGE once the bytes read would pass the budget', async () => {
    await expect(inspectImage(image, { date: DATE, limits: { maxBytes: 24 * 1024 * 1024 } })).rejects.toMatchObject({
      code: 'TOO_LARGE',
      message: expect.stringMatching(/holds more than a metadata backup does: reading \/metadata\/.*\.vmmeta would take the bytes read past 25165824 .* this image may be damaged or crafted/),
    });
  });

  it('stops with TOO_SLOW once the deadline has passed', async () => {
    await expect(inspectImage(image, { limits: { deadlineMs: -1 } })).rejects.toMatchObject({ code: 'TOO_SLOW', message: expect.stringMatching(/reading took longer than 0 s and was stopped/) });
  });

  it('lists no folder larger than a stock one, and names it', async () => {
    const r = await inspectImage(image);
    const big = r.backups.find((b) => b.date === BIG_FOLDER_DATE)!;
    expect(big.vms).toBe(0);
    expect(big.problems!.join('\n')).toMatch(/all is a folder of 33554432 bytes \(more than 16777216\)/);
    await expect(inspectImage(image, { date: BIG_FOLDER_DATE })).rejects.toMatchObject({ code: 'NOT_A_BACKUP' });
  });
});
