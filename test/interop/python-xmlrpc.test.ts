/**
 * Interoperability: Python's stdlib xmlrpc.client (a third, independent XML-RPC
 * implementation) against a running simulator over a real socket.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { SimHandle } from '../../src/sim/server.js';
import { backupVdiUuid } from '../../src/sim/uuid.js';
import { fieldNames } from '../../src/sim/schema.js';
import { startTempSim } from '../integration/sim-helpers.js';
import { runPython } from './run-python.js';

const SCRIPT = fileURLToPath(new URL('./sim_client.py', import.meta.url));
const PASSWORD = 'py-interop-pw';

let sim: SimHandle;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ sim, cleanup } = await startTempSim({
    rootPassword: PASSWORD,
    populate: (db, ctx) => {
      const sr = db.create('SR', { name_label: 'Local storage', type: 'ext', physical_size: 2 ** 40 });
      db.create('PBD', { host: ctx.host, SR: sr, currently_attached: true });
      const iso = db.create('SR', { name_label: 'ISO library', type: 'iso', content_type: 'iso', physical_size: 2 ** 30 });
      db.create('PBD', { host: ctx.host, SR: iso, currently_attached: true });
      for (const name of ['web-01', 'db-01']) {
        const vm = db.create('VM', {
          name_label: name,
          power_state: 'Halted',
          memory_static_max: 2 ** 31,
          other_config: { mac_seed: `seed-${name}` },
        });
        const vdi = db.create('VDI', { name_label: `${name} disk`, SR: sr, virtual_size: 10 * 2 ** 30 });
        db.create('VBD', { VM: vm, VDI: vdi, userdevice: '0', mode: 'RW', type: 'Disk' });
      }
      db.create('VM', { name_label: 'a template', is_a_template: true });
    },
  }));
});
afterAll(async () => cleanup());

const run = (url: string): Promise<string> => runPython(SCRIPT, [url], PASSWORD);

test('python xmlrpc.client logs in, lists SRs and VMs, reads a record, runs an Async call', async () => {
  const seen = JSON.parse(await run(sim.url)) as Record<string, unknown>;
  expect(seen.bad_login).toEqual(['SESSION_AUTHENTICATION_FAILED', 'root', 'Authentication failure']);
  expect(seen.session_prefix).toBe('OpaqueRef');
  expect(seen.sr_names).toEqual(['ISO library', 'Local storage']);
  expect(seen.sr_types).toEqual(['str']); // int64 arrives as text
  expect(seen.vm_names).toEqual(['db-01', 'web-01']);
  expect(seen.lookup_in_where_result).toBe(true);
  const rec = seen.vm_record as Record<string, unknown>;
  expect(rec.name_label).toBe('db-01');
  expect(rec.power_state).toBe('Halted');
  expect(rec.is_a_template).toBe(false);
  expect(rec.memory_static_max).toBe('2147483648');
  expect(rec.HVM_shadow_multiplier).toBe(1);
  expect(rec.snapshot_time).toEqual({ datetime: '19700101T00:00:00Z' });
  expect(rec.VBD_count).toBe(1);
  expect(rec.other_config).toEqual({ mac_seed: 'seed-db-01' });
  expect(rec.field_count).toBe(fieldNames('VM').length); // every field of the schema
  expect(seen.async_vdi_uuid).toBe(backupVdiUuid(seen.sr_uuid as string));
  expect(seen.small_size).toBe('4096');
  expect(seen.handle_invalid).toEqual(['HANDLE_INVALID', 'VDI', 'OpaqueRef:missing']);
  expect(seen.after_logout).toBe('SESSION_INVALID');
  expect(seen.methods_bare_list).toBe(true);
  expect(seen.methods_has_async).toBe(false);
});
