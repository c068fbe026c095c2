/**
 * The demo pool generator: same seed → same records; realistic content with the
 * relations the database derives; sparse image files; and the generation time for a large
 * pool (measured and printed, not asserted: it depends on the machine and on the DB).
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { bootstrap } from '../../src/sim/bootstrap.js';
import type { Ref } from '../../src/sim/db.js';
import { SimDb } from '../../src/sim/db.js';
import { DemoRandom, createDemoPool, populateDemo } from '../../src/sim/demo.js';
import { startSimulator } from '../../src/sim/server.js';
import { SIM_PROFILES } from '../../src/sim/profiles.js';
import { vdiFilePath } from '../../src/sim/storage.js';
import { assertCanBootHere, hostMemoryInUse } from '../../src/sim/vm-power.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function demoDb(seed: number, vms: number, stateDir?: string) {
  const db = new SimDb();
  const boot = bootstrap(db, SIM_PROFILES.xs8);
  const demo = await createDemoPool(db, { seed, vms, ...(stateDir !== undefined && { stateDir }) });
  return { db, boot, demo };
}

/** Everything the demo created, with the bootstrap's random refs replaced by names. */
function canonical(db: SimDb, boot: Record<string, Ref>): string {
  const tables = JSON.parse(db.toJson()).tables as Record<string, Record<string, unknown>>;
  const named: Record<string, Ref> = { ...boot, dom0Metrics: db.get('VM', boot.controlDomain as Ref).metrics };
  const bootRefs = new Set<string>(Object.values(named));
  for (const rows of Object.values(tables)) for (const ref of Object.keys(rows)) if (bootRefs.has(ref)) delete rows[ref];
  // host_metrics / dom0 metrics come from the bootstrap too.
  delete tables.host_metrics;
  let text = JSON.stringify(tables);
  for (const [name, ref] of Object.entries(named)) text = text.split(ref).join(`<${name}>`);
  return text;
}

describe('createDemoPool', () => {
  test('is deterministic for a seed and differs between seeds', async () => {
    const one = await demoDb(42, 12);
    const two = await demoDb(42, 12);
    const other = await demoDb(43, 12);
    const c1 = canonical(one.db, one.boot as unknown as Record<string, Ref>);
    expect(c1.length).toBeGreaterThan(10_000);
    expect(canonical(two.db, two.boot as unknown as Record<string, Ref>)).toBe(c1);
    expect(canonical(other.db, other.boot as unknown as Record<string, Ref>)).not.toBe(c1);
    const names = (x: typeof one) => x.demo.vms.map((v) => x.db.get('VM', v).name_label);
    expect(names(two)).toEqual(names(one));
  });

  test('the PRNG is reproducible and its uuids and MACs are well-formed', () => {
    const a = new DemoRandom(5);
    const b = new DemoRandom(5);
    const xs = Array.from({ length: 50 }, () => a.uuid());
    expect(Array.from({ length: 50 }, () => b.uuid())).toEqual(xs);
    for (const u of xs) expect(u).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(xs).size).toBe(xs.length);
    const mac = a.mac();
    expect(mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    expect(parseInt(mac.slice(0, 2), 16) & 0x03).toBe(0x02); // locally administered, unicast
  });

  test('storage: the usual SRs with plugged PBDs, the NFS SR as pool default', async () => {
    const { db, boot, demo } = await demoDb(1, 12);
    const sr = (r: Ref) => db.get('SR', r);
    expect(sr(demo.srs.local)).toMatchObject({ name_label: 'Local storage', type: 'lvm', shared: false });
    expect(sr(demo.srs.nfs)).toMatchObject({ name_label: 'NFS virtual disk storage', type: 'nfs', shared: true });
    expect(sr(demo.srs.iscsi)).toMatchObject({ name_label: 'iSCSI virtual disk storage', type: 'lvmoiscsi', shared: true });
    expect(sr(demo.srs.tools)).toMatchObject({ name_label: 'XenServer Tools', content_type: 'iso', is_tools_sr: true });
    expect(sr(demo.srs.dvd)).toMatchObject({ name_label: 'DVD drives', type: 'udev', content_type: 'iso' });
    for (const r of Object.values(demo.srs)) {
      const pbds = sr(r).PBDs.map((p) => db.get('PBD', p));
      expect(pbds).toHaveLength(1);
      expect(pbds[0]).toMatchObject({ host: boot.host, currently_attached: true });
    }
    expect(db.get('pool', boot.pool).default_SR).toBe(demo.srs.nfs);
    expect(sr(demo.srs.nfs).virtual_allocation).toBeGreaterThan(0);
    // Back-references are maintained by the database.
    for (const v of demo.vdis) expect(sr(db.get('VDI', v).SR).VDIs).toContain(v);
  });

  test('networks: eth0 reused from the bootstrap, eth1, a VLAN, the internal management network', async () => {
    const { db, boot, demo } = await demoDb(1, 12);
    expect(demo.networks.eth0).toBe(boot.network);
    expect(db.where('network', (n) => n.bridge === 'xenbr0')).toHaveLength(1);
    expect(db.get('network', demo.networks.eth1).name_label).toBe('Pool-wide network associated with eth1');
    const vlanPif = db.get('network', demo.networks.vlan).PIFs.map((p) => db.get('PIF', p));
    expect(vlanPif[0]).toMatchObject({ VLAN: 100, device: 'eth1', physical: false });
    expect(db.get('network', demo.networks.internal).other_config.is_host_internal_management_network).toBe('true');
  });

  test('templates: ~20 default ones, custom ones with a disk', async () => {
    const { db, demo } = await demoDb(1, 12);
    expect(demo.defaultTemplates.length).toBeGreaterThanOrEqual(20);
    const names = demo.defaultTemplates.map((t) => db.get('VM', t).name_label);
    expect(names).toContain('Debian Bookworm 12');
    expect(names).toContain('Windows Server 2022 (64-bit)');
    for (const t of demo.defaultTemplates) {
      const r = db.get('VM', t);
      expect(r.is_a_template && r.is_default_template && r.other_config.default_template === 'true').toBe(true);
    }
    expect(demo.customTemplates.length).toBeGreaterThanOrEqual(2);
    for (const t of demo.customTemplates) {
      const r = db.get('VM', t);
      expect(r.is_a_template).toBe(true);
      expect(r.is_default_template).toBe(false);
      expect(r.VBDs.map((b) => db.get('VBD', b)).some((b) => b.type === 'Disk')).toBe(true);
    }
  });

  test('VMs: names, mixed power states, 1–3 disks, VIFs with unique MACs, metrics, mac_seed', async () => {
    const { db, boot, demo } = await demoDb(1, 40);
    expect(demo.vms).toHaveLength(40);
    const recs = demo.vms.map((v) => db.get('VM', v));
    expect(new Set(recs.map((r) => r.name_label)).size).toBe(40);
    for (const r of recs) expect(r.name_label).toMatch(/^[a-z]+-\d{2,3}$/);
    const states = new Set(recs.map((r) => r.power_state));
    expect(states.has('Running') && states.has('Halted')).toBe(true);
    const macs: string[] = [];
    for (const r of recs) {
      const disks = r.VBDs.map((b) => db.get('VBD', b)).filter((b) => b.type === 'Disk');
      expect(disks.length).toBeGreaterThanOrEqual(1);
      expect(disks.length).toBeLessThanOrEqual(3);
      for (const d of disks) {
        const vdi = db.get('VDI', d.VDI);
        expect(vdi.location).toBe(vdi.uuid);
        expect(vdi.virtual_size).toBeGreaterThan(0);
        expect(d.currently_attached).toBe(r.power_state === 'Running' || r.power_state === 'Paused');
      }
      expect(r.VIFs.length).toBeGreaterThanOrEqual(1);
      for (const v of r.VIFs) macs.push(db.get('VIF', v).MAC);
      expect(r.other_config.mac_seed).toMatch(/^[0-9a-f-]{36}$/);
      expect(db.exists('VM_metrics', r.metrics)).toBe(true);
      if (r.power_state === 'Running') {
        expect(r.resident_on).toBe(boot.host);
        expect(db.exists('VM_guest_metrics', r.guest_metrics)).toBe(true);
      }
      if (r.power_state === 'Suspended') expect(db.get('VDI', r.suspend_VDI).type).toBe('suspend');
    }
    expect(new Set(macs).size).toBe(macs.length);
    // Disks spread over several SRs.
    const srsUsed = new Set(recs.flatMap((r) => r.VBDs.map((b) => db.get('VBD', b)).filter((b) => b.type === 'Disk').map((b) => db.get('VDI', b.VDI).SR)));
    expect(srsUsed.size).toBeGreaterThanOrEqual(2);
  });

  test('the master has memory for its running VMs and room to start more', async () => {
    const { db, boot, demo } = await demoDb(11, 60);
    const host = boot.host as Ref;
    const metrics = db.get('host_metrics', db.get('host', host).metrics);
    expect(hostMemoryInUse(db, host) + 64 * 1024 ** 3).toBeLessThanOrEqual(metrics.memory_total);
    expect(metrics.memory_free).toBe(metrics.memory_total - hostMemoryInUse(db, host));
    const halted = demo.vms.find((vm) => db.get('VM', vm).power_state === 'Halted') as Ref;
    expect(() => assertCanBootHere(db, halted, host)).not.toThrow();
  });

  test('snapshots and the VM with the tools ISO in its CD drive', async () => {
    const { db, demo } = await demoDb(1, 40);
    expect(demo.snapshots.length).toBeGreaterThan(0);
    for (const s of demo.snapshots) {
      const r = db.get('VM', s);
      expect(r.is_a_snapshot && r.is_a_template).toBe(true);
      expect(db.get('VM', r.snapshot_of).snapshots).toContain(s);
      expect(r.other_config.mac_seed).toBe(db.get('VM', r.snapshot_of).other_config.mac_seed);
      for (const b of r.VBDs.map((x) => db.get('VBD', x)).filter((x) => x.type === 'Disk')) {
        const vdi = db.get('VDI', b.VDI);
        expect(vdi.is_a_snapshot).toBe(true);
        expect(db.get('VDI', vdi.snapshot_of).snapshots).toContain(b.VDI);
      }
    }
    const cd = db.get('VM', demo.vmWithIso).VBDs.map((b) => db.get('VBD', b)).find((b) => b.type === 'CD');
    expect(cd).toMatchObject({ VDI: demo.toolsIso, empty: false, mode: 'RO' });
    expect(db.get('VDI', demo.toolsIso).SR).toBe(demo.srs.tools);
  });

  test('image files: one sparse file per VDI, sized virtual_size', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'xsdr-demo-'));
    dirs.push(dir);
    const { db, demo } = await demoDb(1, 12, dir);
    let allocated = 0;
    for (const v of demo.vdis) {
      const st = await stat(vdiFilePath(db, dir, v));
      expect(st.size).toBe(db.get('VDI', v).virtual_size);
      allocated += st.blocks * 512;
    }
    expect(allocated).toBeLessThan(1024 * 1024);
  });

  test('as the startSimulator populate hook: runs once, on a new state only', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'xsdr-demo-hook-'));
    dirs.push(dir);
    let runs = 0;
    const start = () =>
      startSimulator({
        stateDir: dir,
        populate: async (db, ctx) => {
          runs++;
          await populateDemo(db, { seed: 2, vms: 5, profile: ctx.profile, stateDir: ctx.stateDir });
        },
      });
    const first = await start();
    const vms = first.db.where('VM', (v) => !v.is_a_template && !v.is_control_domain).map((x) => x.rec.uuid).sort();
    expect(vms).toHaveLength(5);
    await first.stop();
    const second = await start();
    try {
      expect(second.created).toBe(false);
      expect(second.db.where('VM', (v) => !v.is_a_template && !v.is_control_domain).map((x) => x.rec.uuid).sort()).toEqual(vms);
      expect(runs).toBe(1);
    } finally {
      await second.stop();
    }
  });

  test('a large pool: generation time (printed, not asserted)', async () => {
    const n = Number(process.env.XSDR_DEMO_VMS ?? 5000);
    const dir = await mkdtemp(join(tmpdir(), 'xsdr-demo-big-'));
    dirs.push(dir);
    const t0 = performance.now();
    const { db, demo } = await demoDb(9, n, dir);
    const ms = performance.now() - t0;
    process.stdout.write(`createDemoPool: ${n} VMs, ${db.count('VDI')} VDIs (sparse files included), ${db.count('VBD')} VBDs, ${db.count('VIF')} VIFs in ${Math.round(ms)} ms\n`);
    expect(demo.vms).toHaveLength(n);
    expect(new Set(demo.vms.map((v) => db.get('VM', v).name_label)).size).toBe(n);
  });
});
