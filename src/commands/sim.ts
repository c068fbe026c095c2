/**
 * `xsconsole-dr sim`: serve a simulated XenServer pool until stopped (tests, demos,
 * the benchmark, and the DR story with two pools sharing an SR folder).
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { readFile } from 'node:fs/promises';
import { readPasswordFile } from '../credentials.js';
import { restoreDefaultHeapSizing } from '../heap-tuning.js';
import { SIM_PROFILES, type SimProfileName } from '../sim/profiles.js';
import { parseIntOption } from './options.js';
import { usageError } from '../failure/index.js';

interface SimCommandOptions {
  port: number;
  state: string;
  listen: string;
  vms?: number;
  seed?: number;
  profile?: string;
  tls?: boolean;
  latency?: number;
  transferLatency?: number;
  faults?: string;
  rootPasswordFile?: string;
  attachSr?: string[];
  supporterOf?: string;
  authDelay?: number;
  socket?: string;
}

/** XAPI sleeps about 5 s before answering a bad password (xen-api ocaml/xapi/xapi_session.ml). */
export const XAPI_AUTH_DELAY_MS = 5000;

export function registerSimCommand(program: Command): void {
  program
    .command('sim')
    .description('serve a simulated XenServer pool (XML-RPC + HTTP handlers) until stopped')
    .option('--port <port>', 'TCP port (0 = any free port)', parseIntOption('--port', 0, 65535), 0)
    .requiredOption('--state <dir>', 'state folder (created when missing; kept across restarts)')
    .option('--listen <address>', 'address to listen on', '127.0.0.1')
    .option('--vms <n>', 'number of demo VMs in a new state', parseIntOption('--vms', 0, 100000))
    .option('--seed <n>', 'seed of the demo pool generator', parseIntOption('--seed', 0, 2 ** 31 - 1))
    .option('--profile <name>', `version profile of a new state (default xs8); given for an existing state, the pool is upgraded to it: ${Object.keys(SIM_PROFILES).join(', ')}`)
    .option('--tls', 'serve HTTPS with a self-signed certificate (as a fresh XenServer does)')
    .option('--latency <ms>', 'added latency per XML-RPC call', parseIntOption('--latency', 0, 600000))
    .option('--transfer-latency <ms>', 'added latency per HTTP transfer', parseIntOption('--transfer-latency', 0, 600000))
    .option('--faults <file>', 'JSON file of faults to inject (see docs/SIMULATOR.md)')
    .option('--root-password-file <file>', 'root password for a new state (default: the demo password, see README)')
    .option('--attach-sr <dir...>', 'attach an SR folder written by another simulated pool (DR site)')
    .option('--supporter-of <address>', 'play a pool supporter: logins answer HOST_IS_SLAVE <address>')
    .option('--socket <path>', "the local UNIX socket, where callers are trusted as root as on a host's /var/lib/xcp/xapi (default: STATE/xapi)")
    .option('--auth-delay <ms>', 'delay before answering a bad password (default 5000, as XAPI)', parseIntOption('--auth-delay', 0, 60000))
    .action(async (opts: SimCommandOptions) => {
      if (opts.profile !== undefined && !(opts.profile in SIM_PROFILES)) {
        throw usageError(`--profile: unknown profile "${opts.profile}"; known: ${Object.keys(SIM_PROFILES).join(', ')}`);
      }
      // A server holding a large live database: V8's own heap sizing suits it better.
      restoreDefaultHeapSizing();
      // Loaded here, not with the program: the simulator (certificates and all) costs every
      // other command and the console ~50 ms of start-up.
      const { startDemoSimulator } = await import('../sim/index.js');
      const sim = await startDemoSimulator({
        stateDir: resolve(opts.state),
        host: opts.listen,
        port: opts.port,
        ...(opts.profile !== undefined && { profile: opts.profile as SimProfileName }),
        ...(opts.vms !== undefined && { vms: opts.vms }),
        ...(opts.seed !== undefined && { seed: opts.seed }),
        ...(opts.tls && { tls: true }),
        ...(opts.latency !== undefined && { latencyMs: opts.latency }),
        ...(opts.transferLatency !== undefined && { transferLatencyMs: opts.transferLatency }),
        ...(opts.rootPasswordFile && { rootPassword: await readPasswordFile(opts.rootPasswordFile) }),
        ...(opts.supporterOf && { supporterOf: opts.supporterOf }),
        authDelayMs: opts.authDelay ?? XAPI_AUTH_DELAY_MS,
        ...(opts.attachSr && { attachSrDirs: opts.attachSr.map((d) => resolve(d)) }),
        ...(opts.socket && { socketPath: resolve(opts.socket) }),
      });
      if (opts.faults) sim.faults.load(JSON.parse(await readFile(opts.faults, 'utf8')));
      // First line is the URL (scripts and tests read it).
      process.stdout.write(`${sim.url}\n`);
      process.stdout.write(`state: ${sim.stateDir}\ndevices: ${sim.deviceDir}\n`);
      if (sim.socketPath) process.stdout.write(`local socket (root, no password): ${sim.socketPath}\n`);
      if (sim.fingerprint) process.stdout.write(`certificate SHA-256: ${sim.fingerprint}\n`);
      process.stdout.write('Press Ctrl-C to stop.\n');
      await new Promise<void>((done) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void sim.stop().then(done, done);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
