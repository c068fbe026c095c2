/**
 * npm run bench [-- --quick] [--sizes 10,100,1000,5000] [--latency MS] [--transfer-latency MS]
 *               [--concurrency C] [--stock-sample K] [--console | --no-console] [--out FILE]
 *               [--transports | --no-transports] [--transport-vms N] [--transport-rounds R]
 *               [--only-transports] [--no-transport-backup]
 *
 * For each pool size: a simulated pool (its own process, with per-call and per-transfer
 * latency) is backed up by our backup (attach, then remote) and by the stock call pattern;
 * then two fresh DR-site pools attach the same SR folders and are restored, by our restore
 * and by the stock pattern. Every scenario runs in a client process of its own (peak RSS);
 * calls, transfers and bytes are counted by the simulator. Ratios come from the same run.
 * A full run writes bench/results.md (between its markers); --quick only prints.
 *
 * --transports (on in a full run): the product's client over XML-RPC and over JSON-RPC on
 * the same --transport-vms pool (default 1000), see bench/transports.ts. --only-transports
 * measures just that and only prints (unless --out).
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEMO_ROOT_PASSWORD } from '../src/sim/index.js';
import { EXPORT_PATTERN, IMPORT_PATTERN, atLeast, atMost, httpBytes, lowerBound, patternGroup, totalTransfers, type ParallelGroup, type ServerCounts } from './model.js';
import { PROJECT_ROOT, SimProcess, buildCli, runCli, runClient, type CliResult, type ClientResult, type SimStatsReply } from './processes.js';
import { measureConsole, type ConsoleFigures } from './console-frame.js';
import { measureTransports, type TransportFigures } from './transports.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    sizes: { type: 'string' },
    latency: { type: 'string', default: '20' },
    'transfer-latency': { type: 'string' },
    concurrency: { type: 'string', default: '8' },
    'stock-sample': { type: 'string' },
    console: { type: 'boolean' },
    out: { type: 'string' },
    transports: { type: 'boolean' },
    'transport-vms': { type: 'string', default: '1000' },
    'transport-rounds': { type: 'string', default: '3' },
    'only-transports': { type: 'boolean', default: false },
    'transport-backup': { type: 'boolean', default: true },
  },
  allowNegative: true,
});

const latencyMs = Number(values.latency);
const transferLatencyMs = Number(values['transfer-latency'] ?? values.latency);
const concurrency = Number(values.concurrency);
// --quick: 100 VMs, the stock pattern's per-VM loops measured on 20 VMs, no console figures.
const stockSample = Number(values['stock-sample'] ?? (values.quick ? 20 : 1000));
const onlyTransports = values['only-transports'];
const withConsole = !onlyTransports && (values.console ?? !values.quick);
const withTransports = onlyTransports || (values.transports ?? !values.quick);
const transportVms = Number(values['transport-vms']);
const transportRounds = Number(values['transport-rounds']);
const sizes = onlyTransports ? [] : values.quick ? [100] : (values.sizes ?? '10,100,1000,5000').split(',').map(Number);
for (const n of [latencyMs, transferLatencyMs, concurrency, stockSample, transportVms, transportRounds, ...sizes]) {
  if (!Number.isInteger(n) || n < 0) throw new Error(`bench: expected whole numbers, got ${n}`);
}

interface Row {
  vms: number;
  run: string;
  wallMs: number;
  calls: number;
  transfers: number;
  toPool: number;
  fromPool: number;
  vdi: string;
  clientRssKb: number;
  simRssKb: number;
  /** Latency lower bound for the concurrency used (ours only). */
  boundMs?: number;
  /** The stock pattern's time for the same work (extrapolated when sampled). */
  stockMs?: number;
  stockSampled?: boolean;
  leftovers: string;
  note: string;
}

const MB = 1024 * 1024;
const fmtS = (ms: number) => (Number.isNaN(ms) ? '—' : (ms / 1000).toFixed(ms < 10_000 ? 2 : 1));
const fmtB = (b: number) => (Number.isNaN(b) ? '—' : b >= MB ? `${(b / MB).toFixed(1)} MB` : `${(b / 1024).toFixed(0)} kB`);
const fmtMb = (kb: number) => (Number.isNaN(kb) ? '—' : `${(kb / 1024).toFixed(0)}`);

function rowOf(vms: number, run: string, r: { wallMs: number; maxRssKb: number }, s: SimStatsReply, vdi: string, note = ''): Row {
  const bytes = httpBytes(s.stats);
  return {
    vms,
    run,
    wallMs: r.wallMs,
    calls: s.stats.totalCalls,
    transfers: totalTransfers(s.stats),
    toPool: bytes.toPool,
    fromPool: bytes.fromPool,
    vdi,
    clientRssKb: r.maxRssKb,
    simRssKb: s.rssKb,
    leftovers: `${s.pool.tasks}/${s.pool.dom0Vbds}`,
    note,
  };
}

function bound(counts: ServerCounts, groups: ParallelGroup[]): number {
  return lowerBound({ counts, groups, callLatencyMs: latencyMs, transferLatencyMs }).ms;
}

const requests = (c: ServerCounts, route: string) => c.routes[route]?.requests ?? 0;
const calls = (c: ServerCounts, ...methods: string[]) => methods.reduce((n, m) => n + (c.calls[m] ?? 0), 0);

/** Our backup: the exports, `concurrency` at a time; everything else in a row. */
function backupBound(c: ServerCounts): number {
  return bound(c, [patternGroup('exports', requests(c, '/export_metadata'), EXPORT_PATTERN, concurrency)]);
}

/**
 * Our restore: the imports and the created VMs' record reads, `concurrency` at a time; then
 * the names that differed, one object per round trip (its label and description side by side).
 */
function restoreBound(c: ServerCounts): number {
  const labels = calls(c, 'SR.set_name_label', 'VDI.set_name_label');
  const descriptions = calls(c, 'SR.set_name_description', 'VDI.set_name_description');
  const vmReads = calls(c, 'VM.get_record');
  return bound(c, [
    patternGroup('imports', requests(c, '/import_metadata'), IMPORT_PATTERN, concurrency),
    { name: 'created VMs', items: vmReads, calls: vmReads, transfers: 0, depth: { calls: 1, transfers: 0 }, concurrency },
    // At least max(labels, descriptions) objects were renamed: a bound never above the truth.
    { name: 'names', items: Math.max(labels, descriptions), calls: labels + descriptions, transfers: 0, depth: { calls: 1, transfers: 0 }, concurrency },
  ]);
}

/**
 * Our start after restore: the VM.start calls, `concurrency` at a time (one order group: the
 * demo VMs have no sequencing), and a failure's per-host VM.assert_can_boot_here right after
 * its start, on the same path; the plan's reads in a row.
 */
function startBound(c: ServerCounts): number {
  const starts = calls(c, 'VM.start');
  const asserts = calls(c, 'VM.assert_can_boot_here');
  return bound(c, [{ name: 'starts', items: starts, calls: starts + asserts, transfers: 0, depth: { calls: asserts ? 2 : 1, transfers: 0 }, concurrency }]);
}

/** A stock-pattern scenario (bench/client-child.ts). */
async function stock(sim: SimProcess, args: string[]): Promise<[ClientResult, SimStatsReply]> {
  await sim.reset();
  const r = await runClient(['--url', sim.url, ...args], DEMO_ROOT_PASSWORD);
  return [r, await sim.stats()];
}

/** Our run: the built CLI, as an operator or cron runs it. */
async function ours(cli: string, sim: SimProcess, args: string[]): Promise<[CliResult, Record<string, unknown>, SimStatsReply]> {
  await sim.reset();
  // The client plays the simulated master's control domain, as it would run in dom0.
  const r = await runCli(cli, ['--host', sim.url, '--sim-dom0', sim.stateDir, ...args], DEMO_ROOT_PASSWORD);
  return [r, r.json, await sim.stats()];
}

/** The stock pattern's time for the whole set, its per-VM loop scaled up when sampled. */
/** The stock pattern's time for the whole set, its per-VM (and per-name) loops scaled up when sampled. */
function stockTime(r: ClientResult, setSize: number): { ms: number; sampled: boolean } {
  let ms = r.wallMs;
  let sampled = false;
  const scale = (loopMs: unknown, items: unknown, total: number) => {
    const n = Number(items);
    if (!(n > 0) || n >= total) return;
    ms += Number(loopMs) * (total / n - 1);
    sampled = true;
  };
  scale(r['loopMs'], r['loopItems'], setSize);
  if (r['namesTotal'] !== undefined) scale(r['namesMs'], r['namesItems'], Number(r['namesTotal']));
  return { ms, sampled };
}

const num = (v: unknown) => Number(v ?? NaN);
const transferOf = (j: Record<string, unknown>) => (j['transfer'] ?? {}) as Record<string, unknown>;

/** Runs every scenario at one pool size, adding each row to `rows` as soon as it is known. */
async function benchSize(cli: string, vms: number, log: (s: string) => void, rows: Row[]): Promise<void> {
  const tmp = await mkdtemp(join(tmpdir(), `xsdr-bench-${vms}-`));
  const sim = { latencyMs, transferLatencyMs };
  try {
    log(`${vms} VMs: starting the production pool`);
    const prod = await SimProcess.start({ state: join(tmp, 'prod'), vms, ...sim });
    let srUuid = '';
    let stockBackup: [ClientResult, SimStatsReply];
    const stockDir = join(tmp, 'stock-files');
    const sample = vms > stockSample ? stockSample : undefined;
    try {
      log(`${vms} VMs: backup (attach, concurrency ${concurrency})`);
      const conc = ['--concurrency', String(concurrency)];
      const [b, bj, bs] = await ours(cli, prod, ['backup', '--access', 'attach', ...conc]);
      srUuid = String((bj['sr'] as Record<string, unknown>)['uuid']);
      const exported = (j: Record<string, unknown>) => `${num(j['vmsExported']) + num(j['templatesExported'])} exported, ${(j['failures'] as unknown[]).length} failed`;
      const backupRow = rowOf(vms, 'backup', b, bs, `${fmtB(num(bj['bytesWritten']))} written`, `${exported(bj)}; new VDI`);
      backupRow.boundMs = backupBound(bs.stats);

      log(`${vms} VMs: backup (remote)`);
      const [rb, rbj, rbs] = await ours(cli, prod, ['backup', '--access', 'remote', '--sr', srUuid, ...conc]);
      const changed = num(rbj['bytesWritten']);
      const up = num(transferOf(rbj)['uploadedBytes']);
      const remoteRow = rowOf(
        vms,
        'backup remote',
        rb,
        rbs,
        `${fmtB(num(transferOf(rbj)['downloadedBytes']))} down, ${fmtB(up)} up`,
        `${exported(rbj)}; up = ${(up / changed).toFixed(2)} × the ${fmtB(changed)} written`,
      );
      remoteRow.boundMs = backupBound(rbs.stats);

      log(`${vms} VMs: stock backup pattern${sample ? ` (VM loop on the first ${sample})` : ''}`);
      stockBackup = await stock(prod, ['--scenario', 'stock-backup', '--dir', stockDir, ...(sample ? ['--limit', String(sample)] : [])]);
      const [sb, sbs] = stockBackup;
      const st = stockTime(sb, num(sb['setSize']));
      const stockRow = rowOf(vms, 'stock backup', sb, sbs, `${fmtB(num(sb['bytes']))} files`, sample ? `VM loop measured on ${sample} of ${sb['setSize']}` : '');
      backupRow.stockMs = remoteRow.stockMs = st.ms;
      backupRow.stockSampled = remoteRow.stockSampled = st.sampled;
      rows.push(backupRow, remoteRow, stockRow);
    } finally {
      await prod.stop();
    }

    // The DR site: an empty pool attaching every SR folder the production pool wrote.
    const srDirs = (await readdir(join(tmp, 'prod', 'srs'))).map((d) => join(tmp, 'prod', 'srs', d));
    // Two DR sites, one per restore; --quick runs them side by side (both are bound by
    // latency, not CPU) to stay under a minute, a full run one after the other.
    const oursRestore = async (): Promise<Row[]> => {
      log(`${vms} VMs: restore at a DR site`);
      // Hosts sized to start every restored VM (the demo's VMs take up to 32 GiB each).
      const dr = await SimProcess.start({ state: join(tmp, 'dr'), vms: 0, attach: srDirs, hostMemoryGiB: 64 * vms + 64, ...sim });
      try {
        const [r, rj, rs] = await ours(cli, dr, ['restore', '--sr', srUuid, '--mode', 'all', '--force', '--yes', '--concurrency', String(concurrency)]);
        const imported = rs.stats.routes['/import_metadata']?.bytesIn ?? 0;
        const codes: Record<string, number> = {};
        for (const x of rj['results'] as Array<{ error?: { code: string } }>) if (x.error) codes[x.error.code] = (codes[x.error.code] ?? 0) + 1;
        const codeText = Object.entries(codes).map(([k, v]) => `${k} ×${v}`).join(', ');
        const row = rowOf(vms, 'restore', r, rs, `${fmtB(imported)} read`, `${rj['restored']} restored, ${rj['errors']} errors${codeText ? ` (${codeText})` : ''}`);
        row.boundMs = restoreBound(rs.stats);

        log(`${vms} VMs: start after restore (concurrency ${concurrency})`);
        const restored = join(tmp, 'restored.json');
        await writeFile(restored, JSON.stringify(rj));
        const [st, stj, sts] = await ours(cli, dr, ['start', '--from-restore', restored, '--yes', '--json', '--concurrency', String(concurrency)]);
        const startRow = rowOf(vms, 'start', st, sts, '', `${stj['started']} started, ${stj['failed']} failed, ${stj['skipped']} skipped`);
        startRow.boundMs = startBound(sts.stats);
        return [row, startRow];
      } finally {
        await dr.stop();
      }
    };
    const stockRestore = async (): Promise<[ClientResult, SimStatsReply]> => {
      log(`${vms} VMs: stock restore pattern at a second DR site`);
      const dr2 = await SimProcess.start({ state: join(tmp, 'dr2'), vms: 0, attach: srDirs, ...sim });
      try {
        return await stock(dr2, ['--scenario', 'stock-restore', '--dir', stockDir, ...(sample ? ['--limit', String(sample)] : [])]);
      } finally {
        await dr2.stop();
      }
    };
    let restoreRows: Row[];
    let stockRestored: [ClientResult, SimStatsReply];
    if (values.quick) [restoreRows, stockRestored] = await Promise.all([oursRestore(), stockRestore()]);
    else {
      restoreRows = await oursRestore();
      stockRestored = await stockRestore();
    }
    const [sr, srs] = stockRestored;
    const st = stockTime(sr, num(stockBackup[0]['setSize']));
    const [restoreRow, startRow] = restoreRows as [Row, Row];
    restoreRow.stockMs = st.ms;
    restoreRow.stockSampled = st.sampled;
    rows.push(restoreRow, rowOf(vms, 'stock restore', sr, srs, '', `${sr['restored']} restored, ${sr['errors']} errors${st.sampled ? `; import loop measured on ${sr['loopItems']}` : ''}`), startRow);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

function table(rows: Row[]): string {
  const head = ['VMs', 'run', 'wall s', 'XAPI calls', 'HTTP transfers', 'HTTP to/from pool', 'VDI bytes', 'client RSS MB', 'sim RSS MB', 'lower bound s', '× bound', 'stock s', '× faster than stock', 'left tasks/VBDs', 'notes'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const stock = r.stockMs !== undefined ? `${r.stockSampled ? '~' : ''}${fmtS(r.stockMs)}` : '';
    lines.push(
      `| ${[
        r.vms,
        r.run,
        fmtS(r.wallMs),
        r.calls,
        r.transfers,
        `${fmtB(r.toPool)} / ${fmtB(r.fromPool)}`,
        r.vdi,
        fmtMb(r.clientRssKb),
        fmtMb(r.simRssKb),
        r.boundMs !== undefined ? fmtS(r.boundMs) : '',
        r.boundMs ? (r.wallMs / r.boundMs).toFixed(2) : '',
        stock,
        r.stockMs !== undefined ? `${r.stockSampled ? '~' : ''}${(r.stockMs / r.wallMs).toFixed(1)}` : '',
        r.leftovers,
        r.note,
      ].join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

function targets(rows: Row[], ui: ConsoleFigures | undefined): string {
  const out = ['| target | figure | verdict |', '|---|---|---|'];
  const at = (vms: number, run: string) => rows.find((r) => r.vms === vms && r.run === run);
  const ref = rows.some((r) => r.vms === 1000) ? 1000 : Math.max(...rows.map((r) => r.vms));
  for (const run of ['backup', 'restore']) {
    const r = at(ref, run);
    if (!r?.boundMs || r.stockMs === undefined) continue;
    out.push(`| ${run} ≤ 1.25 × lower bound (${ref} VMs) | ${(r.wallMs / r.boundMs).toFixed(2)} | ${atMost(r.wallMs / r.boundMs, 1.25)} |`);
    out.push(`| ${run} ≥ 10 × faster than the stock pattern (${ref} VMs) | ${(r.stockMs / r.wallMs).toFixed(1)} | ${atLeast(r.stockMs / r.wallMs, 10)} |`);
  }
  for (const r of rows.filter((x) => x.run === 'backup remote')) {
    out.push(`| remote: uploaded ≤ 2 × changed data (${r.vms} VMs) | ${r.note} | ${atMost(Number(/up = ([\d.]+)/.exec(r.note)?.[1]), 2)} |`);
  }
  // The installed CLI (npm start, npx, the copy on a host) is the single-file bundle.
  if (ui?.bundleFirstFrameMs !== undefined) out.push(`| console first frame ≤ 300 ms (the installed CLI: the bundle) | ${ui.bundleFirstFrameMs.toFixed(0)} ms | ${atMost(ui.bundleFirstFrameMs, 300)} |`);
  if (ui?.firstFrameMs !== undefined) out.push(`| (for comparison: tsc's one file per module, dist/src/cli.js) | ${ui.firstFrameMs.toFixed(0)} ms | not the installed CLI |`);
  const big = Math.max(...rows.map((r) => r.vms));
  for (const r of rows.filter((x) => x.vms === big && !x.run.startsWith('stock') && x.run !== 'FAILED')) {
    out.push(`| client RSS ≤ 150 MB (${r.run}, ${big} VMs) | ${fmtMb(r.clientRssKb)} MB | ${atMost(r.clientRssKb / 1024, 150)} |`);
  }
  return out.join('\n');
}

function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown';
  return `${availableParallelism()} × ${cpu}, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, Linux ${release()}, Node ${process.version}`;
}

async function main(): Promise<void> {
  const started = new Date();
  const log = (s: string) => process.stderr.write(`[bench ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s] ${s}\n`);
  const rows: Row[] = [];
  const cli = await buildCli(log);
  for (const n of sizes) {
    try {
      await benchSize(cli, n, log, rows);
    } catch (err) {
      // One failure must not cost the rest of a long run: it becomes a row of the table.
      const message = (err instanceof Error ? err.message : String(err)).replace(/\|/g, '/').slice(0, 300);
      log(`${n} VMs: FAILED: ${message}`);
      rows.push({ vms: n, run: 'FAILED', wallMs: NaN, calls: NaN, transfers: NaN, toPool: NaN, fromPool: NaN, vdi: '', clientRssKb: NaN, simRssKb: NaN, leftovers: '', note: message });
    }
  }
  let transports: TransportFigures | undefined;
  if (withTransports) {
    const tmp = await mkdtemp(join(tmpdir(), 'xsdr-bench-transports-'));
    try {
      transports = await measureTransports({ cli, vms: transportVms, latencyMs, transferLatencyMs, concurrency, rounds: transportRounds, backup: values['transport-backup'] ?? true, stateDir: join(tmp, 'pool'), log });
    } catch (err) {
      log(`transports: FAILED: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
  let ui: ConsoleFigures | undefined;
  if (withConsole) {
    log('console: first frame and key presses in a pseudo-terminal');
    ui = await measureConsole({ cli, vms: Math.max(...sizes), log });
  }
  const params = `latency ${latencyMs} ms per XenAPI call and ${transferLatencyMs} ms per HTTP transfer; backup and restore concurrency ${concurrency}; the stock pattern's per-VM loop measured on ${stockSample} VMs above that size and scaled${values.quick ? '; --quick: the two DR-site restores ran side by side' : ''}`;
  const report = [
    `Run ${started.toISOString()} on ${machine()}.`,
    `Parameters: ${params}.`,
    '',
    ...(sizes.length > 0 ? [table(rows), ''] : []),
    ...(transports ? [`XenAPI transports, the product's client (${transportVms}-VM pool):`, '', transports.table, ''] : []),
    ui ? `Console (${ui.vms}-VM pool, 80×24 pseudo-terminal):\n\n${ui.table}\n` : 'Console: not measured (--quick or --no-console; --console to force).\n',
    ...(sizes.length > 0 ? ['Targets:', '', targets(rows, ui), ''] : []),
  ].join('\n');
  process.stdout.write(`\n${report}\n`);
  const out = values.out ?? (values.quick || onlyTransports ? undefined : join(PROJECT_ROOT, 'bench', 'results.md'));
  if (out) await writeSection(out, report);
}

const BEGIN = '<!-- bench:begin (written by npm run bench) -->';
const END = '<!-- bench:end -->';

/** Replaces the generated part of the results file, keeping what people wrote around it. */
async function writeSection(file: string, section: string): Promise<void> {
  const old = await readFile(file, 'utf8').catch(() => `# Benchmark results\n\n${BEGIN}\n${END}\n`);
  const a = old.indexOf(BEGIN);
  const b = old.indexOf(END);
  const text = a >= 0 && b > a ? `${old.slice(0, a + BEGIN.length)}\n${section}\n${old.slice(b)}` : `${old}\n${BEGIN}\n${section}\n${END}\n`;
  await writeFile(file, text);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
