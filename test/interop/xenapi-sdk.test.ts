/**
 * Interoperability: the official XenAPI Python SDK (PyPI `XenAPI`, or where the index is out
 * of reach the same module as Debian's python3-os-xenapi carries it; .ci/run puts it in
 * .cache/pypi) drives VM power operations against a fresh simulator: login, records,
 * lifecycle calls, Async calls with task polling, and errors as the SDK's Failure.details
 * holds them. Without the SDK on the machine (no package index) the script runs the same
 * calls through the stdlib and says so; when the SDK is there it must be the one used.
 * Its local mode (xapi_local: XML-RPC over the host's UNIX socket) is driven against the
 * simulator's socket (xenapi_sdk_local.py says how the module's transport is pointed there).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { SimHandle } from '../../src/sim/server.js';
import { startTempSim } from '../integration/sim-helpers.js';
import { runPython } from './run-python.js';

const SCRIPT = fileURLToPath(new URL('./xenapi_sdk_client.py', import.meta.url));
const SDK_DIR = fileURLToPath(new URL('../../.cache/pypi', import.meta.url));
const PASSWORD = 'sdk-interop-pw';
const GiB = 1024 ** 3;

let sim: SimHandle;
let cleanup: () => Promise<void>;
let vm = '';
let template = '';

beforeAll(async () => {
  ({ sim, cleanup } = await startTempSim({
    rootPassword: PASSWORD,
    populate: (db, ctx) => {
      const sr = db.create('SR', { name_label: 'Local storage', type: 'ext', physical_size: 2 ** 40 });
      db.create('PBD', { host: ctx.host, SR: sr, currently_attached: true });
      const metrics = db.create('VM_metrics', {});
      vm = db.create('VM', {
        name_label: 'sdk-vm',
        power_state: 'Halted',
        memory_static_max: 2 * GiB,
        memory_dynamic_max: 2 * GiB,
        memory_dynamic_min: 2 * GiB,
        memory_static_min: GiB,
        HVM_boot_policy: 'BIOS order',
        metrics,
        allowed_operations: ['start'],
      });
      const vdi = db.create('VDI', { name_label: 'sdk-vm disk', SR: sr, virtual_size: 10 * GiB });
      db.create('VBD', { VM: vm, VDI: vdi, userdevice: '0', mode: 'RW', type: 'Disk' });
      template = db.create('VM', { name_label: 'a template', is_a_template: true });
    },
  }));
});
afterAll(async () => cleanup());

const run = (url: string): Promise<string> => runPython(SCRIPT, [url, SDK_DIR, 'sdk-vm'], PASSWORD);

test('XenAPI SDK: login, records, VM.start/pause/unpause, Async.VM.clean_shutdown with task polling, Failure details', async () => {
  const seen = JSON.parse(await run(sim.url)) as Record<string, unknown>;
  expect(seen.client).toBe(existsSync(`${SDK_DIR}/XenAPI.py`) || existsSync(`${SDK_DIR}/XenAPI`) ? 'XenAPI' : 'stdlib');
  expect(seen.bad_login).toEqual(['SESSION_AUTHENTICATION_FAILED', 'root', 'Authentication failure']);
  expect(seen.before).toEqual({ power_state: 'Halted', start_allowed: true });
  expect(seen.host_is_master).toBe(true);
  expect(seen.running).toEqual({
    power_state: 'Running',
    resident_on_host: true,
    domid_positive: true,
    memory_actual: String(2 * GiB),
    clean_shutdown_allowed: true,
  });
  expect(seen.start_again).toEqual(['VM_BAD_POWER_STATE', vm, 'halted', 'running']);
  expect(seen.unpause_running).toEqual(['VM_BAD_POWER_STATE', vm, 'paused', 'running']);
  expect(seen.paused).toBe('Paused');
  expect(seen.async_shutdown).toEqual({ status: 'success', name_label: 'Async.VM.clean_shutdown', power_state: 'Halted' });
  expect(seen.hard_shutdown_halted).toEqual(['VM_BAD_POWER_STATE', vm, 'paused, suspended, running', 'halted']);
  expect(seen.async_failure).toEqual({ status: 'failure', error_info: ['VM_BAD_POWER_STATE', vm, 'paused, suspended, running', 'halted'] });
  expect(seen.template_start).toEqual(['VM_IS_TEMPLATE', template, 'start']);
  expect(seen.handle_invalid).toEqual(['HANDLE_INVALID', 'VM', 'OpaqueRef:nonexistent']);
  expect(seen.can_boot_here).toBeNull();
});

const LOCAL_SCRIPT = fileURLToPath(new URL('./xenapi_sdk_local.py', import.meta.url));
const SDK_PRESENT = existsSync(`${SDK_DIR}/XenAPI.py`) || existsSync(`${SDK_DIR}/XenAPI`);

// Local mode needs the SDK itself: without it there is no module transport to drive.
test.skipIf(!SDK_PRESENT)('XenAPI SDK local mode (xapi_local over the UNIX socket): login without a password, the emergency login and local_logout', async () => {
  const socket = sim.socketPath!;
  // The module turns the URL's host into the socket path by writing "_" as "/".
  expect(socket, 'the socket path must have no "_" for the SDK to name it').not.toContain('_');
  const seen = JSON.parse(await runPython(LOCAL_SCRIPT, [socket, sim.url, SDK_DIR], PASSWORD)) as Record<string, any>;
  // Debian's copy overrides send_request with Python 2's three parameters; PyPI's does not.
  const module = [`${SDK_DIR}/XenAPI.py`, `${SDK_DIR}/XenAPI/XenAPI.py`].find((f) => existsSync(f))!;
  const python2Only = /def send_request\(self, connection, handler, request_body\):/.test(readFileSync(module, 'utf8'));
  expect(seen.transport).toBe(python2Only ? 'XenAPI.UDSHTTPConnection with the stdlib Transport' : 'XenAPI.UDSTransport');
  const host = sim.db.get('host', sim.db.refs('host')[0]!);
  expect(seen.login).toEqual({
    auth_user_name: 'root',
    is_local_superuser: true,
    originator: 'sdk-local',
    pools: 1,
    api_version: `${host.API_version_major}.${host.API_version_minor}`,
  });
  expect(seen.local.pools).toBe(1);
  expect(seen.local.handle_form).toBe(true);
  expect(seen.local.record?.[0]).toBe('HANDLE_INVALID');
  expect(seen.local.after_logout?.[0]).toBe('SESSION_INVALID');
  expect(seen.tcp_wrong).toEqual(['SESSION_AUTHENTICATION_FAILED', 'root', 'Authentication failure']);
  expect(seen.tcp_pools).toBe(1);
});
