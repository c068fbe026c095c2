/**
 * GET /pool/xmldbdump: XAPI's head (no content-type, no length, no task header), and a
 * body that an independent XML parser (Python's minidom) reads as the whole database.
 */
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { httpRequest, newTask, query, startDemoSim, taskRecord, type DemoSim } from './sim-handlers-fixture.js';

let s: DemoSim;

beforeAll(async () => {
  s = await startDemoSim({ vms: 5, seed: 8 });
});
afterAll(async () => {
  await s?.close();
});

/** Parses the dump with minidom; returns the manifest, row counts and some attributes. */
function pythonSummary(xml: Buffer, refs: string[]): Promise<{ manifest: Record<string, string>; rows: Record<string, number>; attrs: Record<string, Record<string, string>> }> {
  const script = `
import json, sys
from xml.dom import minidom
doc = minidom.parseString(sys.stdin.buffer.read())
db = doc.documentElement
assert db.tagName == 'database'
manifest = {p.getAttribute('key'): p.getAttribute('value') for p in db.getElementsByTagName('pair')}
rows, attrs = {}, {}
want = set(json.loads(sys.argv[1]))
for t in db.getElementsByTagName('table'):
    rs = t.getElementsByTagName('row')
    rows[t.getAttribute('name')] = len(rs)
    for r in rs:
        if r.getAttribute('ref') in want:
            attrs[r.getAttribute('ref')] = dict(r.attributes.items())
print(json.dumps({'manifest': manifest, 'rows': rows, 'attrs': attrs}))
`;
  return new Promise((resolve, reject) => {
    const child = execFile('python3', ['-c', script, JSON.stringify(refs)], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout));
    });
    child.stdin?.end(xml);
  });
}

/** XAPI's Xml_spaces.unprotect. */
function unprotect(s: string): string {
  return s.replace(/%([.tnr%])/g, (_m, c: string) => ({ '.': ' ', t: '\t', n: '\n', r: '\r', '%': '%' })[c] as string);
}

test('the whole database as XAPI XML, readable by minidom', async () => {
  const vm = s.demo.vms[0]!;
  const tricky = `web <01> & "prod" 'eu' 100%\tdone`;
  s.sim.db.set('VM', vm, 'name_label', tricky);
  const task = await newTask(s, 'dump');
  const res = await httpRequest('GET', `${s.sim.url}/pool/xmldbdump?${query(s, task)}`);
  expect(res.status).toBe(200);
  expect(res.rawHeaderNames).not.toContain('content-type');
  expect(res.rawHeaderNames).not.toContain('content-length');
  expect(res.rawHeaderNames).not.toContain('transfer-encoding');
  expect(res.rawHeaderNames).not.toContain('task-id');
  expect(res.headers.connection).toBe('close');
  expect(res.body.toString('utf8').startsWith('<?xml version="1.0" encoding="UTF-8"?><database><manifest><pair key="schema_major_vsn" value="5"/>')).toBe(true);

  const sr = s.demo.srs.local;
  const summary = await pythonSummary(res.body, [vm, sr]);
  expect(summary.manifest.schema_major_vsn).toBe('5');
  expect(Number(summary.manifest.generation_count)).toBeGreaterThan(0);
  const db = s.sim.db;
  expect(summary.rows.VM).toBe(db.count('VM'));
  expect(summary.rows.VDI).toBe(db.count('VDI'));
  expect(summary.rows.network).toBe(db.count('network'));
  expect(summary.rows.task).toBe(0);
  expect(summary.rows.session).toBe(0);

  const vmRow = summary.attrs[vm]!;
  expect(unprotect(vmRow.name__label!)).toBe(tricky);
  expect(vmRow.name__label).toContain('%.');
  expect(vmRow.uuid).toBe(db.get('VM', vm).uuid);
  expect(vmRow.is_a_template).toBe('false');
  expect(vmRow.memory__static_max).toBe(String(db.get('VM', vm).memory_static_max));
  // Sets and maps as S-expressions.
  const vbds = db.get('VM', vm).VBDs;
  expect(unprotect(vmRow.VBDs!)).toBe(`(${vbds.map((r) => `'${r}'`).join(' ')})`);
  expect(unprotect(vmRow.other_config!)).toContain(`('mac_seed' '${db.get('VM', vm).other_config.mac_seed}')`);
  expect(unprotect(summary.attrs[sr]!.name__label!)).toBe('Local storage');

  const t = await taskRecord(s, task);
  expect(t.status).toBe('success');
  expect(t.result).toBe('');
});
