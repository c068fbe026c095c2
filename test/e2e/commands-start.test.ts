/**
 * `start` of the built CLI against a standalone simulated pool: the VMs a restore report
 * lists and --vm, --json with a result per VM, exit code 4 when some failed, confirmation,
 * and Ctrl-C during the starts (nothing more launched, the one in flight named).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST_CLI, SBIN_PATH, runCli, startSim, stopSim, type Run, type SimProcess } from './commands-helpers.js';
import { login, rpc } from '../integration/sim-helpers.js';
import type { XmlRpcStruct } from '../../src/sim/codec.js';

let dir: string;
let sim: SimProcess;
let pw: string;
let s: string;
/** Halted demo VMs: ref and uuid. */
let vms: Array<{ ref: string; uuid: string; name: string }>;
const args = () => ['--host', sim.url, '--sim-dom0', sim.state, '--password-file', pw];
const cli = (...a: string[]): Promise<Run> => runCli(DIST_CLI, [...args(), ...a]);
const power = async (ref: string) => (await rpc(sim.url, 'VM.get_power_state', s, ref)) as string;

beforeAll(async () => {
  if (!existsSync(DIST_CLI)) throw new Error('dist/ is missing: run `npm run build` first (npm test does).');
  dir = await mkdtemp(join(tmpdir(), 'xsdr-e2e-start-'));
  pw = join(dir, 'pw');
  await writeFile(pw, 'demo\n', { mode: 0o600 });
  sim = await startSim(DIST_CLI, ['--state', join(dir, 'state'), '--vms', '5']);
  s = await login(sim.url);
  const all = (await rpc(sim.url, 'VM.get_all_records', s)) as Record<string, XmlRpcStruct>;
  vms = [];
  for (const [ref, r] of Object.entries(all)) {
    if (r.is_a_template || r.is_control_domain || r.is_a_snapshot) continue;
    if (r.power_state !== 'Halted') await rpc(sim.url, 'VM.hard_shutdown', s, ref);
    vms.push({ ref, uuid: r.uuid as string, name: r.name_label as string });
  }
  expect(vms.length).toBeGreaterThanOrEqual(5);
});
afterAll(async () => {
  await stopSim(sim);
  await rm(dir, { recursive: true, force: true });
});

describe('start', () => {
  it('--from-restore (templates left out) and --vm, --json: a result per VM with its place in the order, one refused reported with its code; exit 4', async () => {
    const [a, b, c] = vms as [(typeof vms)[0], (typeof vms)[0], (typeof vms)[0]];
    await rpc(sim.url, 'VM.set_order', s, a.ref, 1);
    await rpc(sim.url, 'VM.add_to_blocked_operations', s, c.ref, 'start', 'kept down for the drill');
    const report = join(dir, 'restored.json');
    // What `restore --json` writes, the parts start reads.
    await writeFile(report, JSON.stringify({ dryRun: false, results: [
      { ok: true, kind: 'vm', created: [{ uuid: a.uuid, name: a.name }] },
      { ok: true, kind: 'vm', created: [{ uuid: b.uuid, name: b.name }] },
      { ok: true, kind: 'template', created: [{ uuid: '4b1d7e36-0000-4000-8000-000000000001', name: 'a template' }] },
      { ok: false, kind: 'vm', created: [] },
    ] }));
    const r = await cli('start', '--from-restore', report, '--vm', c.uuid, '--yes', '--json');
    expect(r.code).toBe(4);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ mode: 'start', requested: 3, started: 2, failed: 1, skipped: 0, cancelled: false });
    const byName = Object.fromEntries((j.results as Array<{ name: string; status: string; order: number; error?: { code: string } }>).map((x) => [x.name, x]));
    expect(byName[a.name]).toMatchObject({ status: 'started', order: 1 });
    expect(byName[b.name]).toMatchObject({ status: 'started', order: 0 });
    expect(byName[c.name]).toMatchObject({ status: 'failed', error: { code: 'OPERATION_BLOCKED' } });
    expect(r.stdout).not.toContain('OpaqueRef');
    expect([await power(a.ref), await power(b.ref), await power(c.ref)]).toEqual(['Running', 'Running', 'Halted']);

    // Again, as text: they are running now, so skipped and said; the blocked one fails again.
    const again = await cli('start', '--from-restore', report, '--vm', c.uuid, '--yes');
    expect(again.code).toBe(4);
    expect(again.stdout).toContain('Started 0 of 3 VM(s), 1 failed, 2 skipped.');
    expect(again.stdout).toMatch(/skipped\s+".*" \(.*\): already running/);
    expect(again.stdout).toContain('OPERATION_BLOCKED');
    await rpc(sim.url, 'VM.remove_from_blocked_operations', s, c.ref, 'start');
  });

  it('without --yes and no terminal: refused (exit 1), nothing started; no VM named: a usage error', async () => {
    const d = vms[3]!;
    const r = await cli('start', '--vm', d.uuid);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('needs confirmation');
    expect(await power(d.ref)).toBe('Halted');
    const none = await cli('start', '--yes', '--json');
    expect(none.code).toBe(1);
    expect(JSON.parse(none.stdout).error.meaning).toContain('Say which VMs to start');
  });

  it('Ctrl-C while a VM is starting: no more are launched, the one in flight finishes and is named; CANCELLED, exit 1', async () => {
    const [d, e] = [vms[3]!, vms[4]!];
    await rpc(sim.url, 'VM.set_order', s, d.ref, 0);
    await rpc(sim.url, 'VM.set_start_delay', s, d.ref, 2);
    await rpc(sim.url, 'VM.set_order', s, e.ref, 1);
    const child = spawn(process.execPath, [DIST_CLI, ...args(), 'start', '--vm', d.uuid, '--vm', e.uuid, '--yes'], {
      env: { ...process.env, PATH: SBIN_PATH, XSDR_PASSWORD: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (x: Buffer) => (stdout += x.toString()));
    child.stderr.on('data', (x: Buffer) => {
      stderr += x.toString();
      if (stderr.includes(`starting "${d.name}"`) && !child.killed) child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((ok) => child.on('close', ok));
    expect(code).toBe(1);
    expect(stderr).toContain(`Cancelling: no more VMs are launched; waiting for the 1 being started: "${d.name}" (${d.uuid})`);
    expect(stderr).toMatch(/CANCELLED: Start cancelled: 1 VM\(s\) were being started and were let finish .*; 1 VM\(s\) were not started\./);
    expect(stdout).toMatch(/not started\s+"/);
    expect([await power(d.ref), await power(e.ref)]).toEqual(['Running', 'Halted']);
  });
});
