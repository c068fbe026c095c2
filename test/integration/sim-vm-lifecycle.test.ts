/**
 * VM power operations and vApps against the simulator over XML-RPC: XAPI's power-state
 * machine and its errors (xen-api ocaml/xapi/xapi_vm_lifecycle.ml), placement and the host
 * memory model (xapi_vm_helpers.ml, memory_check.ml), and VM_appliance ordering and partial
 * failure (xapi_vm_appliance.ml).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { XmlRpcStruct } from '../../src/sim/codec.js';
import type { SimHandle } from '../../src/sim/server.js';
import { finishedTask, login, rpc, rpcFail, startTempSim, waitFor } from './sim-helpers.js';

const GiB = 1024 ** 3;
let sim: SimHandle;
let cleanup: () => Promise<void>;
let s: string;
let host: string;
let sr: string;
let net: string;

/** A halted VM with one disk on `srRef` and one VIF, as a restore leaves it. */
function makeVm(name: string, opts: { memory?: number; srRef?: string; template?: boolean; vcpus?: number } = {}): string {
  const db = sim.db;
  const memory = opts.memory ?? GiB;
  const metrics = db.create('VM_metrics', {});
  const vm = db.create('VM', {
    name_label: name,
    power_state: 'Halted',
    is_a_template: opts.template ?? false,
    memory_static_max: memory,
    memory_dynamic_max: memory,
    memory_dynamic_min: memory,
    memory_static_min: memory,
    VCPUs_max: opts.vcpus ?? 2,
    VCPUs_at_startup: opts.vcpus ?? 2,
    HVM_boot_policy: 'BIOS order',
    metrics,
  });
  const vdi = db.create('VDI', { name_label: `${name} disk`, SR: opts.srRef ?? sr, virtual_size: GiB });
  db.create('VBD', { VM: vm, VDI: vdi, userdevice: '0', bootable: true, mode: 'RW', type: 'Disk' });
  db.create('VIF', { VM: vm, network: net, device: '0', MAC: '02:00:00:00:00:01' });
  return vm;
}

const rec = async (vm: string): Promise<XmlRpcStruct> => (await rpc(sim.url, 'VM.get_record', s, vm)) as XmlRpcStruct;

const finished = (task: string): Promise<XmlRpcStruct> => finishedTask(sim.url, s, task) as Promise<XmlRpcStruct>;

beforeAll(async () => {
  ({ sim, cleanup } = await startTempSim());
  s = await login(sim.url);
  host = (await rpc(sim.url, 'session.get_this_host', s, s)) as string;
  sr = sim.db.create('SR', { name_label: 'nfs', type: 'nfs', physical_size: 2 ** 40, shared: true });
  sim.db.create('PBD', { host, SR: sr, currently_attached: true });
  net = sim.db.refs('network')[0] as string;
});
afterAll(async () => cleanup());

describe('VM power-state machine', () => {
  test('start: Running on the host, domid, metrics, devices attached, allowed_operations recomputed', async () => {
    const vm = makeVm('web-01');
    expect(await rpc(sim.url, 'VM.start', s, vm, false, false)).toBe('');
    const r = await rec(vm);
    expect(r.power_state).toBe('Running');
    expect(r.resident_on).toBe(host);
    expect(Number(r.domid)).toBeGreaterThan(0);
    expect(r.domain_type).toBe('hvm');
    const ops = r.allowed_operations as string[];
    expect(ops).toEqual(expect.arrayContaining(['clean_shutdown', 'hard_shutdown', 'pause', 'suspend', 'snapshot']));
    expect(ops).not.toContain('start');
    expect(r.current_operations).toEqual({});
    const m = (await rpc(sim.url, 'VM_metrics.get_record', s, r.metrics as string)) as XmlRpcStruct;
    expect(Number(m.memory_actual)).toBe(GiB);
    expect(Number(m.VCPUs_number)).toBe(2);
    expect(m.start_time).not.toBe('19700101T00:00:00Z');
    expect(m.current_domain_type).toBe('hvm');
    const vbd = (r.VBDs as string[])[0] as string;
    expect(await rpc(sim.url, 'VBD.get_currently_attached', s, vbd)).toBe(true);
    expect((await rpc(sim.url, 'host.get_resident_VMs', s, host)) as string[]).toContain(vm);
    const uuid = r.uuid as string;
    const messages = () => sim.db.where('message', (x) => x.obj_uuid === uuid).map((x) => [x.rec.name, x.rec.priority, x.rec.cls, x.rec.body]);
    expect(messages()).toEqual([['VM_STARTED', 5, 'VM', `VM 'web-01' (uuid: ${uuid}) started on host: ${sim.db.get('host', host).name_label} (uuid: ${sim.db.get('host', host).uuid})`]]);

    expect(await rpcFail(sim.url, 'VM.start', s, vm, false, false)).toEqual(['VM_BAD_POWER_STATE', vm, 'halted', 'running']);
    expect(await rpcFail(sim.url, 'VM.unpause', s, vm)).toEqual(['VM_BAD_POWER_STATE', vm, 'paused', 'running']);

    await rpc(sim.url, 'VM.pause', s, vm);
    expect((await rec(vm)).power_state).toBe('Paused');
    expect(await rpcFail(sim.url, 'VM.clean_shutdown', s, vm)).toEqual(['VM_BAD_POWER_STATE', vm, 'running', 'paused']);
    await rpc(sim.url, 'VM.unpause', s, vm);

    await rpc(sim.url, 'VM.clean_shutdown', s, vm);
    expect(messages().map(([name]) => name)).toEqual(['VM_STARTED', 'VM_PAUSED', 'VM_UNPAUSED', 'VM_SHUTDOWN']);
    const h = await rec(vm);
    expect(h.power_state).toBe('Halted');
    expect(h.resident_on).toBe('OpaqueRef:NULL');
    expect(Number(h.domid)).toBe(-1);
    expect(h.allowed_operations as string[]).toContain('start');
    expect(await rpc(sim.url, 'VBD.get_currently_attached', s, vbd)).toBe(false);
    expect(await rpcFail(sim.url, 'VM.hard_shutdown', s, vm)).toEqual(['VM_BAD_POWER_STATE', vm, 'paused, suspended, running', 'halted']);
  });

  test('allowed_operations of a halted VM: every operation whose checks pass, in XAPI\'s (reversed datamodel) order', async () => {
    const vm = makeVm('fresh');
    await rpc(sim.url, 'VM.update_allowed_operations', s, vm);
    expect(await rpc(sim.url, 'VM.get_allowed_operations', s, vm)).toEqual([
      'create_vtpm', 'destroy', 'metadata_export', 'export', 'make_into_template', 'changing_NVRAM', 'changing_shadow_memory',
      'changing_static_range', 'changing_dynamic_range', 'migrate_send', 'start_on', 'start', 'copy', 'clone', 'snapshot',
    ]);
    await rpc(sim.url, 'VM.add_to_blocked_operations', s, vm, 'start', 'restore in progress');
    expect(await rpcFail(sim.url, 'VM.start', s, vm, false, false)).toEqual(['OPERATION_BLOCKED', vm, 'restore in progress']);
    await rpc(sim.url, 'VM.remove_from_blocked_operations', s, vm, 'start');

    const pool = sim.db.refs('pool')[0] as string;
    sim.db.set('pool', pool, 'restrictions', { restrict_vm_start: 'true', restrict_vm_appliance_start: 'true' });
    try {
      expect(await rpcFail(sim.url, 'VM.start', s, vm, false, false)).toEqual(['LICENCE_RESTRICTION', 'VM_start']);
      expect(await rpcFail(sim.url, 'VM.assert_can_boot_here', s, vm, host)).toEqual(['LICENCE_RESTRICTION', 'VM_start']);
      const app = (await rpc(sim.url, 'VM_appliance.create', s, { name_label: 'licensed', name_description: '' })) as string;
      expect(await rpcFail(sim.url, 'VM_appliance.start', s, app, false)).toEqual(['LICENCE_RESTRICTION', 'VM_appliance_start']);
    } finally {
      sim.db.set('pool', pool, 'restrictions', {});
    }
  });

  test('start_paused leaves the VM Paused; hard_shutdown takes it down', async () => {
    const vm = makeVm('paused-01');
    await rpc(sim.url, 'VM.start', s, vm, true, false);
    expect((await rec(vm)).power_state).toBe('Paused');
    await rpc(sim.url, 'VM.hard_shutdown', s, vm);
    expect((await rec(vm)).power_state).toBe('Halted');
  });

  test('templates, control domains and dangling refs are refused with XAPI codes', async () => {
    const tpl = makeVm('tpl', { template: true });
    expect(await rpcFail(sim.url, 'VM.start', s, tpl, false, false)).toEqual(['VM_IS_TEMPLATE', tpl, 'start']);
    const dom0 = (await rpc(sim.url, 'host.get_control_domain', s, host)) as string;
    expect(await rpcFail(sim.url, 'VM.clean_shutdown', s, dom0)).toEqual(['OPERATION_NOT_ALLOWED', ['This operation is not allowed on a control domain']].flat());
    const bogus = 'OpaqueRef:00000000-0000-0000-0000-000000000001';
    expect(await rpcFail(sim.url, 'VM.start', s, bogus, false, false)).toEqual(['HANDLE_INVALID', 'VM', bogus]);
    expect(await rpcFail(sim.url, 'VM.set_order', s, tpl, -1)).toEqual(['INVALID_VALUE', 'order must be non-negative', '-1']);
  });

  test('memory: assert_can_boot_here names the shortfall in bytes, the start fails in squeezed KiB', async () => {
    const big = makeVm('huge', { memory: 100 * GiB });
    const free = 64 * GiB - 4 * GiB - sim.db.where('VM', (v) => v.resident_on === host && !v.is_control_domain).reduce((n, x) => n + x.rec.memory_dynamic_min, 0);
    expect(await rpcFail(sim.url, 'VM.assert_can_boot_here', s, big, host)).toEqual(['HOST_NOT_ENOUGH_FREE_MEMORY', String(100 * GiB), String(free)]);
    expect(await rpcFail(sim.url, 'VM.start', s, big, false, false)).toEqual([
      'HOST_NOT_ENOUGH_FREE_MEMORY',
      String((100 * GiB) / 1024),
      String(free / 1024),
    ]);
    expect((await rec(big)).power_state).toBe('Halted');
    expect(await rpc(sim.url, 'VM.get_possible_hosts', s, big)).toEqual([]);
  });

  test('NO_HOSTS_AVAILABLE when no host passes even without the memory check; the per-host reason from assert_can_boot_here', async () => {
    const lonely = sim.db.create('SR', { name_label: 'unplugged', type: 'lvmoiscsi' });
    const vm = makeVm('needs-sr', { srRef: lonely });
    expect(await rpcFail(sim.url, 'VM.start', s, vm, false, false)).toEqual(['NO_HOSTS_AVAILABLE']);
    expect(await rpcFail(sim.url, 'VM.assert_can_boot_here', s, vm, host)).toEqual(['VM_REQUIRES_SR', vm, lonely]);
    expect(await rpcFail(sim.url, 'VM.start_on', s, vm, host, false, false)).toEqual(['VM_REQUIRES_SR', vm, lonely]);

    const ok = makeVm('while-disabled');
    sim.db.set('host', host, 'enabled', false);
    try {
      expect(await rpcFail(sim.url, 'VM.start', s, ok, false, false)).toEqual(['NO_HOSTS_AVAILABLE']);
      expect(await rpcFail(sim.url, 'VM.assert_can_boot_here', s, ok, host)).toEqual(['HOST_DISABLED', host]);
    } finally {
      sim.db.set('host', host, 'enabled', true);
    }
    const many = makeVm('many-vcpus', { vcpus: 16 });
    expect(await rpcFail(sim.url, 'VM.assert_can_boot_here', s, many, host)).toEqual(['HOST_NOT_ENOUGH_PCPUS', '16', '8']);
  });

  test('Async.VM.start: the task is the VM operation in flight until start_delay has passed', async () => {
    const vm = makeVm('slow');
    await rpc(sim.url, 'VM.set_start_delay', s, vm, 1);
    const task = (await rpc(sim.url, 'Async.VM.start', s, vm, false, false)) as string;
    const during = await waitFor(() => rec(vm), (r) => r.power_state === 'Running');
    expect(during.current_operations).toEqual({ [task]: 'start' });
    expect(await rpcFail(sim.url, 'VM.clean_shutdown', s, vm)).toEqual(['OTHER_OPERATION_IN_PROGRESS', 'VM', vm, 'start', task]);
    const t = await finished(task);
    expect(t.status).toBe('success');
    expect((await rec(vm)).current_operations).toEqual({});
    await rpc(sim.url, 'VM.hard_shutdown', s, vm);
  });

  test('suspend writes a suspend image; start is refused, resume and hard_shutdown drop the image', async () => {
    const vm = makeVm('sleepy');
    await rpc(sim.url, 'VM.start', s, vm, false, false);
    expect(await rpcFail(sim.url, 'VM.suspend', s, vm)).toEqual(['VM_NO_SUSPEND_SR', vm]);
    const pool = sim.db.refs('pool')[0] as string;
    await rpc(sim.url, 'pool.set_suspend_image_SR', s, pool, sr);
    await rpc(sim.url, 'VM.suspend', s, vm);
    let r = await rec(vm);
    expect(r.power_state).toBe('Suspended');
    const image = r.suspend_VDI as string;
    expect(await rpc(sim.url, 'VDI.get_type', s, image)).toBe('suspend');
    expect(await rpcFail(sim.url, 'VM.start', s, vm, false, false)).toEqual(['VM_BAD_POWER_STATE', vm, 'halted', 'suspended']);
    await rpc(sim.url, 'VM.resume', s, vm, false, false);
    r = await rec(vm);
    expect(r.power_state).toBe('Running');
    expect(r.suspend_VDI).toBe('OpaqueRef:NULL');
    expect(sim.db.exists('VDI', image)).toBe(false);

    await rpc(sim.url, 'VM.suspend', s, vm);
    const image2 = (await rec(vm)).suspend_VDI as string;
    await rpc(sim.url, 'VM.hard_shutdown', s, vm);
    expect((await rec(vm)).power_state).toBe('Halted');
    expect(sim.db.exists('VDI', image2)).toBe(false);
  });
});

describe('VM_appliance', () => {
  test('start runs order groups ascending, shutdown descending; allowed_operations follow the members', async () => {
    const app = (await rpc(sim.url, 'VM_appliance.create', s, { name_label: 'shop', name_description: '' })) as string;
    expect(await rpc(sim.url, 'VM_appliance.get_allowed_operations', s, app)).toEqual([]);
    expect(await rpcFail(sim.url, 'VM_appliance.start', s, app, false)).toEqual(['OPERATION_NOT_ALLOWED', 'Appliance has no VMs.']);
    const db1 = makeVm('db');
    const web = makeVm('web');
    const lb = makeVm('lb');
    for (const [vm, order] of [[web, 1], [db1, 0], [lb, 2]] as const) {
      await rpc(sim.url, 'VM.set_appliance', s, vm, app);
      await rpc(sim.url, 'VM.set_order', s, vm, order);
    }
    expect(((await rpc(sim.url, 'VM_appliance.get_VMs', s, app)) as string[]).sort()).toEqual([db1, web, lb].sort());
    expect(await rpc(sim.url, 'VM_appliance.get_allowed_operations', s, app)).toEqual(['start']);

    await rpc(sim.url, 'VM_appliance.start', s, app, false);
    const domid = async (vm: string): Promise<number> => Number((await rec(vm)).domid);
    // Domain ids are handed out in boot order.
    expect(await domid(db1)).toBeLessThan(await domid(web));
    expect(await domid(web)).toBeLessThan(await domid(lb));
    expect(await rpc(sim.url, 'VM_appliance.get_allowed_operations', s, app)).toEqual(['clean_shutdown', 'hard_shutdown', 'shutdown']);

    await rpc(sim.url, 'VM_appliance.clean_shutdown', s, app);
    for (const vm of [db1, web, lb]) expect((await rec(vm)).power_state).toBe('Halted');

    const tpl = makeVm('tpl2', { template: true });
    expect(await rpcFail(sim.url, 'VM.set_appliance', s, tpl, app)).toEqual([
      'OPERATION_NOT_ALLOWED',
      'Control domains, templates and snapshots cannot be assigned to appliances.',
    ]);
  });

  test('a VM that cannot start does not stop the others: OPERATION_PARTIALLY_FAILED [operation, vm]', async () => {
    const app = (await rpc(sim.url, 'VM_appliance.create', s, { name_label: 'half', name_description: '' })) as string;
    const lonely = sim.db.create('SR', { name_label: 'gone', type: 'lvmoiscsi' });
    const broken = makeVm('broken', { srRef: lonely });
    const fine = makeVm('fine');
    await rpc(sim.url, 'VM.set_appliance', s, broken, app);
    await rpc(sim.url, 'VM.set_appliance', s, fine, app);
    await rpc(sim.url, 'VM.set_order', s, fine, 5);
    const task = (await rpc(sim.url, 'Async.VM_appliance.start', s, app, false)) as string;
    const t = await finished(task);
    expect(t.status).toBe('failure');
    expect(t.error_info).toEqual(['OPERATION_PARTIALLY_FAILED', 'VM_appliance.start', broken]);
    expect((await rec(fine)).power_state).toBe('Running');
    await rpc(sim.url, 'VM_appliance.hard_shutdown', s, app);
    expect((await rec(fine)).power_state).toBe('Halted');
  });
});

describe('reboots', () => {
  test('clean_reboot and hard_reboot rebuild the domain on the same host: new domid, Running, VM_REBOOTED', async () => {
    const vm = makeVm('rebooter');
    await rpc(sim.url, 'VM.start', s, vm, false, false);
    const before = await rec(vm);
    expect(before.allowed_operations as string[]).toEqual(expect.arrayContaining(['clean_reboot', 'hard_reboot']));
    expect(await rpc(sim.url, 'VM.clean_reboot', s, vm)).toBe('');
    const after = await rec(vm);
    expect(after.power_state).toBe('Running');
    expect(after.resident_on).toBe(host);
    expect(Number(after.domid)).toBeGreaterThan(Number(before.domid));
    expect(after.current_operations).toEqual({});
    const uuid = after.uuid as string;
    const bodies = () => sim.db.where('message', (x) => x.obj_uuid === uuid && x.name === 'VM_REBOOTED').map((x) => [x.rec.priority, x.rec.body]);
    expect(bodies()).toEqual([[5, `VM 'rebooter' (uuid: ${uuid}) rebooted cleanly`]]);

    // A paused VM can only be rebooted hard, and comes back running.
    await rpc(sim.url, 'VM.pause', s, vm);
    expect(await rpcFail(sim.url, 'VM.clean_reboot', s, vm)).toEqual(['VM_BAD_POWER_STATE', vm, 'running', 'paused']);
    const task = (await rpc(sim.url, 'Async.VM.hard_reboot', s, vm)) as string;
    expect((await finished(task)).status).toBe('success');
    const hard = await rec(vm);
    expect(hard.power_state).toBe('Running');
    expect(Number(hard.domid)).toBeGreaterThan(Number(after.domid));
    expect(bodies().map(([, b]) => b)).toEqual([`VM 'rebooter' (uuid: ${uuid}) rebooted cleanly`, `VM 'rebooter' (uuid: ${uuid}) rebooted forcibly`]);

    await rpc(sim.url, 'VM.hard_shutdown', s, vm);
    expect(await rpcFail(sim.url, 'VM.clean_reboot', s, vm)).toEqual(['VM_BAD_POWER_STATE', vm, 'running', 'halted']);
    expect(await rpcFail(sim.url, 'VM.hard_reboot', s, vm)).toEqual(['VM_BAD_POWER_STATE', vm, 'paused, running', 'halted']);
  });

  test('a reboot marks every VIF; one busy with another operation makes it fail and leaves the VM as it was', async () => {
    const vm = makeVm('busy-vif');
    await rpc(sim.url, 'VM.start', s, vm, false, false);
    const domid = (await rec(vm)).domid;
    const vif = sim.db.getField('VM', vm, 'VIFs')[0] as string;
    sim.db.mapAdd('VIF', vif, 'current_operations', 'OpaqueRef:11111111-1111-4111-8111-111111111111', 'unplug');
    expect(await rpcFail(sim.url, 'VM.hard_reboot', s, vm)).toEqual(['OPERATION_NOT_ALLOWED', 'Failed to lock all VIFs']);
    const r = await rec(vm);
    expect([r.power_state, r.domid, r.current_operations]).toEqual(['Running', domid, {}]);
    sim.db.mapRemove('VIF', vif, 'current_operations', 'OpaqueRef:11111111-1111-4111-8111-111111111111');
    await rpc(sim.url, 'VM.hard_reboot', s, vm);
    expect(await rpc(sim.url, 'VIF.get_current_operations', s, vif)).toEqual({});
    expect(await rpc(sim.url, 'VIF.get_currently_attached', s, vif)).toBe(true);
    await rpc(sim.url, 'VM.hard_shutdown', s, vm);
  });
});

describe('by API version', () => {
  test('xs41 (API 1.2): power operations, but no vApps, sequencing setters or VM.shutdown', async () => {
    const old = await startTempSim({ profile: 'xs41' });
    try {
      const session = (await rpc(old.sim.url, 'session.login_with_password', 'root', 'demo', '1.2')) as string;
      const vm = old.sim.db.create('VM', { name_label: 'old', power_state: 'Halted', memory_static_max: GiB, memory_dynamic_max: GiB, memory_dynamic_min: GiB, memory_static_min: GiB });
      await rpc(old.sim.url, 'VM.start', session, vm, false, false);
      expect(old.sim.db.get('VM', vm).power_state).toBe('Running');
      // Reboots are in every release (rio).
      await rpc(old.sim.url, 'VM.clean_reboot', session, vm);
      expect(old.sim.db.get('VM', vm).power_state).toBe('Running');
      expect(await rpcFail(old.sim.url, 'VM.shutdown', session, vm)).toEqual(['MESSAGE_METHOD_UNKNOWN', 'VM.shutdown']);
      expect(await rpcFail(old.sim.url, 'VM.set_order', session, vm, 1)).toEqual(['MESSAGE_METHOD_UNKNOWN', 'VM.set_order']);
      expect(await rpcFail(old.sim.url, 'VM_appliance.start', session, vm, false)).toEqual(['MESSAGE_METHOD_UNKNOWN', 'VM_appliance.start']);
      await rpc(old.sim.url, 'VM.hard_shutdown', session, vm);
    } finally {
      await old.cleanup();
    }
  });
});
