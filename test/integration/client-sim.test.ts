/**
 * The client (src/xenapi) against the simulator (src/sim) over real sockets. The two were
 * written independently (different codecs, different authors), so agreement here is
 * evidence about the wire format, not about a shared assumption.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Session,
  XenApiError,
  TransportError,
  dumpPoolDatabase,
  encodeChunkFrames,
  exportMetadata,
  exportRawVdi,
  importMetadata,
  importRawVdi,
  runTask,
  toInt,
  type Ref,
} from '../../src/xenapi/index.js';
import { startDemoSimulator, DEMO_ROOT_PASSWORD, type SimHandle } from '../../src/sim/index.js';

let dir: string;
let sim: SimHandle;
let s: Session;

const login = (url: string, password = DEMO_ROOT_PASSWORD, extra: Partial<Parameters<typeof Session.login>[0]> = {}) =>
  Session.login({ url, user: 'root', password, ...extra });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xsdr-clientsim-'));
  sim = await startDemoSimulator({ stateDir: join(dir, 'a'), vms: 4 });
  s = await login(sim.url);
});
afterAll(async () => {
  await s?.logout();
  await sim?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('session', () => {
  it('refuses a bad password with the XAPI code and no password in the text', async () => {
    const err = await login(sim.url, 'Zq9-not-it').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(XenApiError);
    expect((err as XenApiError).code).toBe('SESSION_AUTHENTICATION_FAILED');
    expect((err as XenApiError).params[0]).toBe('root');
    expect(String((err as Error).message)).not.toContain('Zq9-not-it');
  });

  it('follows HOST_IS_SLAVE from a pool member to the master', async () => {
    const port = new URL(sim.url).port;
    const member = await startDemoSimulator({ stateDir: join(dir, 'member'), vms: 0, host: '127.0.0.2', port: Number(port), supporterOf: '127.0.0.1' });
    try {
      const viaMember = await login(member.url);
      expect(viaMember.url).toBe(`${sim.url}/`);
      expect(await viaMember.call<Ref[]>('pool.get_all')).toEqual(await s.call<Ref[]>('pool.get_all'));
      await viaMember.logout();
    } finally {
      await member.stop();
    }
  });

  it('logs in again once when the session is no longer valid (XAPI restarted)', async () => {
    const state = join(dir, 'restart');
    const first = await startDemoSimulator({ stateDir: state, vms: 1 });
    const port = Number(new URL(first.url).port);
    const session = await login(first.url);
    const pool = await session.call<Ref[]>('pool.get_all');
    await first.stop();
    const second = await startDemoSimulator({ stateDir: state, port });
    try {
      expect(await session.call<Ref[]>('pool.get_all')).toEqual(pool);
      await session.logout();
    } finally {
      await second.stop();
    }
  });
});

describe('calls and values', () => {
  it('reads records, looks up by uuid and where-expression, and reports bad refs and uuids', async () => {
    const srs = await s.call<Record<Ref, Record<string, unknown>>>('SR.get_all_records');
    const [ref, rec] = Object.entries(srs).find(([, r]) => r['type'] === 'nfs')!;
    expect(await s.call<Ref>('SR.get_by_uuid', rec['uuid'])).toBe(ref);
    expect(Object.keys(await s.call('SR.get_all_records_where', `field "name__label" = "${String(rec['name_label'])}"`))).toEqual([ref]);
    await expect(s.call('SR.get_by_uuid', '00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({ code: 'UUID_INVALID', params: ['SR', '00000000-0000-4000-8000-000000000000'] });
    await expect(s.call('SR.get_record', 'OpaqueRef:nope')).rejects.toMatchObject({ code: 'HANDLE_INVALID' });
    await expect(s.call('SR.no_such_message')).rejects.toMatchObject({ code: 'MESSAGE_METHOD_UNKNOWN' });
  });

  it('carries 64-bit integers as XAPI does', async () => {
    const pool = (await s.call<Ref[]>('pool.get_all'))[0]!;
    const sr = await s.call<Ref>('pool.get_default_SR', pool);
    const size = 2 ** 40 + 512;
    const vdi = await runTask<Ref>(s, 'VDI.create', [{ name_label: 'big', name_description: '', SR: sr, virtual_size: size, type: 'user', sharable: false, read_only: false, other_config: {}, xenstore_data: {}, sm_config: {}, tags: [] }]);
    const wire = await s.call('VDI.get_virtual_size', vdi);
    expect(wire).toBe(String(size)); // bare text on the wire
    expect(toInt(wire)).toBe(size);
    await s.call('VDI.destroy', vdi);
  });
});

describe('tasks', () => {
  it('returns the decoded result, turns error_info into an error, and leaves no task', async () => {
    const pool = (await s.call<Ref[]>('pool.get_all'))[0]!;
    const sr = await s.call<Ref>('pool.get_default_SR', pool);
    const rec = { name_label: 't', name_description: '', SR: sr, virtual_size: 1024 * 1024, type: 'user', sharable: false, read_only: false, other_config: {}, xenstore_data: {}, sm_config: {}, tags: [] };
    const vdi = await runTask<Ref>(s, 'VDI.create', [rec]);
    expect(vdi).toMatch(/^OpaqueRef:/);
    sim.faults.add({ method: 'VDI.create', error: ['SR_FULL', '1', '0'], times: 1 });
    await expect(runTask(s, 'VDI.create', [rec])).rejects.toMatchObject({ code: 'SR_FULL' });
    await s.call('VDI.destroy', vdi);
    expect(await s.call<Ref[]>('task.get_all')).toEqual([]);
  });

  it('cancels the task when the caller aborts', async () => {
    const dom0 = sim.db.where('VM', (v) => v.is_control_domain)[0]!.ref;
    const vdi = sim.db.where('VDI', (v) => v.type === 'user' && v.VBDs.length === 0)[0]!.ref;
    const vbd = await s.call<Ref>('VBD.create', { VM: dom0, VDI: vdi, userdevice: 'autodetect', bootable: false, mode: 'RO', type: 'Disk', unpluggable: true, empty: false, other_config: {}, qos_algorithm_type: '', qos_algorithm_params: {}, device: '', currently_attached: false });
    sim.faults.add({ method: 'VBD.plug', latencyMs: 2000, times: 1 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('stop')), 150);
    await expect(runTask(s, 'VBD.plug', [vbd], { signal: ac.signal })).rejects.toThrow();
    expect(await s.call<Ref[]>('task.get_all')).toEqual([]);
    // The plug runs on in the pool after the abort, and the pool refuses other operations on
    // that VBD meanwhile (OTHER_OPERATION_IN_PROGRESS, as XAPI does): clean up once it is done.
    await vi.waitFor(
      async () => {
        await s.call('VBD.unplug', vbd).catch((e: unknown) => {
          if ((e as { code?: string }).code !== 'DEVICE_ALREADY_DETACHED') throw e;
        });
        await s.call('VBD.destroy', vbd);
      },
      { timeout: 5000, interval: 50 },
    );
  });
});

describe('HTTP handlers', () => {
  it('exports a VM and dry-runs its import', async () => {
    const vm = sim.db.where('VM', (v) => !v.is_control_domain && !v.is_a_template && !v.is_a_snapshot)[0]!;
    const tar = await exportMetadata(s, { vmRef: vm.ref });
    expect(tar.subarray(0, 7).toString()).toBe('ova.xml');
    expect(tar.length % 512).toBe(0);
    const before = sim.db.count('VM');
    expect(await importMetadata(s, tar, { dryRun: true })).toEqual([]);
    expect(sim.db.count('VM')).toBe(before);
    await expect(exportMetadata(s, { vmUuid: '00000000-0000-4000-8000-000000000000' })).rejects.toMatchObject({ code: 'UUID_INVALID' });
  });

  it('moves raw VDI bytes both ways, the chunk protocol included', async () => {
    const pool = (await s.call<Ref[]>('pool.get_all'))[0]!;
    const sr = await s.call<Ref>('pool.get_default_SR', pool);
    const size = 4 * 1024 * 1024;
    const vdi = await s.call<Ref>('VDI.create', { name_label: 'raw', name_description: '', SR: sr, virtual_size: size, type: 'user', sharable: false, read_only: false, other_config: {}, xenstore_data: {}, sm_config: {}, tags: [] });
    // Whole 512-byte sectors, as XAPI's unbuffered writer needs them.
    const hello = Buffer.alloc(512, 0x20);
    hello.write('hello');
    await importRawVdi(s, vdi, encodeChunkFrames([{ offset: 1953 * 512, data: hello }, { offset: 3 * 1024 * 1024, data: Buffer.alloc(1024, 0xab) }]), { chunked: true });
    const dl = await exportRawVdi(s, vdi);
    const parts: Buffer[] = [];
    for await (const c of dl.stream as AsyncIterable<Buffer>) parts.push(c);
    await dl.done;
    const body = Buffer.concat(parts);
    expect(body.length).toBe(size);
    expect(body.subarray(1953 * 512, 1953 * 512 + 5).toString()).toBe('hello');
    expect(body.subarray(3 * 1024 * 1024, 3 * 1024 * 1024 + 1024).equals(Buffer.alloc(1024, 0xab))).toBe(true);
    expect(body.subarray(0, 1953 * 512).equals(Buffer.alloc(1953 * 512))).toBe(true);
    // A chunk that is not whole sectors fails the import after the chunks before it were written.
    const err = await importRawVdi(s, vdi, encodeChunkFrames([{ offset: 0, data: Buffer.alloc(512, 1) }, { offset: 1_000_000, data: Buffer.from('x') }]), { chunked: true }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'VDI_IO_ERROR', params: ['Device I/O errors'] });
    const again = await exportRawVdi(s, vdi);
    const first: Buffer[] = [];
    for await (const c of again.stream as AsyncIterable<Buffer>) first.push(c);
    await again.done;
    expect(Buffer.concat(first).subarray(0, 512).equals(Buffer.alloc(512, 1))).toBe(true);
    await s.call('VDI.destroy', vdi);
  });

  it('dumps the pool database', async () => {
    const xml = (await dumpPoolDatabase(s)).toString();
    expect(xml).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\s*<database>/);
    expect(xml).toContain('<table name="VM">');
  });

  it('reports a refused handler transfer clearly', async () => {
    sim.faults.add({ route: '/pool/xmldbdump', httpStatus: 500, times: 1 });
    const err = await dumpPoolDatabase(s).catch((e: unknown) => e);
    expect(err instanceof XenApiError || err instanceof TransportError).toBe(true);
  });
});

describe('TLS', () => {
  it('pins the self-signed certificate by fingerprint', async () => {
    const t = await startDemoSimulator({ stateDir: join(dir, 'tls'), vms: 0, tls: true });
    try {
      await expect(login(t.url)).rejects.toBeInstanceOf(TransportError);
      const pinned = await login(t.url, DEMO_ROOT_PASSWORD, { tls: { fingerprint: t.fingerprint! } });
      expect((await pinned.call<Ref[]>('pool.get_all')).length).toBe(1);
      await pinned.logout();
    } finally {
      await t.stop();
    }
  });
});

describe('old hosts', () => {
  it('logs in to XenServer 4.1, which takes no originator', async () => {
    const old = await startDemoSimulator({ stateDir: join(dir, 'xs41'), vms: 1, profile: 'xs41' });
    try {
      const session = await login(old.url);
      expect((await session.apiVersion()).major).toBe(1);
      await session.logout();
    } finally {
      await old.stop();
    }
  });
});
