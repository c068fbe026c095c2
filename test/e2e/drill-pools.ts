/**
 * The two simulated pools of the DR drill, each a `sim` process of the built CLI:
 * production (the demo pool of seed 7: eight VMs with VIFs on eth0, eth1 and the storage
 * VLAN), with two vApps of different order and start_delay and VMs outside them; and a DR
 * site attaching every SR folder production wrote (the replicated storage), where eth0's
 * network is "DR front" on the same bridge, the VLAN's is "DR storage" on another bridge,
 * and eth1's is not there at all.
 */
import { expect } from 'vitest';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DIST_CLI, startSim, type SimProcess } from './commands-helpers.js';
import { login, rpc } from '../integration/sim-helpers.js';
import type { XmlRpcStruct } from '../../src/sim/codec.js';

export const ETH0 = 'Pool-wide network associated with eth0';
export const ETH1 = 'Pool-wide network associated with eth1';
export const VLAN = 'Storage VLAN 100';
export const FRONT = 'DR front';
export const STORAGE = 'DR storage';
/** "DR storage"'s bridge: another than the VLAN's xapi1 (xapi*, xen*, eth* are XAPI's own). */
export const STORAGE_BRIDGE = 'brstorage';

/** Production's plan, by VM name: vApp, VM.order, start_delay (s). */
export const PLAN: Record<string, { vApp: string | null; order: number; delay: number }> = {
  'db-01': { vApp: 'Database tier', order: 0, delay: 1 },
  'dc-01': { vApp: 'Database tier', order: 1, delay: 0 },
  'cache-01': { vApp: 'Web tier', order: 0, delay: 0 },
  'app-01': { vApp: 'Web tier', order: 3, delay: 1 },
  'mail-01': { vApp: null, order: 0, delay: 0 },
  'proxy-01': { vApp: null, order: 0, delay: 0 },
  'web-01': { vApp: null, order: 2, delay: 0 },
  'build-01': { vApp: null, order: 2, delay: 0 },
};

/** The start groups PLAN gives, in order: vApps by name, each by VM.order; then the VMs outside vApps by theirs. */
export const GROUPS = [['db-01'], ['dc-01'], ['cache-01'], ['app-01'], ['mail-01', 'proxy-01'], ['build-01', 'web-01']];
export const groupOf = (name: string): number => GROUPS.findIndex((g) => g.includes(name));

export type Rec = XmlRpcStruct;

export interface Pool {
  sim: SimProcess;
  /** A root session of the pool, for the test's own XAPI calls. */
  session: string;
}

export const records = async (p: Pool, cls: string) => Object.entries((await rpc(p.sim.url, `${cls}.get_all_records`, p.session)) as Record<string, Rec>);

export interface VmState {
  ref: string;
  rec: Rec;
  /** Each VIF by device: its network's name and ref, its MAC. */
  vifs: Map<string, { net: string; netRef: string; mac: string }>;
}

/** The pool's VMs (not templates, snapshots or dom0) by name. */
export async function vmsByName(p: Pool): Promise<Map<string, VmState>> {
  const [vms, vifs, nets] = await Promise.all([records(p, 'VM'), records(p, 'VIF'), records(p, 'network')]);
  const vifBy = new Map(vifs);
  const netBy = new Map(nets);
  const out = new Map<string, VmState>();
  for (const [ref, rec] of vms) {
    if (rec.is_a_template || rec.is_control_domain || rec.is_a_snapshot) continue;
    const own = (rec.VIFs as string[]).map((v) => vifBy.get(v)!);
    out.set(rec.name_label as string, { ref, rec, vifs: new Map(own.map((v) => [v.device as string, { net: netBy.get(v.network as string)!.name_label as string, netRef: v.network as string, mac: v.MAC as string }])) });
  }
  return out;
}

/** Production, set up as PLAN says; its VMs as they are before the backup. */
export async function startProduction(dir: string): Promise<Pool & { vms: Map<string, VmState> }> {
  const sim = await startSim(DIST_CLI, ['--state', join(dir, 'prod'), '--vms', '8', '--seed', '7']);
  const p = { sim, session: await login(sim.url) };
  const byName = await vmsByName(p);
  expect([...byName.keys()].sort()).toEqual(Object.keys(PLAN).sort());
  const apps = new Map<string, string>();
  for (const [name, plan] of Object.entries(PLAN)) {
    const vm = byName.get(name)!.ref;
    if (plan.vApp !== null) {
      if (!apps.has(plan.vApp)) apps.set(plan.vApp, (await rpc(sim.url, 'VM_appliance.create', p.session, { name_label: plan.vApp, name_description: '' })) as string);
      await rpc(sim.url, 'VM.set_appliance', p.session, vm, apps.get(plan.vApp)!);
    }
    await rpc(sim.url, 'VM.set_order', p.session, vm, String(plan.order));
    await rpc(sim.url, 'VM.set_start_delay', p.session, vm, String(plan.delay));
  }
  // The drill needs VIFs on each of the three networks.
  const used = new Set([...byName.values()].flatMap((v) => [...v.vifs.values()].map((x) => x.net)));
  expect([...used].sort()).toEqual([ETH0, ETH1, VLAN].sort());
  return { ...p, vms: byName };
}

/** The DR site: every SR folder of production attached, eth0's network renamed, "DR storage" made. */
export async function startDrSite(dir: string, prod: SimProcess): Promise<Pool & { front: string; storage: string }> {
  const srs = join(prod.state, 'srs');
  const attach = (await readdir(srs)).flatMap((d) => ['--attach-sr', join(srs, d)]);
  const sim = await startSim(DIST_CLI, ['--state', join(dir, 'dr'), '--vms', '0', ...attach]);
  const p = { sim, session: await login(sim.url) };
  const front = (await records(p, 'network')).find(([, n]) => n.bridge === 'xenbr0')![0];
  await rpc(sim.url, 'network.set_name_label', p.session, front, FRONT);
  const storage = (await rpc(sim.url, 'network.create', p.session, { name_label: STORAGE, name_description: '', bridge: STORAGE_BRIDGE, MTU: '1500', other_config: {} })) as string;
  return { ...p, front, storage };
}

/** The networks a metadata import made (XAPI marks them with the import's task). */
export async function importedNetworks(p: Pool): Promise<Array<[string, Rec]>> {
  return (await records(p, 'network')).filter(([, n]) => (n.other_config as Record<string, string>)['import_task'] !== undefined);
}
