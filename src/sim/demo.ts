/**
 * The demo pool: a realistic, deterministic set of objects added once to a new simulator
 * state, after the server's bootstrap (pool, master host, dom0, management network).
 *
 * Same seed and options → the same records (uuids, refs, names, MACs, sizes, dates), so
 * tests and screenshots are stable. Content: the usual SRs of a XenServer pool (local
 * LVM, shared NFS and iSCSI, the tools ISO SR, the DVD drive SR) with PBDs, pool-wide
 * networks (eth0, eth1, a VLAN, the host-internal management network), ~20 default
 * templates, a few custom templates with a disk, N VMs (1–3 disks on one or several SRs,
 * VIFs, mixed power states, metrics, guest metrics when running), some snapshots, and a VM
 * with the tools ISO in its CD drive.
 *
 * Generation is linear in N (5000 VMs are a few seconds at most, see the test). VDI image
 * files are created sparse (metadata only), so a "100 GiB" disk costs no space.
 */
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import type { Ref, SimDb } from './db.js';
import { SIM_PROFILES, type SimProfile, type SimProfileName } from './profiles.js';
import { NULL_REF, type RecordOf } from './schema.js';
import { createSparseFile, isSafeLocation, refreshSrUsage } from './storage.js';
import { hostMemoryInUse, refreshHostMemoryFree } from './vm-power.js';

export interface DemoOptions {
  /** PRNG seed (default 1). */
  seed?: number;
  /** Number of ordinary VMs (default 12). */
  vms?: number;
  /** Version profile (default: xs8); only product naming depends on it. */
  profile?: SimProfile | SimProfileName;
  /** Simulator state folder: when given, sparse VDI image files are created under it. */
  stateDir?: string;
  /** Create the VDI image files (default: true when stateDir is given). */
  createFiles?: boolean;
  /** Fraction of VMs that get snapshots (default 0.25). */
  snapshotRatio?: number;
}

/** Refs of what was created, for tests and tools. */
export interface DemoPool {
  srs: { local: Ref; nfs: Ref; iscsi: Ref; tools: Ref; dvd: Ref };
  networks: { eth0: Ref; eth1: Ref; vlan: Ref; internal: Ref };
  defaultTemplates: Ref[];
  customTemplates: Ref[];
  /** Ordinary VMs in creation order (no templates, no snapshots). */
  vms: Ref[];
  snapshots: Ref[];
  /** The tools ISO VDI, and the VM that has it in its CD drive. */
  toolsIso: Ref;
  vmWithIso: Ref;
  /** Every VDI whose image file belongs to the demo (for tools that need the files). */
  vdis: Ref[];
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
/** Dates are derived from a fixed instant, never from the clock (determinism). */
const BASE_TIME = Date.UTC(2025, 5, 2, 8, 30, 0);

// ---------------------------------------------------------------------------------------
// Seeded PRNG (mulberry32): tiny, fast, good enough for test data.

export class DemoRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)] as T;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  private hex(bytes: number): string {
    let s = '';
    for (let i = 0; i < bytes; i++) s += Math.floor(this.next() * 256).toString(16).padStart(2, '0');
    return s;
  }

  /** A version-4-shaped uuid drawn from the PRNG. */
  uuid(): string {
    const h = this.hex(16);
    const v = ((parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${v}${h.slice(18, 20)}-${h.slice(20, 32)}`;
  }

  ref(): Ref {
    return `OpaqueRef:${this.uuid()}`;
  }

  /** A locally administered unicast MAC. */
  mac(): string {
    const b = [((this.int(0, 255) & 0xfc) | 0x02), this.int(0, 255), this.int(0, 255), this.int(0, 255), this.int(0, 255), this.int(0, 255)];
    return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
  }

  genId(): string {
    return `${this.int(1, 2 ** 31 - 1)}:${this.int(1, 2 ** 31 - 1)}`;
  }
}

function stamp(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}T${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}Z`;
}

// ---------------------------------------------------------------------------------------
// Catalogue

interface OsSpec {
  template: string;
  reference: string;
  distro: string;
  osName: string;
  major: string;
  minor: string;
  windows: boolean;
}

const OSES: readonly OsSpec[] = [
  { template: 'Debian Bookworm 12', reference: 'debian-12', distro: 'debian', osName: 'Debian GNU/Linux 12 (bookworm)', major: '12', minor: '7', windows: false },
  { template: 'Debian Bullseye 11', reference: 'debian-11', distro: 'debian', osName: 'Debian GNU/Linux 11 (bullseye)', major: '11', minor: '11', windows: false },
  { template: 'Ubuntu Jammy Jellyfish 22.04', reference: 'ubuntu-22.04', distro: 'ubuntu', osName: 'Ubuntu 22.04.4 LTS', major: '22', minor: '04', windows: false },
  { template: 'Ubuntu Noble Numbat 24.04', reference: 'ubuntu-24.04', distro: 'ubuntu', osName: 'Ubuntu 24.04.1 LTS', major: '24', minor: '04', windows: false },
  { template: 'Rocky Linux 9', reference: 'rocky-9', distro: 'rocky', osName: 'Rocky Linux 9.4 (Blue Onyx)', major: '9', minor: '4', windows: false },
  { template: 'Red Hat Enterprise Linux 9', reference: 'rhel-9', distro: 'rhel', osName: 'Red Hat Enterprise Linux 9.4 (Plow)', major: '9', minor: '4', windows: false },
  { template: 'Windows Server 2022 (64-bit)', reference: 'windows-server-2022-64', distro: 'windows', osName: 'Microsoft Windows Server 2022 Standard|C:\\Windows|\\Device\\Harddisk0\\Partition2', major: '10', minor: '0', windows: true },
  { template: 'Windows Server 2019 (64-bit)', reference: 'windows-server-2019-64', distro: 'windows', osName: 'Microsoft Windows Server 2019 Standard|C:\\Windows|\\Device\\Harddisk0\\Partition2', major: '10', minor: '0', windows: true },
];

const DEFAULT_TEMPLATE_NAMES: readonly string[] = [
  'AlmaLinux 8', 'AlmaLinux 9', 'CentOS Stream 9', 'Debian Bullseye 11', 'Debian Bookworm 12',
  'Oracle Linux 8', 'Oracle Linux 9', 'Red Hat Enterprise Linux 8', 'Red Hat Enterprise Linux 9',
  'Rocky Linux 8', 'Rocky Linux 9', 'SUSE Linux Enterprise Server 15 (64-bit)',
  'Ubuntu Focal Fossa 20.04', 'Ubuntu Jammy Jellyfish 22.04', 'Ubuntu Noble Numbat 24.04',
  'Windows 10 (64-bit)', 'Windows 11', 'Windows Server 2016 (64-bit)', 'Windows Server 2019 (64-bit)',
  'Windows Server 2022 (64-bit)', 'Other install media',
];

interface Role {
  name: string;
  description: string;
  os: readonly number[];
  memGiB: readonly number[];
  vcpus: readonly number[];
  disksGiB: readonly number[];
}

const ROLES: readonly Role[] = [
  { name: 'web', description: 'Front-end web server', os: [0, 2, 3], memGiB: [2, 4], vcpus: [2, 4], disksGiB: [20] },
  { name: 'db', description: 'PostgreSQL database server', os: [0, 4, 5], memGiB: [8, 16, 32], vcpus: [4, 8], disksGiB: [40, 200, 500] },
  { name: 'app', description: 'Application server', os: [0, 2, 4], memGiB: [4, 8], vcpus: [2, 4], disksGiB: [40, 80] },
  { name: 'dc', description: 'Active Directory domain controller', os: [6, 7], memGiB: [4, 8], vcpus: [2], disksGiB: [60] },
  { name: 'mail', description: 'Mail relay', os: [0, 1], memGiB: [2, 4], vcpus: [2], disksGiB: [20, 100] },
  { name: 'proxy', description: 'Reverse proxy / load balancer', os: [0, 3], memGiB: [1, 2], vcpus: [1, 2], disksGiB: [10] },
  { name: 'cache', description: 'Redis cache', os: [2, 3], memGiB: [4, 8], vcpus: [2], disksGiB: [20] },
  { name: 'build', description: 'CI build agent', os: [2, 3, 4], memGiB: [8, 16], vcpus: [4, 8], disksGiB: [80, 200] },
  { name: 'mon', description: 'Monitoring (Prometheus + Grafana)', os: [0, 3], memGiB: [4], vcpus: [2], disksGiB: [40, 100] },
  { name: 'file', description: 'Windows file server', os: [6, 7], memGiB: [8], vcpus: [4], disksGiB: [60, 500, 1000] },
  { name: 'sql', description: 'Microsoft SQL Server', os: [6], memGiB: [16, 32], vcpus: [4, 8], disksGiB: [80, 200, 400] },
  { name: 'vpn', description: 'WireGuard gateway', os: [0, 1], memGiB: [1], vcpus: [1], disksGiB: [10] },
];

// ---------------------------------------------------------------------------------------

class DemoBuilder {
  readonly rnd: DemoRandom;
  readonly files: Array<{ sr: Ref; location: string; size: number }> = [];
  readonly vdis: Ref[] = [];
  readonly host: Ref;

  constructor(readonly db: SimDb, seed: number) {
    this.rnd = new DemoRandom(seed);
    const pool = db.refs('pool')[0];
    if (pool === undefined) throw new Error('populateDemo: the state has no pool (run the bootstrap first)');
    this.host = db.get('pool', pool).master;
    if (!db.exists('host', this.host)) throw new Error('populateDemo: the pool has no master host');
  }

  create<C extends Parameters<SimDb['create']>[0]>(cls: C, fields: Partial<RecordOf<C>>): Ref {
    const uuid = (fields as { uuid?: string }).uuid ?? this.rnd.uuid();
    return this.db.create(cls, { ...fields, uuid } as Partial<RecordOf<C>>, { ref: this.rnd.ref() });
  }

  sr(fields: Partial<RecordOf<'SR'>>, deviceConfig: Record<string, string>): Ref {
    const sr = this.create('SR', { allowed_operations: ['scan', 'vdi_create', 'vdi_destroy', 'vdi_snapshot', 'vdi_clone', 'vdi_resize', 'plug', 'unplug', 'forget', 'update'], ...fields });
    this.create('PBD', { host: this.host, SR: sr, device_config: deviceConfig, currently_attached: true });
    return sr;
  }

  vdi(sr: Ref, fields: Partial<RecordOf<'VDI'>>): Ref {
    const uuid = this.rnd.uuid();
    const location = fields.location ?? uuid;
    const ref = this.create('VDI', {
      uuid,
      SR: sr,
      location,
      type: 'user',
      sm_config: { vdi_type: 'vhd' },
      allowed_operations: ['clone', 'copy', 'resize', 'snapshot', 'destroy', 'forget', 'update', 'generate_config'],
      ...fields,
    });
    this.vdis.push(ref);
    if (isSafeLocation(location)) this.files.push({ sr, location, size: fields.virtual_size ?? 0 });
    return ref;
  }

  network(fields: Partial<RecordOf<'network'>>): Ref {
    return this.create('network', { MTU: 1500, allowed_operations: ['attaching'], ...fields });
  }

  /** An existing network on this bridge (the bootstrap made the management one), or a new one. */
  networkOnBridge(bridge: string, fields: Partial<RecordOf<'network'>>): Ref {
    return this.db.findRef('network', (n) => n.bridge === bridge) ?? this.network({ bridge, ...fields });
  }
}

function templateOtherConfig(name: string): Record<string, string> {
  const linux = !name.startsWith('Windows');
  return {
    default_template: 'true',
    'install-methods': linux ? 'cdrom,nfs,http,ftp' : 'cdrom',
    ...(linux && { linux_template: 'true' }),
    disks: `<provision><disk device="0" size="${linux ? 10 * GiB : 32 * GiB}" sr="" bootable="true" type="system"/></provision>`,
  };
}

function platformFor(windows: boolean): Record<string, string> {
  return {
    acpi: '1', apic: 'true', pae: 'true', nx: 'true', hpet: 'true', timeoffset: '0',
    'device-model': 'qemu-upstream-compat', secureboot: 'false',
    ...(windows && { viridian: 'true', viridian_time_ref_count: 'true', viridian_reference_tsc: 'true' }),
  };
}

function memoryFields(bytes: number): Partial<RecordOf<'VM'>> {
  return {
    memory_static_max: bytes,
    memory_dynamic_max: bytes,
    memory_dynamic_min: bytes,
    memory_static_min: Math.min(bytes, 512 * MiB),
    memory_target: bytes,
  };
}

/**
 * The simulator's `populate` hook: adds the demo pool to a new state.
 *   startSimulator({ stateDir, routes, populate: (db, ctx) => populateDemo(db, { vms, seed, profile: ctx.profile, stateDir: ctx.stateDir }) })
 */
export async function populateDemo(db: SimDb, opts: DemoOptions = {}): Promise<void> {
  await createDemoPool(db, opts);
}

/**
 * Adds the demo pool to `db` (once, on a new state) and returns the refs of what it
 * created. When `stateDir` is given, each VDI gets a sparse image file under
 * `<stateDir>/srs/<sr-uuid>/<location>.img` (the simulator's default SR folders).
 */
export async function createDemoPool(db: SimDb, opts: DemoOptions = {}): Promise<DemoPool> {
  const b = new DemoBuilder(db, opts.seed ?? 1);
  const { rnd, host } = b;
  const vmCount = Math.max(0, Math.floor(opts.vms ?? 12));
  const profile = typeof opts.profile === 'string' ? SIM_PROFILES[opts.profile] : (opts.profile ?? SIM_PROFILES.xs8);
  const brand = profile.productBrand || 'XenServer';

  // --- storage
  const local = b.sr(
    { name_label: 'Local storage', name_description: '', type: 'lvm', content_type: 'user', shared: false, physical_size: 900 * GiB,
      sm_config: { allocation: 'thick', devserial: 'scsi-3600508b1001c5d2e7a1b2c3d4e5f6a7b', multipathable: 'false' },
      other_config: { 'i18n-key': 'local-storage', 'i18n-original-value-name_label': 'Local storage' } },
    { device: '/dev/disk/by-id/scsi-3600508b1001c5d2e7a1b2c3d4e5f6a7b-part3' },
  );
  const nfs = b.sr(
    { name_label: 'NFS virtual disk storage', name_description: 'NFS SR [192.0.2.50:/exports/xen]', type: 'nfs', content_type: '', shared: true,
      physical_size: 8 * 1024 * GiB, other_config: { 'auto-scan': 'false' } },
    { server: '192.0.2.50', serverpath: '/exports/xen', nfsversion: '4.1' },
  );
  const iscsi = b.sr(
    { name_label: 'iSCSI virtual disk storage', name_description: 'iSCSI SR [192.0.2.60 (iqn.2010-01.com.example:storage.lun1; LUN 1: 36001405a1b2c3d4e5f6a7b8c9d0e1f2a: 4 TB (EXAMPLE))]',
      type: 'lvmoiscsi', content_type: '', shared: true, physical_size: 4 * 1024 * GiB,
      sm_config: { allocation: 'thick', use_vhd: 'true', multipathable: 'true', devserial: 'scsi-36001405a1b2c3d4e5f6a7b8c9d0e1f2a' } },
    { target: '192.0.2.60', targetIQN: 'iqn.2010-01.com.example:storage.lun1', SCSIid: '36001405a1b2c3d4e5f6a7b8c9d0e1f2a', port: '3260' },
  );
  const tools = b.sr(
    { name_label: `${brand} Tools`, name_description: `${brand} Tools ISOs`, type: 'iso', content_type: 'iso', shared: true, is_tools_sr: true,
      other_config: { 'xensource_internal': 'true', 'i18n-key': 'xenserver-tools', 'i18n-original-value-name_label': `${brand} Tools` } },
    { location: '/opt/xensource/packages/iso', legacy_mode: 'true' },
  );
  const dvd = b.sr(
    { name_label: 'DVD drives', name_description: 'Physical DVD drives', type: 'udev', content_type: 'iso', shared: false,
      sm_config: { type: 'cd' }, other_config: { 'i18n-key': 'local-hotplug-cd', 'i18n-original-value-name_label': 'DVD drives' } },
    { location: '/dev/xapi/cd' },
  );
  const toolsIso = b.vdi(tools, { name_label: 'guest-tools.iso', name_description: `${brand} VM Tools`, location: 'guest-tools.iso',
    virtual_size: 64 * MiB, physical_utilisation: 64 * MiB, read_only: true, sharable: true, is_tools_iso: true, sm_config: {} });
  b.vdi(dvd, { name_label: 'SCSI 1:0:0:0', name_description: 'HL-DT-ST DVDRAM GUD0N', location: 'sr0', virtual_size: 0, read_only: true,
    type: 'user', sm_config: { hotplugged_at: '2025-06-02T08:30:00.000000Z' } });
  for (const [pool] of db.allRecords('pool')) db.update('pool', pool, { default_SR: nfs, suspend_image_SR: nfs, crash_dump_SR: nfs });
  db.update('host', host, { suspend_image_sr: local, crash_dump_sr: local });

  // --- networks
  const eth0 = b.networkOnBridge('xenbr0', { name_label: 'Pool-wide network associated with eth0', other_config: { automatic: 'true' } });
  const eth1 = b.networkOnBridge('xenbr1', { name_label: 'Pool-wide network associated with eth1', other_config: { automatic: 'true' } });
  const vlan = b.network({ name_label: 'Storage VLAN 100', name_description: 'iSCSI / NFS traffic', bridge: 'xapi1', other_config: {} });
  const internal = b.networkOnBridge('xenapi', {
    name_label: 'Host internal management network',
    name_description: 'Network on which guests will be assigned a private link-local IP address which can be used to talk XenAPI',
    other_config: { is_guest_installer_network: 'true', is_host_internal_management_network: 'true', ip_begin: '169.254.0.1', ip_end: '169.254.255.254', netmask: '255.255.0.0' },
  });
  if (db.findRef('PIF', (p) => p.network === eth1) === undefined) {
    b.create('PIF', { device: 'eth1', network: eth1, host, MAC: rnd.mac(), physical: true, currently_attached: true, ip_configuration_mode: 'None', MTU: 1500 });
  }
  const eth1Pif = db.findRef('PIF', (p) => p.network === eth1) as Ref;
  b.create('PIF', { device: 'eth1', network: vlan, host, MAC: db.getField('PIF', eth1Pif, 'MAC'), VLAN: 100, physical: false, currently_attached: true, ip_configuration_mode: 'None' });
  const guestNets = [eth0, eth0, eth0, eth1, vlan];

  // --- templates
  const defaultTemplates: Ref[] = [];
  for (const name of DEFAULT_TEMPLATE_NAMES) {
    const windows = name.startsWith('Windows');
    defaultTemplates.push(b.create('VM', {
      name_label: name,
      name_description: `Template that allows VM installation from install media (${name})`,
      is_a_template: true, is_default_template: true, power_state: 'Halted',
      ...memoryFields(windows ? 4 * GiB : 2 * GiB), VCPUs_max: 2, VCPUs_at_startup: 2,
      HVM_boot_policy: 'BIOS order', HVM_boot_params: { order: 'cdn' }, platform: platformFor(windows),
      other_config: templateOtherConfig(name), domain_type: 'hvm', user_version: 1,
      reference_label: name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/-$/, ''),
      recommendations: '<restrictions><restriction field="memory-static-max" max="1649267441664"/><restriction field="vcpus-max" max="64"/></restrictions>',
      allowed_operations: ['clone', 'copy', 'export', 'provision', 'destroy'],
    }));
  }

  /** One VM (or template / snapshot) with metrics, disks, CD drive and VIFs. */
  const makeVm = (
    name: string,
    description: string,
    os: OsSpec,
    fields: Partial<RecordOf<'VM'>>,
    disks: Array<{ sr: Ref; size: number }>,
    nets: Ref[],
    cd: 'none' | 'empty' | Ref,
  ): Ref => {
    const power = fields.power_state ?? 'Halted';
    const live = power === 'Running' || power === 'Paused';
    const started = BASE_TIME - rnd.int(1, 90 * 24) * 3600_000;
    const memory = fields.memory_static_max ?? 2 * GiB;
    const vcpus = fields.VCPUs_max ?? 1;
    const metrics = b.create('VM_metrics', {
      memory_actual: live ? memory : 0, VCPUs_number: live ? vcpus : 0,
      VCPUs_utilisation: live ? { '0': Math.round(rnd.next() * 1000) / 10000 } : {},
      start_time: live ? stamp(started) : stamp(0), install_time: stamp(started - 400 * 24 * 3600_000),
      last_updated: stamp(BASE_TIME), current_domain_type: live ? 'hvm' : 'unspecified',
    });
    let guestMetrics = NULL_REF;
    if (live && !fields.is_a_template) {
      const nw: Record<string, string> = {};
      nets.forEach((_n, i) => {
        nw[`${i}/ip`] = `10.${i}.${rnd.int(0, 255)}.${rnd.int(2, 254)}`;
        nw[`${i}/ipv4/0`] = nw[`${i}/ip`] as string;
      });
      guestMetrics = b.create('VM_guest_metrics', {
        os_version: { name: os.osName, distro: os.distro, major: os.major, minor: os.minor, ...(os.windows ? {} : { uname: '6.1.0-25-amd64' }) },
        PV_drivers_version: { major: '9', minor: '4', micro: '0', build: '146' },
        PV_drivers_up_to_date: true, PV_drivers_detected: true, networks: nw, live: true,
        memory: {}, disks: {}, other: { 'feature-shutdown': '1', 'feature-suspend': '1', 'has-vendor-device': '0' },
        last_updated: stamp(BASE_TIME), can_use_hotplug_vbd: 'yes', can_use_hotplug_vif: 'yes',
      });
    }
    const vm = b.create('VM', {
      name_label: name,
      name_description: description,
      power_state: power,
      ...memoryFields(memory),
      VCPUs_max: vcpus,
      VCPUs_at_startup: vcpus,
      VCPUs_params: {},
      HVM_boot_policy: 'BIOS order',
      HVM_boot_params: { order: 'cd' },
      platform: platformFor(os.windows),
      domain_type: 'hvm',
      user_version: 1,
      generation_id: fields.is_a_template ? '' : rnd.genId(),
      hardware_platform_version: 2,
      bios_strings: { 'bios-vendor': 'Xen', 'bios-version': '', 'system-manufacturer': 'Xen', 'system-product-name': 'HVM domU', 'system-version': '', 'system-serial-number': '', 'baseboard-manufacturer': '', 'hp-rombios': '', 'oem-1': 'Xen', 'oem-2': 'MS_VM_CERT/SHA1/bdbeb6e0a816d43fa6d3fe8aaef04c2bad9d3e3d' },
      resident_on: live ? host : NULL_REF,
      domid: live ? rnd.int(1, 4000) : -1,
      metrics,
      guest_metrics: guestMetrics,
      allowed_operations: power === 'Halted' ? ['start', 'clone', 'copy', 'export', 'snapshot', 'destroy', 'metadata_export'] : ['clean_shutdown', 'hard_shutdown', 'snapshot', 'metadata_export'],
      ...fields,
    });
    disks.forEach((d, i) => {
      const vdi = b.vdi(d.sr, {
        name_label: `${name} disk ${i}`,
        name_description: i === 0 ? 'Created by template provisioner' : '',
        virtual_size: d.size,
        physical_utilisation: Math.round(d.size * (0.15 + rnd.next() * 0.6)),
      });
      b.create('VBD', {
        VM: vm, VDI: vdi, userdevice: String(i), device: `xvd${String.fromCharCode(97 + i)}`, bootable: i === 0,
        mode: 'RW', type: 'Disk', unpluggable: i !== 0, currently_attached: live, other_config: { owner: 'true' },
        allowed_operations: live ? ['attach', 'unplug', 'unplug_force'] : ['attach'],
      });
    });
    if (cd !== 'none') {
      const inserted = cd !== 'empty';
      b.create('VBD', {
        VM: vm, VDI: inserted ? cd : NULL_REF, userdevice: '3', device: 'xvdd', bootable: false, mode: 'RO', type: 'CD',
        empty: !inserted, currently_attached: live, unpluggable: true, allowed_operations: inserted ? ['attach', 'eject'] : ['attach', 'insert'],
      });
    }
    nets.forEach((net, i) => {
      b.create('VIF', {
        VM: vm, network: net, device: String(i), MAC: rnd.mac(), MTU: 1500, currently_attached: live,
        MAC_autogenerated: true, locking_mode: 'network_default', allowed_operations: live ? ['attach', 'unplug'] : ['attach'],
      });
    });
    return vm;
  };

  // --- custom templates (with a disk)
  const customTemplates: Ref[] = [
    makeVm('Debian 12 web base', 'Hardened Debian 12 image with nginx, for web-* VMs', OSES[0] as OsSpec,
      { is_a_template: true, memory_static_max: 2 * GiB, VCPUs_max: 2, other_config: { mac_seed: rnd.uuid(), base_template_name: 'Debian Bookworm 12' } },
      [{ sr: nfs, size: 20 * GiB }], [eth0], 'empty'),
    makeVm('Windows Server 2022 golden image', 'Sysprepped, patched monthly', OSES[6] as OsSpec,
      { is_a_template: true, memory_static_max: 4 * GiB, VCPUs_max: 2, other_config: { mac_seed: rnd.uuid(), base_template_name: 'Windows Server 2022 (64-bit)' } },
      [{ sr: nfs, size: 60 * GiB }], [eth0], 'empty'),
    makeVm('CI runner image', 'Ubuntu 24.04 with docker and the build toolchain', OSES[3] as OsSpec,
      { is_a_template: true, memory_static_max: 8 * GiB, VCPUs_max: 4, other_config: { mac_seed: rnd.uuid(), base_template_name: 'Ubuntu Noble Numbat 24.04' } },
      [{ sr: iscsi, size: 80 * GiB }], [eth0], 'none'),
  ];

  // --- ordinary VMs
  const vms: Ref[] = [];
  const snapshots: Ref[] = [];
  const counters = new Map<string, number>();
  const snapshotRatio = opts.snapshotRatio ?? 0.25;
  const diskSrs = [nfs, nfs, nfs, iscsi, local];
  const isoVmIndex = Math.min(1, vmCount - 1);
  let vmWithIso = NULL_REF;
  for (let i = 0; i < vmCount; i++) {
    const role = ROLES[i % ROLES.length] as Role;
    const n = (counters.get(role.name) ?? 0) + 1;
    counters.set(role.name, n);
    const name = `${role.name}-${String(n).padStart(n > 99 ? 3 : 2, '0')}`;
    const os = OSES[rnd.pick(role.os)] as OsSpec;
    const r = rnd.next();
    const power: RecordOf<'VM'>['power_state'] = r < 0.6 ? 'Running' : r < 0.9 ? 'Halted' : r < 0.95 ? 'Suspended' : 'Paused';
    const diskCount = Math.min(3, rnd.int(1, 3), role.disksGiB.length + rnd.int(0, 1));
    const disks: Array<{ sr: Ref; size: number }> = [];
    const mainSr = rnd.pick(diskSrs);
    for (let d = 0; d < diskCount; d++) {
      disks.push({ sr: d === 0 || rnd.chance(0.6) ? mainSr : rnd.pick(diskSrs), size: (role.disksGiB[d] ?? rnd.pick(role.disksGiB)) * GiB });
    }
    const nets = rnd.chance(0.3) ? [rnd.pick(guestNets), rnd.pick([eth1, vlan])] : [rnd.pick(guestNets)];
    const cd: 'none' | 'empty' | Ref = i === isoVmIndex ? toolsIso : rnd.chance(0.7) ? 'empty' : 'none';
    const macSeed = rnd.uuid();
    const fields: Partial<RecordOf<'VM'>> = {
      power_state: power,
      memory_static_max: rnd.pick(role.memGiB) * GiB,
      VCPUs_max: rnd.pick(role.vcpus),
      other_config: { mac_seed: macSeed, base_template_name: os.template, 'install-methods': os.windows ? 'cdrom' : 'cdrom,nfs,http,ftp' },
      tags: rnd.chance(0.3) ? [rnd.pick(['production', 'staging', 'backup-daily', 'pci'])] : [],
      ...(rnd.chance(0.2) && { affinity: host }),
    };
    const vm = makeVm(name, role.description, os, fields, disks, nets, cd);
    if (power === 'Suspended') {
      const suspendVdi = b.vdi(mainSr, {
        name_label: `Suspend image for ${name}`, type: 'suspend', virtual_size: (fields.memory_static_max ?? GiB) + 16 * MiB,
        physical_utilisation: (fields.memory_static_max ?? GiB) + 16 * MiB,
      });
      db.update('VM', vm, { suspend_VDI: suspendVdi, last_booted_record: '' });
    }
    if (i === isoVmIndex) vmWithIso = vm;
    vms.push(vm);

    if (rnd.chance(snapshotRatio)) {
      const count = rnd.int(1, 2);
      let parent = NULL_REF;
      for (let s = 0; s < count; s++) {
        const when = BASE_TIME - (count - s) * rnd.int(1, 20) * 24 * 3600_000;
        const label = rnd.pick(['before-upgrade', 'pre-patch', 'nightly', 'before-migration', 'known-good']);
        const vmRec = db.get('VM', vm);
        const snap = b.create('VM', {
          ...memoryFields(vmRec.memory_static_max), VCPUs_max: vmRec.VCPUs_max, VCPUs_at_startup: vmRec.VCPUs_at_startup,
          name_label: `${name} ${label}`, name_description: vmRec.name_description, power_state: 'Halted',
          is_a_template: true, is_a_snapshot: true, snapshot_of: vm, snapshot_time: stamp(when), parent,
          HVM_boot_policy: vmRec.HVM_boot_policy, HVM_boot_params: vmRec.HVM_boot_params, platform: vmRec.platform,
          other_config: vmRec.other_config, domain_type: 'hvm', user_version: 1, generation_id: vmRec.generation_id,
          snapshot_info: { 'power-state-at-snapshot': vmRec.power_state, 'disk-snapshot-type': 'crash_consistent' },
          bios_strings: vmRec.bios_strings, hardware_platform_version: 2,
          metrics: b.create('VM_metrics', { last_updated: stamp(when), install_time: stamp(when) }),
          allowed_operations: ['revert', 'clone', 'copy', 'export', 'destroy'],
        });
        for (const vbd of vmRec.VBDs) {
          const vb = db.get('VBD', vbd);
          let vdi = vb.VDI;
          if (vb.type === 'Disk' && !vb.empty) {
            const orig = db.get('VDI', vb.VDI);
            vdi = b.vdi(orig.SR, {
              name_label: orig.name_label, name_description: orig.name_description, virtual_size: orig.virtual_size,
              physical_utilisation: Math.round(orig.physical_utilisation * 0.1), is_a_snapshot: true, snapshot_of: vb.VDI,
              snapshot_time: stamp(when), sm_config: { vdi_type: 'vhd' },
            });
          }
          b.create('VBD', { VM: snap, VDI: vdi, userdevice: vb.userdevice, device: '', bootable: vb.bootable, mode: vb.mode, type: vb.type, empty: vb.empty, unpluggable: vb.unpluggable, other_config: vb.other_config });
        }
        for (const vif of vmRec.VIFs) {
          const vf = db.get('VIF', vif);
          b.create('VIF', { VM: snap, network: vf.network, device: vf.device, MAC: vf.MAC, MTU: vf.MTU, MAC_autogenerated: vf.MAC_autogenerated, locking_mode: vf.locking_mode });
        }
        parent = snap;
        snapshots.push(snap);
      }
      db.set('VM', vm, 'parent', parent);
    }
  }

  for (const sr of [local, nfs, iscsi, tools, dvd]) refreshSrUsage(db, sr);
  // A big pool gets storage to match: without it, 100+ VMs overcommit the fixed sizes above
  // and even the 1 GiB backup VDI is refused with SR_FULL. Small demos keep their sizes.
  for (const sr of [local, nfs, iscsi]) {
    const { physical_size: size, virtual_allocation: used } = db.get('SR', sr);
    if (used + 64 * GiB > size) db.update('SR', sr, { physical_size: Math.ceil((used * 1.25) / (1024 * GiB)) * 1024 * GiB });
  }
  // Memory likewise: the running VMs alone can fill the master's 64 GiB, and then no halted VM
  // could start (placement counts every resident VM's dynamic_min, src/sim/vm-power.ts).
  const hostMetrics = db.getField('host', host, 'metrics');
  const resident = hostMemoryInUse(db, host);
  if (resident + 64 * GiB > db.getField('host_metrics', hostMetrics, 'memory_total')) {
    db.set('host_metrics', hostMetrics, 'memory_total', Math.ceil((resident + 64 * GiB) / (64 * GiB)) * 64 * GiB);
  }
  refreshHostMemoryFree(db, host);

  const createFiles = opts.createFiles ?? opts.stateDir !== undefined;
  if (createFiles) {
    if (opts.stateDir === undefined) throw new Error('populateDemo: createFiles needs stateDir');
    await createImageFiles(db, opts.stateDir, b.files);
  }

  return {
    srs: { local, nfs, iscsi, tools, dvd },
    networks: { eth0, eth1, vlan, internal },
    defaultTemplates,
    customTemplates,
    vms,
    snapshots,
    toolsIso,
    vmWithIso,
    vdis: b.vdis,
  };
}

/** Sparse image files in the default SR folders (`<stateDir>/srs/<sr-uuid>/`); existing ones are kept. */
async function createImageFiles(db: SimDb, stateDir: string, files: ReadonlyArray<{ sr: Ref; location: string; size: number }>): Promise<void> {
  const dirs = new Map<Ref, string>();
  for (const f of files) {
    if (!dirs.has(f.sr)) {
      const dir = join(stateDir, 'srs', db.getField('SR', f.sr, 'uuid'));
      await mkdir(dir, { recursive: true });
      dirs.set(f.sr, dir);
    }
  }
  // A bounded number of files in flight: thousands of VDIs must not exhaust descriptors.
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const f = files[next++] as { sr: Ref; location: string; size: number };
      await createSparseFile(join(dirs.get(f.sr) as string, `${f.location}.img`), f.size).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}
