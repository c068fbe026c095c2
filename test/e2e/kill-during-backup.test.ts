/**
 * kill -9 of a running backup, attached to the (simulated) master's control domain and
 * from a workstation, at many moments: the VDI must still pass the stock script's fsck -a
 * with every earlier backup unchanged and the new one whole or absent, and the next run —
 * started at once, without waiting out the killed run's lock — must clean what the killed
 * one left (its VBD), say so, and succeed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Session, type Ref } from '../../src/xenapi/index.js';
import { runBackup } from '../../src/dr/backup.js';
import { DIST_CLI, SBIN_PATH, runCli, simVdiImage, startSim, stopSim, type SimProcess } from './commands-helpers.js';
import { seeBackups } from '../faults/backup-checks.js';
import { fsckPreen, fsckReadOnly } from '../helpers/pool.js';

let dir: string;
let sim: SimProcess;
let pw: string;
let image: string;
const KEEP = ['--keep', '1000'];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xsdr-kill-'));
  pw = join(dir, 'pw');
  await writeFile(pw, 'demo\n', { mode: 0o600 });
  // Latency stretches a run over a second or two, so that kills land in every phase.
  sim = await startSim(DIST_CLI, ['--state', join(dir, 'state'), '--vms', '16', '--latency', '4', '--transfer-latency', '8']);
  // A small backup VDI, so that the workstation's copies are quick.
  const s = await Session.login({ url: sim.url, user: 'root', password: 'demo' });
  try {
    const r = await runBackup(s, { vdiSize: 48 * 1024 * 1024, access: 'remote', cacheDir: null, history: 1000 });
    image = simVdiImage(sim.state, r.sr.uuid, r.vdi.uuid);
  } finally {
    await s.logout();
  }
}, 120_000);
afterAll(async () => {
  await stopSim(sim);
  await rm(dir, { recursive: true, force: true });
});

function killAfter(args: string[], ms: number): Promise<void> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [DIST_CLI, ...args], { env: { ...process.env, PATH: SBIN_PATH, XSDR_CACHE_DIR: join(dir, 'cache') }, stdio: 'ignore' });
    const t = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('exit', () => {
      clearTimeout(t);
      done();
    });
  });
}


async function dom0Vbds(): Promise<number> {
  const s = await Session.login({ url: sim.url, user: 'root', password: 'demo' });
  try {
    const vbds = await s.call<Record<Ref, Record<string, unknown>>>('VBD.get_all_records');
    const vms = await s.call<Record<Ref, Record<string, unknown>>>('VM.get_all_records');
    return Object.values(vbds).filter((v) => vms[v['VM'] as Ref]?.['is_control_domain'] === true).length;
  } finally {
    await s.logout();
  }
}

describe('kill -9 during a backup', () => {
  for (const access of ['attach', 'remote'] as const) {
    it(`${access}: the VDI stays readable and complete, and the next run cleans up and succeeds`, { timeout: 180_000 }, async () => {
      const base = ['--host', sim.url, ...(access === 'attach' ? ['--sim-dom0', sim.state] : []), '--password-file', pw];
      const outcome = { absent: 0, whole: 0 };
      for (const ms of [200, 600, 1100, 1800]) {
        const before = await seeBackups(image);
        await killAfter([...base, 'backup', '--access', access, ...KEEP], ms);
        const copy = `${image}.fsck`;
        await copyFile(image, copy);
        expect(fsckPreen(copy), `fsck -a after a kill at ${ms} ms`).toBe(0);
        await rm(copy);
        const after = await seeBackups(image);
        for (const d of before.dates) expect(after.digest.get(d), `${d} after a kill at ${ms} ms`).toBe(before.digest.get(d));
        const added = after.dates.filter((d) => !before.dates.includes(d));
        expect(added.length).toBeLessThanOrEqual(1);
        if (added.length) {
          expect(after.files.get(added[0]!)).toEqual(after.files.get(before.dates[0]!));
          outcome.whole++;
        } else outcome.absent++;
        // The next run, right away.
        const next = await runCli(DIST_CLI, [...base, 'backup', '--json', '--wait', '20', ...KEEP]);
        expect(next.code, next.stderr).toBe(0);
        const report = JSON.parse(next.stdout) as { date: string; cleaned: Array<{ kind: string }> };
        expect((await seeBackups(image)).dates).toContain(report.date);
        expect(await dom0Vbds()).toBe(0);
        expect(fsckReadOnly(image).code).toBe(0);
      }
      expect(outcome.absent).toBeGreaterThan(0);
    });
  }
});
