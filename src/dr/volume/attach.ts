/**
 * Backend (a): the backup VDI plugged into the pool master's control domain, read and
 * written as /dev/<device> — what the stock scripts do, for code running in that dom0.
 * The VBD is always unplugged and destroyed again, whatever happened in between.
 *
 * Nothing local comes from the host: this process attaches only when the local inventory
 * names the master and its control domain (control-domain.ts), and it opens a device only
 * when it is a plain name in the local device folder, appeared with this plug, is the kind
 * of node that folder holds (a block device in a real dom0) and has the VDI's size.
 */
import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Host, NULL_REF, Pool, VBD, VM, XenApiError, isNullRef, type Ref, type Session } from '../../xenapi/index.js';
import { ExpectedFailure } from '../../failure/index.js';
import { localControlDomainOf, readLocalInventory, type LocalControlDomain } from './control-domain.js';
import { noPoolObject } from '../pool-records.js';

/** Marks the VBDs this program creates (a later run recognises its own leftovers by it). */
export const OWN_VBD_KEY = 'xsconsole-dr-vbd';

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
  local: LocalControlDomain;
  /** Whether this process runs in the master's control domain, and if not, why. */
  here: LocalCheck;
}

/** This process cannot use a VBD plugged into the master's control domain. */
export class NotInControlDomainError extends ExpectedFailure {
  constructor(reason: string) {
    super(
      'NOT_IN_CONTROL_DOMAIN',
      `The backup VDI cannot be attached here: ${reason}`,
      'Run this on the pool master itself, or let the program reach the VDI over the network (remote access, the default "auto").',
    );
    this.name = 'NotInControlDomainError';
  }
}

/** The device XAPI named after the plug is not one this program may open. */
export class DeviceRefusedError extends ExpectedFailure {
  constructor(reason: string) {
    super(
      'DEVICE_REFUSED',
      `The plugged backup VDI was not opened: ${reason} The VBD was unplugged and destroyed again; nothing local was opened.`,
      'Check the pool master (xe vbd-list vdi-uuid=<backup VDI>); if it repeats, reach the VDI over the network (remote access) instead.',
    );
    this.name = 'DeviceRefusedError';
  }
}

async function masterOf(session: Session): Promise<Ref> {
  const pool = (await Pool.getAll(session))[0];
  if (!pool) throw noPoolObject();
  return Pool.getMaster(session, pool);
}

export type LocalCheck = { ok: true } | { ok: false; reason: string };

/**
 * The master and its control domain as XAPI reports them, and whether this process runs in
 * that control domain: the local inventory must name the master (INSTALLATION_UUID) and its
 * control domain (CONTROL_DOMAIN_UUID). Nothing the host announces (its other_config, say)
 * is read: where devices appear is decided on this side.
 */
export async function findControlDomain(session: Session, master?: Ref): Promise<ControlDomainInfo> {
  const local = localControlDomainOf(session);
  const inventoryRead = readLocalInventory(local);
  const hostRef = master ?? (await masterOf(session));
  const inventory = await inventoryRead;
  // The reads about the master go together: one round trip.
  const [controlDomain, hostUuidValue, localDom0] = await Promise.all([
    Host.getControlDomain(session, hostRef).catch((err: unknown) => {
      // host.control_domain exists from API 2.6 (XenServer 7.1); older hosts need a search.
      if (!(err instanceof XenApiError) || err.code !== 'MESSAGE_METHOD_UNKNOWN') throw err;
      return NULL_REF;
    }),
    Host.getUuid(session, hostRef),
    inventory
      ? VM.getByUuid(session, inventory.controlDomainUuid).catch((err: unknown) => {
          if (err instanceof XenApiError && err.code === 'UUID_INVALID') return NULL_REF;
          throw err;
        })
      : Promise.resolve(NULL_REF),
  ]);
  let dom0Ref: Ref = controlDomain;
  if (isNullRef(dom0Ref)) {
    const found = await VM.getAllRecordsWhere(session, `field "is_control_domain" = "true" and field "resident_on" = "${hostRef}"`, ['domid']);
    // Driver domains are control domains too; dom0 is the one with domid 0.
    const entries = [...found];
    const dom0 = entries.find(([, r]) => r.domid === 0) ?? entries[0];
    if (!dom0) throw new ExpectedFailure('NO_CONTROL_DOMAIN', 'The pool master has no control domain record.', 'Check that the address is a XenServer / XCP-ng pool coordinator (XAPI may still be starting), then run again.');
    dom0Ref = dom0[0];
  }
  const hostUuid = hostUuidValue.toLowerCase();
  let here: LocalCheck;
  if (!inventory) here = { ok: false, reason: `this machine is not a XenServer host (no usable ${local.inventoryPath}).` };
  else if (inventory.installationUuid !== hostUuid) here = { ok: false, reason: `this machine is host ${inventory.installationUuid}, not the pool master ${hostUuid}.` };
  else if (isNullRef(localDom0) || localDom0 !== dom0Ref) {
    here = { ok: false, reason: `this machine's control domain ${inventory.controlDomainUuid} is not the pool master's control domain.` };
  } else here = { ok: true };
  return { hostRef, hostUuid, dom0Ref, local, here };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A kernel block device name: letters and digits, starting with a letter (xvdb, sdc, nvme0n1). */
const PLAIN_DEVICE_NAME = /^[a-z][a-z0-9]{0,31}$/;

/** The entries of the device folder: what a device that "appeared with this plug" is compared to. */
async function deviceNames(local: LocalControlDomain): Promise<Set<string>> {
  return new Set(await readdir(local.devDir).catch(() => [] as string[]));
}

/**
 * The checks on the device named after the plug; returns its path. Throws DeviceRefusedError.
 * udev may lag the plug a little, so a missing node is waited for briefly.
 */
export async function verifyPluggedDevice(
  local: LocalControlDomain,
  device: string,
  before: ReadonlySet<string>,
  virtualSize: number,
  waitMs = 5000,
): Promise<string> {
  if (!PLAIN_DEVICE_NAME.test(device)) throw new DeviceRefusedError(`XAPI named the device ${JSON.stringify(device)}, which is not a plain device name.`);
  if (before.has(device)) throw new DeviceRefusedError(`${join(local.devDir, device)} existed before the plug, so it is not the backup VDI.`);
  const path = join(local.devDir, device);
  const deadline = Date.now() + waitMs;
  let st = await lstat(path).catch(() => null);
  while (!st && Date.now() < deadline) {
    await sleep(100);
    st = await lstat(path).catch(() => null);
  }
  if (!st) throw new DeviceRefusedError(`${path} did not appear after the plug.`);
  if (local.kind === 'dom0') {
    if (!st.isBlockDevice()) throw new DeviceRefusedError(`${path} is not a block device.`);
    const sys = local.sysBlockDir ?? '/sys/class/block';
    const [devNumbers, sectors] = await Promise.all([
      readFile(join(sys, device, 'dev'), 'utf8').catch(() => ''),
      readFile(join(sys, device, 'size'), 'utf8').catch(() => ''),
    ]);
    const major = Math.floor(st.rdev / 256) & 0xfff;
    const minor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
    if (devNumbers.trim() !== `${major}:${minor}`) throw new DeviceRefusedError(`${path} is not the kernel's device ${device}.`);
    const size = Number(sectors.trim()) * 512;
    if (size !== virtualSize) throw new DeviceRefusedError(`${path} holds ${size} bytes, but the backup VDI has ${virtualSize}.`);
    return path;
  }
  // The simulator's devices are links to its image files.
  if (!st.isSymbolicLink() && !st.isFile()) throw new DeviceRefusedError(`${path} is neither a link to an image nor an image.`);
  const target = await stat(path).catch(() => null);
  if (!target?.isFile()) throw new DeviceRefusedError(`${path} does not lead to an image file.`);
  if (target.size !== virtualSize) throw new DeviceRefusedError(`${path} holds ${target.size} bytes, but the backup VDI has ${virtualSize}.`);
  return path;
}

export async function attachToControlDomain(
  session: Session,
  vdi: { ref: Ref; virtualSize: number },
  opts: { readOnly?: boolean; signal?: AbortSignal; info?: ControlDomainInfo } = {},
): Promise<AttachedDevice> {
  const info = opts.info ?? (await findControlDomain(session));
  if (!info.here.ok) throw new NotInControlDomainError(info.here.reason);
  const vbdRef = await VBD.create(session, {
    VM: info.dom0Ref,
    VDI: vdi.ref,
    userdevice: 'autodetect',
    bootable: false,
    mode: opts.readOnly ? 'RO' : 'RW',
    type: 'Disk',
    unpluggable: true,
    empty: false,
    other_config: { [OWN_VBD_KEY]: new Date().toISOString() },
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
    const before = await deviceNames(info.local);
    plugRequested = true;
    await VBD.plug(session, vbdRef, opts.signal ? { signal: opts.signal } : {});
    const device = await VBD.getDevice(session, vbdRef);
    const path = await verifyPluggedDevice(info.local, device, before, vdi.virtualSize);
    return { path, vbdRef, release };
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
      await VBD.destroy(session, vbdRef);
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
      await VBD.unplug(session, vbdRef);
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
