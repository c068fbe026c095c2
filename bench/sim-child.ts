/**
 * The benchmark's simulated pool, in its own process so that the client's peak RSS and CPU
 * are measured apart from the simulator's.
 *
 * Protocol (JSON lines): prints {"event":"ready",url,…} once listening; then answers
 * commands read from stdin: {"cmd":"stats"} → {"event":"stats",stats,pool,rssKb},
 * {"cmd":"reset"} → {"event":"reset"}, {"cmd":"stop"} → {"event":"stopped"} and exits.
 * Latency is the simulator's own injection (per XML-RPC call, per HTTP transfer).
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { startDemoSimulator, type SimHandle } from '../src/sim/index.js';

const { values } = parseArgs({
  options: {
    state: { type: 'string' },
    vms: { type: 'string', default: '12' },
    seed: { type: 'string', default: '1' },
    latency: { type: 'string', default: '0' },
    'transfer-latency': { type: 'string', default: '0' },
    attach: { type: 'string', multiple: true, default: [] },
    /** Memory of each host (GiB): a DR site sized to start every restored VM. */
    'host-memory-gib': { type: 'string' },
  },
});

function send(msg: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

/** What the pool holds now: the invariants the benchmark checks after each scenario. */
function poolFacts(sim: SimHandle) {
  const db = sim.db;
  let dom0Vbds = 0;
  for (const vbd of db.allRecords('VBD').values()) if (db.tryGet('VM', vbd.VM)?.is_control_domain) dom0Vbds++;
  const vms = db.where('VM', (v) => !v.is_control_domain && !v.is_a_template && !v.is_a_snapshot).length;
  return { vms, tasks: db.allRecords('task').size, dom0Vbds };
}

async function main(): Promise<void> {
  if (!values.state) throw new Error('sim-child: --state is required');
  const sim = await startDemoSimulator({
    stateDir: values.state,
    vms: Number(values.vms),
    seed: Number(values.seed),
    latencyMs: Number(values.latency),
    transferLatencyMs: Number(values['transfer-latency']),
    attachSrDirs: values.attach ?? [],
  });
  if (values['host-memory-gib'] !== undefined) {
    const bytes = Number(values['host-memory-gib']) * 1024 ** 3;
    for (const host of sim.db.refs('host')) {
      const m = sim.db.getField('host', host, 'metrics');
      if (sim.db.exists('host_metrics', m)) sim.db.update('host_metrics', m, { memory_total: bytes, memory_free: bytes });
    }
  }
  send({ event: 'ready', url: sim.url, stateDir: sim.stateDir, deviceDir: sim.deviceDir, pool: poolFacts(sim) });
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    const cmd = (JSON.parse(line) as { cmd?: string }).cmd;
    if (cmd === 'stats') send({ event: 'stats', stats: sim.stats.snapshot(), pool: poolFacts(sim), rssKb: process.resourceUsage().maxRSS });
    else if (cmd === 'reset') {
      sim.stats.reset();
      send({ event: 'reset' });
    } else if (cmd === 'stop') break;
    else send({ event: 'error', message: `unknown command ${JSON.stringify(cmd)}` });
  }
  await sim.stop();
  send({ event: 'stopped' });
}

main().catch((err: unknown) => {
  send({ event: 'error', message: err instanceof Error ? err.message : String(err) });
  process.exitCode = 1;
});
