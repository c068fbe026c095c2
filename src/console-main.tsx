/**
 * The interactive console's start-up, kept out of cli.tsx so that the commands do not load
 * Ink, React and the screens.
 */
import React from 'react';
import { render } from 'ink';
import { hostname } from 'node:os';
import { ORIGINATOR, type GlobalOptions } from './connect.js';
import { resolveTarget, type Target } from './target.js';
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { createConsoleServices, scheduleRunnerFor } from './app/index.js';
import { DEFAULT_CRON_ROOT } from './dr/schedule.js';
import { tlsWarning } from './xenapi/index.js';
import { declarePublic } from './redact.js';
import { Console } from '../components/Console.js';
import { themeFromEnv } from '../components/theme.js';
import { usageError } from './failure/index.js';

/** The host named on the status line before anyone logs in. */
function hostLabelOf(target: Target): string {
  if (target.kind === 'local') return hostname();
  // Always on screen: nobody should mistake the demo pool for a real one.
  if (target.kind === 'embedded') return `simulated pool ${new URL(target.url).host}`;
  return new URL(target.url).host;
}

/**
 * The interactive console. It starts without a session: the operator logs in through the
 * login dialogue (the embedded demo pool's password is public and documented in the README;
 * the console never shows it). Ctrl-C is the console's own key (abort work, quit when idle),
 * so Ink's exit-on-Ctrl-C is off. The alternate screen keeps the shell's scrollback clean.
 */
export async function runConsole(opts: GlobalOptions): Promise<void> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw usageError('The console needs a terminal.', 'For scripts use the commands (see --help), e.g. "backup".');
  }
  const target = await resolveTarget(opts);
  // The demo pool's password is documented, not a secret (src/redact.ts).
  if (target.kind === 'embedded') declarePublic(target.password);
  const warning = tlsWarning(target.tls);
  const services = createConsoleServices({
    target: {
      url: target.url,
      tls: target.tls,
      describe: target.describe,
      ...(target.kind === 'local' && { socketPath: target.socketPath }),
      ...(target.controlDomain && { controlDomain: target.controlDomain }),
    },
    user: opts.user,
    hostLabel: hostLabelOf(target),
    originator: ORIGINATOR,
    ...(opts.transport && { transport: opts.transport }),
    // The demo pool's password is public: shown where it is asked for.
    ...(target.kind === 'embedded' && { loginHint: `Demo pool: log in as root with the password "${target.password}".` }),
    ...(warning !== undefined && { securityWarning: warning }),
    schedule: {
      cronRoot: resolve(opts.cronRoot ?? DEFAULT_CRON_ROOT),
      ...scheduleRunnerFor({
        kind: target.kind,
        node: process.execPath,
        cli: realpathSync(process.argv[1]!),
        user: opts.user,
        ...(opts.host && { host: opts.host }),
        ...(opts.passwordFile && { passwordFile: opts.passwordFile }),
        ...(opts.insecure && { insecure: true }),
        ...(opts.fingerprint && { fingerprint: opts.fingerprint }),
        ...(opts.simState && { simState: opts.simState }),
        ...(opts.simDom0 && { simDom0: opts.simDom0 }),
      }),
    },
  });
  const out = process.stdout;
  out.write('\u001b[?1049h\u001b[H');
  try {
    const ink = render(<Console services={services} theme={themeFromEnv(process.env)} />, { exitOnCtrlC: false });
    await ink.waitUntilExit();
  } finally {
    out.write('\u001b[?1049l');
    try {
      await services.close();
    } finally {
      if (target.kind === 'embedded') await target.close();
    }
  }
}

