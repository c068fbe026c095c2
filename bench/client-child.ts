/**
 * The baseline: the stock scripts' call pattern, run in a process of its own. Each `xe`
 * invocation of xe-backup-metadata / xe-restore-metadata is one process with its own
 * session, so every step here is login → work → logout, one after the other. Process
 * start-up of those `xe` processes is not counted (it flatters the baseline), nor are the
 * VBD create/plug/unplug/destroy steps around the mount (a constant the same size in both).
 * Prints one JSON line: {scenario, wallMs, maxRssKb, …} or {error}.
 *
 *   stock-backup   pool-dump-database; vm-list; per VM and custom template vm-export
 *                  --metadata to a file; backup-sr-metadata.py (SR records, a VDI record each);
 *                  --limit N measures the VM loop and the VDI record loop on their first N
 *   stock-restore  per file vm-import --metadata --preserve --force; restore-sr-metadata.py
 *                  (per SR and VDI: get_by_uuid, set_name_label, set_name_description);
 *                  --limit N measures the rename loop on its first N objects
 *   records        the product's own client reading every VM record --repeat N times over
 *                  --transport xml-rpc|json-rpc, --read raw (every field decoded) or typed
 *                  (the fields the backup reads, as VM.getAllRecords asks for them); per read
 *                  the wall time and this process's CPU time
 *
 * The password comes from XSDR_PASSWORD (never argv).
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildSrMeta, parseSrMeta, type SrNames } from '../src/dr/srmeta.js';
import { Session, VM, dumpPoolDatabase, exportMetadata, importMetadata, toStr, type Ref, type TransportChoice } from '../src/xenapi/index.js';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string' },
    url: { type: 'string' },
    dir: { type: 'string' },
    /** stock-backup: only the first N VMs of the set (the caller extrapolates the rest). */
    limit: { type: 'string' },
    /** records: the wire protocol, and how many reads of each kind. */
    transport: { type: 'string', default: 'xml-rpc' },
    repeat: { type: 'string', default: '5' },
    read: { type: 'string', default: 'raw' },
  },
});

const password = process.env['XSDR_PASSWORD'] ?? '';
if (password === '') throw new Error('client-child: set XSDR_PASSWORD');
const url = values.url ?? '';
const SRMETA = 'SRMETA.xml';
const UNSAMPLED = 'unsampled-vdis';

/** One `xe` process: its own session for one piece of work. */
async function xe<T>(work: (s: Session) => Promise<T>): Promise<T> {
  const s = await Session.login({ url, user: 'root', password, originator: 'xsconsole-dr-bench' });
  try {
    return await work(s);
  } finally {
    await s.logout().catch(() => undefined);
  }
}

type Records = Record<Ref, Record<string, unknown>>;

async function stockBackup(dir: string): Promise<Record<string, unknown>> {
  await mkdir(dir, { recursive: true });
  const db = await xe((s) => dumpPoolDatabase(s));
  await writeFile(join(dir, 'pool.db'), db);
  const recs = await xe((s) => s.call<Records>('VM.get_all_records'));
  const oc = (r: Record<string, unknown>) => (r['other_config'] ?? {}) as Record<string, unknown>;
  const vms = Object.values(recs).filter((r) => r['is_control_domain'] !== true && r['is_a_template'] !== true && r['is_a_snapshot'] !== true);
  const templates = Object.values(recs).filter(
    (r) => r['is_a_template'] === true && r['is_a_snapshot'] !== true && r['is_default_template'] !== true && oc(r)['default_template'] !== 'true',
  );
  const all = [...vms, ...templates].map((r) => toStr(r['uuid']));
  const set = values.limit ? all.slice(0, Number(values.limit)) : all;
  let failures = 0;
  let bytes = db.length;
  const loopStarted = performance.now();
  for (const uuid of set) {
    try {
      const tar = await xe((s) => exportMetadata(s, { vmUuid: uuid, exportSnapshots: false }));
      await writeFile(join(dir, `${uuid}.vmmeta`), tar);
      bytes += tar.length;
    } catch {
      failures++; // stock silences export failures
    }
  }
  const loopMs = performance.now() - loopStarted;
  // --limit: the per-VDI record loop too is measured on its first N VDIs (the caller scales it).
  let vdiRecords = 0;
  let vdiTotal = 0;
  let namesMs = 0;
  const srmeta = await xe(async (s) => {
    const srs = await s.call<Records>('SR.get_all_records');
    const out: SrNames[] = [];
    const started = performance.now();
    for (const sr of Object.values(srs)) {
      const vdis: SrNames['vdis'] = [];
      for (const ref of (sr['VDIs'] ?? []) as Ref[]) {
        vdiTotal++;
        if (values.limit && vdiRecords >= Number(values.limit)) continue;
        vdiRecords++;
        const v = await s.call<Record<string, unknown>>('VDI.get_record', ref).catch(() => null);
        if (v) vdis.push({ uuid: toStr(v['uuid']), nameLabel: toStr(v['name_label']), nameDescription: toStr(v['name_description']) });
      }
      out.push({ uuid: toStr(sr['uuid']), nameLabel: toStr(sr['name_label']), nameDescription: toStr(sr['name_description']), vdis });
    }
    namesMs = performance.now() - started;
    return buildSrMeta(out);
  });
  await writeFile(join(dir, SRMETA), srmeta);
  // The VDIs left out of the sample: the restore scales its rename loop to the whole set.
  await writeFile(join(dir, UNSAMPLED), String(vdiTotal - vdiRecords));
  bytes += Buffer.byteLength(srmeta);
  return { exported: set.length - failures, failures, setSize: all.length, bytes, loopMs, loopItems: set.length, namesMs, namesItems: vdiRecords, namesTotal: vdiTotal };
}

async function stockRestore(dir: string): Promise<Record<string, unknown>> {
  const files = (await readdir(dir)).filter((n) => n.endsWith('.vmmeta')).sort();
  let restored = 0;
  let errors = 0;
  const loopStarted = performance.now();
  for (const name of files) {
    const body = await readFile(join(dir, name));
    try {
      await xe((s) => importMetadata(s, body, { restore: true, force: true }));
      restored++;
    } catch {
      errors++;
    }
  }
  const loopMs = performance.now() - loopStarted;
  let names = 0;
  const meta = parseSrMeta(await readFile(join(dir, SRMETA)));
  // --limit: the rename loop too is measured on its first N objects (the caller scales it).
  const unsampled = Number(await readFile(join(dir, UNSAMPLED), 'utf8').catch(() => '0'));
  const objects = meta.srs.reduce((n, sr) => n + 1 + sr.vdis.length, 0);
  const nameLimit = values.limit ? Number(values.limit) : Infinity;
  const namesStarted = performance.now();
  await xe(async (s) => {
    const rename = async (cls: 'SR' | 'VDI', uuid: string, label: string, desc: string) => {
      try {
        const ref = await s.call<Ref>(`${cls}.get_by_uuid`, uuid);
        await s.call(`${cls}.set_name_label`, ref, label);
        await s.call(`${cls}.set_name_description`, ref, desc);
        names++;
      } catch {
        // stock: a missing VDI is reported and skipped
      }
    };
    let tried = 0;
    for (const sr of meta.srs) {
      if (tried++ >= nameLimit) break;
      await rename('SR', sr.uuid, sr.nameLabel, sr.nameDescription);
      for (const v of sr.vdis) {
        if (tried++ >= nameLimit) break;
        await rename('VDI', v.uuid, v.nameLabel, v.nameDescription);
      }
    }
  });
  const namesMs = performance.now() - namesStarted;
  return { restored, errors, names, loopMs, loopItems: files.length, namesMs, namesItems: Math.min(objects, nameLimit), namesTotal: objects + unsampled };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** One read, timed: wall and this process's CPU (user + system), in ms. */
async function timed(work: () => Promise<unknown>): Promise<{ wallMs: number; cpuMs: number }> {
  const cpu = process.cpuUsage();
  const t = performance.now();
  await work();
  const used = process.cpuUsage(cpu);
  return { wallMs: performance.now() - t, cpuMs: (used.user + used.system) / 1000 };
}

async function records(): Promise<Record<string, unknown>> {
  const transport = values.transport as TransportChoice;
  const repeat = Number(values.repeat);
  const s = await Session.login({ url, user: 'root', password, originator: 'xsconsole-dr-bench', transport });
  try {
    const reads: Array<{ wallMs: number; cpuMs: number }> = [];
    let count = 0;
    for (let i = 0; i < repeat; i++) {
      if (values.read === 'typed') reads.push(await timed(async () => (count = (await VM.getAllRecords(s)).size)));
      else reads.push(await timed(async () => (count = Object.keys(await s.call<Records>('VM.get_all_records')).length)));
    }
    return { transport: s.transport, records: count, readWallMs: median(reads.map((x) => x.wallMs)), readCpuMs: median(reads.map((x) => x.cpuMs)) };
  } finally {
    await s.logout().catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  let figures: Record<string, unknown>;
  if (values.scenario === 'records') {
    figures = await records();
    process.stdout.write(`${JSON.stringify({ scenario: values.scenario, wallMs: performance.now() - started, maxRssKb: process.resourceUsage().maxRSS, ...figures })}\n`);
    return;
  }
  const dir = values.dir;
  if (!dir) throw new Error('client-child: --dir is required');
  if (values.scenario === 'stock-backup') figures = await stockBackup(dir);
  else if (values.scenario === 'stock-restore') figures = await stockRestore(dir);
  else throw new Error(`client-child: unknown --scenario ${JSON.stringify(values.scenario)}`);
  const wallMs = performance.now() - started;
  process.stdout.write(`${JSON.stringify({ scenario: values.scenario, wallMs, maxRssKb: process.resourceUsage().maxRSS, ...figures })}\n`);
}

main().catch((err: unknown) => {
  process.stdout.write(`${JSON.stringify({ scenario: values.scenario, error: err instanceof Error ? err.message : String(err) })}\n`);
  process.exitCode = 1;
});
