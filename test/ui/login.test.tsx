/**
 * The login gate against a real in-process simulated pool (XML-RPC over a loopback
 * socket): success, XAPI's refusal, session reuse, Log Out, idle logout, cancelling.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemoSimulator, type SimHandle } from '../../src/sim/index.js';
import { createConsoleServices, type LiveConsoleServices } from '../../src/app/index.js';
import { LOGIN_REQUIRED } from '../../components/dialogues/LoginDialogue.js';
import { BACKUP_PICKER_TITLE } from '../../components/backup/feature.js';
import { KEYS, flat, highlighted, paneTitle, press, renderConsole, stripAnsi, waitForFrame, waitForText, waitUntil, type Rendered } from './helpers.js';

const PASSWORD = 'Tr1cky-pass!';
let dir: string;
let sim: SimHandle;
let services: LiveConsoleServices;
let r: Rendered | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xsdr-ui-login-'));
  sim = await startDemoSimulator({ stateDir: join(dir, 'state'), vms: 2, rootPassword: PASSWORD, hostname: 'dr-master-01' });
});
afterAll(async () => {
  await sim.stop();
  await rm(dir, { recursive: true, force: true });
});

function freshServices(): LiveConsoleServices {
  services = createConsoleServices({
    target: { url: sim.url, tls: {}, describe: `embedded simulated pool at ${sim.url}` },
    user: 'root',
    hostLabel: new URL(sim.url).host,
    loginHint: 'Demo pool: log in as root with the password "demo".',
  });
  return services;
}

afterEach(async () => {
  r?.unmount();
  r = undefined;
  await services?.close();
});

const sessionCount = () => sim.db.allRecords('session').size;

function everyFrame(rendered: Rendered): string {
  return rendered.frames.map(stripAnsi).join('\n');
}

async function openLogin(rendered: Rendered): Promise<string> {
  await waitForText(rendered, 'Customize System');
  press(rendered, 'l');
  await waitForFrame(rendered, (f) => highlighted(f) === 'Log In');
  press(rendered, KEYS.enter);
  return waitForFrame(rendered, (f) => paneTitle(f) === 'Login');
}

async function typeAndSubmit(rendered: Rendered, password: string): Promise<void> {
  // Enter on the user name moves to the password field.
  press(rendered, KEYS.enter);
  await waitForFrame(rendered, (f) => /Password\s+_/.test(f));
  press(rendered, password);
  await waitForFrame(rendered, (f) => new RegExp(`Password\\s+\\*{${password.length}}_`).test(f));
  press(rendered, KEYS.enter);
}

describe('login dialogue against the simulated pool', () => {
  it('logs in: user name prefilled, password masked, user@host on the status line', async () => {
    r = renderConsole({ services: freshServices() });
    let f = await openLogin(r);
    expect(f).toMatch(/Username\s+root_/);
    expect(flat(f)).toContain(`Pool: embedded simulated pool at ${sim.url}`);
    expect(flat(f)).toContain('Demo pool: log in as root with the password "demo".');
    expect(f.split('\n')[0]).toMatch(new RegExp(`${new URL(sim.url).host.replace(/\./g, '\\.')}$`));
    const before = sessionCount();
    await typeAndSubmit(r, PASSWORD);
    f = await waitForFrame(r, (fr) => fr.split('\n')[0]!.endsWith('root@dr-master-01'));
    expect(paneTitle(f)).toBe('Customize System');
    expect(f).toContain('Log Out');
    expect(sessionCount()).toBe(before + 1);
    expect(everyFrame(r)).not.toContain(PASSWORD);
  });

  it("names the pool on the status line: its name_label, neutralised; the coordinator's host name when unnamed", async () => {
    const pool = sim.db.refs('pool')[0]!;
    try {
      sim.db.update('pool', pool, { name_label: 'DR-Site\u202e' });
      r = renderConsole({ services: freshServices() });
      await openLogin(r);
      await typeAndSubmit(r, PASSWORD);
      let f = await waitForFrame(r, (fr) => fr.split('\n')[0]!.endsWith('root@dr-master-01'));
      expect(f.split('\n')[0]).toMatch(/Pool DR-Site\\u202e  root@dr-master-01$/);
      r.unmount();
      await services.close();

      sim.db.update('pool', pool, { name_label: '' });
      r = renderConsole({ services: freshServices() });
      await openLogin(r);
      await typeAndSubmit(r, PASSWORD);
      f = await waitForFrame(r, (fr) => fr.split('\n')[0]!.endsWith('root@dr-master-01'));
      expect(f.split('\n')[0]).toMatch(/Pool dr-master-01  root@dr-master-01$/);
    } finally {
      sim.db.update('pool', pool, { name_label: '' });
    }
  });

  it("shows XAPI's reason when the password is wrong, clears it, and lets the operator retry", async () => {
    r = renderConsole({ services: freshServices() });
    await openLogin(r);
    await typeAndSubmit(r, 'wrong-password');
    let f = await waitForText(r, 'Login failed: SESSION_AUTHENTICATION_FAILED');
    expect(flat(f)).toContain('wrong user name or password');
    expect(flat(f)).toContain('Check the user name and password');
    expect(f).toMatch(/Password\s+_/);
    press(r, PASSWORD);
    await waitForFrame(r, (fr) => new RegExp(`Password\\s+\\*{${PASSWORD.length}}_`).test(fr));
    press(r, KEYS.enter);
    f = await waitForFrame(r, (fr) => fr.split('\n')[0]!.endsWith('root@dr-master-01'));
    expect(everyFrame(r)).not.toContain('wrong-password');
    expect(everyFrame(r)).not.toContain(PASSWORD);
  });

  it('edits fields with Backspace and switches them with Tab; Esc and Left cancel', async () => {
    r = renderConsole({ services: freshServices() });
    await openLogin(r);
    press(r, KEYS.backspace);
    await waitForFrame(r, (f) => /Username\s+roo_/.test(f));
    press(r, 'tX');
    await waitForFrame(r, (f) => /Username\s+rootX_/.test(f));
    press(r, KEYS.tab);
    await waitForFrame(r, (f) => /Password\s+_/.test(f));
    press(r, KEYS.escape);
    let f = await waitForFrame(r, (fr) => paneTitle(fr) === 'Customize System');
    expect(highlighted(f)).toBe('Log In');
    press(r, KEYS.enter);
    f = await waitForFrame(r, (fr) => paneTitle(fr) === 'Login');
    expect(f).toMatch(/Username\s+root_/); // a new dialogue starts afresh
    press(r, KEYS.left);
    await waitForFrame(r, (fr) => paneTitle(fr) === 'Customize System');
  });

  it('gates Backup behind the login and reuses the session afterwards', async () => {
    r = renderConsole({ services: freshServices() });
    await waitForText(r, 'Customize System');
    press(r, KEYS.enter);
    await waitForFrame(r, (f) => paneTitle(f) === 'Backup, Restore and Update');
    press(r, KEYS.enter);
    let f = await waitForFrame(r, (fr) => paneTitle(fr) === 'Login');
    expect(f).toContain(LOGIN_REQUIRED);
    const before = sessionCount();
    await typeAndSubmit(r, PASSWORD);
    f = await waitForFrame(r, (fr) => paneTitle(fr) === BACKUP_PICKER_TITLE);
    expect(f.split('\n')[0]).toMatch(/root@dr-master-01$/);
    press(r, KEYS.escape);
    await waitForFrame(r, (fr) => paneTitle(fr) === 'Backup, Restore and Update');
    press(r, KEYS.enter);
    await waitForFrame(r, (fr) => paneTitle(fr) === BACKUP_PICKER_TITLE);
    expect(sessionCount()).toBe(before + 1);
  });

  it('logs out from the Log Out item and ends the session on the pool', async () => {
    r = renderConsole({ services: freshServices() });
    await openLogin(r);
    const before = sessionCount();
    await typeAndSubmit(r, PASSWORD);
    await waitForFrame(r, (f) => highlighted(f) === 'Log Out');
    press(r, KEYS.enter);
    let f = await waitForText(r, "User 'root' logged out");
    await waitUntil(() => sessionCount() === before, 5000, 'the session to end on the pool');
    press(r, KEYS.enter);
    f = await waitForFrame(r, (fr) => paneTitle(fr) === 'Customize System');
    expect(highlighted(f)).toBe('Log In');
    expect(f.split('\n')[0]).not.toContain('root@');
  });

  it('logs out by itself after the idle time and returns to the root menu', async () => {
    r = renderConsole({ services: freshServices(), idleLogoutMs: 400 });
    await openLogin(r);
    const before = sessionCount();
    await typeAndSubmit(r, PASSWORD);
    await waitForFrame(r, (f) => f.split('\n')[0]!.endsWith('root@dr-master-01'));
    press(r, 'b');
    await waitForFrame(r, (f) => highlighted(f) === 'Backup, Restore and Update');
    press(r, KEYS.enter);
    await waitForFrame(r, (f) => paneTitle(f) === 'Backup, Restore and Update');
    const f = await waitForText(r, 'Logged Out', "User 'root' was logged out after");
    expect(flat(f)).toContain('without a key press');
    await waitUntil(() => sessionCount() === before, 5000, 'the idle session to end on the pool');
    press(r, KEYS.enter);
    const root = await waitForFrame(r, (fr) => paneTitle(fr) === 'Customize System');
    expect(root.split('\n')[0]).not.toContain('root@');
  });

  it('cancels a slow login with Esc (staying) and with Ctrl-C (back to the menu)', async () => {
    sim.faults.add({ method: 'session.login_with_password', latencyMs: 30_000 });
    try {
      r = renderConsole({ services: freshServices() });
      await openLogin(r);
      await typeAndSubmit(r, PASSWORD);
      await waitForText(r, 'Logging in...');
      press(r, KEYS.escape);
      let f = await waitForText(r, 'Login cancelled.');
      expect(paneTitle(f)).toBe('Login');
      press(r, PASSWORD);
      await waitForFrame(r, (fr) => /Password\s+\*+_/.test(fr));
      press(r, KEYS.enter);
      await waitForText(r, 'Logging in...');
      press(r, KEYS.ctrlC);
      f = await waitForFrame(r, (fr) => paneTitle(fr) === 'Customize System');
      expect(highlighted(f)).toBe('Log In');
    } finally {
      sim.faults.clear();
    }
  });
});
