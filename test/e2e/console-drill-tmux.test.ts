/**
 * The DR drill by an operator in the built console at 80×24 in tmux: production backs up
 * (the CLI, as its schedule would); at the DR site (test/e2e/drill-pools.ts) the console
 * logs in, restores all VM metadata from the replicated SR, maps the storage VLAN to
 * "DR storage" with <N> in the preflight, restores with F8, and from the summary's <T>
 * starts the restored VMs, vApps first. The screens are read as they come; then the DR
 * pool is checked over XAPI: VIFs moved, the VLAN's internal network gone, every VM running.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST_CLI, runCli, stopSim } from './commands-helpers.js';
import { ETH1, STORAGE, STORAGE_BRIDGE, VLAN, groupOf, importedNetworks, records, startDrSite, startProduction, vmsByName, type Pool, type VmState } from './drill-pools.js';
import { flatScreen, highlighted, startTmuxConsole, type TmuxConsole } from './tmux-console.js';

let dir: string;
let prod: (Pool & { vms: Map<string, VmState> }) | undefined;
let dr: (Pool & { storage: string }) | undefined;
let srUuid: string;
let tc: TmuxConsole | undefined;

beforeAll(async () => {
  execFileSync('tmux', ['-V']); // tmux is required (.ci/run installs it); never skipped
  if (!existsSync(DIST_CLI)) throw new Error('dist/ is missing: run `npm run build` first (npm test does).');
  dir = await mkdtemp(join(tmpdir(), 'xsdr-tmux-drill-'));
  const pw = join(dir, 'pw');
  await writeFile(pw, 'demo\n', { mode: 0o600 });
  prod = await startProduction(dir);
  const b = await runCli(DIST_CLI, ['--host', prod.sim.url, '--sim-dom0', prod.sim.state, '--password-file', pw, 'backup', '--json']);
  expect(b.code, b.stderr).toBe(0);
  srUuid = JSON.parse(b.stdout).sr.uuid;
  dr = await startDrSite(dir, prod.sim);
  tc = startTmuxConsole({ dir, session: 'xsdr-drill', width: 80, height: 24, args: [DIST_CLI, '--host', dr.sim.url, '--sim-dom0', dr.sim.state] });
}, 60_000);

afterAll(async () => {
  tc?.close();
  await stopSim(dr?.sim);
  await stopSim(prod?.sim);
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** "(1-16 of 37)" in a scrolled dialogue's key line: the last row shown, and how many there are. */
function scrolled(s: string): { last: number; of: number } | null {
  const m = /\((\d+)-(\d+) of (\d+)\)/.exec(s);
  return m ? { last: Number(m[2]), of: Number(m[3]) } : null;
}

/** Pages down a scrolled dialogue to its end: the flattened text of every page seen. */
async function readToEnd(t: TmuxConsole): Promise<string> {
  let s = t.screen();
  let text = flatScreen(s);
  for (let i = 0; i < 40; i++) {
    const at = scrolled(s);
    if (!at || at.last >= at.of) return text;
    t.send('NPage');
    s = await t.waitForScreen((sc) => scrolled(sc)?.last !== at.last, 'the next page');
    text += ` ${flatScreen(s)}`;
  }
  throw new Error(`No end to the dialogue. Screen:\n${s}`);
}

describe('the DR drill in the console at 80×24', () => {
  it('restore → preflight → <N> maps the VLAN → F8 → summary → <T> → F8 starts them all', async () => {
    const t = tc!;
    const { send, waitForScreen, waitForText, atMenu, highlight } = t;
    await waitForText('Customize System', 30_000);
    await waitForScreen((s) => highlighted(s) === 'Backup, Restore and Update', 'the first item');
    send('Enter');
    await atMenu('Backup, Restore and Update');
    await highlight((row) => row.startsWith('Restore Virtual Machine Metadata'), 'Restore');
    send('Enter');
    await t.logIn('demo');

    // The replicated SR holding the backup, found by the uuid the picker shows under the list.
    await waitForScreen((s) => s.includes('Select Storage Repository to Restore From') && !s.includes('Reading storage repositories'), 'the SR list');
    const shownSr = (s: string) => /UUID ([0-9a-f-]{36})/.exec(s)?.[1];
    for (let i = 0; i < 10 && shownSr(t.screen()) !== srUuid; i++) {
      const at = shownSr(t.screen());
      send('Down');
      await waitForScreen((s) => shownSr(s) !== undefined && shownSr(s) !== at, 'the next SR');
    }
    expect(shownSr(t.screen())).toBe(srUuid);
    send('Enter');
    await waitForText('Select Metadata Backup to Restore From', 30_000);
    send('Enter');
    await waitForText('Select the set of VMs to restore from');
    await highlight((row) => row.startsWith('All VM Metadata') && !row.includes('Dry Run'), 'All VM Metadata');
    send('Enter');
    let s = await waitForScreen((sc) => /Confirm Restore from/.test(sc) && sc.includes('<F8> Restore'), 'the preflight', 30_000);
    // The whole frame fits the 24 rows: the title bar has not scrolled off.
    expect(s.split('\n')[0]).toMatch(/^xsconsole-dr /);

    // <N>: the network map; the VLAN (a new internal network here) to "DR storage".
    send('n');
    await waitForText('Source networks');
    await highlight((row) => row === `${VLAN} (new internal)`, `${VLAN} (new internal)`);
    send('Enter');
    s = await waitForText('Networks of this pool');
    expect(s).toContain(`Move the VIFs of "${VLAN}" to:`);
    await highlight((row) => row === `${STORAGE} (${STORAGE_BRIDGE})`, STORAGE);
    send('Enter');
    await waitForScreen((sc) => /Confirm Restore from/.test(sc) && sc.includes('<F8> Restore'), 'the preflight again');
    const preflight = await readToEnd(t);
    const onNet = (net: string) => [...prod!.vms.values()].flatMap((v) => [...v.vifs.values()].filter((x) => x.net === net)).length;
    const [vlanVifs, eth1Vifs] = [onNet(VLAN), onNet(ETH1)];
    expect(preflight).toMatch(new RegExp(`"${VLAN}" \\(bridge xapi1, MTU 1500, ${vlanVifs} VIFs?\\) -> a new internal network \\(no uplink\\), then mapped to "${STORAGE}"`));
    expect(preflight).toMatch(new RegExp(`"${ETH1}" \\(bridge xenbr1, MTU 1500, ${eth1Vifs} VIFs?\\) -> a new internal network \\(no uplink\\)`));

    // F8: the restore; its summary records the map.
    send('F8');
    s = await waitForScreen((sc) => sc.includes('Metadata Restore Completed') && sc.includes('<T> Start VMs'), 'the restore summary', 30_000);
    expect(flatScreen(s)).toContain('Restored 11 VM(s), and 0 error(s)');
    const summary = await readToEnd(t);
    expect(summary).toContain('Network map (1 source network):');
    expect(summary).toContain(`"${VLAN}" (bridge xapi1) -> "${STORAGE}"`);
    expect(summary).toContain(`VIFs moved: ${vlanVifs} of ${vlanVifs} (VIF.move)`);
    expect(summary).toContain(`Removed unused network "${VLAN}"`);
    expect(summary).toContain('vApps: 2 recreated');
    // Moved off the VLAN's internal network, so no warning about it; eth1's VM is still told.
    expect(summary).not.toContain(`new internal network(s) for "${VLAN}"`);
    expect(summary).toMatch(new RegExp(`Warnings \\(1\\): cache-01 \\([0-9a-f-]{36}\\) is on new internal network\\(s\\) for "${ETH1}"`));

    // <T>: the restored VMs in start order, all chosen; F8 starts them.
    send('t');
    s = await waitForScreen((sc) => sc.includes('Start Restored VMs') && sc.includes('<F8> Start'), 'the start list');
    expect(flatScreen(s)).toContain('8 of 8 chosen');
    expect(highlighted(s)).toMatch(/^\[x\] db-01\s+vApp "Database tier", order 0/);
    // Listed in the order they will start: the vApps' groups, then the other VMs'.
    const listed = [...s.matchAll(/\[x\] (\S+)/g)].map((m) => m[1]!);
    expect(listed.map(groupOf)).toEqual([0, 1, 2, 3, 4, 4, 5, 5]);
    send('F8');
    s = await waitForText('Started 8 of 8 VM(s)', 30_000);
    expect(flatScreen(s)).not.toMatch(/FAILED|not started/);

    // The DR pool as XAPI has it: every VM running, the VLAN's VIFs on "DR storage", its
    // internal network gone; eth1's internal network stays, used by its VM.
    const here = await vmsByName(dr!);
    expect([...here.values()].map((v) => v.rec.power_state)).toEqual(Array(8).fill('Running'));
    for (const [name, p] of prod!.vms) {
      for (const [device, vif] of p.vifs) if (vif.net === VLAN) expect(here.get(name)!.vifs.get(device)?.netRef, `${name} VIF ${device}`).toBe(dr!.storage);
    }
    expect((await records(dr!, 'network')).map(([, n]) => n.name_label)).not.toContain(VLAN);
    expect((await importedNetworks(dr!)).map(([, n]) => [n.name_label, (n.VIFs as string[]).length])).toEqual([[ETH1, eth1Vifs]]);

    // Out: the summary again, the menu, Quit; the console exits 0.
    send('Enter');
    await waitForText('<T> Start VMs');
    send('Enter');
    await atMenu('Backup, Restore and Update');
    expect(await t.quit()).toBe('0\n');
  }, 120_000);
});
