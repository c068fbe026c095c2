/**
 * Classic export/import (numbered files) and the offline inspect of the built CLI — text,
 * --json and exit codes, against a standalone simulated pool — and --help of every step-5
 * command.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST_CLI, runCli, simVdiImage, startSim, stopSim, type Run, type SimProcess } from './commands-helpers.js';


let dir: string;
let sim: SimProcess;
let pw: string;
const json = (r: Run) => JSON.parse(r.stdout) as Record<string, any>;
const pool = (...args: string[]) => runCli(DIST_CLI, ['--host', sim.url, '--sim-dom0', sim.state, '--password-file', pw, ...args]);

beforeAll(async () => {
  if (!existsSync(DIST_CLI)) throw new Error('dist/ is missing: run `npm run build` first (npm test does).');
  dir = await mkdtemp(join(tmpdir(), 'xsdr-e2e-classic-'));
  pw = join(dir, 'pw');
  await writeFile(pw, 'demo\n', { mode: 0o600 });
  sim = await startSim(DIST_CLI, ['--state', join(dir, 'state'), '--vms', '3']);
});
afterAll(async () => {
  await stopSim(sim);
  await rm(dir, { recursive: true, force: true });
});

it('has --help for every step-5 command', async () => {
  const runs = await Promise.all([['schedule'], ['schedule', 'get'], ['schedule', 'set'], ['export'], ['import'], ['inspect'], ['backup']].map((c) => runCli(DIST_CLI, [...c, '--help'])));
  for (const r of runs) {
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: xsconsole-dr /);
  }
  expect(runs[2]!.stdout).toContain('--cron-root');
  expect(runs[6]!.stdout).toContain('--scheduled');
});

describe('classic export / import', () => {
  let out: string;
  let vms: number;

  it('export --all: FILE, FILE2, … text and exit 0; an existing set is refused (exit 1)', async () => {
    await mkdir(join(dir, 'classic'));
    out = join(dir, 'classic/vms.xva');
    const r = await pool('export', '--all', '--out', out);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    vms = lines.length - 1;
    expect(vms).toBe(3);
    lines.slice(0, -1).forEach((l, i) => expect(l).toMatch(new RegExp(`^${out}${i ? i + 1 : ''}: ".*" \\([0-9a-f-]{36}\\) .+: Export succeeded$`)));
    expect(lines.at(-1)).toBe('Exported 3 VM(s), and 0 error(s)');
    expect(r.stderr).toMatch(/^Exporting VM 1\/3 /m);
    expect((await readdir(join(dir, 'classic'))).sort()).toEqual(['vms.xva', 'vms.xva2', 'vms.xva3']);

    const again = await pool('export', '--all', '--out', out, '--json');
    expect(again.code).toBe(1);
    expect(json(again).error.code).toBe('FILE_EXISTS');
    const none = await pool('export', '--vm', '00000000-0000-4000-8000-000000000000', '--out', join(dir, 'classic/x'), '--json');
    expect(none.code).toBe(1);
    expect(json(none).error.code).toBe('NO_MATCH');
    const neither = await pool('export', '--out', join(dir, 'classic/x'));
    expect(neither.code).toBe(1);
    expect(neither.stderr).toMatch(/either --vm UUID or --all/);
  });

  it('import --dry-run, import, import --preserve: per-file results; exit code = failed files', async () => {
    const dry = await pool('import', out, '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(new RegExp(`^xe vm-import filename=${out}3 sr-uuid=[0-9a-f-]{36} metadata=true --dry-run\\nxxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx$`, 'm'));
    expect(dry.stdout.trim().split('\n').at(-1)).toBe('Checked 3 file(s), and 0 error(s)');
    expect(dry.stderr).toMatch(/^Importing .*vms\.xva2: ".*" \(/m);

    const real = await pool('import', out, '--json');
    expect(real.code).toBe(0);
    const j = json(real);
    expect(j).toMatchObject({ imported: 3, errors: 0, preserve: false });
    for (const item of j.results) {
      expect(item.created).toHaveLength(1);
      expect(item.created[0].uuid).not.toBe(item.vms[0].uuid);
    }

    const clash = await pool('import', out, '--preserve', '--dry-run');
    expect(clash.code).toBe(3); // the originals are here: every file fails
    expect(clash.stdout).toMatch(/^Error code: (VM_BAD_POWER_STATE|VM_TO_IMPORT_IS_NOT_NEWER_VERSION)$/m);
    expect(clash.stdout.trim().split('\n').at(-1)).toBe('Checked 0 file(s), and 3 error(s)');

    const missing = await pool('import', join(dir, 'classic/none.xva'), '--json');
    expect(missing.code).toBe(1);
    expect(json(missing).error.code).toBe('NO_FILE');
  });
});

describe('inspect', () => {
  it('lists the backups in a backup VDI image offline, text and JSON; --date lists the VMs', async () => {
    const b = await pool('backup', '--json');
    expect(b.code).toBe(0);
    const report = json(b);
    const image = simVdiImage(sim.state, report.sr.uuid, report.vdi.uuid);

    const [text, asJson, detail] = await Promise.all([
      runCli(DIST_CLI, ['inspect', image]),
      runCli(DIST_CLI, ['inspect', image, '--json']),
      runCli(DIST_CLI, ['inspect', image, '--date', report.date]),
    ]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^Backup VDI: ${report.vdi.uuid}; keeps 12 backup\\(s\\)$`, 'm'));
    expect(text.stdout).toMatch(new RegExp(`^Pool ${report.pool.uuid}: \\d+ database dump\\(s\\)$`, 'm'));
    expect(text.stdout).toMatch(new RegExp(`^  ${report.date}  ${report.vmsExported + report.templatesExported} VM\\(s\\); by SR `, 'm'));
    const j = json(asJson);
    expect(j.backups[0]).toMatchObject({ date: report.date, vms: report.vmsExported + report.templatesExported, hasSrMeta: true });
    expect(j.backupVdis).toEqual([report.vdi.uuid]);
    expect(detail.code).toBe(0);
    expect(detail.stdout.match(/^ {2}[0-9a-f-]{36} {2}".*" {2}(Running|Halted|Paused|Suspended|template), \d+ disk\(s\)/gm)).toHaveLength(report.vmsExported + report.templatesExported);

    const [notBackup, notBackupJson, badDate] = await Promise.all([
      runCli(DIST_CLI, ['inspect', pw]),
      runCli(DIST_CLI, ['inspect', pw, '--json']),
      runCli(DIST_CLI, ['inspect', image, '--date', '2001-01-01-00-00-00']),
    ]);
    expect(notBackup.code).toBe(1);
    expect(notBackup.stderr).toMatch(/does not hold a metadata backup/);
    expect(json(notBackupJson).error.code).toBe('NOT_A_BACKUP');
    expect(badDate.code).toBe(1);
    expect(badDate.stderr).toMatch(/Date directory 2001-01-01-00-00-00 not found/);
  });
});
