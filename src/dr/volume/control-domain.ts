/**
 * Where this process stands relative to a pool: in the pool master's control domain or
 * not. Only a process running in that dom0 can use a VBD plugged into it, so the question
 * is answered from local facts alone — the host's inventory file must name the very host
 * and control domain XAPI reports — and never from anything the host announces. A hostile
 * or confused host must not be able to point this program at a local file.
 *
 * The simulated pool plays a control domain on this machine: whoever starts it (the
 * embedded pool, the tests, `--sim-dom0`) declares its device folder and inventory here,
 * on the client's side.
 */
import { readFile } from 'node:fs/promises';
import type { Session } from '../../xenapi/index.js';

export interface LocalControlDomain {
  /** Folder in which the control domain's block devices appear. */
  devDir: string;
  /** The host's inventory (INSTALLATION_UUID, CONTROL_DOMAIN_UUID). */
  inventoryPath: string;
  /**
   * `dom0`: devices are block device nodes, checked against sysfs.
   * `simulated`: devices are links to the simulator's image files.
   */
  kind: 'dom0' | 'simulated';
  /** Real dom0 only: where the kernel describes block devices. */
  sysBlockDir?: string;
}

/** A XenServer / XCP-ng control domain, as every real host has it. */
export const REAL_CONTROL_DOMAIN: LocalControlDomain = {
  devDir: '/dev',
  inventoryPath: '/etc/xensource-inventory',
  kind: 'dom0',
  sysBlockDir: '/sys/class/block',
};

const declared = new WeakMap<Session, LocalControlDomain>();

/** Says, on the client's side, which control domain this machine plays for `session`'s pool. */
export function declareLocalControlDomain(session: Session, local: LocalControlDomain): void {
  declared.set(session, local);
}

export function localControlDomainOf(session: Session): LocalControlDomain {
  return declared.get(session) ?? REAL_CONTROL_DOMAIN;
}

/** The simulated pool whose state folder is `stateDir` (its `dev/` and `xensource-inventory`). */
export function simulatedControlDomain(paths: { deviceDir: string; inventoryPath: string }): LocalControlDomain {
  return { devDir: paths.deviceDir, inventoryPath: paths.inventoryPath, kind: 'simulated' };
}

export interface Inventory {
  installationUuid: string;
  controlDomainUuid: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** KEY='value' lines, as /etc/xensource-inventory has them (quotes optional). */
export function parseInventory(text: string): Inventory | null {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z_][A-Z0-9_]*)=(?:'([^']*)'|"([^"]*)"|(\S*))\s*$/.exec(line);
    if (m) values.set(m[1]!, m[2] ?? m[3] ?? m[4] ?? '');
  }
  const installationUuid = values.get('INSTALLATION_UUID')?.toLowerCase() ?? '';
  const controlDomainUuid = values.get('CONTROL_DOMAIN_UUID')?.toLowerCase() ?? '';
  if (!UUID.test(installationUuid) || !UUID.test(controlDomainUuid)) return null;
  return { installationUuid, controlDomainUuid };
}

/** The local inventory, or null when this machine has none (not a XenServer host). */
export async function readLocalInventory(local: LocalControlDomain): Promise<Inventory | null> {
  let text: string;
  try {
    text = await readFile(local.inventoryPath, 'utf8');
  } catch {
    return null;
  }
  return text.length > 64 * 1024 ? null : parseInventory(text);
}
