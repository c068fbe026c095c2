/**
 * `--network-map FILE` on the command line: the file is checked before the backup is opened
 * (an error names its line, text and --json alike), and `preflight` prints the network table
 * and the mapping; `restore --dry-run` says what the map would do.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST_CLI, runCli, startSim, stopSim, type Run, type SimProcess } from './commands-helpers.js';

let dir: string;
let sim: SimProcess;
let pw: string;
const cli = (...args: string[]): Promise<Run> => runCli(DIST_CLI, ['--host', sim.url, '--sim-dom0', sim.state, '--password-file', pw, ...args]);

async function mapFile(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

beforeAll(async () => {
  if (!existsSync(DIST_CLI)) throw new Error('dist/ is missing: run `npm run build` first (npm test does).');
  dir = await mkdtemp(join(tmpdir(), 'xsdr-e2e-netmap-'));
  pw = join(dir, 'pw');
  await writeFile(pw, 'demo\n', { mode: 0o600 });
  sim = await startSim(DIST_CLI, ['--state', join(dir, 'state'), '--vms', '4']);
  const b = await cli('backup');
  expect(b.code).toBe(0);
}, 60_000);
afterAll(async () => {
  if (sim) await stopSim(sim);
  await rm(dir, { recursive: true, force: true });
});

it('a bad map file is refused naming its line, before anything is read; text and --json alike', async () => {
  const bad = await mapFile('bad.map', '# ok\nStorage VLAN 100 -> somewhere\n');
  const [text, asJson] = await Promise.all([cli('restore', '--dry-run', '--network-map', bad), cli('preflight', '--network-map', bad, '--json')]);
  expect(text.code).toBe(1);
  expect(text.stderr).toContain('NETWORK_MAP_INVALID: line 2 of the network map is not "source = target": Storage VLAN 100 -> somewhere');
  expect(JSON.parse(asJson.stdout).error).toMatchObject({ code: 'NETWORK_MAP_INVALID', meaning: expect.stringContaining('line 2 of the network map') });
  const missing = await cli('preflight', '--network-map', join(dir, 'none.map'));
  expect(missing.stderr).toMatch(/USAGE: cannot read the network map .*none\.map: ENOENT/);
  const unknown = await cli('preflight', '--network-map', await mapFile('unknown.map', 'xenbr0 = No such network\n'));
  expect(unknown.stderr).toContain('line 1 of the network map names network "No such network", which this pool does not have');
});

it('preflight prints the network table and the map; restore --dry-run says what it would move', async () => {
  const map = await mapFile('ok.map', 'xenbr0 = Pool-wide network associated with eth1\n');
  const pf = await cli('preflight', '--network-map', map);
  expect(pf.code).toBe(0);
  expect(pf.stdout).toMatch(/^Networks \(\d in the backup\):$/m);
  expect(pf.stdout).toContain('"Pool-wide network associated with eth0" (bridge xenbr0, MTU 1500');
  expect(pf.stdout).toContain('-> same name: "Pool-wide network associated with eth0", then mapped to "Pool-wide network associated with eth1"');
  // Every VM of the backup is this pool's own: its MACs are no clash.
  expect(pf.stdout).toMatch(/^MAC clashes: none\.$/m);
  const asJson = JSON.parse((await cli('preflight', '--network-map', map, '--json')).stdout);
  expect(asJson.networks.find((n: { bridge: string }) => n.bridge === 'xenbr0')).toMatchObject({ match: 'name', mappedTo: { name: 'Pool-wide network associated with eth1' } });
  // Every VM of the backup is still here: each MAC is its own VM's, never a clash.
  expect(asJson.macClashes).toEqual([]);
  const dry = await cli('restore', '--dry-run', '--force', '--network-map', map, '--json');
  const r = JSON.parse(dry.stdout);
  expect(r.networkMap).toMatchObject({ dryRun: true, map: [{ source: { bridge: 'xenbr0' }, target: { name: 'Pool-wide network associated with eth1' } }] });
});
