/** Shared output helpers for the non-interactive commands: text or --json, exit codes. */
import { describeError } from '../describe-error.js';
import { commandJson, commandText } from '../text-sinks.js';
import { explainError } from '../xenapi/index.js';

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** What a command prints goes through its sink guard (no raw control or bidi character). */
export const stdio: Io = {
  out: (t) => process.stdout.write(withNewline(commandText(t))),
  err: (t) => process.stderr.write(withNewline(commandText(t))),
};

function withNewline(t: string): string {
  return t.endsWith('\n') ? t : `${t}\n`;
}

/** JSON for scripts: the report, or {error: {code, meaning, nextStep}}; exact values, inert on a terminal. */
export function printJson(io: Io, value: unknown): void {
  io.out(commandJson(value));
}

export function printFailure(io: Io, err: unknown, json: boolean): void {
  if (json) printJson(io, { error: explainError(err) });
  else io.err(describeError(err));
}

/** Exit code from an action: commands set it here, main() returns it. */
export class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
    this.name = 'ExitCode';
  }
}
