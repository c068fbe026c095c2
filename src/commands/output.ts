/** Shared output helpers for the non-interactive commands: text or --json, exit codes. */
import { failureLines, operatorFailure, type FailureText } from '../app/index.js';
import { commandJson, commandText } from '../text-sinks.js';

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

/** Any failure, as every front end says it (src/app/operator-failure.ts): text on stderr, or {error} as JSON. */
export function printFailure(io: Io, err: unknown, json: boolean): void {
  const f = operatorFailure(err);
  if (json) printJson(io, { error: f });
  else io.err(failureText(f));
}

export function failureText(f: FailureText): string {
  const [what, next] = failureLines(f);
  return `Error: ${what}\n${next}`;
}

/** Exit code from an action: commands set it here, main() returns it. */
export class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
    this.name = 'ExitCode';
  }
}
