/**
 * `compare` of the built CLI against a standalone simulated pool: after a backup one VM is
 * renamed and one destroyed; the text groups them by status with counts, `--json` carries
 * each VM's status and differences, and `preflight --vm` / `restore --vm` take the chosen VM only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST_CLI, runCli, startSim, stopSim, type Run, type SimProcess } from './commands-helpers.js';
import { login, rpc } from '../integration/sim-helpers.js';
import type { XmlRpcStruct } from '../../src/sim/codec.js';
import type { BackupComparison } from '../../src/dr/backup-compare.js';

let dir: string;
let sim: SimProcess;
let pw: string;
let s: string;
let halted: Array<{ ref: string; uuid: string; name: string }>;
const cli = (...a: string[]): Promise<Run> => runCli(DIST_CLI, ['--host', sim.url, '--sim-dom0', sim.state, '--password-file', pw, ...a]);

beforeAll(async () => {
  if (!existsSync(DIST_CLI)) throw new Error('dist/ is missing: run `npm run build` first (npm test does).');
  dir = await mkdtemp(join(tmpdir(), 'xsdr-e2e-compare-'));
  pw = join(dir, 'pw');
  await writeFile(pw, 'demo\n', { mode: 0o600 });
  sim = await startSim(DIST_CLI, ['--state', join(dir, 'state'), '--vms', '8']);
  s = await login(sim.url);
  const all = (await rpc(sim.url, 'VM.get_all_records', s)) as Record<string, XmlRpcStruct>;
  halted = Object.entries(all)
    .filter(([, r]) => !r.is_a_template && !r.is_control_domain && !r.is_a_snapshot && r.power_state === 'Halted')
    .map(([ref, r]) => ({ ref, uuid: r.uuid as string, name: r.name_label as string }));
  expect(halted.length).toBeGreaterThanOrEqual(2);
  const b = await cli('backup');
  expect(b.code, b.stderr).toBe(0);
});
afterAll(async () => {
  await stopSim(sim);
  await rm(dir, { recursive: true, force: true });
});

describe('compare', () => {
  it('text and --json say what is missing here and what changed; restore --vm restores that VM only', async () => {
    const [gone, renamed] = halted as [(typeof halted)[0], (typeof halted)[0]];
    await rpc(sim.url, 'VM.destroy', s, gone.ref);
    await rpc(sim.url, 'VM.set_name_label', s, renamed.ref, 'renamed after the backup');

    const text = await cli('compare');
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/1 missing here, 1 changed, \d+ same/);
    expect(text.stdout).toContain(`Missing here (1): a restore creates them\n  ${gone.name}  ${gone.uuid}`);
    expect(text.stdout).toContain(`  ${renamed.name}  ${renamed.uuid}\n      name: backup ${renamed.name} → here renamed after the backup`);

    const json = await cli('compare', '--json');
    expect(json.code, json.stderr).toBe(0);
    const c = JSON.parse(json.stdout) as BackupComparison;
    expect(c.vms.find((v) => v.uuid === gone.uuid)?.status).toBe('missing');
    expect(c.vms.find((v) => v.uuid === renamed.uuid)).toMatchObject({ status: 'changed', differences: [{ field: 'name', backup: renamed.name, pool: 'renamed after the backup' }] });

    const pf = await cli('preflight', '--vm', renamed.uuid, '--json');
    expect(pf.code, pf.stderr).toBe(0);
    expect((JSON.parse(pf.stdout) as { vms: Array<{ uuid: string }> }).vms.map((v) => v.uuid)).toEqual([renamed.uuid]);

    // The renamed one, forced (same version: refused otherwise): replaced by the backup's.
    const r = await cli('restore', '--vm', renamed.uuid, '--force', '--yes', '--json');
    expect(r.code, r.stdout).toBe(0);
    const report = JSON.parse(r.stdout) as { results: Array<{ vmUuid: string; ok: boolean }> };
    expect(report.results).toEqual([expect.objectContaining({ vmUuid: renamed.uuid, ok: true })]);
    const after = JSON.parse((await cli('compare', '--json')).stdout) as BackupComparison;
    expect(after.counts).toMatchObject({ missing: 1, changed: 0, newerHere: 1 });
    // Restored here: its copy is one recovery ahead of the backup's, with the backup's name.
    expect(after.vms.find((v) => v.uuid === renamed.uuid)).toMatchObject({ status: 'newerHere', differences: [] });
  });

  it('--vm refuses what is no uuid', async () => {
    const r = await cli('restore', '--vm', 'web-01', '--yes');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--vm takes a VM uuid');
  });
});
