/**
 * Two clients, one backup VDI: the pool-side lock (src/dr/vdi-lock.ts) against the real
 * simulator over sockets. Every backup that reports success keeps its dated folder; a held
 * VDI is waited for and refused with who holds it; a killed client's expired lock is taken
 * over; clients racing for an expired lock never both hold it; a run whose lock was taken
 * stops before it writes to the pool.
 */
import { explainError } from '../../src/failure/index.js';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runBackup, type BackupReport } from '../../src/dr/backup.js';
import { readMasterClock } from '../../src/dr/master-clock.js';
import { acquireVdiLock, LOCK_KEY_PREFIX, type VdiLock } from '../../src/dr/vdi-lock.js';
import { DEMO_ROOT_PASSWORD } from '../../src/sim/index.js';
import { Session, type CallOptions, type Ref } from '../../src/xenapi/index.js';
import { fsckReadOnly, imageLs, startTestPool, vdiImagePath, type TestPool } from '../helpers/pool.js';

const MiB = 1024 * 1024;
let pool: TestPool;
let other: Session;

beforeEach(async () => {
  pool = await startTestPool({ vms: 3 });
  other = await Session.login({ url: pool.sim.url, user: 'root', password: DEMO_ROOT_PASSWORD });
});
afterEach(async () => {
  await other.logout().catch(() => undefined);
  await pool.close();
});

function lockEntries(vdiRef: Ref): Array<[number, Record<string, unknown>]> {
  const oc = pool.sim.db.get('VDI', vdiRef).other_config;
  return Object.entries(oc)
    .filter(([k]) => k.startsWith(LOCK_KEY_PREFIX))
    .map(([k, v]) => [Number(k.slice(LOCK_KEY_PREFIX.length)), JSON.parse(String(v)) as Record<string, unknown>]);
}

/** A lock entry as another client (alive, or killed long ago) would have left it. */
async function foreignLock(vdiRef: Ref, n: number, over: { host: string; pid: number; expiresInMs: number }): Promise<void> {
  const now = Date.now();
  const value = { v: 1, run: `run-of-${over.host}`, op: 'backup', host: over.host, pid: over.pid, since: new Date(now - 3_600_000).toISOString(), expires: new Date(now + over.expiresInMs).toISOString() };
  await pool.session.call('VDI.add_to_other_config', vdiRef, `${LOCK_KEY_PREFIX}${n}`, JSON.stringify(value));
}

async function firstBackup(): Promise<{ vdiRef: Ref; image: string }> {
  const r = await runBackup(pool.session, { vdiSize: 64 * MiB });
  return { vdiRef: pool.sim.db.refByUuid('VDI', r.vdi.uuid), image: vdiImagePath(pool.sim, r.vdi.uuid) };
}

describe('two clients backing up to one SR at once', () => {
  it.each([
    ['on an SR without a backup VDI (they also race to create it)', false],
    ['on an existing backup VDI', true],
  ])('six remote backups from two clients %s: every one that reports success has its dated folder', async (_case, existing) => {
    const cache = (name: string) => join(pool.dir, `cache-${name}`);
    if (existing) await firstBackup();
    const chain = async (session: Session, name: string) => {
      const out: Array<PromiseSettledResult<BackupReport>> = [];
      for (let i = 0; i < 3; i++) {
        out.push(
          await runBackup(session, { access: 'remote', cacheDir: cache(name), vdiSize: 64 * MiB, lockPollMs: 50, lockWaitMs: 120_000 }).then(
            (value) => ({ status: 'fulfilled', value }) as const,
            (reason: unknown) => ({ status: 'rejected', reason }) as const,
          ),
        );
      }
      return out;
    };
    const results = (await Promise.all([chain(pool.session, 'a'), chain(other, 'b')])).flat();
    const ok = results.filter((r): r is PromiseFulfilledResult<BackupReport> => r.status === 'fulfilled').map((r) => r.value);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    for (const r of refused) expect(explainError(r.reason).code).toMatch(/^BACKUP_VDI_/);
    expect(ok.length).toBe(6); // with time enough to wait, none is refused
    expect(new Set(ok.map((r) => r.vdi.uuid)).size).toBe(1);
    const image = vdiImagePath(pool.sim, ok[0]!.vdi.uuid);
    const folders = imageLs(image, '/metadata');
    for (const r of ok) expect(folders).toContain(r.date);
    expect(folders).toHaveLength(ok.length + (existing ? 1 : 0));
    expect(new Set(ok.map((r) => r.date)).size).toBe(ok.length);
    expect(ok.some((r) => r.waited !== null)).toBe(true);
    expect(fsckReadOnly(image).code).toBe(0);
    // The lock's whole footprint afterwards: one entry, handed back.
    const vdiRef = pool.sim.db.refByUuid('VDI', ok[0]!.vdi.uuid);
    const left = lockEntries(vdiRef);
    expect(left).toHaveLength(1);
    expect(left[0]![1]['op']).toBe('free');
  }, 120_000);

  it('waits for a run that holds the VDI, says whose it is, and refuses with the next step', async () => {
    const { vdiRef, image } = await firstBackup();
    await foreignLock(vdiRef, 3, { host: 'ws-other', pid: 77, expiresInMs: 600_000 });
    const before = imageLs(image, '/metadata');
    const seen: string[] = [];
    const err = await runBackup(pool.session, { lockWaitMs: 300, lockPollMs: 50, onProgress: (e) => e.kind === 'lock-wait' && e.holder === 'lock' && seen.push(`Waiting for ${e.waitingFor} to finish`) }).catch((e: unknown) => e);
    expect(seen.some((m) => /^Waiting for the backup started by ws-other \(pid 77\) at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d to finish/.test(m))).toBe(true);
    const ex = explainError(err);
    expect(ex?.code).toBe('BACKUP_VDI_BUSY');
    expect(ex?.meaning).toContain('ws-other (pid 77)');
    expect(ex?.nextStep).toMatch(/expires at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d/);
    expect(imageLs(image, '/metadata')).toEqual(before);
    // The other run's lock is untouched.
    expect(lockEntries(vdiRef).map(([n, v]) => [n, v['host']])).toContainEqual([3, 'ws-other']);
  });

  it("takes over the expired lock of a killed client, and says so", async () => {
    const { vdiRef, image } = await firstBackup();
    const top = Math.max(...lockEntries(vdiRef).map(([n]) => n));
    await foreignLock(vdiRef, top + 1, { host: 'ws-killed', pid: 4242, expiresInMs: -60_000 });
    const r = await runBackup(pool.session, {});
    expect(r.warnings.join('\n')).toMatch(/Took over the lock of the backup VDI left by the backup started by ws-killed \(pid 4242\)/);
    expect(imageLs(image, '/metadata')).toContain(r.date);
    const left = lockEntries(vdiRef);
    expect(left).toHaveLength(1);
    expect(left[0]![0]).toBeGreaterThan(top + 1);
    expect(left[0]![1]['op']).toBe('free');
  });
});

describe('racing for an expired lock', () => {
  it('three clients that all see it expired: one holds it at a time, and each gets it in turn', async () => {
    const { vdiRef } = await firstBackup();
    const top = Math.max(...lockEntries(vdiRef).map(([n]) => n));
    await foreignLock(vdiRef, top + 1, { host: 'ws-killed', pid: 1, expiresInMs: -60_000 });
    const third = await Session.login({ url: pool.sim.url, user: 'root', password: DEMO_ROOT_PASSWORD });
    const sessions = [pool.session, other, third];
    // The claims are held back until every client has read the expired entry.
    pool.sim.faults.add({ method: 'VDI.add_to_other_config', latencyMs: 300, times: sessions.length });
    const claimedKeys: string[][] = sessions.map(() => []);
    let holding = 0;
    let mostAtOnce = 0;
    const order: number[] = [];
    try {
      await Promise.all(
        sessions.map(async (session, i) => {
          const spy = Object.create(session) as Session;
          // The typed helpers (VDI.addToOtherConfig) call through invoke.
          spy.invoke = ((method: string, params: readonly unknown[], opts?: CallOptions) => {
            if (method === 'VDI.add_to_other_config') claimedKeys[i]!.push(String(params[1]));
            return session.invoke(method, params, opts);
          }) as Session['invoke'];
          const master = await session.poolMaster();
          const lock: VdiLock = await acquireVdiLock(spy, vdiRef, { op: 'backup', clock: await readMasterClock(session, master), pollMs: 20, waitMs: 60_000 });
          holding++;
          mostAtOnce = Math.max(mostAtOnce, holding);
          order.push(i);
          await lock.verify(); // still the highest entry while held
          await new Promise((r) => setTimeout(r, 50));
          await lock.verify();
          holding--;
          await lock.release();
        }),
      );
    } finally {
      await third.logout();
    }
    expect(mostAtOnce).toBe(1);
    expect(order.sort()).toEqual([0, 1, 2]);
    // Every client tried to take the expired entry's successor: the race really happened.
    for (const keys of claimedKeys) expect(keys[0]).toBe(`${LOCK_KEY_PREFIX}${top + 2}`);
    const left = lockEntries(vdiRef);
    expect(left).toHaveLength(1);
    expect(left[0]![1]['op']).toBe('free');
  });

  it('two remote backups racing for an expired lock both keep their folders', async () => {
    const { vdiRef, image } = await firstBackup();
    const top = Math.max(...lockEntries(vdiRef).map(([n]) => n));
    await foreignLock(vdiRef, top + 1, { host: 'ws-killed', pid: 2, expiresInMs: -60_000 });
    pool.sim.faults.add({ method: 'VDI.add_to_other_config', latencyMs: 300, times: 2 });
    const opts = (name: string) => ({ access: 'remote' as const, cacheDir: join(pool.dir, `c-${name}`), lockPollMs: 50, lockWaitMs: 60_000 });
    const [a, b] = await Promise.all([runBackup(pool.session, opts('a')), runBackup(other, opts('b'))]);
    const folders = imageLs(image, '/metadata');
    expect(folders).toContain(a.date);
    expect(folders).toContain(b.date);
    expect([a.warnings, b.warnings].filter((w) => w.some((x) => x.includes('ws-killed')))).toHaveLength(1);
    expect(fsckReadOnly(image).code).toBe(0);
  });
});

describe('handing the lock back', () => {
  it('on Ctrl-C and on a failed step too: the next run needs no wait', async () => {
    const { vdiRef } = await firstBackup();
    const ac = new AbortController();
    const aborted = runBackup(pool.session, { concurrency: 1, signal: ac.signal, onProgress: (e) => e.kind === 'vm' && e.done === 1 && ac.abort(new Error('Ctrl-C')) });
    await expect(aborted).rejects.toThrow();
    expect(lockEntries(vdiRef).map(([, v]) => v['op'])).toEqual(['free']);
    pool.sim.faults.add({ route: '/pool/xmldbdump', httpStatus: 500, times: 1 });
    await expect(runBackup(pool.session, {})).rejects.toThrow(/database/i);
    expect(lockEntries(vdiRef).map(([, v]) => v['op'])).toEqual(['free']);
    await runBackup(other, { lockWaitMs: 0 });
  });
});

describe('dropped connections', () => {
  it('a lock change whose answer is lost still counts once: taking, renewing, handing back', async () => {
    const { vdiRef, image } = await firstBackup();
    // Every claim reaches the pool; none of the answers comes back.
    pool.sim.faults.add({ method: 'VDI.add_to_other_config', dropAnswer: true });
    const r = await runBackup(pool.session, { lockTtlMs: 3_000 });
    expect(imageLs(image, '/metadata')).toContain(r.date);
    const master = await pool.session.poolMaster();
    const lock = await acquireVdiLock(pool.session, vdiRef, { op: 'backup', clock: await readMasterClock(pool.session, master), waitMs: 0 });
    const n = lock.entry;
    await lock.renew();
    await lock.verify();
    expect(lock.entry).toBe(n + 1);
    await lock.release();
    pool.sim.faults.clear();
    const left = lockEntries(vdiRef);
    expect(left).toHaveLength(1);
    expect(left[0]![1]['op']).toBe('free');
    // Nobody has to wait for a lock that only looks taken.
    const again = await runBackup(other, { lockWaitMs: 0 });
    expect(imageLs(image, '/metadata')).toContain(again.date);
  });
});

describe('a long run', () => {
  it('renews its lock, so that another client still finds it held after the first lifetime', async () => {
    const { vdiRef } = await firstBackup();
    const start = Math.max(...lockEntries(vdiRef).map(([n]) => n));
    const ttl = 6_000;
    // Each export takes 2 s (3 VMs and the custom templates): the run outlives its lock's first lifetime.
    pool.sim.faults.add({ route: '/export_metadata', latencyMs: 2_000 });
    const started = Date.now();
    let probe: Promise<unknown> | undefined;
    const r = await runBackup(pool.session, {
      concurrency: 1,
      lockTtlMs: ttl,
      onProgress: (e) => {
        if (e.kind !== 'vm' || e.done !== e.total || probe) return;
        expect(Date.now() - started).toBeGreaterThan(ttl);
        probe = (async () => {
          const master = await other.poolMaster();
          return acquireVdiLock(other, vdiRef, { op: 'backup', clock: await readMasterClock(other, master), waitMs: 0 }).then(
            (lock) => lock.release().then(() => 'taken over'),
            (err: unknown) => explainError(err).code,
          );
        })();
      },
    });
    expect(await probe).toBe('BACKUP_VDI_BUSY');
    expect(r.failures).toEqual([]);
    // Renewed at least twice (each renewal is the next entry), then handed back.
    const left = lockEntries(vdiRef);
    expect(left).toHaveLength(1);
    expect(left[0]![0]).toBeGreaterThanOrEqual(start + 4);
  }, 60_000);
});

describe('a run whose lock is taken from it', () => {
  it('stops before it writes anything to the pool', async () => {
    const { vdiRef, image } = await firstBackup();
    const hash = async () => createHash('sha256').update(await readFile(image)).digest('hex');
    const before = await hash();
    let taken = false;
    const err = await runBackup(pool.session, {
      access: 'remote',
      cacheDir: null,
      concurrency: 1,
      onProgress: (e) => {
        if (taken || e.kind !== 'vm' || e.done !== 1) return;
        taken = true;
        // Another client claims the next entry, as one that judged the lock expired would.
        const top = Math.max(...lockEntries(vdiRef).map(([n]) => n));
        void foreignLock(vdiRef, top + 1, { host: 'ws-thief', pid: 3, expiresInMs: 600_000 });
      },
    }).catch((e: unknown) => e);
    expect(taken).toBe(true);
    expect(explainError(err).code).toBe('BACKUP_VDI_LOCK_LOST');
    expect(await hash()).toBe(before);
    expect(pool.sim.stats.snapshot().routes['/import_raw_vdi']?.requests ?? 0).toBe(0);
  });
});
