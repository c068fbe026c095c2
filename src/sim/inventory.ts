/**
 * The master's /etc/xensource-inventory, as a XenServer host has it: KEY='value' lines naming
 * the host (INSTALLATION_UUID) and its control domain (CONTROL_DOMAIN_UUID). A real host keeps
 * it in dom0; the simulator writes it into its state folder, so a client that plays this
 * pool's control domain can check it is where it thinks it is, as it would on a host.
 */
import { rename, writeFile } from 'node:fs/promises';
import { controlDomain, masterHost } from './context.js';
import type { SimDb } from './db.js';

export const INVENTORY_FILE = 'xensource-inventory';

export async function writeInventory(db: SimDb, path: string): Promise<void> {
  const host = db.get('host', masterHost(db));
  const dom0 = db.get('VM', controlDomain(db));
  const sv = host.software_version;
  const lines = [
    ['PRODUCT_BRAND', sv['product_brand'] ?? ''],
    ['PRODUCT_VERSION', sv['product_version'] ?? ''],
    ['BUILD_NUMBER', sv['build_number'] ?? ''],
    ['INSTALLATION_UUID', host.uuid],
    ['CONTROL_DOMAIN_UUID', dom0.uuid],
  ].map(([k, v]) => `${k}='${v}'\n`);
  await writeFile(`${path}.tmp`, lines.join(''), { mode: 0o644 });
  await rename(`${path}.tmp`, path);
}
