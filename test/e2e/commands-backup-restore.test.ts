/**
 * The backup and restore commands of the built CLI against a standalone simulated pool:
 * text output, --json output (one JSON document on stdout, errors as {error: {code,
 * meaning, nextStep}}) and the stock-like exit codes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST_CLI, runCli, startSim, stopSim, type Run, type SimProcess } from './commands-helpers.js';

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
const DATE = /\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}/;

let dir: string;
let sim: SimProcess;
let pw: string;
/** The operator on the simulated pool's "master": its control domain is this machine. */
const cli = (...args: string[]): Promise<Run> => runCli(DIST_CLI, ['--host', sim.url, '--sim-dom0', sim.state, '--password-file', pw, ...args]);
const json = (r: Run) => JSON.parse(r.stdout) as Record<string, any>;

beforeAll(async () => {
  if (!existsSync(DIST_CLI)) throw new Error('dist/ is missing: run `npm run build` first (npm test does).');
  dir = await mkdtemp(join(tmpdir(), 'xsdr-e2e-br-'));
  pw = join(dir, 'pw');
  await writeFile(pw, 'demo\n', { mode: 0o600 });
  sim = await startSim(DIST_CLI, ['--state', join(dir, 'state'), '--vms', '3']);
});
afterAll(async () => {
  await stopSim(sim);
  await rm(dir, { recursive: true, force: true });
});

// Commands that open the backup VDI run one at a time: each attaches it to the control domain.
describe('backup', () => {
  let srUuid: string;
  let vdiUuid: string;

  it('without a backup VDI and --no-create: exit 3 (as xe-backup-metadata), text and JSON', async () => {
    const [text, asJson] = await Promise.all([cli('backup', '--no-create'), cli('backup', '--no-create', '--json')]);
    expect(text.code).toBe(3);
    expect(text.stdout).toBe('');
    expect(text.stderr).toMatch(/^Error: .*No backup VDI on SR/m);
    expect(asJson.code).toBe(3);
    expect(Object.keys(json(asJson))).toEqual(['error']);
    const e = json(asJson).error as { code: string; meaning: string; nextStep: string };
    expect(e).toMatchObject({ kind: 'expected', code: 'NO_BACKUP_VDI', meaning: expect.stringMatching(/No backup VDI/), nextStep: expect.stringMatching(/creation allowed/) });
    // The same code, meaning and next step in the text (the console's come from the same place).
    expect(text.stderr.endsWith(`Error: ${e.code}: ${e.meaning}\n${e.nextStep}\n`)).toBe(true);
  });

  it('restore --yes without a backup VDI: NO_BACKUP_VDI with a real next step, text and JSON alike', async () => {
    const [text, asJson] = await Promise.all([cli('restore', '--yes'), cli('restore', '--yes', '--json')]);
    expect(text.code).toBe(1);
    const e = json(asJson).error as { code: string; meaning: string; nextStep: string };
    expect(e).toMatchObject({ kind: 'expected', code: 'NO_BACKUP_VDI' });
    expect(e.nextStep).not.toMatch(/report it|F5/);
    expect(text.stderr).toContain(`Error: ${e.code}: ${e.meaning}\n${e.nextStep}\n`);
  });

  it('list without a backup VDI: exit 0 with the stock message (as xe-restore-metadata -l), text and JSON', async () => {
    const [text, asJson, legacy] = await Promise.all([cli('list'), cli('list', '--json'), cli('list', '--legacy')]);
    expect(text).toMatchObject({ code: 0, stdout: '' });
    expect(text.stderr.trim()).toBe('No VDIs found on SR. (Backups made before 2024 need --legacy.)');
    expect(asJson.code).toBe(0);
    expect(json(asJson)).toMatchObject({ sr: expect.stringMatching(UUID), vdi: null, backups: [] });
    // The legacy scan finds the SR's other VDIs, none of them a backup: that is a failure, as stock.
    expect(legacy.code).toBe(1);
    expect(legacy.stderr).toMatch(/Metadata backups not found/);
  });

  it('creates the VDI and backs up: text report, exit 0', async () => {
    const r = await cli('backup');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^Using SR: .+ \(/);
    expect(lines[1]).toMatch(new RegExp(`^Created new backup VDI: ${UUID.source}$`));
    expect(r.stdout).toMatch(new RegExp(`^Backup ${DATE.source}: 3 VM\\(s\\) and \\d+ template\\(s\\) exported`, 'm'));
    expect(lines.at(-1)).toMatch(/^Backup completed in \d+\.\d s$/);
    expect(r.stderr).toMatch(/^Creating new backup VDI: /m); // progress goes to stderr
    srUuid = UUID.exec(lines[0]!)![0];
    vdiUuid = UUID.exec(lines[1]!)![0];
  });

  it('--json: the whole report, exit 0', async () => {
    const r = await cli('backup', '--json');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const j = json(r);
    expect(j).toMatchObject({ sr: { uuid: srUuid }, vdi: { uuid: vdiUuid, created: false, deterministicUuid: true }, vmsExported: 3, failures: [], access: 'attach' });
    expect(j.date).toMatch(DATE);
    expect(j.backupsKept).toHaveLength(2);
  });

  it('an unknown SR: exit 1 with the stock message, text and JSON', async () => {
    const bad = '00000000-0000-4000-8000-000000000000';
    const [text, asJson] = await Promise.all([cli('backup', '--sr', bad), cli('backup', '--sr', bad, '--json')]);
    expect(text.code).toBe(1);
    expect(text.stderr).toContain(`Invalid SR UUID specified: ${bad}`);
    expect(asJson.code).toBe(1);
    expect(json(asJson).error.meaning).toContain('Invalid SR UUID');
  });

  it('a bad option value is a usage error (exit 1 from commander, message on stderr)', async () => {
    const r = await cli('backup', '--keep', 'many');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--keep takes a whole number/);
  });

  describe('restore side', () => {
    it('probe: the VDI uuid, one per line / JSON; exit 0', async () => {
      const text = await cli('probe');
      const asJson = await cli('probe', '--json');
      expect(text).toMatchObject({ code: 0, stdout: `${vdiUuid}\n` });
      expect(asJson.code).toBe(0);
      expect(json(asJson).found.map((f: { uuid: string }) => f.uuid)).toEqual([vdiUuid]);
    });

    it('list: newest first with VM counts / JSON; exit 0', async () => {
      const text = await cli('list');
      const asJson = await cli('list', '--json');
      expect(text.code).toBe(0);
      const lines = text.stdout.trim().split('\n');
      expect(lines).toHaveLength(2);
      for (const l of lines) expect(l).toMatch(new RegExp(`^${DATE.source}  \\d+ VM exports?, \\d+ on this SR$`));
      expect(lines[0]! > lines[1]!).toBe(true);
      const j = json(asJson);
      expect(j).toMatchObject({ sr: srUuid, vdi: vdiUuid });
      expect(j.backups.map((b: { date: string }) => b.date)).toEqual(lines.map((l) => l.slice(0, 19)));
    });

    it('preflight: every VM clashes with itself here, grouped, the VMs said to come back halted / JSON with every name; exit 0', async () => {
      const text = await cli('preflight');
      const asJson = await cli('preflight', '--json');
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/^Backup \S+ on SR ".+" \(/);
      const j = json(asJson);
      expect(j.counts.clashes).toBe(j.counts.vms + j.counts.templates);
      const held = `${j.counts.exports} VM exports: ${j.counts.vms} VMs and ${j.counts.templates} template${j.counts.templates === 1 ? '' : 's'} to import (halted, keeping their uuids)`;
      expect(text.stdout).toContain(held);
      expect(text.stdout).toContain("The restored VMs will be halted: XAPI's metadata import creates them halted.");
      expect(text.stdout).toMatch(/^Already here(, halted| and not halted) \(\d+ VMs?\)\n {2}For each, a VM with this uuid is already here/m);
      // --json: the groups with every VM, each clash once.
      const clashes = j.groups.filter((g: { kind: string }) => g.kind.startsWith('clash')).flatMap((g: { items: Array<{ uuid: string }> }) => g.items.map((i) => i.uuid));
      expect(clashes.sort()).toEqual(j.vms.filter((v: { clash: unknown }) => v.clash).map((v: { uuid: string }) => v.uuid).sort());
      // The list counted the same exports.
      const listed = json(await cli('list', '--json')).backups.find((b: { date: string }) => b.date === j.date);
      expect(listed.vms).toBe(j.counts.exports);
    });

    it('restore --dry-run: xe-like lines, and the exit code is the number of failed VMs (as stock)', async () => {
      const text = await cli('restore', '--dry-run');
      const asJson = await cli('restore', '--dry-run', '--json');
      const j = json(asJson);
      expect(j.errors).toBeGreaterThan(0); // the VMs exist here: nothing newer to restore
      expect(asJson.code).toBe(j.errors);
      expect(text.code).toBe(j.errors);
      expect(text.stdout).toMatch(/^xe vm-import filename=[0-9a-f-]{36}\.vmmeta sr-uuid=\S+ --metadata --preserve --dry-run$/m);
      expect(text.stdout.trim().split('\n').at(-1)).toBe(`Would restore ${j.results.length - j.errors} VM(s), and ${j.errors} error(s); nothing was changed`);
      // Counted as list and preflight count; names set only where they would change.
      expect(j.counts.exports).toBe(j.results.length);
      expect(text.stdout).toContain(`Of ${j.counts.exports} VM exports (`);
      expect(text.stdout).toContain(`SR/VDI names: ${j.counts.namesSet} would be set, ${j.counts.namesUnchanged} already so, ${j.counts.namesFailed} not set.`);
      expect(j.counts.namesSet).toBe(0); // the backup was made here: every name is already so
    });

    it('a real restore without a terminal needs --yes: exit 1, nothing imported', async () => {
      const r = await cli('restore');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/needs confirmation/);
    });
  });
});

describe('backup with failing VM exports', () => {
  it('exits 4 and names the failures, text and JSON', async () => {
    const faults = join(dir, 'faults.json');
    // Every metadata export but the first fails.
    await writeFile(faults, JSON.stringify({ rules: [{ route: '/export_metadata', taskError: ['VM_BAD_POWER_STATE', 'x', 'halted', 'paused'], after: 1 }] }));
    const broken = await startSim(DIST_CLI, ['--state', join(dir, 'broken'), '--vms', '2', '--faults', faults]);
    try {
      const run = (...a: string[]) => runCli(DIST_CLI, ['--host', broken.url, '--sim-dom0', broken.state, '--password-file', pw, 'backup', ...a]);
      const text = await run();
      expect(text.code).toBe(4);
      expect(text.stdout).toMatch(/^ {2}FAILED (VM|template) ".*" \([0-9a-f-]{36}\): VM_BAD_POWER_STATE /m);
      expect(text.stdout).toMatch(/^Backup completed with \d+ error\(s\)/m);
      const asJson = await run('--json');
      expect(asJson.code).toBe(4);
      expect(json(asJson).failures.length).toBeGreaterThan(0);
    } finally {
      await stopSim(broken);
    }
  });
});
