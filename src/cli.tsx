#!/usr/bin/env node
/**
 * Entry point: argv → the console (no command) or a non-interactive command.
 * Passwords never come from argv: --password-file, $XSDR_PASSWORD, or a prompt.
 */
import './heap-tuned.js';
import { Command, CommanderError, Option } from 'commander';
import type { GlobalOptions } from './connect.js';
import { registerSimCommand } from './commands/sim.js';
import { registerBackupCommand } from './commands/backup.js';
import { registerRestoreCommands } from './commands/restore.js';
import { registerScheduleCommands } from './commands/schedule.js';
import { registerClassicCommands } from './commands/classic.js';
import { registerInspectCommand } from './commands/inspect.js';
import { registerStartCommand } from './commands/start.js';
import { ExitCode, printFailure, stdio } from './commands/output.js';
import { commandText } from './text-sinks.js';
import { PRODUCT_NAME, PRODUCT_VERSION } from './version.js';
import { loadWithoutCiDetection } from './interactive-load.js';
import { DEFAULT_TRANSPORT, TRANSPORT_CHOICES } from './xenapi/session.js';

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
    .option('--sim-dom0 <dir>', 'this machine plays the control domain of the simulated pool whose state folder is DIR (tests, demos); without --host the pool is reached over DIR/xapi, its local socket, as on a host')
    .addOption(
      new Option('--transport <protocol>', "XenAPI wire protocol: auto (JSON-RPC where the host has it, else XML-RPC), xml-rpc or json-rpc")
        .choices(TRANSPORT_CHOICES)
        .default(DEFAULT_TRANSPORT),
    )
    .option('--cron-root <dir>', 'folder holding cron.daily, cron.weekly and cron.monthly, for schedules (default /etc)')
    .addOption(new Option('--password <pw>').hideHelp().argParser(() => {
      throw new CommanderError(2, 'xsconsole-dr.password', 'Passwords are not taken on the command line (other users can read it): use --password-file FILE or XSDR_PASSWORD.');
    }))
    .showHelpAfterError()
    // Subcommand help lists the global options too (--host, --cron-root, …).
    .configureHelp({ showGlobalOptions: true })
    .action(async (opts: GlobalOptions) => {
      // Ink, React and the screens load only for the console, not for every command.
      const { runConsole } = await loadWithoutCiDetection(() => import('./console-main.js'));
      await runConsole(opts);
    });
  registerSimCommand(program);
  registerBackupCommand(program);
  registerRestoreCommands(program);
  registerScheduleCommands(program);
  registerClassicCommands(program);
  registerInspectCommand(program);
  registerStartCommand(program);
  return program;
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
      if (err.code === 'xsconsole-dr.password') process.stderr.write(`${commandText(err.message)}\n`);
      return err.exitCode;
    }
    printFailure(stdio, err, argv.includes('--json'));
    return 1;
  }
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${commandText(String(err))}\n`);
    process.exitCode = 1;
  },
);
