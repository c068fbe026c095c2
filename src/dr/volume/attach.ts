/**
 * Backend (a): the backup VDI plugged into the pool master's control domain, read and
 * written as /dev/<device> — what the stock scripts do, for code running in that dom0.
 * The VBD is always unplugged and destroyed again, whatever happened in between.
 *
 * The embedded simulator plays a control domain on this machine: it announces the folder
 * holding its device links in the master's other_config, so the same code runs against it.
 */
import { access, constants, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NULL_REF, XenApiError, isNullRef, runTask, toStr, toStrMap, type Ref, type Session } from '../../xenapi/index.js';

export const SIM_DEVICE_DIR_KEY = 'xsconsole-dr-sim:device-dir';

export interface AttachedDevice {
  /** Path of the block device in this control domain. */
  path: string;
  vbdRef: Ref;
  /** Unplugs and destroys the VBD; safe to call more than once. */
  release(): Promise<void>;
}

export interface ControlDomainInfo {
  hostRef: Ref;
  hostUuid: string;
  dom0Ref: Ref;
  deviceDir: string;
  /** The device folder was announced by a simulated pool (not a real dom0's /dev). */
  simulated: boolean;
}

export class NotOnMasterError extends Error {
  constructor() {
    super('The backup disk can only be attached on the pool master; run this on the master (or use --host with the master).');
    this.name = 'NotOnMasterError';
  }
}

/** The master's control domain and where its block devices appear. */
export async function findControlDomain(session: Session): Promise<ControlDomainInfo> {
  const pools = await session.call<Ref[]>('pool.get_all');
  const pool = pools[0];
  if (!pool) throw new Error('The pool has no pool object.');
  const hostRef = await session.call<Ref>('pool.get_master', pool);
  // The three reads about the master go together: one round trip instead of three.
  const [controlDomain, otherConfigValue, hostUuidValue] = await Promise.all([
    session.call<Ref>('host.get_control_domain', hostRef).catch((err: unknown) => {
      // host.control_domain exists from API 2.6 (XenServer 7.1); older hosts need a search.
      if (!(err instanceof XenApiError) || err.code !== 'MESSAGE_METHOD_UNKNOWN') throw err;
      return NULL_REF;
    }),
    session.call('host.get_other_config', hostRef),
    session.call('host.get_uuid', hostRef),
  ]);
  let dom0Ref: Ref = controlDomain;
  if (isNullRef(dom0Ref)) {
    const found = await session.call<Record<Ref, Record<string, unknown>>>(
      'VM.get_all_records_where',
      `field "is_control_domain" = "true" and field "resident_on" = "${hostRef}"`,
    );
    // Driver domains are control domains too; dom0 is the one with domid 0.
    const entries = Object.entries(found);
    const dom0 = entries.find(([, r]) => toStr(r['domid']) === '0') ?? entries[0];
    if (!dom0) throw new Error('The pool master has no control domain record.');
    dom0Ref = dom0[0];
  }
  const otherConfig = toStrMap(otherConfigValue);
  const hostUuid = toStr(hostUuidValue);
  const simDir = otherConfig[SIM_DEVICE_DIR_KEY];
  return { hostRef, hostUuid, dom0Ref, deviceDir: simDir ?? '/dev', simulated: simDir !== undefined };
}

/**
 * True when this process runs in the master's control domain (so a plugged VBD shows up
 * here): the host's inventory names the master, or a simulated pool's device folder is
 * reachable from this machine.
 */
export async function canAttachLocally(info: ControlDomainInfo, inventoryPath = '/etc/xensource-inventory'): Promise<boolean> {
  if (info.simulated) {
    try {
      await access(info.deviceDir, constants.R_OK | constants.W_OK);
      return true;
    } catch {
      return false;
    }
  }
  try {
    const inventory = await readFile(inventoryPath, 'utf8');
    const m = /^INSTALLATION_UUID=['"]?([0-9a-f-]{36})['"]?$/m.exec(inventory);
    return m?.[1] === info.hostUuid;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function attachToControlDomain(
  session: Session,
  vdiRef: Ref,
  opts: { readOnly?: boolean; signal?: AbortSignal; info?: ControlDomainInfo } = {},
): Promise<AttachedDevice> {
  const info = opts.info ?? (await findControlDomain(session));
  const vbdRef = await session.call<Ref>('VBD.create', {
    VM: info.dom0Ref,
    VDI: vdiRef,
    userdevice: 'autodetect',
    bootable: false,
    mode: opts.readOnly ? 'RO' : 'RW',
    type: 'Disk',
    unpluggable: true,
    empty: false,
    other_config: {},
    qos_algorithm_type: '',
    qos_algorithm_params: {},
    device: '',
    currently_attached: false,
  });
  // Once a plug has been asked for, the VBD may end up plugged even when we never hear
  // so (a lost answer, a failed poll, Ctrl-C while the task runs): release unplugs then too.
  let plugRequested = false;
  let released: Promise<void> | null = null;
  const release = () =>
    (released ??= (async () => {
      if (plugRequested) await onceMore(() => unplugPatiently(session, vbdRef));
      await onceMore(() => destroyVbd(session, vbdRef));
    })());
  try {
    plugRequested = true;
    await runTask(session, 'VBD.plug', [vbdRef], opts.signal ? { signal: opts.signal } : {});
    const device = await session.call<string>('VBD.get_device', vbdRef);
    if (!/^[a-z][a-z0-9]*$/.test(device)) throw new Error(`XAPI named the plugged device ${JSON.stringify(device)}, which is not a device name.`);
    return { path: join(info.deviceDir, device), vbdRef, release };
  } catch (err) {
    await release().catch(() => undefined);
    throw err;
  }
}

/** Cleanup must not give up on one transient failure (a dropped connection, an internal error). */
async function onceMore(step: () => Promise<void>): Promise<void> {
  try {
    await step();
  } catch {
    await step();
  }
}

/** VBD.destroy, after a plug or unplug still running has finished; a VBD already gone is fine. */
async function destroyVbd(session: Session, vbdRef: Ref, budgetMs = 20_000): Promise<void> {
  const deadline = Date.now() + budgetMs;
  for (;;) {
    try {
      await session.call('VBD.destroy', vbdRef);
      return;
    } catch (err) {
      if (err instanceof XenApiError && err.code === 'HANDLE_INVALID') return;
      if (err instanceof XenApiError && err.code === 'OTHER_OPERATION_IN_PROGRESS' && Date.now() < deadline) {
        await sleep(100);
        continue;
      }
      throw err;
    }
  }
}

/** VBD.unplug, retried while the device is still busy (the stock scripts allow 20 s). */
async function unplugPatiently(session: Session, vbdRef: Ref, budgetMs = 20_000): Promise<void> {
  const deadline = Date.now() + budgetMs;
  for (;;) {
    try {
      await session.call('VBD.unplug', vbdRef);
      return;
    } catch (err) {
      if (err instanceof XenApiError && err.code === 'DEVICE_ALREADY_DETACHED') return;
      if (err instanceof XenApiError && err.code === 'DEVICE_DETACH_REJECTED' && Date.now() < deadline) {
        await sleep(500);
        continue;
      }
      // A plug whose answer we lost may still be running: wait for it, then unplug.
      if (err instanceof XenApiError && err.code === 'OTHER_OPERATION_IN_PROGRESS' && Date.now() < deadline) {
        await sleep(100);
        continue;
      }
      throw err;
    }
  }
}
