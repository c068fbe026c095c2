#!/usr/bin/env node
/**
 * Entry point: argv → the console (no command) or a non-interactive command.
 * Passwords never come from argv: --password-file, $XSDR_PASSWORD, or a prompt.
 */
import React from 'react';
import { Command, CommanderError, Option } from 'commander';
import { render } from 'ink';
import { connect, type GlobalOptions } from './connect.js';
import { registerSimCommand } from './commands/sim.js';
import { registerBackupCommand } from './commands/backup.js';
import { registerRestoreCommands } from './commands/restore.js';
import { ExitCode } from './commands/output.js';
import { readPoolOverview } from './dr/overview.js';
import { describeError } from './describe-error.js';
import { PRODUCT_NAME, PRODUCT_VERSION } from './version.js';
import { App } from '../components/App.js';
import { ServicesProvider } from '../components/services.js';
import { TerminalSizeProvider } from '../components/TerminalSize.js';

export function buildProgram(): Command {
  const program = new Command(PRODUCT_NAME)
    .description(
      'XenServer / XCP-ng VM metadata backup, restore and schedule console.\n' +
        'With no --host and not on a XenServer host, it runs on an embedded simulated pool.',
    )
    .version(PRODUCT_VERSION)
    .option('--host <url>', "pool master or member: http(s)://host[:port] (default: this host's XAPI, else the embedded simulator)")
    .option('--user <name>', 'user name', 'root')
    .option('--password-file <file>', 'read the password from this file (else $XSDR_PASSWORD, else a prompt)')
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
  return program;
}

async function runConsole(opts: GlobalOptions): Promise<void> {
  const conn = await connect(opts, { input: process.stdin, output: process.stdout });
  try {
    if (conn.target.kind === 'remote' && conn.target.tls.insecure) {
      process.stderr.write('Warning: --insecure: the TLS certificate of the host is not checked.\n');
    }
    const services = {
      targetDescription: conn.target.describe,
      user: opts.user,
      readPoolOverview: () => readPoolOverview(conn.session),
    };
    const ink = render(
      <TerminalSizeProvider>
        <ServicesProvider services={services}>
          <App />
        </ServicesProvider>
      </TerminalSizeProvider>,
    );
    await ink.waitUntilExit();
  } finally {
    await conn.close();
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
