/**
 * What the console's status pane shows about the pool it is connected to.
 * Plain data, read through the session; no Ink here.
 */
import type { Session } from '../xenapi/index.js';
import { ExpectedFailure } from '../failure/index.js';

export interface SrSummary {
  ref: string;
  uuid: string;
  nameLabel: string;
  type: string;
  contentType: string;
  shared: boolean;
  physicalSize: number;
  physicalUtilisation: number;
  isDefault: boolean;
  allowedOperations: string[];
}

export interface PoolOverview {
  poolUuid: string;
  poolName: string;
  masterHostname: string;
  masterAddress: string;
  productBrand: string;
  productVersion: string;
  apiVersion: string;
  srs: SrSummary[];
  vms: { total: number; running: number };
  customTemplates: number;
}

type Rec = Record<string, unknown>;

const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
const num = (v: unknown): number => {
  const n = typeof v === 'number' ? v : Number(str(v));
  return Number.isFinite(n) ? n : 0;
};

export async function readPoolOverview(session: Session): Promise<PoolOverview> {
  const [pools, srs, vms] = await Promise.all([
    session.call<Record<string, Rec>>('pool.get_all_records'),
    session.call<Record<string, Rec>>('SR.get_all_records'),
    session.call<Record<string, Rec>>(
      'VM.get_all_records_where',
      'field "is_control_domain" = "false" and field "is_a_snapshot" = "false"',
    ),
  ]);
  const [poolRef, pool] = Object.entries(pools)[0] ?? [];
  if (!poolRef || !pool) throw new ExpectedFailure('NO_POOL_OBJECT', 'The pool has no pool object (pool.get_all_records is empty).', 'Check that the address is a XenServer / XCP-ng pool coordinator (XAPI may still be starting), then run again.');
  const master = await session.call<Rec>('host.get_record', str(pool['master']));
  const software = (master['software_version'] ?? {}) as Rec;
  const defaultSr = str(pool['default_SR']);

  let total = 0;
  let running = 0;
  let customTemplates = 0;
  for (const vm of Object.values(vms)) {
    if (vm['is_a_template'] === true) {
      const oc = (vm['other_config'] ?? {}) as Rec;
      if (vm['is_default_template'] !== true && oc['default_template'] !== 'true') customTemplates++;
      continue;
    }
    total++;
    if (vm['power_state'] === 'Running') running++;
  }

  return {
    poolUuid: str(pool['uuid']),
    poolName: str(pool['name_label']),
    masterHostname: str(master['hostname']),
    masterAddress: str(master['address']),
    productBrand: str(software['product_brand']),
    productVersion: str(software['product_version']),
    apiVersion: `${str(master['API_version_major'])}.${str(master['API_version_minor'])}`,
    srs: Object.entries(srs)
      .map(([ref, sr]) => ({
        ref,
        uuid: str(sr['uuid']),
        nameLabel: str(sr['name_label']),
        type: str(sr['type']),
        contentType: str(sr['content_type']),
        shared: sr['shared'] === true,
        physicalSize: num(sr['physical_size']),
        physicalUtilisation: num(sr['physical_utilisation']),
        isDefault: ref === defaultSr,
        allowedOperations: Array.isArray(sr['allowed_operations']) ? sr['allowed_operations'].map(str) : [],
      }))
      .sort((a, b) => a.nameLabel.localeCompare(b.nameLabel)),
    vms: { total, running },
    customTemplates,
  };
}

/** "1.5 GiB" style sizes, as operators read them. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
