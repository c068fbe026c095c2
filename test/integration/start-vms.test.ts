/**
 * Start after restore (src/dr/start-vms.ts) against the simulator: the vApp and VM.order
 * groups as XAPI's VM_appliance.start runs them, start_delay between groups, a placement
 * failure midway with each host's reason, paused starts, and a cancellation that lets the
 * starts in flight finish and launches nothing more.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Session } from '../../src/xenapi/index.js';
import { DEMO_ROOT_PASSWORD } from '../../src/sim/index.js';
import type { SimHandle } from '../../src/sim/server.js';
import { startVms, type StartEvent } from '../../src/dr/start-vms.js';
import { startTempSim } from './sim-helpers.js';

const GiB = 1024 ** 3;
let sim: SimHandle;
let cleanup: () => Promise<void>;
let session: Session;
let sr: string;
let net: string;
let host: string;

function makeVm(name: string, opts: { order?: number; startDelay?: number; appliance?: string; srRef?: string; power?: string; template?: boolean } = {}): string {
  const db = sim.db;
  const metrics = db.create('VM_metrics', {});
  const vm = db.create('VM', {
    name_label: name,
    power_state: 'Halted',
    is_a_template: opts.template ?? false,
    memory_static_max: GiB,
    memory_dynamic_max: GiB,
    memory_dynamic_min: GiB,
    memory_static_min: GiB,
    VCPUs_max: 1,
    VCPUs_at_startup: 1,
    HVM_boot_policy: 'BIOS order',
    metrics,
    order: opts.order ?? 0,
    start_delay: opts.startDelay ?? 0,
    ...(opts.appliance && { appliance: opts.appliance }),
  });
  const vdi = db.create('VDI', { name_label: `${name} disk`, SR: opts.srRef ?? sr, virtual_size: GiB });
  db.create('VBD', { VM: vm, VDI: vdi, userdevice: '0', bootable: true, mode: 'RW', type: 'Disk' });
  db.create('VIF', { VM: vm, network: net, device: '0', MAC: '02:00:00:00:00:01' });
  return vm;
}

const uuidOf = (vm: string) => sim.db.getField('VM', vm, 'uuid');
const power = (vm: string) => sim.db.getField('VM', vm, 'power_state');
/** The VMs named in VM_STARTED messages, in the order the pool raised them. */
const startedOrder = (names: string[]) =>
  sim.db
    .where('message', (m) => m.name === 'VM_STARTED')
    .map((m) => names.find((n) => m.rec.body.startsWith(`VM '${n}' `)))
    .filter((n): n is string => n !== undefined);
const startSeconds = (vm: string) => {
  const t = sim.db.getField('VM_metrics', sim.db.getField('VM', vm, 'metrics'), 'start_time');
  const m = /^(\d{4})(\d\d)(\d\d)T(\d\d):(\d\d):(\d\d)Z$/.exec(t)!;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) / 1000;
};

beforeAll(async () => {
  ({ sim, cleanup } = await startTempSim());
  session = await Session.login({ url: sim.url, user: 'root', password: DEMO_ROOT_PASSWORD });
  host = sim.db.refs('host')[0] as string;
  sr = sim.db.create('SR', { name_label: 'nfs', type: 'nfs', physical_size: 2 ** 40, shared: true });
  sim.db.create('PBD', { host, SR: sr, currently_attached: true });
  net = sim.db.refs('network')[0] as string;
});
afterAll(async () => {
  await session.logout();
  await cleanup();
});

describe('startVms', () => {
  test('vApps first, each by VM.order ascending, then the VMs outside vApps by theirs; start_delay separates the groups; running, templates and unknown uuids are skipped and said', async () => {
    const shop = sim.db.create('VM_appliance', { name_label: 'shop', name_description: '' });
    const db1 = makeVm('shop-db', { appliance: shop, order: 0, startDelay: 1 });
    const web = makeVm('shop-web', { appliance: shop, order: 1 });
    const lb = makeVm('shop-lb', { appliance: shop, order: 1 });
    const late = makeVm('late', { order: 5 });
    const early = makeVm('early', { order: 2 });
    const already = makeVm('already');
    await session.call('VM.start', already, false, false);
    const tpl = makeVm('tpl', { template: true });
    const events: StartEvent[] = [];
    const r = await startVms(session, [late, early, lb, web, db1, already, tpl].map(uuidOf).concat('00000000-0000-0000-0000-000000000000'), {
      onEvent: (e) => events.push(e),
    });

    const groups = events.filter((e) => e.kind === 'group').map((e) => `${e.vApp?.name ?? '-'}/${e.order}/${e.size}`);
    expect(groups).toEqual(['shop/0/1', 'shop/1/2', '-/2/1', '-/5/1']);
    const order = startedOrder(['shop-db', 'shop-web', 'shop-lb', 'early', 'late']);
    expect(order[0]).toBe('shop-db');
    expect(order.slice(1, 3).sort()).toEqual(['shop-lb', 'shop-web']);
    expect(order.slice(3)).toEqual(['early', 'late']);
    // The next group starts only after the first one's start_delay (XAPI waits it inside VM.start).
    expect(startSeconds(web) - startSeconds(db1)).toBeGreaterThanOrEqual(1);
    expect(startSeconds(lb) - startSeconds(db1)).toBeGreaterThanOrEqual(1);
    for (const vm of [db1, web, lb, early, late]) expect(power(vm)).toBe('Running');

    expect(r).toMatchObject({ mode: 'start', requested: 8, started: 5, failed: 0, skipped: 3, notStarted: 0, cancelled: false });
    const skipped = Object.fromEntries(r.results.filter((x) => x.status === 'skipped').map((x) => [x.name || x.uuid, x.reason]));
    expect(skipped).toEqual({ already: 'already running', tpl: 'a template, not a VM', '00000000-0000-0000-0000-000000000000': 'no VM with this uuid in this pool' });
    expect(r.results.find((x) => x.name === 'shop-db')).toMatchObject({ status: 'started', vApp: { name: 'shop' }, order: 0, startDelay: 1 });
    // Live progress: each VM said starting, then started.
    const ofDb = events.filter((e) => e.kind === 'vm' && e.vm.name === 'shop-db').map((e) => (e.kind === 'vm' ? e.status : ''));
    expect(ofDb).toEqual(['starting', 'started']);
  });

  test('NO_HOSTS_AVAILABLE midway: the VMs after it still start; the report names the failed VM, each host\'s reason and what to do', async () => {
    const hostMetrics = sim.db.create('host_metrics', { memory_total: 64 * GiB, memory_free: 60 * GiB, live: true });
    sim.db.create('host', { name_label: 'spare', metrics: hostMetrics, enabled: false, cpu_info: { cpu_count: '8' } });
    const lonely = sim.db.create('SR', { name_label: 'replica-lun', type: 'lvmoiscsi' });
    const first = makeVm('first', { order: 0 });
    const stuck = makeVm('stuck', { order: 1, srRef: lonely });
    const last = makeVm('last', { order: 2 });
    const r = await startVms(session, [first, stuck, last].map(uuidOf));
    expect([power(first), power(stuck), power(last)]).toEqual(['Running', 'Halted', 'Running']);
    expect(r).toMatchObject({ started: 2, failed: 1 });
    const failed = r.results.find((x) => x.status === 'failed')!;
    expect(failed.name).toBe('stuck');
    expect(failed.error?.code).toBe('NO_HOSTS_AVAILABLE');
    expect(failed.error?.nextStep).toMatch(/Remove the reason a host gives/);
    const reasons = Object.fromEntries(failed.hosts!.map((h) => [h.host.name, h.error?.code]));
    expect(reasons).toEqual({ [sim.db.getField('host', host, 'name_label')]: 'VM_REQUIRES_SR', spare: 'HOST_DISABLED' });
    const srReason = failed.hosts!.find((h) => h.error?.code === 'VM_REQUIRES_SR')!.error!;
    expect(srReason.params).toEqual([`"stuck" (${uuidOf(stuck)})`, `"replica-lun" (${sim.db.getField('SR', lonely, 'uuid')})`]);
    expect(srReason.meaning).toContain('"replica-lun"');
    expect(JSON.stringify(r)).not.toContain('OpaqueRef');
  });

  test('paused: the VMs are left Paused', async () => {
    const vm = makeVm('held');
    const r = await startVms(session, [uuidOf(vm)], { mode: 'paused' });
    expect(r.results[0]).toMatchObject({ name: 'held', status: 'paused' });
    expect(power(vm)).toBe('Paused');
  });

  test('cancelled during the start phase: nothing more is launched, the starts in flight finish and are named', async () => {
    const a = makeVm('slow-a', { order: 0, startDelay: 1 });
    const b = makeVm('slow-b', { order: 0, startDelay: 1 });
    const c = makeVm('next-c', { order: 1 });
    const d = makeVm('next-d', { order: 2 });
    const ac = new AbortController();
    const events: StartEvent[] = [];
    let starting = 0;
    const r = await startVms(session, [a, b, c, d].map(uuidOf), {
      signal: ac.signal,
      onEvent: (e) => {
        events.push(e);
        if (e.kind === 'vm' && e.status === 'starting' && ++starting === 2) ac.abort();
      },
    });
    expect([power(a), power(b), power(c), power(d)]).toEqual(['Running', 'Running', 'Halted', 'Halted']);
    expect(r).toMatchObject({ cancelled: true, started: 2, notStarted: 2 });
    expect(r.inFlightAtCancel.map((x) => x.name).sort()).toEqual(['slow-a', 'slow-b']);
    const cancelling = events.find((e) => e.kind === 'cancelling');
    expect(cancelling?.kind === 'cancelling' && cancelling.inFlight.map((x) => x.name).sort()).toEqual(['slow-a', 'slow-b']);
    expect(r.results.filter((x) => x.status === 'not-started').map((x) => x.name)).toEqual(['next-c', 'next-d']);
  });
});
