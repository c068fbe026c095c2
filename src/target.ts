/**
 * Which pool the program talks to:
 *  - `--host URL`            a remote pool (master or any member; HOST_IS_SLAVE is followed);
 *  - on a XenServer host     the local XAPI over its Unix socket (trusted as root);
 *  - `--sim-dom0 DIR` alone    the same, as the control domain of the simulated pool whose
 *                              state folder is DIR (its inventory and its socket DIR/xapi);
 *  - otherwise               the embedded simulated pool, started in this process.
 */
import { access, mkdtemp, rm } from 'node:fs/promises';
import { constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TlsOptions } from './xenapi/index.js';
import type { SimHandle } from './sim/index.js';
import { simulatedControlDomain, type LocalControlDomain } from './dr/volume/control-domain.js';
import { usageError } from './failure/index.js';

/** Files whose presence means "this is a XenServer / XCP-ng control domain". */
export const XAPI_INVENTORY = '/etc/xensource-inventory';
export const XAPI_LOCAL_SOCKET = '/var/lib/xcp/xapi';

export type Target =
  | { kind: 'remote'; url: string; tls: TlsOptions; describe: string; controlDomain?: LocalControlDomain }
  | { kind: 'local'; url: string; socketPath: string; tls: TlsOptions; describe: string; controlDomain?: LocalControlDomain }
  | {
      kind: 'embedded';
      url: string;
      tls: TlsOptions;
      describe: string;
      /** This process plays the simulated pool's control domain (its devices and inventory). */
      controlDomain: LocalControlDomain;
      sim: SimHandle;
      /** The demo pool's root password is public (documented in the README). */
      password: string;
      close(): Promise<void>;
    };

export interface TargetOptions {
  host?: string;
  insecure?: boolean;
  fingerprint?: string;
  simState?: string;
  /**
   * State folder of a simulated pool started separately (`sim --state DIR`) that this process
   * plays the control domain of: its dev/ and xensource-inventory are read from there, and
   * without `host` the pool is reached over its local socket DIR/xapi, as on a host.
   */
  simDom0?: string;
  /** Test seam: where to look for the XenServer inventory and socket. */
  inventoryPath?: string;
  socketPath?: string;
}

export function tlsPolicyFrom(opts: Pick<TargetOptions, 'insecure' | 'fingerprint'>): TlsOptions {
  if (opts.insecure && opts.fingerprint) {
    throw usageError('Give either --insecure or --fingerprint, not both.');
  }
  if (opts.fingerprint) return { fingerprint: opts.fingerprint };
  if (opts.insecure) return { insecure: true };
  return {};
}

/** Accepts "host", "host:port", "http://…" or "https://…"; a bare host means https. */
export function normalizeHostUrl(host: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(host) ? host : `https://${host}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw usageError(`--host: "${host}" is not a host name or an http(s):// URL.`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw usageError(`--host: only http:// and https:// are supported, not ${u.protocol}//`);
  }
  return `${u.protocol}//${u.host}`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where this machine's XAPI inventory and socket are: a host's own, or those of the simulated
 * pool `--sim-dom0` names (paths the operator gave, never ones a pool sent).
 */
function onHostPaths(opts: Pick<TargetOptions, 'inventoryPath' | 'socketPath' | 'simDom0'>): { inventoryPath: string; socketPath: string } {
  const base = opts.simDom0;
  return {
    inventoryPath: opts.inventoryPath ?? (base !== undefined ? join(base, SIM_INVENTORY_FILE) : XAPI_INVENTORY),
    socketPath: opts.socketPath ?? (base !== undefined ? join(base, SIM_SOCKET_FILE) : XAPI_LOCAL_SOCKET),
  };
}

export async function isXenServerHost(opts: Pick<TargetOptions, 'inventoryPath' | 'socketPath' | 'simDom0'> = {}): Promise<boolean> {
  const paths = onHostPaths(opts);
  return (await exists(paths.inventoryPath)) && (await exists(paths.socketPath));
}

/** A simulated pool's state folder keeps these as a host's dom0 does (src/sim/inventory.ts, local-socket.ts). */
const SIM_INVENTORY_FILE = 'xensource-inventory';
const SIM_SOCKET_FILE = 'xapi';

function simDom0(stateDir: string): LocalControlDomain {
  return simulatedControlDomain({ deviceDir: join(stateDir, 'dev'), inventoryPath: join(stateDir, SIM_INVENTORY_FILE) });
}

export async function resolveTarget(opts: TargetOptions): Promise<Target> {
  const tls = tlsPolicyFrom(opts);
  if (opts.host) {
    const url = normalizeHostUrl(opts.host);
    return { kind: 'remote', url, tls, describe: `pool at ${url}`, ...(opts.simDom0 && { controlDomain: simDom0(opts.simDom0) }) };
  }
  if (opts.simDom0 && !opts.simState && !(await isXenServerHost(opts))) {
    // Falling back to a throwaway embedded pool would back up the wrong pool.
    const { socketPath, inventoryPath } = onHostPaths(opts);
    throw usageError(
      `--sim-dom0 without --host: no simulated host at ${opts.simDom0} (${inventoryPath} and the socket ${socketPath} are needed).`,
      `Start it with "xsconsole-dr sim --state ${opts.simDom0}", or give the pool with --host.`,
    );
  }
  if (!opts.simState && (await isXenServerHost(opts))) {
    const { socketPath } = onHostPaths(opts);
    return {
      kind: 'local',
      url: 'http://localhost',
      socketPath,
      tls,
      describe: opts.simDom0 ? `the simulated host of ${opts.simDom0} (its local XAPI socket)` : 'this host (local XAPI socket)',
      ...(opts.simDom0 && { controlDomain: simDom0(opts.simDom0) }),
    };
  }
  const temporary = !opts.simState;
  const stateDir = opts.simState ?? (await mkdtemp(join(tmpdir(), 'xsconsole-dr-sim-')));
  // The simulator is loaded only when it is used (not for --host or on a XenServer host).
  const { startDemoSimulator, DEMO_ROOT_PASSWORD } = await import('./sim/index.js');
  const sim = await startDemoSimulator({ stateDir });
  return {
    kind: 'embedded',
    url: sim.url,
    tls: {},
    sim,
    controlDomain: simulatedControlDomain(sim),
    password: DEMO_ROOT_PASSWORD,
    describe: `embedded simulated pool at ${sim.url} (${temporary ? 'temporary state' : `state in ${stateDir}`})`,
    async close() {
      await sim.stop();
      if (temporary) await rm(stateDir, { recursive: true, force: true });
    },
  };
}
