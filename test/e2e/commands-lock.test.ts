/**
 * Two command-line processes and a third client sharing one backup VDI of a standalone
 * simulated pool: they wait for each other (saying for whom, on stderr), refuse with the
 * next step when told not to wait, and every backup that reports success keeps its folder.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/dr/backup.js';
import { Session, type Ref } from '../../src/xenapi/index.js';
import { imageLs } from '../helpers/pool.js';
import { DIST_CLI, SBIN_PATH, runCli, simVdiImage, startSim, stopSim, type Run, type SimProcess } from './commands-helpers.js';

const KEY = 'xsconsole-dr:lock.';
let dir: string;
let sim: SimProcess;
let pw: string;
let session: Session;
let vdiRef: Ref;
let image: string;
const args = (...rest: string[]) => ['--host', sim.url, '--password-file', pw, ...rest];

/** A CLI process whose stderr can be watched while it runs. */
function start(cacheDir: string, ...rest: string[]) {
  const proc = spawn(process.execPath, [DIST_CLI, ...args(...rest)], { env: { ...process.env, PATH: SBIN_PATH, XSDR_PASSWORD: '', XSDR_CACHE_DIR: cacheDir }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters: Array<{ re: RegExp; ok: () => void }> = [];
  proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  proc.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
    for (const w of waiters.splice(0)) (w.re.test(stderr) ? w.ok : () => waiters.push(w))();
  });
  const done = new Promise<Run>((ok) => proc.on('close', (code) => ok({ code: code ?? 1, stdout, stderr })));
  return {
    done,
    /** Resolves once stderr matches (the process said it is waiting). */
    said: (re: RegExp) => new Promise<void>((ok) => (re.test(stderr) ? ok() : waiters.push({ re, ok }))),
  };
}

async function lockEntries(): Promise<Array<[number, Record<string, unknown>]>> {
  const oc = (await session.call('VDI.get_other_config', vdiRef)) as Record<string, string>;
  return Object.entries(oc)
    .filter(([k]) => k.startsWith(KEY))
    .map(([k, v]) => [Number(k.slice(KEY.length)), JSON.parse(v) as Record<string, unknown>]);
}

/** Another client's lock (as its run would claim it): the next entry. */
async function otherClientsLock(op: 'backup' | 'free'): Promise<void> {
  const top = Math.max(0, ...(await lockEntries()).map(([n]) => n));
  const now = Date.now();
  const value = { v: 1, run: 'other-client', op, host: 'ws-other', pid: 9, since: new Date(now).toISOString(), expires: new Date(now + (op === 'free' ? 0 : 600_000)).toISOString() };
  await session.call('VDI.add_to_other_config', vdiRef, `${KEY}${top + 1}`, JSON.stringify(value));
}

beforeAll(async () => {
  if (!existsSync(DIST_CLI)) throw new Error('dist/ is missing: run `npm run build` first (npm test does).');
  dir = await mkdtemp(join(tmpdir(), 'xsdr-e2e-lock-'));
  pw = join(dir, 'pw');
  await writeFile(pw, 'demo\n', { mode: 0o600 });
  sim = await startSim(DIST_CLI, ['--state', join(dir, 'state'), '--vms', '2']);
  session = await Session.login({ url: sim.url, user: 'root', password: 'demo' });
  // A small backup VDI (each process fetches it whole: they have their own caches).
  const report = await runBackup(session, { access: 'remote', cacheDir: null, vdiSize: 64 * 1024 * 1024 });
  vdiRef = await session.call<Ref>('VDI.get_by_uuid', report.vdi.uuid);
  image = simVdiImage(sim.state, report.sr.uuid, report.vdi.uuid);
});
afterAll(async () => {
  await session?.logout().catch(() => undefined);
  await stopSim(sim);
  await rm(dir, { recursive: true, force: true });
});

describe('backups from several clients at once', () => {
  it('two backup processes wait for the client holding the VDI, then for each other, and both keep their folders', async () => {
    await otherClientsLock('backup');
    const a = start(join(dir, 'ca'), 'backup', '--access', 'remote', '--wait', '120');
    const b = start(join(dir, 'cb'), 'backup', '--access', 'remote', '--wait', '120');
    const waitingForOther = /^Waiting for the backup started by ws-other \(pid 9\) at .* to finish\.\.\.$/m;
    await Promise.all([a.said(waitingForOther), b.said(waitingForOther)]);
    await otherClientsLock('free'); // the other client's run ends
    const [ra, rb] = await Promise.all([a.done, b.done]);
    expect([ra.code, rb.code]).toEqual([0, 0]);
    const dates = [ra, rb].map((r) => /^Backup (\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d): /m.exec(r.stdout)?.[1]);
    const folders = imageLs(image, '/metadata');
    for (const d of dates) expect(folders).toContain(d);
    // The second in line waited for the first process too, and said for whom.
    expect([ra, rb].filter((r) => /^Waiting for the backup started by (?!ws-other).+ \(pid \d+\)/m.test(r.stderr))).toHaveLength(1);
    expect([ra, rb].every((r) => /^Waited \d+ (s|min) for the backup started by /m.test(r.stdout))).toBe(true);
  }, 120_000);

  it('with --wait 0, a held VDI is refused with who holds it and what to do; list too', async () => {
    await otherClientsLock('backup');
    try {
      const r = await runCli(DIST_CLI, args('backup', '--access', 'remote', '--wait', '0'), { env: { XSDR_CACHE_DIR: join(dir, 'cd') } });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/BACKUP_VDI_BUSY/);
      expect(r.stderr).toMatch(/in use by the backup started by ws-other \(pid 9\)/);
      expect(r.stderr).toMatch(/expires at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(pool master's time\)/);
      const list = await runCli(DIST_CLI, args('list', '--access', 'remote', '--wait', '0', '--json'), { env: { XSDR_CACHE_DIR: join(dir, 'cd') } });
      expect(list.code).toBe(1);
      expect((JSON.parse(list.stdout) as { error: { code: string } }).error.code).toBe('BACKUP_VDI_BUSY');
    } finally {
      await otherClientsLock('free');
    }
  });
});
