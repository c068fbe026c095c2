/**
 * Dated folders from the pool master's clock, not the client's: the simulator's host clock
 * (its own offset and time zone) answers host.get_servertime / get_server_localtime as XAPI
 * does, per API version; a client in another zone with a clock hours off names its folder
 * as the stock script on the master would, keeps it whatever the other names, and reports
 * the skew.
 */
// This client works in Los Angeles; the master (below) in Auckland.
process.env.TZ = 'America/Los_Angeles';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/dr/backup.js';
import { backupText } from '../../src/commands/backup.js';
import { backupSummaryText } from '../../components/backup/summary.js';
import { readMasterClock } from '../../src/dr/master-clock.js';
import { removeTree, writeFileBytes } from '../../src/dr/volume/files.js';
import type { SimClock } from '../../src/sim/clock.js';
import { XenApiError, type Ref } from '../../src/xenapi/index.js';
import { imageLs, startTestPool, vdiImagePath, type TestPool } from '../helpers/pool.js';
import { login, postXml, rpcFail } from './sim-helpers.js';
import { openImageForWrite } from '../helpers/image-writer.js';

const HOUR = 3_600_000;
let pool: TestPool;
let master: Ref;

/** What `date +%F-%H-%M-%S` prints on the simulated master at `at`. */
function stockName(clock: SimClock, at: Date): string {
  const w = clock.wallClock(at);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${w.year}-${p(w.month)}-${p(w.day)}-${p(w.hour)}-${p(w.minute)}-${p(w.second)}`;
}

/** A dated name's wall-clock reading as a number, to compare names within seconds. */
function wallMs(name: string): number {
  const [y, mo, d, h, mi, se] = name.split('-').map(Number) as [number, number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, h, mi, se);
}

beforeAll(async () => {
  pool = await startTestPool({ vms: 2, clock: { timeZone: 'Pacific/Auckland' } });
  master = await pool.session.poolMaster();
});
afterAll(async () => {
  await pool.close();
});

describe("the simulated master's clock, as XAPI tells it", () => {
  it('get_servertime is UTC with a Z, get_server_localtime the local wall clock without a zone', async () => {
    const session = await login(pool.sim.url);
    const call = (m: string) => postXml(pool.sim.url, `<methodCall><methodName>${m}</methodName><params><param><value>${session}</value></param><param><value>${master}</value></param></params></methodCall>`);
    pool.sim.clock.set({ offsetMs: -2 * HOUR });
    try {
      const utc = /<dateTime\.iso8601>(\d{8}T\d\d:\d\d:\d\dZ)<\/dateTime\.iso8601>/.exec((await call('host.get_servertime')).text)?.[1];
      const local = /<dateTime\.iso8601>(\d{8}T\d\d:\d\d:\d\d)<\/dateTime\.iso8601>/.exec((await call('host.get_server_localtime')).text)?.[1];
      expect(utc).toBeDefined();
      expect(local).toBeDefined();
      const asDate = (t: string) => Date.UTC(+t.slice(0, 4), +t.slice(4, 6) - 1, +t.slice(6, 8), +t.slice(9, 11), +t.slice(12, 14), +t.slice(15, 17));
      // Two hours slow, within the few seconds the calls took.
      expect(Math.abs(asDate(utc!) - (Date.now() - 2 * HOUR))).toBeLessThan(10_000);
      // Auckland is UTC+12 or +13.
      expect([12 * HOUR, 13 * HOUR]).toContain(Math.round((asDate(local!) - asDate(utc!)) / HOUR) * HOUR);
      expect((await rpcFail(pool.sim.url, 'host.get_servertime', session, 'OpaqueRef:nope'))[0]).toBe('HANDLE_INVALID');
    } finally {
      pool.sim.clock.set({ offsetMs: 0 });
    }
  });

  it.each([
    ['xs41', 'client'],
    ['xs71', 'master-local'],
    ['ch82', 'master-local'],
    ['xs8', 'master-local'],
  ] as const)('profile %s: the calls its API version has (clock from %s)', async (profile, source) => {
    const p = await startTestPool({ vms: 0, profile, clock: { timeZone: 'Asia/Kolkata', offsetMs: HOUR } });
    try {
      const host = await p.session.poolMaster();
      const known = await p.session.call('host.get_server_localtime', host).then(
        () => true,
        (e: unknown) => (XenApiError.is(e, 'MESSAGE_METHOD_UNKNOWN') ? false : Promise.reject(e)),
      );
      expect(known).toBe(profile !== 'xs41');
      const clock = await readMasterClock(p.session, host);
      expect(clock.source).toBe(source);
      if (source === 'master-local') {
        expect(clock.masterUtcOffsetMinutes).toBe(330);
        expect(Math.abs(clock.skewMs! - HOUR)).toBeLessThan(10_000);
        // What the stock script's `date` prints on that master now, to the seconds the calls take.
        expect(Math.abs(wallMs(await clock.backupDateName()) - wallMs(stockName(p.sim.clock, p.sim.clock.now())))).toBeLessThan(10_000);
      } else {
        expect(clock.skewMs).toBeNull();
        expect(clock.warnings.join(' ')).toMatch(/does not tell its time/);
      }
    } finally {
      await p.close();
    }
  });
});

describe('a client in another zone, its clock hours ahead', () => {
  it('names the folder by the master, keeps it with --keep 2 whatever the other names, and reports the skew', async () => {
    const first = await runBackup(pool.session, { vdiSize: 64 * 1024 * 1024 });
    const image = vdiImagePath(pool.sim, first.vdi.uuid);
    // The stock script on the master dated two backups one and two hours ago.
    const older = [stockName(pool.sim.clock, new Date(Date.now() - 2 * HOUR)), stockName(pool.sim.clock, new Date(Date.now() - HOUR))];
    const vol = await openImageForWrite(image);
    for (const name of older) {
      await vol.fs.mkdir(`/metadata/${name}`, 0o755);
      await vol.fs.mkdir(`/metadata/${name}/all`, 0o755);
      await writeFileBytes(vol.fs, `/metadata/${name}/SRMETA.xml`, '<SRs/>');
    }
    await removeTree(vol.fs, `/metadata/${first.date}`); // only the stock-dated ones stay
    await vol.close();

    const aheadBy = 5 * HOUR;
    const r = await runBackup(pool.session, { history: 2, clientClock: () => new Date(Date.now() + aheadBy) });
    // The master's wall clock, to the few seconds the run took to get there.
    expect(Math.abs(wallMs(r.date) - wallMs(stockName(pool.sim.clock, new Date())))).toBeLessThan(30_000);
    expect(r.date > older[1]!).toBe(true);
    expect(r.backupsKept).toEqual([r.date, older[1]]);
    expect(imageLs(image, '/metadata').sort()).toEqual([older[1], r.date].sort());
    expect(r.clock.source).toBe('master-local');
    expect(Math.abs(r.clock.skewMs! + aheadBy)).toBeLessThan(10_000);
    expect(r.warnings.join('\n')).toMatch(/This machine's clock is 5 h ahead of the pool master's/);
    expect(backupText(r)).toMatch(/Warning: This machine's clock is 5 h ahead/);
    expect(backupSummaryText(r)).toMatch(/This machine's clock is 5 h ahead/);
  });

  it('never removes the folder it wrote, even below folders dated in the future', async () => {
    const r0 = await runBackup(pool.session, {});
    const image = vdiImagePath(pool.sim, r0.vdi.uuid);
    const vol = await openImageForWrite(image);
    // A host whose clock was years ahead once dated these.
    for (const name of ['2097-01-01-00-00-00', '2098-01-01-00-00-00']) await vol.fs.mkdir(`/metadata/${name}`, 0o755);
    await vol.close();
    const r = await runBackup(pool.session, { history: 2 });
    expect(r.backupsKept).toEqual(['2098-01-01-00-00-00', r.date]);
    expect(imageLs(image, '/metadata')).toContain(r.date);
  });
});
