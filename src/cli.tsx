#!/usr/bin/env node
/**
 * Entry point: argv → the console (no command) or a non-interactive command.
 * Passwords never come from argv: --password-file, $XSDR_PASSWORD, or a prompt.
 */
import React from 'react';
import { Command, CommanderError, Option } from 'commander';
import { render } from 'ink';
import { hostname } from 'node:os';
import { ORIGINATOR, type GlobalOptions } from './connect.js';
import { resolveTarget, type Target } from './target.js';
import { createConsoleServices } from './dr/console-services.js';
import { tlsWarning } from './xenapi/index.js';
import { registerSimCommand } from './commands/sim.js';
import { registerBackupCommand } from './commands/backup.js';
import { registerRestoreCommands } from './commands/restore.js';
import { registerScheduleCommands } from './commands/schedule.js';
import { registerClassicCommands } from './commands/classic.js';
import { registerInspectCommand } from './commands/inspect.js';
import { ExitCode } from './commands/output.js';
import { describeError } from './describe-error.js';
import { PRODUCT_NAME, PRODUCT_VERSION } from './version.js';
import { Console } from '../components/Console.js';
import { themeFromEnv } from '../components/theme.js';

export function buildProgram(): Command {
  const program = new Command(PRODUCT_NAME)
    .description(
      'XenServer / XCP-ng VM metadata backup, restore and schedule console.\n' +
        'With no --host and not on a XenServer host, it runs on an embedded simulated pool.',
    )
    .version(PRODUCT_VERSION)
    .option('--host <url>', "pool master or member: http(s)://host[:port] (default: this host's XAPI, else the embedded simulator)")
    .option('--user <name>', 'user name', 'root')
    .option('--password-file <file>', 'commands: read the password from this file (else $XSDR_PASSWORD, else a prompt); the console asks in its login dialogue')
    .option('--insecure', 'accept any TLS certificate (a warning is shown)')
    .option('--fingerprint <sha256>', "accept the host's self-signed certificate only if its SHA-256 fingerprint is this")
    .option('--sim-state <dir>', 'run the embedded simulator on this persistent state folder')
    .addOption(new Option('--password <pw>').hideHelp().argParser(() => {
      throw new CommanderError(2, 'xsconsole-dr.password', 'Passwords are not taken on the command line (other users can read it): use --password-file FILE or XSDR_PASSWORD.');
    }))
    .showHelpAfterError()
    .action(async (opts: GlobalOptions) => {
      await runConsole(opts);
    });
  registerSimCommand(program);
  registerBackupCommand(program);
  registerRestoreCommands(program);
  registerScheduleCommands(program);
  registerClassicCommands(program);
  registerInspectCommand(program);
  return program;
}

/** The host named on the status line before anyone logs in. */
function hostLabelOf(target: Target): string {
  return target.kind === 'local' ? hostname() : new URL(target.url).host;
}

/**
 * The interactive console. It starts without a session: the operator logs in through the
 * login dialogue (the embedded demo pool's password is public and documented in the README;
 * the console never shows it). Ctrl-C is the console's own key (abort work, quit when idle),
 * so Ink's exit-on-Ctrl-C is off. The alternate screen keeps the shell's scrollback clean.
 */
async function runConsole(opts: GlobalOptions): Promise<void> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw new Error('The console needs a terminal; for scripts use the commands (see --help), e.g. "backup".');
  }
  const target = await resolveTarget(opts);
  const warning = tlsWarning(target.tls);
  const services = createConsoleServices({
    target: {
      url: target.url,
      tls: target.tls,
      describe: target.describe,
      ...(target.kind === 'local' && { socketPath: target.socketPath }),
    },
    user: opts.user,
    hostLabel: hostLabelOf(target),
    originator: ORIGINATOR,
    ...(target.kind === 'embedded' && { loginHint: 'Demo pool: the root password is documented in the README.' }),
    ...(warning !== undefined && { securityWarning: warning }),
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

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof ExitCode) return err.code;
    if (err instanceof CommanderError) {
      // Help and --version arrive here too, with exit code 0.
      if (err.code === 'xsconsole-dr.password') process.stderr.write(`${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`${describeError(err)}\n`);
    return 1;
  }
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exitCode = 1;
  },
);
