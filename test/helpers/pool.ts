/** A simulated pool on loopback plus a logged-in client session, for integration tests. */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attachSrFolder, startDemoSimulator, DEMO_ROOT_PASSWORD, type DemoSimulatorOptions } from '../../src/sim/index.js';
import type { SimHandle } from '../../src/sim/index.js';
import { Session, type Ref } from '../../src/xenapi/index.js';
import { declareLocalControlDomain, simulatedControlDomain } from '../../src/dr/volume/control-domain.js';

export interface TestPool {
  sim: SimHandle;
  session: Session;
  dir: string;
  close(): Promise<void>;
}

export async function startTestPool(opts: Partial<DemoSimulatorOptions> & { dir?: string } = {}): Promise<TestPool> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'xsdr-pool-')));
  const { dir: _d, ...simOpts } = opts;
  const sim = await startDemoSimulator({ stateDir: join(dir, 'state'), vms: 6, ...simOpts });
  const session = await loginAsDom0(sim);
  return {
    sim,
    session,
    dir,
    async close() {
      await session.logout().catch(() => undefined);
      await sim.stop();
      if (!opts.dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A root session on `sim` from a process that plays its control domain (as the embedded
 * pool does): a backup through it attaches the VDI instead of copying it.
 */
export async function loginAsDom0(sim: SimHandle, password = DEMO_ROOT_PASSWORD): Promise<Session> {
  const session = await Session.login({ url: sim.url, user: 'root', password });
  declareLocalControlDomain(session, simulatedControlDomain(sim));
  return session;
}

/** The sparse file holding a VDI's bytes in the simulator. */
export function vdiImagePath(sim: SimHandle, vdiUuid: string): string {
  const db = sim.db;
  const vdi = db.get('VDI', db.refByUuid('VDI', vdiUuid));
  const srRef = vdi.SR;
  const sr = db.get('SR', srRef);
  for (const pbd of sr.PBDs) {
    const path = db.tryGet('PBD', pbd)?.device_config.path;
    if (path) return join(path, `${vdi.location}.img`);
  }
  return join(sim.stateDir, 'srs', sr.uuid, `${vdi.location}.img`);
}

const SBIN_ENV = { ...process.env, PATH: `${process.env['PATH']}:/usr/sbin:/sbin`, LC_ALL: 'C' };

export function debugfs(image: string, request: string): string {
  return execFileSync('debugfs', ['-R', request, image], { env: SBIN_ENV, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
}

/** e2fsck -fn: exit status and output (0 = clean). */
export function fsckReadOnly(image: string): { code: number; output: string } {
  try {
    const out = execFileSync('e2fsck', ['-fn', image], { env: SBIN_ENV, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    return { code: 0, output: out };
  } catch (e) {
    const err = e as { status: number; stdout: Buffer; stderr: Buffer };
    return { code: err.status, output: `${err.stdout}${err.stderr}` };
  }
}

/** e2fsck -p, as the stock scripts' `fsck -a` runs it before every mount: its exit status (0 = usable). */
export function fsckPreen(image: string): number {
  try {
    execFileSync('e2fsck', ['-p', image], { env: SBIN_ENV, stdio: 'ignore' });
    return 0;
  } catch (e) {
    return (e as { status: number }).status;
  }
}

/** Names in a folder of the image (debugfs ls -p), without . and .. */
export function imageLs(image: string, path: string): string[] {
  return debugfs(image, `ls -p ${path}`)
    .split('\n')
    .map((l) => l.split('/')[5])
    .filter((n): n is string => !!n && n !== '.' && n !== '..');
}

/** VBDs currently attached to the control domain, and device links present. */
export async function controlDomainAttachments(sim: SimHandle): Promise<{ vbds: number; devices: string[] }> {
  const db = sim.db;
  let vbds = 0;
  for (const [, vbd] of db.allRecords('VBD')) {
    const vm = db.tryGet('VM', vbd.VM);
    if (vm?.is_control_domain) vbds++;
  }
  const devices = await readdir(sim.deviceDir).catch(() => [] as string[]);
  return { vbds, devices };
}

/** The SRs holding a VM's disks (and CDs), one entry per VBD with a VDI. */
export function srsOfVmDisks(sim: SimHandle, vbds: readonly string[]): string[] {
  const db = sim.db;
  return vbds.map((b) => db.get('VBD', b).VDI).filter((d) => db.exists('VDI', d)).map((d) => db.get('VDI', d).SR);
}

/** Ordinary VMs (ref, record) whose every disk is on `srRef`: a DR site attaching that SR alone restores them. */
export function vmsOnlyOnSr(sim: SimHandle, srRef: string) {
  return [...sim.db.allRecords('VM').entries()].filter(([, v]) => {
    const srs = srsOfVmDisks(sim, v.VBDs);
    return !v.is_a_template && !v.is_control_domain && !v.is_a_snapshot && srs.length > 0 && srs.every((sr) => sr === srRef);
  });
}

/** The pool's default SR: its ref, uuid and name. */
export async function defaultSr(pool: TestPool): Promise<{ ref: Ref; uuid: string; name: string }> {
  const s = pool.session;
  const poolRef = (await s.call<Ref[]>('pool.get_all'))[0]!;
  const ref = await s.call<Ref>('pool.get_default_SR', poolRef);
  return { ref, uuid: await s.call<string>('SR.get_uuid', ref), name: await s.call<string>('SR.get_name_label', ref) };
}

/** A DR site: a new pool (with `vms` of its own) that attaches the production SR's replicated folder. */
export async function drSiteOf(prod: TestPool, srUuid: string, vms = 0): Promise<TestPool> {
  const dr = await startTestPool({ vms });
  await attachSrFolder(dr.sim, join(prod.sim.stateDir, 'srs', srUuid));
  return dr;
}
