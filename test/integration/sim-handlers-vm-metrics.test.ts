/**
 * VM_metrics in metadata exports (XAPI writes them since v24.40.0: the xs8 profile does, ch82
 * does not) and their import; import defaults for fields the datamodel defaults.
 */
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isStruct, parseValue, serializeValue, type XmlRpcStruct } from '../../src/sim/codec.js';
import type { Ref } from '../../src/sim/db.js';
import { packOvaTar, readOvaXml } from '../../src/sim/handlers/ova-tar.js';
import { httpRequest, newTask, query, startDemoSim, taskDone, taskRecord, type DemoSim } from './sim-handlers-fixture.js';

let xs8: DemoSim;
let ch82: DemoSim;

beforeAll(async () => {
  xs8 = await startDemoSim({ vms: 4, seed: 31 });
  ch82 = await startDemoSim({ vms: 3, seed: 32, profile: 'ch82' });
});
afterAll(async () => {
  await xs8?.close();
  await ch82?.close();
});

async function exportDoc(s: DemoSim, vm: Ref): Promise<XmlRpcStruct> {
  const task = await newTask(s, 'export');
  const res = await httpRequest('GET', `${s.sim.url}/export_metadata?${query(s, task, { ref: vm })}`);
  expect(res.status).toBe(200);
  const doc = parseValue(await readOvaXml(Readable.from([res.body])));
  if (!isStruct(doc)) throw new Error('ova.xml is not a struct');
  return doc;
}

function objects(doc: XmlRpcStruct): Array<{ cls: string; id: string; snapshot: XmlRpcStruct }> {
  return (doc.objects as XmlRpcStruct[]).map((o) => ({ cls: o.class as string, id: o.id as string, snapshot: o.snapshot as XmlRpcStruct }));
}

async function importDoc(s: DemoSim, doc: XmlRpcStruct, pairs: Array<[string, string]> = []) {
  const task = await newTask(s, 'import');
  const q = new URLSearchParams(query(s, task));
  for (const [k, v] of pairs) q.append(k, v);
  await httpRequest('PUT', `${s.sim.url}/import_metadata?${q.toString()}`, { body: await packOvaTar(serializeValue(doc), new Date()) });
  await taskDone(s, task);
  const t = await taskRecord(s, task);
  return { ...t, vms: t.status === 'success' ? (parseValue(t.result) as string[]) : [] };
}

function vmWithDisk(s: DemoSim): Ref {
  const db = s.sim.db;
  return s.demo.vms.find((v) => db.get('VM', v).VBDs.some((b) => db.get('VBD', b).type === 'Disk' && !db.get('VBD', b).empty))!;
}

/** `vdi:<uuid>=<uuid>` for every exported VDI: the disks are found without their location. */
function vdiPairs(doc: XmlRpcStruct): Array<[string, string]> {
  return objects(doc)
    .filter((o) => o.cls === 'VDI')
    .map((o) => [`vdi:${o.snapshot.uuid as string}`, o.snapshot.uuid as string]);
}

describe('VM_metrics in exports', () => {
  test('xs8 (xapi 25.27) exports the VM metrics after the VMs, with the datamodel fields; the import copies them under a fresh uuid', async () => {
    const db = xs8.sim.db;
    const vm = vmWithDisk(xs8);
    const metricsRef = db.get('VM', vm).metrics;
    db.update('VM_metrics', metricsRef, { VCPUs_number: 7, current_domain_type: 'pvh', nested_virt: true, other_config: { mark: 'exported' } });
    const doc = await exportDoc(xs8, vm);
    const objs = objects(doc);
    const classes = objs.map((o) => o.cls);
    expect(classes.indexOf('VM_metrics')).toBeGreaterThan(classes.lastIndexOf('VM'));
    expect(classes.indexOf('VM_metrics')).toBeLessThan(classes.indexOf('VBD'));
    const vmObj = objs.find((o) => o.cls === 'VM' && o.snapshot.uuid === db.get('VM', vm).uuid)!;
    const m = objs.find((o) => o.id === vmObj.snapshot.metrics)!;
    expect(m.cls).toBe('VM_metrics');
    expect(Object.keys(m.snapshot).sort()).toEqual(
      ['uuid', 'memory_actual', 'VCPUs_number', 'VCPUs_utilisation', 'VCPUs_CPU', 'VCPUs_params', 'VCPUs_flags', 'state', 'start_time', 'install_time', 'last_updated', 'other_config', 'hvm', 'nested_virt', 'nomigrate', 'current_domain_type'].sort(),
    );
    expect(m.snapshot.uuid).toBe(db.get('VM_metrics', metricsRef).uuid);
    expect(m.snapshot.VCPUs_number).toBe('7');
    expect(m.snapshot.current_domain_type).toBe('pvh');

    const out = await importDoc(xs8, doc, vdiPairs(doc));
    expect(out.error_info).toEqual([]);
    const imported = out.vms[0]!;
    const importedMetrics = db.get('VM_metrics', db.get('VM', imported).metrics);
    expect(importedMetrics.uuid).not.toBe(m.snapshot.uuid);
    expect(importedMetrics.VCPUs_number).toBe(7);
    expect(importedMetrics.current_domain_type).toBe('pvh');
    expect(importedMetrics.nested_virt).toBe(true);
    expect(importedMetrics.other_config).toEqual({ mark: 'exported' });
  });

  test('ch82 (xapi 1.249) exports no VM_metrics and writes VM.metrics as null', async () => {
    const doc = await exportDoc(ch82, ch82.demo.vms[0]!);
    const objs = objects(doc);
    expect(objs.some((o) => o.cls === 'VM_metrics')).toBe(false);
    for (const o of objs.filter((x) => x.cls === 'VM')) expect(o.snapshot.metrics).toBe('OpaqueRef:NULL');
  });
});

describe('import defaults', () => {
  test('VDI.location, VM and network name_label missing: datamodel defaults, not IMPORT_ERROR', async () => {
    const vm = vmWithDisk(xs8);
    const doc = await exportDoc(xs8, vm);
    for (const o of objects(doc)) {
      if (o.cls === 'VDI') delete o.snapshot.location;
      if (o.cls === 'VM' || o.cls === 'network') delete o.snapshot.name_label;
    }
    const out = await importDoc(xs8, doc, vdiPairs(doc));
    expect(out.error_info).toEqual([]);
    expect(out.status).toBe('success');
    expect(xs8.sim.db.get('VM', out.vms[0]!).name_label).toBe('');
  });

  test('a field the datamodel gives no default (VDI.SR) is still required', async () => {
    const doc = await exportDoc(xs8, vmWithDisk(xs8));
    for (const o of objects(doc)) if (o.cls === 'VDI') delete o.snapshot.SR;
    const out = await importDoc(xs8, doc, vdiPairs(doc));
    expect(out.error_info).toEqual(['IMPORT_ERROR', 'Field SR not present in rpc of VDI']);
  });
});
