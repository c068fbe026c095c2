/**
 * Xen Orchestra's `xen-api` npm client — a XenAPI client nobody here wrote — against a fresh
 * in-process simulator, with no shim: its default transport (auto: JSON-RPC first, XML-RPC
 * when a host has none), its object cache fed by event.inject + event.from, callAsync
 * (Async.* and task watching through events), getResource / putResource with tasks, and its
 * legacy event.register / event.next loop on a host without event.inject (the xs41 profile,
 * over XML-RPC).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createClient, type Xapi, type XapiError, type XapiObject } from 'xen-api';
import { startDemoSimulator, DEMO_ROOT_PASSWORD, type SimHandle } from '../../src/sim/index.js';
import { waitFor } from '../integration/sim-helpers.js';

const dirs: string[] = [];
const sims: SimHandle[] = [];
const clients: Xapi[] = [];

async function freshSim(opts: { profile?: 'xs8' | 'xs41'; vms?: number } = {}): Promise<SimHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'xo-xen-api-'));
  dirs.push(dir);
  const sim = await startDemoSimulator({ stateDir: dir, vms: opts.vms ?? 2, ...(opts.profile && { profile: opts.profile }) });
  sims.push(sim);
  return sim;
}

function client(sim: SimHandle, extra: Partial<Parameters<typeof createClient>[0]> = {}): Xapi {
  const xapi = createClient({ url: sim.url, auth: { user: 'root', password: DEMO_ROOT_PASSWORD }, debounce: 5, eventPollDelay: 50, ...extra });
  clients.push(xapi);
  return xapi;
}

const ofType = (xapi: Xapi, type: string): XapiObject[] => Object.values(xapi.objects.all).filter((o) => o.$type === type);

let sim: SimHandle;
let xapi: Xapi;

beforeAll(async () => {
  sim = await freshSim();
  xapi = client(sim);
  await xapi.connect();
  await xapi.objectsFetched;
});

afterAll(async () => {
  for (const c of clients) await c.disconnect().catch(() => undefined);
  for (const s of sims) await s.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe("Xen Orchestra's xen-api client, default transport", () => {
  test('connects and reads the pool into its object cache', async () => {
    expect(xapi.status).toBe('connected');
    const poolRef = sim.db.refs('pool')[0] as string;
    expect(xapi.pool.$ref).toBe(poolRef);
    const vms = ofType(xapi, 'VM').filter((v) => v.is_a_template === false && v.is_control_domain === false);
    const inDb = [...sim.db.allRecords('VM').values()].filter((v) => !v.is_a_template && !v.is_control_domain).map((v) => v.name_label);
    expect(vms.map((v) => v.name_label).sort()).toEqual(inDb.sort());
    expect(ofType(xapi, 'SR').length).toBe(sim.db.count('SR'));
    // fields resolve through the cache: the pool's master is a host object
    expect((xapi.pool as unknown as { $master: XapiObject }).$master.$type).toBe('host');
  });

  test('the JSON-RPC transport alone works too', async () => {
    const json = client(sim, { transport: 'json-rpc', watchEvents: false });
    await json.connect();
    expect(await json.call('pool.get_all')).toEqual([xapi.pool.$ref]);
    const err = (await json.call('VM.get_record', 'OpaqueRef:nope').catch((e: unknown) => e)) as XapiError;
    expect([err.code, err.params]).toEqual(['HANDLE_INVALID', ['VM', 'OpaqueRef:nope']]);
  });

  test('watches objects through events: a change made elsewhere reaches the cache', async () => {
    const vm = ofType(xapi, 'VM').find((v) => v.is_a_template === false && v.is_control_domain === false) as XapiObject;
    sim.db.set('VM', vm.$ref, 'name_description', 'changed behind its back');
    const seen = await waitFor(
      () => xapi.getObjectByRef(vm.$ref)?.name_description,
      (d) => d === 'changed behind its back',
      10_000,
    );
    expect(seen).toBe('changed behind its back');
    // and its barrier (pool.other_config through events) settles
    expect((await xapi.barrier(vm.$ref))?.$ref).toBe(vm.$ref);
  });

  test('callAsync: Async.VDI.create and VDI.destroy settle through task events; a failure is the XAPI error', async () => {
    const sr = ofType(xapi, 'SR').find((s) => s.type !== 'iso' && Array.isArray(s.PBDs) && (s.PBDs as string[]).length > 0 && s.content_type !== 'iso') as XapiObject;
    const vdi = (await xapi.callAsync('VDI.create', {
      name_label: 'from xo',
      name_description: '',
      SR: sr.$ref,
      virtual_size: 1024 * 1024,
      type: 'user',
      sharable: false,
      read_only: false,
      other_config: {},
    })) as string;
    expect(vdi).toMatch(/^OpaqueRef:/);
    expect(sim.db.get('VDI', vdi).name_label).toBe('from xo');
    await waitFor(
      () => xapi.getObjectByRef(vdi, null),
      (o) => o !== null,
      10_000,
    );

    // getResource with a task: the raw content, and the task's result
    const res = await xapi.getResource('/export_raw_vdi', { query: { vdi, format: 'raw' } });
    expect(res.statusCode).toBe(200);
    const bytes = Buffer.from(await res.body.arrayBuffer());
    expect(bytes.length).toBe(1024 * 1024);
    await res.task;

    // putResource with a task: content into the VDI, visible in its file
    const content = Buffer.alloc(1024 * 1024, 0x5a);
    await xapi.putResource(content, '/import_raw_vdi', { query: { vdi, format: 'raw' } });
    const back = await xapi.getResource('/export_raw_vdi', { query: { vdi, format: 'raw' } });
    expect(Buffer.from(await back.body.arrayBuffer()).equals(content)).toBe(true);
    await back.task;

    expect(await xapi.callAsync('VDI.destroy', vdi)).toBe('');
    await waitFor(
      () => xapi.getObjectByRef(vdi, null),
      (o) => o === null,
      10_000,
    );
    const err = (await xapi.callAsync('VDI.destroy', vdi).catch((e: unknown) => e)) as XapiError;
    expect([err.code, err.params]).toEqual(['HANDLE_INVALID', ['VDI', vdi]]);
    // its tasks are destroyed when settled
    await waitFor(
      () => sim.db.count('task'),
      (n) => n === 0,
      10_000,
    );
  });
});

describe("Xen Orchestra's xen-api client on a host without event.inject (xs41, XML-RPC)", () => {
  test('falls back to event.register / event.next and keeps its cache current', async () => {
    const old = await freshSim({ profile: 'xs41', vms: 1 });
    const legacy = client(old, { transport: 'xml-rpc' });
    await legacy.connect();
    await legacy.objectsFetched;
    const vm = ofType(legacy, 'VM').find((v) => v.is_a_template === false && v.is_control_domain === false) as XapiObject;
    expect(vm).toBeDefined();
    // wait until the event.next loop is registered, then change the VM behind its back
    await waitFor(
      () => old.stats.callCount('event.next'),
      (n) => n > 0,
      10_000,
    );
    old.db.set('VM', vm.$ref, 'name_label', 'renamed via event.next');
    const seen = await waitFor(
      () => legacy.getObjectByRef(vm.$ref)?.name_label,
      (n) => n === 'renamed via event.next',
      10_000,
    );
    expect(seen).toBe('renamed via event.next');
  });
});
