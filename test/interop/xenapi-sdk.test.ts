/**
 * Interoperability: the official XenAPI Python SDK (PyPI `XenAPI`, or where the index is out
 * of reach the same module as Debian's python3-os-xenapi carries it; .ci/run puts it in
 * .cache/pypi) drives VM power operations against a fresh simulator: login, records,
 * lifecycle calls, Async calls with task polling, and errors as the SDK's Failure.details
 * holds them. Without the SDK on the machine (no package index) the script runs the same
 * calls through the stdlib and says so; when the SDK is there it must be the one used.
 */
import { existsSync } from 'node:fs';
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
