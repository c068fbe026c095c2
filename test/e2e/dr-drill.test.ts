/**
 * The DR drill, as a runbook runs it with the built CLI against two simulated pools in
 * processes of their own: production (two vApps with different order and start_delay, VMs
 * outside them, VIFs on three networks) → `backup` → a DR pool attaching production's
 * replicated SR folders, which has two of those networks under other names (eth0's on the
 * same bridge, the VLAN's on another) and not the third → `preflight --network-map` →
 * `restore --network-map --yes --json > FILE` → `start --from-restore FILE --yes --json`.
 * Checked on the DR pool itself, over XAPI: the start order from its event log (VM_STARTED
 * messages by event id), each VIF's network and MAC, no unused network the import made,
 * every VM running, the vApps recreated with their members, order and delays.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST_CLI, runCli, stopSim, type Run, type SimProcess } from './commands-helpers.js';
import { rpc } from '../integration/sim-helpers.js';
import { ETH0, ETH1, FRONT, GROUPS, PLAN, STORAGE, VLAN, groupOf, importedNetworks, records, startDrSite, startProduction, vmsByName, type Pool, type Rec, type VmState } from './drill-pools.js';

let dir: string;
let pw: string;
let prod: Pool & { vms: Map<string, VmState> };
let dr: Pool | undefined;
const cli = (sim: SimProcess, ...a: string[]): Promise<Run> => runCli(DIST_CLI, ['--host', sim.url, '--sim-dom0', sim.state, '--password-file', pw, ...a]);

beforeAll(async () => {
  if (!existsSync(DIST_CLI)) throw new Error('dist/ is missing: run `npm run build` first (npm test does).');
  dir = await mkdtemp(join(tmpdir(), 'xsdr-e2e-drill-'));
  pw = join(dir, 'pw');
  await writeFile(pw, 'demo\n', { mode: 0o600 });
  prod = await startProduction(dir);
}, 60_000);
afterAll(async () => {
  await stopSim(dr?.sim);
  await stopSim(prod?.sim);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the DR drill', () => {
  it('backup → DR pool with two networks renamed → preflight and restore with a map → start in vApp order', async () => {
    // Production: the backup records both vApps.
    const b = await cli(prod.sim, 'backup', '--json');
    expect(b.code, b.stderr).toBe(0);
    const backup = JSON.parse(b.stdout);
    expect(backup).toMatchObject({ vmsExported: 8, failures: [], vapps: { supported: true, vapps: 2, vms: 4 } });
    const srUuid = backup.sr.uuid as string;

    // The DR site: every replicated SR attached; eth0's network is "DR front" on the same
    // bridge, the VLAN's is "DR storage" on another bridge, eth1's is not here at all.
    const site = await startDrSite(dir, prod.sim);
    dr = site;
    const { front, storage } = site;
    const map = join(dir, 'dr-site.map');
    await writeFile(map, `# production network = DR network\n${ETH0} = ${FRONT}\n${VLAN} = ${STORAGE}\n`);

    const pf = await cli(site.sim, 'preflight', '--sr', srUuid, '--network-map', map);
    expect(pf.code, pf.stderr).toBe(0);
    expect(pf.stdout).toMatch(new RegExp(`"${ETH0}" \\(bridge xenbr0, .*\\) -> same bridge: "${FRONT}" \\(xenbr0\\), then mapped to "${FRONT}"`));
    expect(pf.stdout).toMatch(new RegExp(`"${VLAN}" \\(bridge xapi1, .*\\) -> a new internal network \\(no uplink\\), then mapped to "${STORAGE}"`));
    expect(pf.stdout).toMatch(new RegExp(`"${ETH1}" \\(bridge xenbr1, .*\\) -> a new internal network \\(no uplink\\)$`, 'm'));
    expect(pf.stdout).toMatch(/^MAC clashes: none\.$/m);

    const r = await cli(site.sim, 'restore', '--sr', srUuid, '--network-map', map, '--yes', '--json');
    expect(r.code, r.stderr).toBe(0);
    const report = join(dir, 'restored.json');
    await writeFile(report, r.stdout);
    const restored = JSON.parse(r.stdout);
    expect(restored).toMatchObject({ dryRun: false, restored: 11, errors: 0 });
    expect(restored.vapps.vapps.map((a: { name: string; action: string; members: number }) => [a.name, a.action, a.members]).sort()).toEqual([
      ['Database tier', 'created', 2],
      ['Web tier', 'created', 2],
    ]);
    // The VLAN's VIFs moved; eth0's already on "DR front" by bridge; the VLAN's internal network removed.
    const vlanVifs = [...prod.vms.values()].flatMap((v) => [...v.vifs.values()].filter((x) => x.net === VLAN));
    const nm = restored.networkMap;
    expect(nm.vifs.filter((v: { already: boolean; ok: boolean }) => !v.already && v.ok)).toHaveLength(vlanVifs.length);
    expect(nm.vifs.every((v: { ok: boolean }) => v.ok)).toBe(true);
    expect(nm.removed.map((n: { name: string; ok: boolean }) => [n.name, n.ok])).toEqual([[VLAN, true]]);

    // Start, as the runbook does, from the restore's own report; the event log from here on.
    const mark = ((await rpc(site.sim.url, 'event.from', site.session, ['message'], '', 0)) as { token: string }).token;
    const st = await cli(site.sim, 'start', '--from-restore', report, '--yes', '--json');
    expect(st.code, st.stderr).toBe(0);
    expect(JSON.parse(st.stdout)).toMatchObject({ mode: 'start', requested: 8, started: 8, failed: 0, skipped: 0, cancelled: false });

    // The start order, from the DR pool's event log: VM_STARTED messages by event id.
    const log = (await rpc(site.sim.url, 'event.from', site.session, ['message'], mark, 0)) as { events: Array<{ id: string; snapshot: Rec }> };
    const started = log.events
      .filter((e) => e.snapshot.name === 'VM_STARTED')
      .sort((x, y) => Number(x.id) - Number(y.id))
      .map((e) => /^VM '([^']+)'/.exec(e.snapshot.body as string)![1]!);
    expect(started).toHaveLength(8);
    expect(started.map(groupOf)).toEqual([0, 1, 2, 3, 4, 4, 5, 5]);
    expect(started.slice(4, 6).sort()).toEqual(GROUPS[4]);
    expect(started.slice(6).sort()).toEqual(GROUPS[5]);

    // start_delay between groups: the group after a VM with a delay starts that long after it
    // (XAPI's VM.start returns only then). Whole-second stamps: a later start is never in an earlier second.
    const startSecond = async (vm: string) => {
      const metrics = (await rpc(site.sim.url, 'VM.get_metrics', site.session, here.get(vm)!.ref)) as string;
      const t = ((await rpc(site.sim.url, 'VM_metrics.get_start_time', site.session, metrics)) as { text: string }).text;
      const m = /^(\d{4})(\d\d)(\d\d)T(\d\d):(\d\d):(\d\d)Z$/.exec(t)!;
      return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) / 1000;
    };
    const here = await vmsByName(site);
    expect((await startSecond('dc-01')) - (await startSecond('db-01'))).toBeGreaterThanOrEqual(PLAN['db-01']!.delay);
    for (const next of GROUPS[4]!) expect((await startSecond(next)) - (await startSecond('app-01'))).toBeGreaterThanOrEqual(PLAN['app-01']!.delay);

    // The DR pool: every VM running, each VIF (MAC kept) on its mapped network or, for eth1,
    // on the internal network the import made, which stays because it is used.
    expect([...here.keys()].sort()).toEqual(Object.keys(PLAN).sort());
    const nets = await records(site, 'network');
    const made = await importedNetworks(site);
    expect(made.map(([, n]) => n.name_label)).toEqual([ETH1]);
    const expected: Record<string, string> = { [ETH0]: front, [VLAN]: storage, [ETH1]: made[0]![0] };
    for (const [name, p] of prod.vms) {
      const vm = here.get(name)!;
      expect(vm.rec.uuid, name).toBe(p.rec.uuid);
      expect(vm.rec.power_state, name).toBe('Running');
      expect([...vm.vifs].map(([d, x]) => [d, x.netRef, x.mac.toLowerCase()]).sort(), name).toEqual([...p.vifs].map(([d, x]) => [d, expected[x.net], x.mac.toLowerCase()]).sort());
    }
    for (const [, n] of nets) expect((n.VIFs as string[]).length, `network ${String(n.name_label)}`).toBeGreaterThan(0);

    // The vApps at the DR site: members, and each member's order and start_delay as in production.
    const vApps = await records(site, 'VM_appliance');
    const got = vApps.map(([, a]) => [a.name_label, (a.VMs as string[]).map((ref) => [...here].find(([, v]) => v.ref === ref)![0]).sort()]).sort();
    expect(got).toEqual([
      ['Database tier', ['db-01', 'dc-01']],
      ['Web tier', ['app-01', 'cache-01']],
    ]);
    for (const [name, p] of Object.entries(PLAN)) {
      const rec = here.get(name)!.rec;
      expect([Number(rec.order), Number(rec.start_delay)], name).toEqual([p.order, p.delay]);
    }
  }, 90_000);
});
