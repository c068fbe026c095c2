/**
 * The places operator text leaves the program, one function per kind. Each is the last
 * guard before a terminal, a file or syslog: names were neutralised where they entered the
 * text (safe-text.ts), and whatever unsafe character is left (from a message built with host
 * text, from a path) is escaped here. Anything else every sink of a kind must do to its
 * text belongs in its function too.
 */
import { redactDeep, redactSecrets } from './redact.js';
import { guardLines, inertJson, oneLine } from './safe-text.js';

// Every sink also removes the password a host may have sent back (redact.ts): first, because
// escaping could break it up so that it is no longer recognised.

/** Text a command writes to stdout or stderr; its own line breaks are kept. */
export function commandText(text: string): string {
  return guardLines(redactSecrets(text));
}

/** A command's --json document: exact values, inert on a terminal. */
export function commandJson(value: unknown): string {
  return inertJson(redactDeep(value));
}

/** One row the console draws: it never holds a line break (the screens lay out the rows). */
export function consoleRow(text: string): string {
  return oneLine(redactSecrets(text));
}

/** A report the operator saves to a file (the restore summary). */
export function savedReportText(text: string): string {
  return guardLines(redactSecrets(text));
}

/** A JSON record a run leaves for later (the scheduled runner's result). */
export function recordedJson(value: unknown): string {
  return inertJson(redactDeep(value));
}

/** One syslog message (`logger` would otherwise write one entry per line). */
export function syslogMessage(text: string): string {
  return oneLine(redactSecrets(text));
}

/** An error's code, meaning or next step: one line each, whatever host text it holds. */
export function errorText(text: string): string {
  return oneLine(redactSecrets(text));
}
