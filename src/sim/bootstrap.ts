/**
 * The objects every new simulated pool starts with: one pool, its master host (with
 * host_metrics and the profile's versions), the master's control domain, and a management
 * network with its PIF. No SRs, VMs or templates: the demo generator (populate) adds those.
 */
import type { Ref, SimDb } from './db.js';
import type { SimProfile } from './profiles.js';
import { nowStamp } from './tasks.js';

/** host.other_config key naming the folder of dom0's device symlinks. */

export interface BootstrapResult {
  pool: Ref;
  host: Ref;
  controlDomain: Ref;
  network: Ref;
  pif: Ref;
}

export interface BootstrapOptions {
  hostname?: string;
  address?: string;
}

function softwareVersion(p: SimProfile, hostname: string): Record<string, string> {
  const v: Record<string, string> = {
    product_version: p.productVersion,
    product_brand: p.productBrand,
    platform_name: p.platformName,
    platform_version: p.platformVersion,
    build_number: p.buildNumber,
    xapi: `${p.xapiMajor}.${p.xapiMinor}`,
    hostname,
    date: p.buildDate,
  };
  // XAPI omits keys with empty values.
  for (const k of Object.keys(v)) if (v[k] === '') delete v[k];
  return v;
}

export function bootstrap(db: SimDb, profile: SimProfile, opts: BootstrapOptions = {}): BootstrapResult {
  const hostname = opts.hostname ?? 'xenserver-sim';
  const address = opts.address ?? '127.0.0.1';
  const GiB = 1024 ** 3;
  const metrics = db.create('host_metrics', { memory_total: 64 * GiB, memory_free: 60 * GiB, live: true, last_updated: nowStamp() });
  const host = db.create('host', {
    name_label: hostname,
    name_description: 'Default install',
    API_version_major: profile.apiMajor,
    API_version_minor: profile.apiMinor,
    API_version_vendor: 'XenSource',
    software_version: softwareVersion(profile, hostname),
    other_config: {},
    hostname,
    address,
    metrics,
    enabled: true,
    edition: 'xenserver-premium',
    cpu_info: { cpu_count: '8', socket_count: '1', vendor: 'GenuineIntel', modelname: 'Simulated CPU' },
  });
  const pool = db.create('pool', { name_label: '', name_description: '', master: host });
  const dom0Metrics = db.create('VM_metrics', { memory_actual: 4 * GiB, VCPUs_number: 8, start_time: nowStamp(), last_updated: nowStamp() });
  const dom0 = db.create('VM', {
    name_label: `Control domain on host: ${hostname}`,
    name_description: 'The domain which manages physical devices and manages other domains',
    power_state: 'Running',
    is_control_domain: true,
    resident_on: host,
    affinity: host,
    domid: 0,
    metrics: dom0Metrics,
    memory_static_max: 4 * GiB,
    memory_dynamic_max: 4 * GiB,
    memory_dynamic_min: 4 * GiB,
    memory_static_min: 4 * GiB,
    memory_target: 4 * GiB,
    VCPUs_max: 8,
    VCPUs_at_startup: 8,
    domain_type: 'pv',
  });
  if (profile.hasHostControlDomain) db.set('host', host, 'control_domain', dom0);
  const network = db.create('network', {
    name_label: 'Pool-wide network associated with eth0',
    bridge: 'xenbr0',
    MTU: 1500,
    other_config: {},
  });
  const pif = db.create('PIF', {
    device: 'eth0',
    network,
    host,
    MAC: '02:00:00:5e:00:01',
    physical: true,
    currently_attached: true,
    ip_configuration_mode: 'Static',
    IP: address,
    netmask: '255.0.0.0',
    management: true,
  });
  return { pool, host, controlDomain: dom0, network, pif };
}
