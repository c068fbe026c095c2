/**
 * The network map over the real simulator: a production pool with three networks is backed
 * up; the DR pool has two of them under other names (one still on the same bridge, one on
 * another bridge, so the import would make a new internal network for it). The preflight
 * shows the table and the MAC clashes; a restore with a map moves the VIFs and removes the
 * internal networks it made; a refused VIF.move is reported and the rest moved; a host
 * without VIF.move gets destroy + create, keeping MAC and device.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { runBackup } from '../../src/dr/backup.js';
import { preflightRestore, runRestore, type RestoreReport } from '../../src/dr/restore.js';
import { parseNetworkMap, NetworkMapError } from '../../src/dr/network-map.js';
import { networkMapLines, networkTableLines } from '../../src/dr/network-map-text.js';
import { attachSrFolder } from '../../src/sim/index.js';
import { startTestPool, type TestPool } from '../helpers/pool.js';
import type { SimProfileName } from '../../src/sim/profiles.js';

const ETH0 = 'Pool-wide network associated with eth0';
const ETH1 = 'Pool-wide network associated with eth1';
const VLAN = 'Storage VLAN 100';

let pools: TestPool[] = [];
afterEach(async () => {
  for (const p of pools.reverse()) await p.close();
  pools = [];
});

/** Production (8 VMs on eth0, eth1 and the VLAN) → backup → DR pool with eth1 and the VLAN renamed. */
async function drill(profile: SimProfileName) {
  const prod = await startTestPool({ vms: 8, seed: 7, profile });
  pools.push(prod);
  const backup = await runBackup(prod.session, {});
  const srUuid = backup.sr.uuid;
  // Before deterministic VDI uuids (xs71), the backup VDI is read as a legacy one, by uuid.
  const source = backup.vdi.deterministicUuid ? { srUuid } : { srUuid, vdiUuid: backup.vdi.uuid, legacy: true };
  const dr = await startTestPool({ vms: 0, profile });
  pools.push(dr);
  await attachSrFolder(dr.sim, join(prod.sim.stateDir, 'srs', srUuid));
  const db = dr.sim.db;
  // eth1 is here as "DR uplink" on the same bridge; the VLAN as "DR storage" on another bridge.
  const uplink = db.create('network', { name_label: 'DR uplink', bridge: 'xenbr1', MTU: 1500, other_config: {} });
  const storage = db.create('network', { name_label: 'DR storage', bridge: 'xapi7', MTU: 9000, other_config: {} });
  const before = new Map([...db.allRecords('network')].map(([ref, n]) => [ref, { ...n, VIFs: [...n.VIFs] }]));
  // The VMs with a VIF on each production network, by uuid.
  const pdb = prod.sim.db;
  const onNet = (name: string) => {
    const net = pdb.findRef('network', (n) => n.name_label === name)!;
    return [...pdb.allRecords('VIF').values()].filter((v) => v.network === net && !pdb.get('VM', v.VM).is_a_snapshot).map((v) => ({ vm: pdb.get('VM', v.VM).uuid, device: v.device, mac: v.MAC, uuid: v.uuid }));
  };
  return { prod, dr, srUuid, source, uplink, storage, before, vlanVifs: onNet(VLAN), eth1Vifs: onNet(ETH1), eth0Vifs: onNet(ETH0) };
}

/** The VIFs of VMs the restore brought back (some cannot be: disks on SRs not attached here). */
function restoredOnly<T extends { vm: string }>(vifs: T[], r: RestoreReport): T[] {
  const back = new Set(r.results.filter((x) => x.ok).map((x) => x.vmUuid));
  return vifs.filter((v) => back.has(v.vm));
}

function vifsOf(p: TestPool, vmUuid: string) {
  const db = p.sim.db;
  const vm = db.get('VM', db.refByUuid('VM', vmUuid));
  return vm.VIFs.map((v) => db.get('VIF', v));
}

describe('network map', () => {
  it('preflight: each source network and its outcome here, and MAC clashes', async () => {
    const d = await drill('xs8');
    expect(d.vlanVifs.length).toBeGreaterThan(0);
    expect(d.eth1Vifs.length).toBeGreaterThan(0);
    // A VM already here uses the MAC of one backed-up VIF.
    const clash = d.eth0Vifs[0]!;
    const db = d.dr.sim.db;
    const other = db.create('VM', { name_label: 'already here', is_a_template: false, other_config: {} });
    db.create('VIF', { VM: other, network: db.findRef('network', (n) => n.bridge === 'xenbr0')!, device: '0', MAC: clash.mac.toUpperCase(), MTU: 1500 });
    const pf = await preflightRestore(d.dr.session, { srUuid: d.srUuid });
    const byName = new Map(pf.networks.map((n) => [n.name, n]));
    expect(byName.get(ETH0)).toMatchObject({ match: 'name', target: { name: ETH0 }, mtu: 1500 });
    expect(byName.get(ETH1)).toMatchObject({ match: 'bridge', target: { name: 'DR uplink', bridge: 'xenbr1' } });
    expect(byName.get(VLAN)).toMatchObject({ match: 'new', target: null, bridge: 'xapi1' });
    expect(pf.macClashes).toEqual([expect.objectContaining({ mac: clash.mac, poolVm: expect.objectContaining({ name: 'already here' }), vm: expect.objectContaining({ uuid: clash.vm }) })]);
    expect(pf.poolNetworks.map((n) => n.name)).toEqual(expect.arrayContaining(['DR uplink', 'DR storage']));
    expect(networkTableLines(pf.networks).join('\n')).toMatch(/"Storage VLAN 100" \(bridge xapi1, MTU 1500, \d+ VIFs?\) -> a new internal network/);
    // With a map, the table says where the VIFs go after the import.
    const mapped = await preflightRestore(d.dr.session, { srUuid: d.srUuid, networkMap: parseNetworkMap(`${VLAN} = DR storage\n`) });
    expect(mapped.networks.find((n) => n.name === VLAN)?.mappedTo).toMatchObject({ name: 'DR storage' });
  });

  it('restore with a map: every VIF on its mapped network, no unused internal network left, the others untouched', async () => {
    const d = await drill('xs8');
    const map = parseNetworkMap(`# DR site\n${VLAN} = DR storage\nxenbr1 = ${d.dr.sim.db.get('network', d.uplink).uuid}\n`);
    const dry = await runRestore(d.dr.session, { srUuid: d.srUuid, dryRun: true, force: true, networkMap: map });
    expect(dry.networkMap?.vifs.length).toBe(restoredOnly([...d.vlanVifs, ...d.eth1Vifs], dry).length);
    expect(dry.networkMap?.wouldNotCreate).toEqual([{ name: VLAN, bridge: 'xapi1' }]);
    expect(dry.networkMap!.vifs.filter((v) => v.already).length).toBe(restoredOnly(d.eth1Vifs, dry).length);
    expect(networkMapLines(dry.networkMap!).join('\n')).toContain(`Would remove the internal network the import makes for "${VLAN}"`);
    const r = await runRestore(d.dr.session, { srUuid: d.srUuid, force: true, networkMap: map });
    const nm = r.networkMap!;
    expect(nm.map.map((m) => [m.source.name, m.target.name])).toEqual([[VLAN, 'DR storage'], [ETH1, 'DR uplink']]);
    expect(nm.vifs.every((v) => v.ok && v.method === 'move')).toBe(true);
    // eth1's VIFs land on "DR uplink" by bridge: nothing to move, and said so.
    expect(restoredOnly(d.eth1Vifs, r).length).toBeGreaterThan(0);
    expect(nm.vifs.filter((v) => v.already).length).toBe(restoredOnly(d.eth1Vifs, r).length);
    expect(networkMapLines(nm).join('\n')).toMatch(new RegExp(`VIFs moved: (\\d+) of \\1 \\(VIF\\.move\\)${restoredOnly(d.eth1Vifs, r).length ? `; ${restoredOnly(d.eth1Vifs, r).length} on the mapped network already` : ''}`));
    const db = d.dr.sim.db;
    expect(restoredOnly(d.vlanVifs, r).length).toBeGreaterThan(0);
    for (const v of restoredOnly(d.vlanVifs, r)) expect(vifsOf(d.dr, v.vm).find((x) => x.device === v.device)).toMatchObject({ network: d.storage, MAC: v.mac });
    for (const v of restoredOnly(d.eth1Vifs, r)) expect(vifsOf(d.dr, v.vm).find((x) => x.device === v.device)?.network).toBe(d.uplink);
    // The internal network the import made for the VLAN is gone; nothing else was.
    expect(nm.removed.map((n) => [n.name, n.ok])).toEqual([[VLAN, true]]);
    const nets = [...db.allRecords('network')];
    expect(nets.filter(([, n]) => n.other_config['import_task'] !== undefined)).toEqual([]);
    for (const [ref, n] of d.before) expect(db.tryGet('network', ref)).toMatchObject({ name_label: n.name_label, bridge: n.bridge });
    expect(nets.length).toBe(d.before.size);
  });

  it('a refused VIF.move is reported with its code and next step; the rest are moved', async () => {
    const d = await drill('xs8');
    // XAPI's refusals name objects by reference (HOST_CANNOT_ATTACH_NETWORK [host, network]).
    const host = d.dr.sim.db.findRef('host', () => true)!;
    d.dr.sim.faults.add({ method: 'VIF.move', error: ['HOST_CANNOT_ATTACH_NETWORK', host, d.storage], times: 1 });
    const r = await runRestore(d.dr.session, { srUuid: d.srUuid, force: true, networkMap: parseNetworkMap(`${VLAN} = DR storage\n${ETH1} = DR uplink\n`), concurrency: 1 });
    const nm = r.networkMap!;
    const bad = nm.vifs.filter((v) => !v.ok);
    expect(bad).toHaveLength(1);
    expect(bad[0]!.error).toMatchObject({ code: 'HOST_CANNOT_ATTACH_NETWORK', nextStep: expect.stringContaining('move it to') });
    expect(JSON.stringify(nm)).not.toContain('OpaqueRef');
    expect(nm.vifs.filter((v) => v.ok)).toHaveLength(restoredOnly([...d.vlanVifs, ...d.eth1Vifs], r).length - 1);
    expect(networkMapLines(nm).join('\n')).toContain('failed, HOST_CANNOT_ATTACH_NETWORK');
    // The one left behind keeps its network, so the internal network it uses is not removed.
    expect(bad[0]!.from.name).toBe(VLAN);
    expect(nm.removed).toEqual([]);
    expect([...d.dr.sim.db.allRecords('network').values()].filter((n) => n.name_label === VLAN)).toHaveLength(1);
  });

  /** The DR master reports API `minor` of 2.x; the product reads it to choose its path, and the calls it makes are served for real. */
  function reportApi(d: Awaited<ReturnType<typeof drill>>, minor: number) {
    const db = d.dr.sim.db;
    db.set('host', db.findRef('host', () => true)!, 'API_version_minor', minor);
  }

  it('a host before API 2.6 (XenServer 7.0) has no VIF.move: destroy and create keep MAC, device and MTU', async () => {
    const d = await drill('xs8');
    reportApi(d, 5);
    const r = await runRestore(d.dr.session, { srUuid: d.srUuid, force: true, networkMap: parseNetworkMap(`${VLAN} = DR storage\n`) });
    const vlan = restoredOnly(d.vlanVifs, r);
    expect(vlan.length).toBeGreaterThan(0);
    expect(r.networkMap!.vifs.map((v) => [v.method, v.ok])).toEqual(vlan.map(() => ['recreate', true]));
    for (const v of vlan) expect(vifsOf(d.dr, v.vm).find((x) => x.device === v.device)).toMatchObject({ network: d.storage, MAC: v.mac, MTU: 1500, locking_mode: 'network_default' });
    expect(r.networkMap!.removed.map((n) => n.name)).toEqual([VLAN]);
  });

  it('before API 2.6, a VIF removed but not created again says exactly what to create; a VIF read refused leaves the map unapplied, said', async () => {
    const d = await drill('xs8');
    reportApi(d, 5);
    d.dr.sim.faults.add({ method: 'VIF.create', error: ['MAC_INVALID', 'zz'], times: 1 });
    const r = await runRestore(d.dr.session, { srUuid: d.srUuid, force: true, concurrency: 1, networkMap: parseNetworkMap(`${VLAN} = DR storage\n`) });
    const bad = r.networkMap!.vifs.filter((v) => !v.ok);
    expect(bad).toHaveLength(1);
    expect(bad[0]!.error).toMatchObject({ code: 'VIF_NOT_RECREATED', nextStep: `Create it by hand: xe vif-create vm-uuid=${bad[0]!.vm.uuid} network-uuid=${d.dr.sim.db.get('network', d.storage).uuid} device=${bad[0]!.device} mac=${bad[0]!.mac}.` });

    const again = await drill('xs8');
    again.dr.sim.faults.add({ method: 'VIF.get_all_records', error: ['INTERNAL_ERROR', 'db'], times: 1 });
    const r2 = await runRestore(again.dr.session, { srUuid: again.srUuid, force: true, networkMap: parseNetworkMap(`${VLAN} = DR storage\n`) });
    expect(r2.restored).toBeGreaterThan(0);
    expect(r2.networkMap).toMatchObject({ vifs: [], removed: [], error: { code: 'INTERNAL_ERROR' } });
    expect(networkMapLines(r2.networkMap!).join('\n')).toContain('The map was not applied, INTERNAL_ERROR');
  });

  it('XenServer 7.1 (API 2.6, the simulator\'s xs71 profile) moves with VIF.move, keeping the VIF itself', async () => {
    const d = await drill('xs71');
    const r = await runRestore(d.dr.session, { ...d.source, force: true, networkMap: parseNetworkMap(`${VLAN} = DR storage\n`) });
    const vlan = restoredOnly(d.vlanVifs, r);
    expect(vlan.length).toBeGreaterThan(0);
    expect(r.networkMap!.vifs.map((v) => [v.method, v.ok])).toEqual(vlan.map(() => ['move', true]));
    for (const v of vlan) expect(vifsOf(d.dr, v.vm).find((x) => x.device === v.device)).toMatchObject({ network: d.storage, MAC: v.mac, uuid: v.uuid });
  });

  it('a map naming what neither the backup nor this pool has stops the restore before any import', async () => {
    const d = await drill('xs8');
    const vms = d.dr.sim.db.allRecords('VM').size;
    await expect(runRestore(d.dr.session, { srUuid: d.srUuid, networkMap: parseNetworkMap(`\n${VLAN} = nowhere\n`) })).rejects.toMatchObject({
      code: 'NETWORK_MAP_INVALID',
      message: 'line 2 of the network map names network "nowhere", which this pool does not have',
    });
    await expect(runRestore(d.dr.session, { srUuid: d.srUuid, networkMap: parseNetworkMap(`no such = DR storage`) })).rejects.toBeInstanceOf(NetworkMapError);
    expect(d.dr.sim.db.allRecords('VM').size).toBe(vms);
  });
});

describe('network map file', () => {
  it('reads source = target lines, comments and blanks', () => {
    expect(parseNetworkMap('# c\n\n  a b = c  \r\nx=y')).toEqual([
      { source: 'a b', target: 'c', line: 3 },
      { source: 'x', target: 'y', line: 4 },
    ]);
  });
  it.each([
    ['a\n', 'line 1 of the network map is not "source = target": a'],
    ['# x\na = b = c', 'line 2 of the network map has more than one "=": a = b = c'],
    [' = b', 'line 1 of the network map names no source network: = b'],
    ['a =', 'line 1 of the network map names no target network: a ='],
    ['a = b\na = c', 'line 2 of the network map maps a source network already mapped on line 1: a = c'],
    ['a = b\u001b[2J', 'line 1 of the network map holds a control character: a = b\\u001b[2J'],
  ])('refuses %j', (text, message) => {
    expect(() => parseNetworkMap(text)).toThrow(message);
  });
});
