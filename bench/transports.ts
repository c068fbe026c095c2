/**
 * The product's own client over XML-RPC and over JSON-RPC, on the same pool and workloads:
 * every VM record read (raw and typed, bench/client-child.ts `records`), and the backup run
 * by the built CLI with --transport. Each measurement is a process of its own (its peak RSS
 * is its own), the two protocols alternate round by round (a slow moment of the machine falls
 * on both), and each figure is the median of the rounds.
 */
import { DEMO_ROOT_PASSWORD } from '../src/sim/index.js';
import { SimProcess, runCli, runClient } from './processes.js';

export interface TransportFigures {
  /** Markdown table: one line per figure, both protocols and their ratio. */
  table: string;
  /** JSON-RPC / XML-RPC per figure (below 1: JSON-RPC is faster or leaner). */
  ratios: Record<string, number>;
}

export interface TransportOptions {
  cli: string;
  vms: number;
  latencyMs: number;
  transferLatencyMs: number;
  concurrency: number;
  rounds: number;
  /** Also measure the backup (the records reads always are). */
  backup: boolean;
  stateDir: string;
  log: (s: string) => void;
}

const PROTOCOLS = ['xml-rpc', 'json-rpc'] as const;
/** The records reads measured, each in a process of its own (its own peak RSS). */
const READS = [
  ['raw', 'VM.get_all_records, every field'],
  ['typed', 'VM.getAllRecords, the fields the backup reads'],
] as const;
type Protocol = (typeof PROTOCOLS)[number];

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export async function measureTransports(o: TransportOptions): Promise<TransportFigures> {
  const samples: Record<string, Record<Protocol, number[]>> = {};
  const add = (figure: string, p: Protocol, v: number) => {
    samples[figure] ??= { 'xml-rpc': [], 'json-rpc': [] };
    samples[figure][p].push(v);
  };
  let records = 0;
  const calls: Record<Protocol, number> = { 'xml-rpc': 0, 'json-rpc': 0 };
  const sim = await SimProcess.start({ state: o.stateDir, vms: o.vms, latencyMs: o.latencyMs, transferLatencyMs: o.transferLatencyMs });
  try {
    for (let round = 1; round <= o.rounds; round++) {
      for (const p of round % 2 ? PROTOCOLS : [...PROTOCOLS].reverse()) {
        for (const [read, what] of READS) {
          o.log(`transports: ${what} over ${p} (round ${round} of ${o.rounds})`);
          const r = await runClient(['--scenario', 'records', '--url', sim.url, '--transport', p, '--read', read, '--repeat', '5'], DEMO_ROOT_PASSWORD);
          if (r['transport'] !== p) throw new Error(`the records client spoke ${String(r['transport'])}, not ${p}`);
          records = Number(r['records']);
          add(`${what}: wall ms per read`, p, Number(r['readWallMs']));
          add(`${what}: client CPU ms per read`, p, Number(r['readCpuMs']));
          add(`${what}: client peak RSS MB`, p, r.maxRssKb / 1024);
        }
      }
    }
    if (!o.backup) return report(o, samples, records, calls);
    // The first backup creates the backup VDI; the measured ones all write a new backup into it.
    o.log('transports: first backup (creates the backup VDI, not measured)');
    const backup = (p: Protocol) =>
      runCli(o.cli, ['--host', sim.url, '--sim-dom0', sim.stateDir, '--transport', p, 'backup', '--access', 'attach', '--concurrency', String(o.concurrency)], DEMO_ROOT_PASSWORD);
    await backup('xml-rpc');
    for (let round = 1; round <= o.rounds; round++) {
      for (const p of round % 2 ? PROTOCOLS : [...PROTOCOLS].reverse()) {
        o.log(`transports: backup over ${p} (round ${round} of ${o.rounds})`);
        await sim.reset();
        const r = await backup(p);
        calls[p] = (await sim.stats()).stats.totalCalls;
        add(`backup (${o.vms} VMs, attach): wall s`, p, r.wallMs / 1000);
        add('backup: client CPU s', p, r.cpuMs / 1000);
        add('backup: client peak RSS MB', p, r.maxRssKb / 1024);
      }
    }
  } finally {
    await sim.stop();
  }
  return report(o, samples, records, calls);
}

function report(o: TransportOptions, samples: Record<string, Record<Protocol, number[]>>, records: number, calls: Record<Protocol, number>): TransportFigures {
  const ratios: Record<string, number> = {};
  const lines = [
    `| figure (median of ${o.rounds} rounds; ${records} VM records, ${o.latencyMs} ms per call) | XML-RPC | JSON-RPC | JSON-RPC / XML-RPC |`,
    '|---|---|---|---|',
  ];
  const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
  for (const [figure, byP] of Object.entries(samples)) {
    const x = median(byP['xml-rpc']);
    const j = median(byP['json-rpc']);
    ratios[figure] = j / x;
    lines.push(`| ${figure} | ${fmt(x)} | ${fmt(j)} | ${(j / x).toFixed(2)} |`);
  }
  if (o.backup) lines.push(`| backup: XAPI calls (last round) | ${calls['xml-rpc']} | ${calls['json-rpc']} | |`);
  return { table: lines.join('\n'), ratios };
}
