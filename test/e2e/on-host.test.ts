/**
 * The product on a host, end to end: the built CLI as a process that plays the control domain
 * of a standalone simulated pool (`--sim-dom0 DIR` without `--host`), reaching its XAPI over
 * the pool's local UNIX socket DIR/xapi with its xensource-inventory beside it, as on a
 * XenServer host (/var/lib/xcp/xapi, /etc/xensource-inventory). No password is given
 * anywhere, and the pools' root passwords are ones this process never sees: the socket's
 * trust is what logs it in. Backup at the production site, then at a DR site attaching the
 * same SR: list, a dry-run restore and a real one.
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIST_CLI, runCli, startSim, stopSim, type Run, type SimProcess } from './commands-helpers.js';

const SLOW = 60_000;

let dir: string;
let prod: SimProcess;
let dr: SimProcess | undefined;
let srUuid = '';

/** The CLI on the simulated host whose state folder is `state`: no --host, no password. */
const onHost = (state: string, ...args: string[]): Promise<Run> => runCli(DIST_CLI, ['--sim-dom0', state, ...args]);
const json = (r: Run) => JSON.parse(r.stdout) as Record<string, any>;

/** One XML-RPC call over a UNIX socket, written here (not the product's client). */
function socketCall(socketPath: string, method: string, params: string[]): Promise<string> {
  const body = `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${params.map((p) => `<param><value><string>${p}</string></value></param>`).join('')}</params></methodCall>`;
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method: 'POST', path: '/', agent: false, headers: { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end(body);
  });
}

beforeAll(async () => {
  if (!existsSync(DIST_CLI)) throw new Error('dist/ is missing: run `npm run build` first (npm test does).');
  dir = await mkdtemp(join(tmpdir(), 'xsdr-e2e-host-'));
  const pw = join(dir, 'root-pw');
  await writeFile(pw, `${randomBytes(18).toString('base64')}\n`, { mode: 0o600 });
  prod = await startSim(DIST_CLI, ['--state', join(dir, 'prod'), '--vms', '3', '--root-password-file', pw]);
}, SLOW);
afterAll(async () => {
  await stopSim(dr);
  await stopSim(prod);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('on the simulated host (--sim-dom0 without --host)', () => {
  it('the simulator says where its local socket is', () => {
    expect(prod.lines).toContain(`local socket (root, no password): ${join(prod.state, 'xapi')}`);
  });

  it('backup: logged in over the socket without a password, the backup VDI attached to this control domain', async () => {
    const r = await onHost(prod.state, 'backup', '--json');
    expect(r.code, r.stderr).toBe(0);
    const j = json(r);
    expect(j).toMatchObject({ vmsExported: 3, failures: [], access: 'attach', vdi: { created: true } });
    srUuid = j.sr.uuid as string;
    // The same pool over TCP wants the password this process was never given.
    const tcp = await runCli(DIST_CLI, ['--host', prod.url, '--sim-dom0', prod.state, 'backup', '--json']);
    expect(tcp.code).toBe(1);
    expect(json(tcp).error.code).toBe('NO_PASSWORD');
    const list = json(await onHost(prod.state, 'list', '--json'));
    expect(list.backups.map((b: { date: string }) => b.date)).toEqual([j.date]);
  }, SLOW);

  it('at a DR site attaching the SR: list, dry-run restore and a real restore over its socket', async () => {
    dr = await startSim(DIST_CLI, ['--state', join(dir, 'dr'), '--vms', '0', '--attach-sr', join(prod.state, 'srs', srUuid)]);
    const list = json(await onHost(dr.state, 'list', '--sr', srUuid, '--json'));
    expect(list.backups).toHaveLength(1);

    const dry = await onHost(dr.state, 'restore', '--dry-run', '--sr', srUuid, '--json');
    const d = json(dry);
    expect(dry.code).toBe(d.errors);
    const vmsOf = (j: Record<string, any>) => (j.results as Array<{ kind: string; ok: boolean; name: string }>).filter((x) => x.kind === 'vm');
    expect(vmsOf(d).map((v) => v.ok)).toEqual([true, true, true]);

    const real = await onHost(dr.state, 'restore', '--yes', '--sr', srUuid, '--json');
    const r = json(real);
    expect(real.code).toBe(r.errors);
    expect(r.dryRun).toBe(false);
    const restored = vmsOf(r);
    expect(restored.map((v) => v.ok)).toEqual([true, true, true]);
    // The DR pool now has those VMs, as its own socket tells.
    const session = /<value>(OpaqueRef:[^<]+)<\/value>/.exec(await socketCall(join(dr.state, 'xapi'), 'session.login_with_password', ['root', '', '1.0', 'test']))![1]!;
    const vms = await socketCall(join(dr.state, 'xapi'), 'VM.get_all_records_where', [session, 'field "is_a_template" = "false" and field "is_control_domain" = "false"']);
    for (const v of restored) expect(vms).toContain(`<value>${v.name}</value>`);
  }, SLOW);

  it('a folder with no simulated host is refused, not replaced by an embedded pool', async () => {
    const empty = join(dir, 'nothing-here');
    await mkdir(empty);
    const r = await onHost(empty, 'backup', '--json');
    expect(r.code).toBe(1);
    const e = json(r).error as { code: string; meaning: string; nextStep: string };
    expect(e.meaning).toContain(`no simulated host at ${empty}`);
    expect(e.nextStep).toContain(`xsconsole-dr sim --state ${empty}`);
  });
});
