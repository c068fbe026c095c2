/**
 * The console started with --insecure shows the TLS warning whole, on the login screen and in
 * the status pane of the menu, in the 80×24 frame (the text the commands print on stderr).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemoSimulator, type SimHandle } from '../../src/sim/index.js';
import { createConsoleServices, type LiveConsoleServices } from '../../src/app/index.js';
import { tlsWarning } from '../../src/xenapi/index.js';
import { KEYS, flat, highlighted, paneTitle, press, renderConsole, waitForFrame, waitForText, type Rendered } from './helpers.js';

const WARNING = tlsWarning({ insecure: true })!;
let dir: string;
let sim: SimHandle;
let services: LiveConsoleServices;
let r: Rendered | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xsdr-ui-insecure-'));
  sim = await startDemoSimulator({ stateDir: join(dir, 'state'), vms: 1 });
});
afterAll(async () => {
  await sim.stop();
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  r?.unmount();
  r = undefined;
  await services?.close();
});

describe('--insecure in the console', () => {
  it('the login screen and the Log In status pane show the whole warning', async () => {
    services = createConsoleServices({
      target: { url: sim.url, tls: { insecure: true }, describe: `pool at ${sim.url}` },
      user: 'root',
      hostLabel: new URL(sim.url).host,
      securityWarning: WARNING,
    });
    r = renderConsole({ services });
    await waitForText(r, 'Customize System');
    press(r, 'l');
    const menu = await waitForFrame(r, (f) => highlighted(f) === 'Log In');
    expect(flat(menu)).toContain(WARNING);
    press(r, KEYS.enter);
    const login = await waitForFrame(r, (f) => paneTitle(f) === 'Login');
    expect(flat(login)).toContain(WARNING);
  });
});
