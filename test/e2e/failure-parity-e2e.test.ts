/**
 * One failure, one text, end to end: each failure is provoked for real against a simulated
 * pool (behind an https front with a self-signed certificate, pinned as an operator would),
 * then met by the built CLI (text and --json) and by the console (ink-testing-library, its
 * services built from the same target as console-main builds them). All three must give the
 * same code, meaning and next step, with no key name in them; a bug is said plainly with the
 * log file holding its stack, and no stack reaches the screen.
 *
 * `npm test` builds dist/ first; run `npm run build` before running this file alone.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os, { tmpdir } from 'node:os';
import { syncBuiltinESMExports } from 'node:module';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { startDemoSimulator, type SimHandle } from '../../src/sim/index.js';
import { resolveTarget, type TargetOptions } from '../../src/target.js';
import { createConsoleServices, type LiveConsoleServices } from '../../src/app/index.js';
import { BACKUP_FAILED_PREFIX } from '../../components/backup/summary.js';
import { BACKUP_PICKER_TITLE } from '../../components/backup/feature.js';
import { RESTORE_FAILED_PREFIX, RESTORE_MENU_TITLE } from '../../components/restore/texts.js';
import { loopbackCertificate } from '../helpers/loopback-cert.js';
import { startHostileFront, type HostileFront, type RpcTakeover } from '../helpers/hostile-front.js';
import { controlDomainAttachments } from '../helpers/pool.js';
import { KEYS, highlighted, paneTitle, press, renderConsole, stripAnsi, waitForFrame, type Rendered } from '../ui/helpers.js';
import { highlightRow, openRestorePicker, readAllPages } from '../ui/restore-helpers.js';
import { DIST_CLI, runCli } from './commands-helpers.js';

/** A preload that makes os.hostname throw, in the CLI's process only (see the file). */
const PLANT_BUG = join(import.meta.dirname, '..', 'helpers', 'plant-bug.mjs');
const PLANTED_BUG = "Cannot read properties of undefined (reading 'planted')";

const PASSWORD = 'parity-pw';
/** A key name in text shared by all front ends (only the screens name keys). */
const KEY_NAME = /(?<![:\w])F\d{1,2}(?![:\w])|\b(Enter|Esc(ape)?|Ctrl-\w|Tab|press)\b/i;
/** A stack frame line, as a stack prints it. */
const STACK_LINE = /^\s*at .+(:\d+:\d+\)?|<anonymous>\)?)$/m;

let dir: string;
let logDir: string;
let pwFile: string;
let sim: SimHandle;
let front: HostileFront;
let fingerprint: string;
/** A loopback port nothing listens on. */
let closedPort: number;
const srs: Record<'local' | 'nfs' | 'iscsi', { uuid: string; name: string }> = {} as never;
let live: LiveConsoleServices | undefined;
let r: Rendered | undefined;

beforeAll(async () => {
  if (!existsSync(DIST_CLI)) throw new Error('dist/ is missing: run `npm run build` first (npm test does).');
  dir = await mkdtemp(join(tmpdir(), 'xsdr-parity-'));
  // The console (this process) and the CLI (its own) write a bug's details to the same file.
  logDir = join(dir, 'logs');
  process.env['XSDR_LOG_DIR'] = logDir;
  pwFile = join(dir, 'pw');
  await writeFile(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
  const tls = await loopbackCertificate();
  fingerprint = tls.fingerprint;
  sim = await startDemoSimulator({ stateDir: join(dir, 'state'), vms: 2, rootPassword: PASSWORD, authDelayMs: 0 });
  front = await startHostileFront(sim.url, { tls });
  closedPort = await new Promise<number>((done) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => done(port));
    });
  });
  for (const [key, name] of [['local', 'Local storage'], ['nfs', 'NFS virtual disk storage'], ['iscsi', 'iSCSI virtual disk storage']] as const) {
    const sr = [...sim.db.allRecords('SR').values()].find((s) => s.name_label === name)!;
    srs[key] = { uuid: sr.uuid, name };
  }
}, 60_000);

afterEach(async () => {
  r?.unmount();
  r = undefined;
  await live?.close();
  live = undefined;
  sim.faults.clear();
  front.rpc.clear();
});

afterAll(async () => {
  await front?.close();
  await sim?.stop();
  delete process.env['XSDR_LOG_DIR'];
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** How the operator points both front ends at the pool (default: the pinned https front). */
interface Where {
  host?: string;
  fingerprint?: string;
  /** The CLI's password file (default: the right password). */
  passwordFile?: string;
}

function globals(where: Where): string[] {
  const host = where.host ?? front.url;
  const fp = where.fingerprint ?? (host === front.url ? fingerprint : undefined);
  return ['--host', host, ...(fp ? ['--fingerprint', fp] : []), '--sim-dom0', sim.stateDir, '--password-file', where.passwordFile ?? pwFile];
}

/** The console's services, built from the target as console-main builds them. */
async function consoleFor(where: Where): Promise<LiveConsoleServices> {
  const host = where.host ?? front.url;
  const fp = where.fingerprint ?? (host === front.url ? fingerprint : undefined);
  const opts: TargetOptions = { host, simDom0: sim.stateDir, ...(fp && { fingerprint: fp }) };
  const target = await resolveTarget(opts);
  live = createConsoleServices({
    target: { url: target.url, tls: target.tls, describe: target.describe, ...(target.controlDomain && { controlDomain: target.controlDomain }) },
    user: 'root',
    hostLabel: new URL(target.url).host,
  });
  return live;
}

interface Said {
  kind: string;
  code: string;
  meaning: string;
  nextStep: string;
}

/**
 * The CLI's text and --json runs of one command: both fail, and say the same thing. They run
 * one after the other where the command changes the pool (a backup creates its VDI, a scan
 * attaches disks), else side by side.
 */
async function cliSays(where: Where, command: string[], changesPool = false, extraEnv: NodeJS.ProcessEnv = {}): Promise<Said> {
  const env = { XSDR_LOG_DIR: logDir, ...extraEnv };
  const run = (args: string[]) => runCli(DIST_CLI, [...globals(where), ...command, ...args], { env });
  const [text, asJson] = changesPool ? [await run([]), await run(['--json'])] : await Promise.all([run([]), run(['--json'])]);
  expect(text.code, text.stderr).not.toBe(0);
  expect(asJson.code).toBe(text.code);
  const doc = JSON.parse(asJson.stdout) as { error: Said };
  expect(Object.keys(doc)).toEqual(['error']);
  const e = doc.error;
  expect(text.stderr.endsWith(`Error: ${e.code}: ${e.meaning}\n${e.nextStep}\n`), text.stderr).toBe(true);
  expect(text.stderr + asJson.stderr).not.toMatch(STACK_LINE);
  return e;
}

/** Text compared across wrapping: a dialogue breaks lines (and long words) where it must. */
const squash = (s: string) => s.replace(/[\s│┌┐└┘─]/g, '');

/** What every front end must share, and the console's screen must show after its title. */
function expectSame(e: Said, code: string, consoleText: string, title: string): void {
  expect(e.code).toBe(code);
  expect(e.kind).toBe(code === 'INTERNAL_BUG' ? 'bug' : 'expected');
  expect(e.meaning.length).toBeGreaterThan(10);
  expect(e.nextStep.length).toBeGreaterThan(10);
  expect(`${e.meaning}\n${e.nextStep}`).not.toMatch(KEY_NAME);
  expect(squash(consoleText)).toContain(squash(`${title} ${e.code}: ${e.meaning}`));
  expect(squash(consoleText)).toContain(squash(e.nextStep));
}

async function openLogin(rendered: Rendered): Promise<void> {
  await waitForFrame(rendered, (f) => paneTitle(f) === 'Customize System');
  press(rendered, 'l');
  await waitForFrame(rendered, (f) => highlighted(f) === 'Log In');
  press(rendered, KEYS.enter);
  await waitForFrame(rendered, (f) => paneTitle(f) === 'Login');
}

/** The console: Log In with `password`; the frame once it says why it failed. */
async function consoleLoginFails(where: Where, password = PASSWORD): Promise<string> {
  r = renderConsole({ services: await consoleFor(where) });
  await openLogin(r);
  press(r, `\t${password}\r`);
  return waitForFrame(r, (f) => f.includes('Login failed:') && !f.includes('Logging in...'), 10_000, 'the login failure');
}

/** The console: Backup to the SR named `sr`; the whole text of the failure dialogue. */
async function consoleBackupFails(sr: string): Promise<string> {
  r = renderConsole({ services: await consoleFor({}) });
  await waitForFrame(r, (f) => paneTitle(f) === 'Customize System');
  press(r, KEYS.enter);
  await waitForFrame(r, (f) => paneTitle(f) === 'Backup, Restore and Update');
  press(r, KEYS.enter);
  await waitForFrame(r, (f) => paneTitle(f) === 'Login');
  press(r, `\t${PASSWORD}\r`);
  await waitForFrame(r, (f) => paneTitle(f) === BACKUP_PICKER_TITLE && !f.includes('Reading storage repositories'), 10_000, 'the SR picker');
  await highlightRow(r, sr);
  press(r, KEYS.enter);
  await waitForFrame(r, (f) => f.includes(BACKUP_FAILED_PREFIX), 10_000, 'the backup failure');
  return readAllPages(r);
}

/**
 * The console: Restore from the SR named `sr`, which has no backup VDI of its own, so the stock
 * question about the scan for older backup VDIs comes; the whole text of the failure dialogue.
 */
async function consoleRestoreFails(sr: string, legacy: 'scan' | 'decline the scan'): Promise<string> {
  r = renderConsole({ services: await consoleFor({}) });
  await openRestorePicker(r, PASSWORD);
  await highlightRow(r, sr);
  press(r, KEYS.enter);
  await waitForFrame(r, (f) => f.includes('<F8> Yes  <Esc> No'), 10_000, 'the legacy question');
  press(r, legacy === 'scan' ? KEYS.f8 : KEYS.escape);
  await waitForFrame(r, (f) => f.includes(RESTORE_FAILED_PREFIX), 20_000, 'the restore failure');
  return readAllPages(r);
}

/** Every frame the console drew, as text. */
const everyFrame = () => r!.frames.map(stripAnsi).join('\n');

describe('the same failure in CLI text, --json and the console (provoked against a simulated pool)', () => {
  it('no backup VDI: restore from an SR that never had one', async () => {
    const e = await cliSays({}, ['restore', '--yes', '--sr', srs.nfs.uuid]);
    // As stock, the console first offers the scan for older backup VDIs; the operator declines.
    expectSame(e, 'NO_BACKUP_VDI', await consoleRestoreFails(srs.nfs.name, 'decline the scan'), RESTORE_FAILED_PREFIX);
    expect(paneTitle(r!.lastFrame()!)).toBe(RESTORE_MENU_TITLE);
  });

  it('no backup VDI, even after the scan for older backup VDIs (legacy): the SR holds only VM disks', async () => {
    const e = await cliSays({}, ['restore', '--yes', '--legacy', '--sr', srs.nfs.uuid], true);
    expectSame(e, 'NOT_A_BACKUP', await consoleRestoreFails(srs.nfs.name, 'scan'), RESTORE_FAILED_PREFIX);
    expect(await controlDomainAttachments(sim)).toEqual({ vbds: 0, devices: [] });
  });

  it('wrong password: the pool refuses the login', async () => {
    const wrong = join(dir, 'wrong-pw');
    await writeFile(wrong, 'not-the-password\n', { mode: 0o600 });
    const e = await cliSays({ passwordFile: wrong }, ['list']);
    expectSame(e, 'SESSION_AUTHENTICATION_FAILED', await consoleLoginFails({}, 'not-the-password'), 'Login failed:');
  });

  it('SR full: the SR has no room left for the backup VDI (VDI.create answers SR_FULL)', async () => {
    const ref = sim.db.refs('SR').find((s) => sim.db.get('SR', s).uuid === srs.iscsi.uuid)!;
    const before = sim.db.get('SR', ref).physical_size;
    // The SR is exactly as big as what its disks already hold: nothing more fits.
    sim.db.update('SR', ref, { physical_size: sim.db.get('SR', ref).virtual_allocation });
    try {
      const e = await cliSays({}, ['backup', '--sr', srs.iscsi.uuid], true);
      expect(e.meaning).toMatch(/^Finding or creating the backup VDI failed: The storage repository is full: \d+ bytes requested, at most 0 available\.$/);
      expectSame(e, 'SR_FULL', await consoleBackupFails(srs.iscsi.name), BACKUP_FAILED_PREFIX);
    } finally {
      sim.db.update('SR', ref, { physical_size: before });
    }
    expect(await controlDomainAttachments(sim)).toEqual({ vbds: 0, devices: [] });
  });

  it('VDI attach refused: VBD.plug answers the storage backend failure XAPI gives for a VDI locked elsewhere', async () => {
    sim.faults.add({ method: 'VBD.plug', error: ['SR_BACKEND_FAILURE_46', '', 'The VDI is not available [opterr=VDI locked by another host]', ''] });
    const e = await cliSays({}, ['backup', '--sr', srs.local.uuid], true);
    expectSame(e, 'SR_BACKEND_FAILURE_46', await consoleBackupFails(srs.local.name), BACKUP_FAILED_PREFIX);
    // The backend's reason, without the empty params XAPI sends around it.
    expect(e.meaning).toBe("Attaching the backup VDI failed: The storage repository's backend refused VBD.plug: The VDI is not available [opterr=VDI locked by another host].");
    expect(await controlDomainAttachments(sim)).toEqual({ vbds: 0, devices: [] });
  });

  it('unreachable host: nothing listens at the address', async () => {
    const where = { host: `http://127.0.0.1:${closedPort}` };
    const e = await cliSays(where, ['list']);
    expectSame(e, 'TRANSPORT_CONNECTION_REFUSED', await consoleLoginFails(where), 'Login failed:');
  });

  it('TLS fingerprint mismatch: the pool presents another certificate than the one pinned', async () => {
    const pinned = fingerprint.split(':').reverse().join(':');
    const e = await cliSays({ fingerprint: pinned }, ['list']);
    expectSame(e, 'TRANSPORT_TLS_FINGERPRINT_MISMATCH', await consoleLoginFails({ fingerprint: pinned }), 'Login failed:');
    expect(e.meaning).toContain(fingerprint);
  });

  it("a malformed answer from the pool (an empty int64) is the host's fault, said as TRANSPORT_PROTOCOL by all three, naming the field", async () => {
    front.rpc.set('VDI.get_record', malformedVirtualSize);
    try {
      const e = await cliSays({}, ['backup', '--sr', srs.nfs.uuid], true);
      expectSame(e, 'TRANSPORT_PROTOCOL', await consoleBackupFails(srs.nfs.name), BACKUP_FAILED_PREFIX);
      expect(e.meaning).toContain('virtual_size');
    } finally {
      front.rpc.delete('VDI.get_record');
    }
  });

  it('a bug (a TypeError planted where none is expected): said plainly, its stack in the log file named, none on screen', async () => {
    const e = await cliSays({}, ['backup', '--sr', srs.nfs.uuid], true, { NODE_OPTIONS: `--import=${pathToFileURL(PLANT_BUG).href}`, XSDR_TEST_PLANTED_BUG: PLANTED_BUG });
    const log = join(logDir, 'errors.log');
    expect(e.kind).toBe('bug');
    expect(e.meaning).toContain('This is a bug in the program');
    expect(e.nextStep).toContain(log);
    // The same slip in this process, for the console.
    const realHostname = os.hostname;
    os.hostname = () => {
      throw new TypeError(PLANTED_BUG);
    };
    syncBuiltinESMExports();
    let shown: string;
    try {
      shown = await consoleBackupFails(srs.nfs.name);
    } finally {
      os.hostname = realHostname;
      syncBuiltinESMExports();
    }
    expectSame(e, 'INTERNAL_BUG', shown, BACKUP_FAILED_PREFIX);
    expect(everyFrame()).not.toMatch(STACK_LINE);
    const written = readFileSync(log, 'utf8');
    // Three entries with a stack: the CLI's text run, its --json run, and the console.
    expect(written.split(`TypeError: ${PLANTED_BUG}`).length - 1).toBe(3);
    expect(written).toMatch(STACK_LINE);
  });
});

/** VDI.get_record forwarded to the pool, its virtual_size answered empty (a malformed int64). */
const malformedVirtualSize: RpcTakeover = (res, call) => {
  void fetch(sim.url, { method: 'POST', headers: { 'content-type': 'text/xml' }, body: call.body })
    .then((a) => a.text())
    .then((xml) => {
      const body = xml.replace(/(<name>virtual_size<\/name>\s*<value>)[^<]*(<\/value>)/, '$1$2');
      expect(body).not.toBe(xml);
      res.writeHead(200, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    })
    .catch(() => res.destroy());
};
