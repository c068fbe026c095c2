/**
 * Terminal safety of the scheduled runner and `schedule get`, through the built CLI: the
 * runner backs up a pool whose default SR has a hostile name (the scheduled SR is gone, so
 * it falls back to that one and says so). Its syslog messages (through a logger(1) stand-in
 * first on PATH), its result file and the texts that show the result later must hold no
 * raw control or bidi character and start no forged line; the JSON keeps the exact names.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackup } from '../../src/dr/backup.js';
import type { Ref } from '../../src/xenapi/index.js';
import { DIST_CLI, runCli, SBIN_PATH, type Run } from './commands-helpers.js';
import { startTestPool, type TestPool } from '../helpers/pool.js';
import { forgedLines, nameHostilePool, rawUnsafe } from '../helpers/hostile-text.js';

const GONE_SR = '99999999-9999-4999-8999-999999999999';

let dir: string;
let pool: TestPool;
let srUuid: string;
let srName: string;
let stateDir: string;
let cronRoot: string;
let syslogFile: string;
let run: Run;

/** The messages logger(1) was given, each whole (the stand-in separates them with NUL). */
async function syslogMessages(): Promise<string[]> {
  const argv = (await readFile(syslogFile, 'utf8').catch(() => '')).split('\0').slice(0, -1);
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '-t') i++; // the tag
    else out.push(argv[i]!);
  }
  return out;
}

beforeAll(async () => {
  if (!existsSync(DIST_CLI)) throw new Error('dist/ is missing: run `npm run build` first (npm test does).');
  dir = await mkdtemp(join(tmpdir(), 'xsdr-e2e-hostile-schedule-'));
  pool = await startTestPool({ vms: 3, seed: 5 });
  ({ srUuid } = nameHostilePool(pool.sim));
  srName = await pool.session.call<string>('SR.get_name_label', await pool.session.call<Ref>('SR.get_by_uuid', srUuid));
  // A small backup VDI already there (the runner would make a 1 GiB one).
  await runBackup(pool.session, { srUuid, vdiSize: 64 * 1024 * 1024 });
  const bin = join(dir, 'bin');
  await mkdir(bin);
  syslogFile = join(dir, 'syslog');
  await writeFile(join(bin, 'logger'), `#!/bin/sh\nfor a in "$@"; do printf '%s\\0' "$a"; done >> '${syslogFile}'\n`);
  await chmod(join(bin, 'logger'), 0o755);
  stateDir = join(dir, 'state');
  cronRoot = join(dir, 'etc');
  for (const f of ['daily', 'weekly', 'monthly']) await mkdir(join(cronRoot, `cron.${f}`), { recursive: true });
  const pw = join(dir, 'pw');
  await writeFile(pw, 'demo\n', { mode: 0o600 });
  run = await runCli(
    DIST_CLI,
    ['--host', pool.sim.url, '--sim-dom0', pool.sim.stateDir, '--password-file', pw, 'backup', '--scheduled', '--sr', GONE_SR, '--state-dir', stateDir, '--pool-conf', join(dir, 'no-pool.conf')],
    { env: { PATH: `${bin}:${SBIN_PATH}` } },
  );
}, 60_000);

afterAll(async () => {
  await pool?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the scheduled runner with a hostile SR name', () => {
  it('prints its outcome with the name escaped on the warning line', () => {
    expect(run.code).toBe(0);
    expect(rawUnsafe(run.stdout, { lines: true }), run.stdout).toEqual([]);
    expect(rawUnsafe(run.stderr, { lines: true }), run.stderr).toEqual([]);
    expect(forgedLines(run.stdout + run.stderr)).toEqual([]);
    expect(run.stdout).toMatch(/^Warning: The scheduled SR 9{8}-.* backed up to the default SR "\\u000aBackup Successful\\u2028Backup Successful" /m);
  });

  it('logs each syslog message on one line, with nothing raw in it', async () => {
    const messages = await syslogMessages();
    expect(messages.length).toBeGreaterThan(0);
    const warning = messages.find((m) => m.startsWith('WARNING '));
    expect(warning).toContain('default SR "\\u000aBackup Successful\\u2028Backup Successful"');
    for (const m of messages) {
      expect(rawUnsafe(m), m).toEqual([]);
      expect(forgedLines(m)).toEqual([]);
    }
  });

  it('records its result as inert JSON that keeps the exact SR name', async () => {
    const text = await readFile(join(stateDir, 'last-scheduled-backup.json'), 'utf8');
    expect(rawUnsafe(text, { lines: true })).toEqual([]);
    const result = JSON.parse(text) as { status: string; sr: { uuid: string; name: string } };
    expect(result.status).toBe('ok');
    expect(result.sr).toEqual({ uuid: srUuid, name: srName });
    expect(result.sr.name).toContain('\u2028');
  });

  it('schedule get shows the recorded result safely; --json keeps the name', async () => {
    const text = await runCli(DIST_CLI, ['--cron-root', cronRoot, 'schedule', 'get', '--state-dir', stateDir]);
    expect(text.code).toBe(0);
    expect(rawUnsafe(text.stdout, { lines: true }), text.stdout).toEqual([]);
    expect(forgedLines(text.stdout)).toEqual([]);
    expect(text.stdout).toContain(`to SR "\\u000aBackup Successful\\u2028Backup Successful" (${srUuid})`);
    const asJson = await runCli(DIST_CLI, ['--cron-root', cronRoot, 'schedule', 'get', '--state-dir', stateDir, '--json']);
    expect(rawUnsafe(asJson.stdout, { lines: true })).toEqual([]);
    expect((JSON.parse(asJson.stdout) as { lastResult: { sr: { name: string } } }).lastResult.sr.name).toBe(srName);
  });
});
