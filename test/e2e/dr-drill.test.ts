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
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST_CLI, runCli, startSim, stopSim, type Run, type SimProcess } from './commands-helpers.js';
import { login, rpc } from '../integration/sim-helpers.js';
import type { XmlRpcStruct } from '../../src/sim/codec.js';

const ETH0 = 'Pool-wide network associated with eth0';
const ETH1 = 'Pool-wide network associated with eth1';
const VLAN = 'Storage VLAN 100';
/** The DR site's names: eth0's network renamed on its bridge, the VLAN on another bridge. */
const FRONT = 'DR front';
const STORAGE = 'DR storage';

/** Production's plan, by VM name (the demo pool of seed 7): vApp, VM.order, start_delay (s). */
const PLAN: Record<string, { vApp: string | null; order: number; delay: number }> = {
  'db-01': { vApp: 'Database tier', order: 0, delay: 1 },
  'dc-01': { vApp: 'Database tier', order: 1, delay: 0 },
  'cache-01': { vApp: 'Web tier', order: 0, delay: 0 },
  'app-01': { vApp: 'Web tier', order: 3, delay: 1 },
  'mail-01': { vApp: null, order: 0, delay: 0 },
  'proxy-01': { vApp: null, order: 0, delay: 0 },
  'web-01': { vApp: null, order: 2, delay: 0 },
  'build-01': { vApp: null, order: 2, delay: 0 },
};
/** The start groups expected, in order: vApps by name, each by VM.order; then the VMs outside vApps by theirs. */
const GROUPS = [['db-01'], ['dc-01'], ['cache-01'], ['app-01'], ['mail-01', 'proxy-01'], ['build-01', 'web-01']];

let dir: string;
let pw: string;
let prod: SimProcess;
let dr: SimProcess;
let ps: string;
let ds: string;
type Rec = XmlRpcStruct;
const records = async (sim: SimProcess, s: string, cls: string) => Object.entries((await rpc(sim.url, `${cls}.get_all_records`, s)) as Record<string, Rec>);
const cli = (sim: SimProcess, ...a: string[]): Promise<Run> => runCli(DIST_CLI, ['--host', sim.url, '--sim-dom0', sim.state, '--password-file', pw, ...a]);

/** Production's VMs by name: uuid, and each VIF's device → network name and MAC. */
let prodVms: Map<string, { uuid: string; vifs: Map<string, { net: string; mac: string }> }>;

async function vmsByName(sim: SimProcess, s: string) {
  const [vms, vifs, nets] = await Promise.all([records(sim, s, 'VM'), records(sim, s, 'VIF'), records(sim, s, 'network')]);
  const vifBy = new Map(vifs);
  const netBy = new Map(nets);
  const out = new Map<string, { ref: string; rec: Rec; vifs: Map<string, { net: string; netRef: string; mac: string }> }>();
  for (const [ref, rec] of vms) {
    if (rec.is_a_template || rec.is_control_domain || rec.is_a_snapshot) continue;
    const own = (rec.VIFs as string[]).map((v) => vifBy.get(v)!);
    out.set(rec.name_label as string, { ref, rec, vifs: new Map(own.map((v) => [v.device as string, { net: netBy.get(v.network as string)!.name_label as string, netRef: v.network as string, mac: v.MAC as string }])) });
  }
  return out;
}

beforeAll(async () => {
  if (!existsSync(DIST_CLI)) throw new Error('dist/ is missing: run `npm run build` first (npm test does).');
  dir = await mkdtemp(join(tmpdir(), 'xsdr-e2e-drill-'));
  pw = join(dir, 'pw');
  await writeFile(pw, 'demo\n', { mode: 0o600 });
  prod = await startSim(DIST_CLI, ['--state', join(dir, 'prod'), '--vms', '8', '--seed', '7']);
  ps = await login(prod.url);
  const byName = await vmsByName(prod, ps);
  expect([...byName.keys()].sort()).toEqual(Object.keys(PLAN).sort());
  const apps = new Map<string, string>();
  for (const [name, p] of Object.entries(PLAN)) {
    const vm = byName.get(name)!.ref;
    if (p.vApp !== null) {
      if (!apps.has(p.vApp)) apps.set(p.vApp, (await rpc(prod.url, 'VM_appliance.create', ps, { name_label: p.vApp, name_description: '' })) as string);
      await rpc(prod.url, 'VM.set_appliance', ps, vm, apps.get(p.vApp)!);
    }
    await rpc(prod.url, 'VM.set_order', ps, vm, String(p.order));
    await rpc(prod.url, 'VM.set_start_delay', ps, vm, String(p.delay));
  }
  prodVms = new Map([...byName].map(([n, v]) => [n, { uuid: v.rec.uuid as string, vifs: new Map([...v.vifs].map(([d, x]) => [d, { net: x.net, mac: x.mac }])) }]));
  // The drill needs VIFs on each of the three networks.
  const used = new Set([...prodVms.values()].flatMap((v) => [...v.vifs.values()].map((x) => x.net)));
  expect([...used].sort()).toEqual([ETH0, ETH1, VLAN].sort());
}, 60_000);
afterAll(async () => {
  await stopSim(dr);
  await stopSim(prod);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the DR drill', () => {
  it('backup → DR pool with two networks renamed → preflight and restore with a map → start in vApp order', async () => {
    // Production: the backup records both vApps.
    const b = await cli(prod, 'backup', '--json');
    expect(b.code, b.stderr).toBe(0);
    const backup = JSON.parse(b.stdout);
    expect(backup).toMatchObject({ vmsExported: 8, failures: [], vapps: { supported: true, vapps: 2, vms: 4 } });
    const srUuid = backup.sr.uuid as string;

    // The DR site: every replicated SR attached; eth0's network is "DR front" on the same
    // bridge, the VLAN's is "DR storage" on another bridge, eth1's is not here at all.
    const srs = join(prod.state, 'srs');
    const attach = (await readdir(srs)).flatMap((d) => ['--attach-sr', join(srs, d)]);
    dr = await startSim(DIST_CLI, ['--state', join(dir, 'dr'), '--vms', '0', ...attach]);
    ds = await login(dr.url);
    const front = (await records(dr, ds, 'network')).find(([, n]) => n.bridge === 'xenbr0')![0];
    await rpc(dr.url, 'network.set_name_label', ds, front, FRONT);
    const storage = (await rpc(dr.url, 'network.create', ds, { name_label: STORAGE, name_description: '', bridge: 'brstorage', MTU: '1500', other_config: {} })) as string;
    const map = join(dir, 'dr-site.map');
    await writeFile(map, `# production network = DR network\n${ETH0} = ${FRONT}\n${VLAN} = ${STORAGE}\n`);

    const pf = await cli(dr, 'preflight', '--sr', srUuid, '--network-map', map);
    expect(pf.code, pf.stderr).toBe(0);
    expect(pf.stdout).toMatch(new RegExp(`"${ETH0}" \\(bridge xenbr0, .*\\) -> same bridge: "${FRONT}" \\(xenbr0\\), then mapped to "${FRONT}"`));
    expect(pf.stdout).toMatch(new RegExp(`"${VLAN}" \\(bridge xapi1, .*\\) -> a new internal network \\(no uplink\\), then mapped to "${STORAGE}"`));
    expect(pf.stdout).toMatch(new RegExp(`"${ETH1}" \\(bridge xenbr1, .*\\) -> a new internal network \\(no uplink\\)$`, 'm'));
    expect(pf.stdout).toMatch(/^MAC clashes: none\.$/m);

    const r = await cli(dr, 'restore', '--sr', srUuid, '--network-map', map, '--yes', '--json');
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
    const vlanVifs = [...prodVms.values()].flatMap((v) => [...v.vifs.values()].filter((x) => x.net === VLAN));
    const nm = restored.networkMap;
    expect(nm.vifs.filter((v: { already: boolean; ok: boolean }) => !v.already && v.ok)).toHaveLength(vlanVifs.length);
    expect(nm.vifs.every((v: { ok: boolean }) => v.ok)).toBe(true);
    expect(nm.removed.map((n: { name: string; ok: boolean }) => [n.name, n.ok])).toEqual([[VLAN, true]]);

    // Start, as the runbook does, from the restore's own report; the event log from here on.
    const mark = ((await rpc(dr.url, 'event.from', ds, ['message'], '', 0)) as { token: string }).token;
    const st = await cli(dr, 'start', '--from-restore', report, '--yes', '--json');
    expect(st.code, st.stderr).toBe(0);
    expect(JSON.parse(st.stdout)).toMatchObject({ mode: 'start', requested: 8, started: 8, failed: 0, skipped: 0, cancelled: false });

    // The start order, from the DR pool's event log: VM_STARTED messages by event id.
    const log = (await rpc(dr.url, 'event.from', ds, ['message'], mark, 0)) as { events: Array<{ id: string; snapshot: Rec }> };
    const started = log.events
      .filter((e) => e.snapshot.name === 'VM_STARTED')
      .sort((x, y) => Number(x.id) - Number(y.id))
      .map((e) => /^VM '([^']+)'/.exec(e.snapshot.body as string)![1]!);
    expect(started).toHaveLength(8);
    const groupOf = (name: string) => GROUPS.findIndex((g) => g.includes(name));
    expect(started.map(groupOf)).toEqual([0, 1, 2, 3, 4, 4, 5, 5]);
    expect(started.slice(4, 6).sort()).toEqual(GROUPS[4]);
    expect(started.slice(6).sort()).toEqual(GROUPS[5]);

    // The DR pool: every VM running, each VIF (MAC kept) on its mapped network or, for eth1,
    // on the internal network the import made, which stays because it is used.
    const here = await vmsByName(dr, ds);
    expect([...here.keys()].sort()).toEqual(Object.keys(PLAN).sort());
    const nets = await records(dr, ds, 'network');
    const made = nets.filter(([, n]) => (n.other_config as Record<string, string>)['import_task'] !== undefined);
    expect(made.map(([, n]) => n.name_label)).toEqual([ETH1]);
    const expected: Record<string, string> = { [ETH0]: front, [VLAN]: storage, [ETH1]: made[0]![0] };
    for (const [name, p] of prodVms) {
      const vm = here.get(name)!;
      expect(vm.rec.uuid, name).toBe(p.uuid);
      expect(vm.rec.power_state, name).toBe('Running');
      expect([...vm.vifs].map(([d, x]) => [d, x.netRef, x.mac.toLowerCase()]).sort(), name).toEqual([...p.vifs].map(([d, x]) => [d, expected[x.net], x.mac.toLowerCase()]).sort());
    }
    for (const [, n] of nets) expect((n.VIFs as string[]).length, `network ${String(n.name_label)}`).toBeGreaterThan(0);

    // The vApps at the DR site: members, and each member's order and start_delay as in production.
    const vApps = await records(dr, ds, 'VM_appliance');
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
