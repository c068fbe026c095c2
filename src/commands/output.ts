/** Shared output helpers for the non-interactive commands: text or --json, exit codes. */
import { describeError } from '../describe-error.js';
import { explainError } from '../xenapi/index.js';

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

export const stdio: Io = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
};

/** JSON for scripts: the report, or {error: {code, meaning, nextStep}}. */
export function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value, null, 2));
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
