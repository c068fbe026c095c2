/**
 * Version profiles: which XenServer / Citrix Hypervisor release the simulator pretends to
 * be. A profile fixes the API version the host reports, the XAPI package version (written
 * into ova.xml by metadata exports), the product strings of host.software_version, and the
 * behaviour differences the console must cope with (releases: xen-api
 * ocaml/idl/datamodel_types.ml).
 */
import type { Release } from './releases.js';

export type SimProfileName = 'xs8' | 'ch82' | 'xs71' | 'xs41';

export interface SimProfile {
  readonly name: SimProfileName;
  /** Human description for logs and the CLI. */
  readonly description: string;
  /** host.API_version_major / _minor. */
  readonly apiMajor: number;
  readonly apiMinor: number;
  /** XAPI package version (software_version "xapi", ova.xml xapi_major / xapi_minor). */
  readonly xapiMajor: number;
  readonly xapiMinor: number;
  /** software_version product_brand / product_version / platform_version / build_number. */
  readonly productBrand: string;
  readonly productVersion: string;
  readonly platformName: string;
  readonly platformVersion: string;
  readonly buildNumber: string;
  /** XAPI build date (software_version "date", ova.xml version.date). */
  readonly buildDate: string;
  /**
   * VDI.create gives "Pool Metadata Backup" user VDIs the UUIDv5 of the SR uuid (xen-api
   * ocaml/xapi/xapi_vdi.ml).
   */
  readonly deterministicBackupVdiUuid: boolean;
  /**
   * Most parameters session.login_with_password takes: 4 with `originator` (API ≥ 2.0),
   * 3 with `version` only (XenServer 4.1), 2 before. Fewer are defaulted, more refused.
   */
  readonly loginMaxParams: 2 | 3 | 4;
  /** host.control_domain exists (API ≥ 2.6, XenServer 7.1). */
  readonly hasHostControlDomain: boolean;
  /**
   * The datamodel release the profile is (releases.ts): it decides which fields records
   * carry (a field is served from the release it came in).
   */
  readonly release: Release;
}

export const SIM_PROFILES: Readonly<Record<SimProfileName, SimProfile>> = {
  xs8: {
    name: 'xs8',
    description: 'XenServer 8 (API 2.21, xapi 25.27)',
    apiMajor: 2,
    apiMinor: 21,
    xapiMajor: 25,
    xapiMinor: 27,
    productBrand: 'XenServer',
    productVersion: '8.4.0',
    platformName: 'XCP',
    platformVersion: '3.4.0',
    buildNumber: 'sim',
    buildDate: '2025-08-20',
    deterministicBackupVdiUuid: true,
    loginMaxParams: 4,
    hasHostControlDomain: true,
    // Every release in the datamodel file; what came after 24.10.0 is not in it.
    release: '25.27.0',
  },
  ch82: {
    name: 'ch82',
    description: 'Citrix Hypervisor 8.2 CU1 (API 2.15, xapi 1.249)',
    apiMajor: 2,
    apiMinor: 15,
    xapiMajor: 1,
    xapiMinor: 249,
    productBrand: 'XenServer',
    productVersion: '8.2.1',
    platformName: 'XCP',
    platformVersion: '3.2.1',
    buildNumber: 'sim',
    buildDate: '2024-06-25',
    deterministicBackupVdiUuid: true,
    loginMaxParams: 4,
    hasHostControlDomain: true,
    // stockholm_psr ("8.2 Hotfix 2", still API 2.15) is in: its datamodel commit
    // (87b8c545bd, "rel_next -> rel_stockholm_psr") first ships in tag v1.249.4, and CU1 is
    // a later 1.249.x that rolls up the hotfixes. 1.250.0 on is the next line.
    release: 'stockholm_psr',
  },
  xs71: {
    name: 'xs71',
    description: 'XenServer 7.1 CU2 (API 2.6, xapi 1.14)',
    apiMajor: 2,
    apiMinor: 6,
    xapiMajor: 1,
    xapiMinor: 14,
    productBrand: 'XenServer',
    productVersion: '7.1.2',
    platformName: 'XCP',
    platformVersion: '2.2.2',
    buildNumber: 'sim',
    buildDate: '2019-06-25',
    deterministicBackupVdiUuid: false,
    loginMaxParams: 4,
    hasHostControlDomain: true,
    release: 'ely',
  },
  xs41: {
    name: 'xs41',
    description: 'XenServer 4.1 (API 1.2)',
    apiMajor: 1,
    apiMinor: 2,
    xapiMajor: 1,
    xapiMinor: 1,
    productBrand: 'XenServer',
    productVersion: '4.1.0',
    platformName: '',
    platformVersion: '',
    buildNumber: 'sim',
    buildDate: '2008-03-01',
    deterministicBackupVdiUuid: false,
    loginMaxParams: 3,
    hasHostControlDomain: false,
    release: 'miami',
  },
};

export const DEFAULT_PROFILE: SimProfileName = 'xs8';

export function isSimProfileName(s: string): s is SimProfileName {
  return Object.prototype.hasOwnProperty.call(SIM_PROFILES, s);
}

/** The profile called `name`; throws with the known names when there is none. */
export function simProfile(name: string): SimProfile {
  if (!isSimProfileName(name)) throw new Error(`unknown simulator profile "${name}"; known: ${Object.keys(SIM_PROFILES).join(', ')}`);
  return SIM_PROFILES[name];
}
