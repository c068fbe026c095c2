/**
 * Local paths never come from the host. A hostile host (a front to the simulated pool that
 * answers some calls with lies) announces a device folder, names a device that is a
 * local file, or is simply another host than this machine's inventory names: the program
 * must neither write nor read any of those local files, and must leave no VBD behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Session } from '../../src/xenapi/index.js';
import { explainError } from '../../src/failure/index.js';
import { DEMO_ROOT_PASSWORD } from '../../src/sim/index.js';
import { runBackup } from '../../src/dr/backup.js';
import { BackupSource } from '../../src/dr/backup-source.js';
import { declareLocalControlDomain, simulatedControlDomain, type LocalControlDomain } from '../../src/dr/volume/control-domain.js';
import { verifyPluggedDevice } from '../../src/dr/volume/attach.js';
import { controlDomainAttachments, startTestPool, type TestPool } from '../helpers/pool.js';
import { answerWith, mapValue, startHostileFront, stringValue, type HostileFront } from '../helpers/hostile-front.js';

let pool: TestPool;
let work: string;
const VICTIM = Buffer.alloc(256 * 1024, 'precious local data ');
/** The backup VDI this file's first backup creates: small, so remote copies are quick. */
const SMALL_VDI = 64 * 1024 * 1024;

beforeAll(async () => {
  pool = await startTestPool({ vms: 3, seed: 5 });
  work = await mkdtemp(join(tmpdir(), 'xsdr-attach-trust-'));
});
afterAll(async () => {
  await pool.close();
  await rm(work, { recursive: true, force: true });
});

const proxies: HostileFront[] = [];
/** A session through a host that answers `method` with `valueXml` (everything else is the pool's). */
async function hostileSession(method: string, valueXml: string, local?: LocalControlDomain): Promise<Session> {
  const proxy = await startHostileFront(pool.sim.url);
  proxy.rpc.set(method, answerWith(valueXml));
  proxies.push(proxy);
  const session = await Session.login({ url: proxy.url, user: 'root', password: DEMO_ROOT_PASSWORD });
  if (local) declareLocalControlDomain(session, local);
  return session;
}
afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
});

async function victimAt(path: string): Promise<void> {
  await writeFile(path, VICTIM);
}

async function expectUntouched(path: string): Promise<void> {
  expect((await readFile(path)).equals(VICTIM)).toBe(true);
}

describe('a host cannot choose a local path', () => {
  it('ignores a device folder the host announces: a workstation reaches the VDI over the network', async () => {
    const announced = join(work, 'announced');
    await mkdir(announced);
    for (const name of ['xvdb', 'xvdc']) await victimAt(join(announced, name));
    // The announcement older simulators made, and any host could make.
    const session = await hostileSession('host.get_other_config', mapValue({ 'xsconsole-dr-sim:device-dir': announced }));
    try {
      const r = await runBackup(session, { cacheDir: null, vdiSize: SMALL_VDI });
      expect(r.access).toBe('remote');
      for (const name of ['xvdb', 'xvdc']) await expectUntouched(join(announced, name));
      expect((await controlDomainAttachments(pool.sim)).vbds).toBe(0);
    } finally {
      await session.logout();
    }
  });

  it('refuses a device name that was a local file before the plug, and leaves no VBD', async () => {
    const victim = join(pool.sim.deviceDir, 'victim');
    await victimAt(victim);
    const session = await hostileSession('VBD.get_device', stringValue('victim'), simulatedControlDomain(pool.sim));
    try {
      const err = await runBackup(session, { access: 'attach' }).catch((e: unknown) => e);
      expect(explainError(err).code).toBe('DEVICE_REFUSED');
      expect(explainError(err).meaning).toMatch(/existed before the plug/);
      await expectUntouched(victim);
      const left = await controlDomainAttachments(pool.sim);
      expect(left.vbds).toBe(0);
      expect(left.devices).toEqual(['victim']);
    } finally {
      await session.logout();
      await rm(victim, { force: true });
    }
  });

  it('refuses a device name that is a path', async () => {
    await victimAt(join(work, 'escape'));
    const session = await hostileSession('VBD.get_device', stringValue('../../escape'), simulatedControlDomain(pool.sim));
    try {
      const err = await runBackup(session, { access: 'attach' }).catch((e: unknown) => e);
      expect(explainError(err).code).toBe('DEVICE_REFUSED');
      await expectUntouched(join(work, 'escape'));
      expect((await controlDomainAttachments(pool.sim)).vbds).toBe(0);
    } finally {
      await session.logout();
    }
  });

  it('a restore opens no local image the host names either', async () => {
    await runBackup(pool.session, {});
    const victim = join(pool.sim.deviceDir, 'image');
    await victimAt(victim);
    const session = await hostileSession('VBD.get_device', stringValue('image'), simulatedControlDomain(pool.sim));
    try {
      const err = await BackupSource.open(session, { access: 'attach' }).catch((e: unknown) => e);
      expect(explainError(err).code).toBe('DEVICE_REFUSED');
      expect((await controlDomainAttachments(pool.sim)).vbds).toBe(0);
    } finally {
      await session.logout();
      await rm(victim, { force: true });
    }
  });
});

describe('attaching only where this process runs in the master control domain', () => {
  it('an inventory naming another host means the network, and an explicit attach is refused with the reason', async () => {
    const inventoryPath = join(work, 'other-inventory');
    await writeFile(inventoryPath, "INSTALLATION_UUID='11111111-2222-4333-8444-555555555555'\nCONTROL_DOMAIN_UUID='66666666-7777-4888-9999-000000000000'\n");
    const session = await Session.login({ url: pool.sim.url, user: 'root', password: DEMO_ROOT_PASSWORD });
    declareLocalControlDomain(session, { devDir: pool.sim.deviceDir, inventoryPath, kind: 'simulated' });
    try {
      const err = await runBackup(session, { access: 'attach' }).catch((e: unknown) => e);
      expect(explainError(err).code).toBe('NOT_IN_CONTROL_DOMAIN');
      expect(explainError(err).meaning).toMatch(/not the pool master/);
      const r = await runBackup(session, { cacheDir: null });
      expect(r.access).toBe('remote');
      expect((await controlDomainAttachments(pool.sim)).vbds).toBe(0);
    } finally {
      await session.logout();
    }
  });

  it('the simulated pool this process plays the control domain of is attached', async () => {
    const r = await runBackup(pool.session, {});
    expect(r.access).toBe('attach');
  });
});

describe('the checks on a plugged device', () => {
  const SIZE = 1024 * 1024;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(work, 'dev-'));
  });

  const sim = (): LocalControlDomain => ({ devDir: dir, inventoryPath: '/nonexistent', kind: 'simulated' });
  const dom0 = (): LocalControlDomain => ({ devDir: dir, inventoryPath: '/nonexistent', kind: 'dom0', sysBlockDir: join(dir, 'sys') });
  const refused = (p: Promise<unknown>) => p.then(() => 'accepted', (e: unknown) => explainError(e).code);

  it('refuses names that are not plain device names', async () => {
    for (const name of ['', '../xvdb', 'xvdb/..', '.', 'Xvdb', 'xvd b', 'a'.repeat(40), 'xvdb\n']) {
      expect(await refused(verifyPluggedDevice(sim(), name, new Set(), SIZE, 0))).toBe('DEVICE_REFUSED');
    }
  });

  it('in a real control domain only a block device will do', async () => {
    await writeFile(join(dir, 'xvdq'), Buffer.alloc(SIZE));
    expect(await refused(verifyPluggedDevice(dom0(), 'xvdq', new Set(), SIZE, 0))).toBe('DEVICE_REFUSED');
    await symlink('/dev/null', join(dir, 'xvdr'));
    expect(await refused(verifyPluggedDevice(dom0(), 'xvdr', new Set(), SIZE, 0))).toBe('DEVICE_REFUSED');
  });

  it('a simulated device must be a new image of the VDI size', async () => {
    await writeFile(join(dir, 'img'), Buffer.alloc(SIZE));
    await symlink(join(dir, 'img'), join(dir, 'xvdb'));
    expect(await verifyPluggedDevice(sim(), 'xvdb', new Set(['xvda']), SIZE, 0)).toBe(join(dir, 'xvdb'));
    expect(await refused(verifyPluggedDevice(sim(), 'xvdb', new Set(['xvdb']), SIZE, 0))).toBe('DEVICE_REFUSED');
    expect(await refused(verifyPluggedDevice(sim(), 'xvdb', new Set(), SIZE * 2, 0))).toBe('DEVICE_REFUSED');
    await mkdir(join(dir, 'xvdc'));
    expect(await refused(verifyPluggedDevice(sim(), 'xvdc', new Set(), SIZE, 0))).toBe('DEVICE_REFUSED');
    expect(await refused(verifyPluggedDevice(sim(), 'xvdd', new Set(), SIZE, 0))).toBe('DEVICE_REFUSED');
  });
});
