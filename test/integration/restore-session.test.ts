/**
 * A console restore's hold on its backup VDI (src/app/restore-session.ts) against the
 * simulator: the listing, the preflight and the run attach the VDI once, under the
 * 'restore' lock; it is released after the run, after a failure, on release and at logout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/dr/backup.js';
import { backupVdiUuid } from '../../src/dr/layout.js';
import { LOCK_KEY_PREFIX, parseLockValue } from '../../src/dr/vdi-lock.js';
import { HeldRestoreSession, consoleSourceOpener, createConsoleServices } from '../../src/app/index.js';
import { DEMO_ROOT_PASSWORD } from '../../src/sim/index.js';
import { simulatedControlDomain } from '../../src/dr/volume/control-domain.js';
import { controlDomainAttachments, startTestPool, type TestPool } from '../helpers/pool.js';
import type { Ref } from '../../src/xenapi/index.js';

let pool: TestPool;
let srUuid: string;
let date: string;

/** VBDs created for the backup VDI while `fn` runs (each is one attach). */
async function attachesDuring(fn: () => Promise<void>): Promise<number> {
  const db = pool.sim.db;
  const vdi = db.refByUuid('VDI', backupVdiUuid(srUuid));
  let n = 0;
  const stop = db.onChange((c) => {
    if (c.cls === 'VBD' && c.operation === 'add' && db.tryGet('VBD', c.ref)?.VDI === vdi) n++;
  });
  try {
    await fn();
  } finally {
    stop();
  }
  return n;
}

/** The state of the VDI's lock: the op of its highest entry ("free" when handed back). */
function lockState(): string {
  const db = pool.sim.db;
  const oc = db.get('VDI', db.refByUuid('VDI', backupVdiUuid(srUuid))).other_config as Record<string, string>;
  const top = Object.keys(oc)
    .filter((k) => k.startsWith(LOCK_KEY_PREFIX))
    .sort((a, b) => Number(b.slice(LOCK_KEY_PREFIX.length)) - Number(a.slice(LOCK_KEY_PREFIX.length)))[0];
  const v = top ? parseLockValue(oc[top]!) : null;
  return !v ? 'none' : v.free ? 'free' : v.holder.op;
}

async function noneAttached(): Promise<void> {
  expect(await controlDomainAttachments(pool.sim)).toEqual({ vbds: 0, devices: [] });
}

function held(): HeldRestoreSession {
  return new HeldRestoreSession(pool.session, { srUuid, vdiUuid: backupVdiUuid(srUuid), legacy: false }, consoleSourceOpener(pool.session));
}

beforeAll(async () => {
  pool = await startTestPool({ vms: 4, seed: 3 });
  const poolRef = (await pool.session.call<Ref[]>('pool.get_all'))[0]!;
  srUuid = await pool.session.call<string>('SR.get_uuid', await pool.session.call<Ref>('pool.get_default_SR', poolRef));
  date = (await runBackup(pool.session, { srUuid })).date;
});
afterAll(async () => {
  await pool?.close();
});

describe('a console restore holds its backup VDI', () => {
  it('lists, checks and dry-runs on one attachment, locked for restore, released when the run ends', async () => {
    const rs = held();
    let report: Awaited<ReturnType<HeldRestoreSession['run']>> | undefined;
    const attaches = await attachesDuring(async () => {
      const listing = await rs.list();
      expect(listing.backups.map((b) => b.date)).toEqual([date]);
      expect(rs.held).toBe(true);
      expect(lockState()).toBe('restore');
      expect((await controlDomainAttachments(pool.sim)).vbds).toBe(1);
      const choice = { date, scope: 'all' as const, force: false };
      const preflight = await rs.preflight(choice);
      expect(preflight.vms.length).toBeGreaterThan(0);
      expect(rs.held).toBe(true);
      // A dry run's own preflight and its run, back to back: still the same attachment.
      await rs.preflight(choice);
      report = await rs.run({ ...choice, dryRun: true }, { signal: new AbortController().signal });
    });
    expect(attaches).toBe(1);
    expect(report!.dryRun).toBe(true);
    expect(report!.results.length).toBeGreaterThan(0);
    expect(rs.held).toBe(false);
    expect(lockState()).toBe('free');
    await noneAttached();
  });

  it('releases the VDI when a step fails, and opens it again for the next one', async () => {
    const rs = held();
    await rs.list();
    await expect(rs.preflight({ date: '1999-01-01-00-00-00', scope: 'all', force: false })).rejects.toMatchObject({ code: 'NO_SUCH_DATE' });
    expect(rs.held).toBe(false);
    await noneAttached();
    expect(await attachesDuring(async () => void (await rs.preflight({ date, scope: 'sr', force: false })))).toBe(1);
    await rs.release();
    await rs.release();
    expect(rs.held).toBe(false);
    expect(lockState()).toBe('free');
    await noneAttached();
  });

  it('a release waits for the step in flight to unwind', async () => {
    const rs = held();
    const ac = new AbortController();
    pool.sim.faults.add({ route: '/import_metadata', latencyMs: 60_000 });
    try {
      const running = rs.run({ date, scope: 'all', force: false, dryRun: true }, { signal: ac.signal, onProgress: (e) => e.kind === 'phase' && e.message.startsWith('Restoring') && ac.abort() });
      const released = rs.release();
      await expect(running).rejects.toBeDefined();
      await released;
      expect(rs.held).toBe(false);
      await noneAttached();
    } finally {
      pool.sim.faults.clear();
    }
  });

  it('logout and program exit release a held VDI; later steps are refused', async () => {
    const services = createConsoleServices({
      target: { url: pool.sim.url, tls: {}, describe: 'test pool', controlDomain: simulatedControlDomain(pool.sim) },
      user: 'root',
      hostLabel: 'test',
    });
    const session = await services.login('root', DEMO_ROOT_PASSWORD);
    const rs = session.openRestore({ srUuid, vdiUuid: backupVdiUuid(srUuid), legacy: false });
    await rs.list();
    expect((await controlDomainAttachments(pool.sim)).vbds).toBe(1);
    await session.logout();
    expect(rs.held).toBe(false);
    expect(lockState()).toBe('free');
    await noneAttached();
    await expect(rs.list()).rejects.toMatchObject({ code: 'SESSION_ENDED' });

    // Program exit closes the services: every session's held VDI is released with it.
    const other = await services.login('root', DEMO_ROOT_PASSWORD);
    const held2 = other.openRestore({ srUuid, vdiUuid: backupVdiUuid(srUuid), legacy: false });
    await held2.preflight({ date, scope: 'sr', force: false });
    expect(held2.held).toBe(true);
    await services.close();
    expect(held2.held).toBe(false);
    expect(lockState()).toBe('free');
    await noneAttached();
  });
});
