/**
 * The simulated pool as the rest of the program starts it: the core server (engineer B's
 * XML-RPC + object database), the HTTP transfer handlers, the demo pool generator, and
 * re-attaching an SR folder written by another simulated pool (the DR site).
 */
import { basename } from 'node:path';
import { stat } from 'node:fs/promises';
import { startSimulator, DEFAULT_ROOT_PASSWORD, type SimHandle, type SimulatorOptions } from './server.js';
import { transferRoutes } from './handlers/index.js';
import { populateDemo } from './demo.js';
import { masterHost } from './context.js';
import { scanSr, refreshSrUsage } from './storage.js';
import { isUuid } from './uuid.js';
import { PLUGGED_SR_OPERATIONS } from './api/storage.js';

export { SIM_PROFILES, type SimProfileName } from './profiles.js';
export type { SimHandle } from './server.js';

/** The demo pool's root password: public, documented in the README. */
export const DEMO_ROOT_PASSWORD = DEFAULT_ROOT_PASSWORD;

export interface DemoSimulatorOptions extends Omit<SimulatorOptions, 'routes' | 'populate'> {
  /** Demo VMs in a new state (default 12); 0 = an empty pool (for a DR site). */
  vms?: number;
  seed?: number;
  /** SR folders (named by the SR uuid) to attach, like sr-introduce + pbd-plug at a DR site. */
  attachSrDirs?: string[];
}

export async function startDemoSimulator(opts: DemoSimulatorOptions): Promise<SimHandle> {
  const { vms, seed, attachSrDirs, ...simOpts } = opts;
  const sim = await startSimulator({
    ...simOpts,
    routes: transferRoutes,
    populate: async (db, ctx) => {
      if (vms === 0) return;
      await populateDemo(db, {
        ...(vms !== undefined && { vms }),
        ...(seed !== undefined && { seed }),
        profile: ctx.profile,
        stateDir: ctx.stateDir,
      });
    },
  });
  try {
    for (const dir of attachSrDirs ?? []) await attachSrFolder(sim, dir);
  } catch (err) {
    await sim.stop();
    throw err;
  }
  return sim;
}

/**
 * Attaches an SR folder another simulated pool wrote (its name is the SR uuid), as an
 * operator does at the DR site with sr-introduce, pbd-create and pbd-plug: the SR appears
 * with its uuid, and a scan makes VDI records (uuid and size kept, names lost — which
 * SRMETA.xml restores). Attaching an SR that is already known does nothing.
 */
export async function attachSrFolder(sim: SimHandle, dir: string, opts: { type?: string; nameLabel?: string } = {}): Promise<string> {
  const uuid = basename(dir);
  if (!isUuid(uuid)) throw new Error(`--attach-sr: the folder name must be the SR uuid, not "${uuid}"`);
  if (!(await stat(dir)).isDirectory()) throw new Error(`--attach-sr: ${dir} is not a folder`);
  const db = sim.db;
  const known = db.findRefByUuid('SR', uuid);
  if (known !== undefined) return known;
  const sr = db.create('SR', {
    uuid,
    name_label: opts.nameLabel ?? '',
    name_description: '',
    type: opts.type ?? 'nfs',
    content_type: '',
    shared: true,
    allowed_operations: [...PLUGGED_SR_OPERATIONS],
  });
  db.create('PBD', { host: masterHost(db), SR: sr, device_config: { path: dir }, currently_attached: true });
  await scanSr(db, sim.stateDir, sr);
  refreshSrUsage(db, sr);
  return sr;
}
