/**
 * The one place a failure becomes operator text, for the CLI (text and --json) and the
 * console alike: code, meaning and next step (one line each, whatever host text is in them),
 * the step that failed, and for a bug the log file its details went to.
 */
import { BUG_CODE, describeFailure, type FailureKind } from '../failure/index.js';
import { errorText } from '../text-sinks.js';
import { recordBug } from './bug-log.js';

export interface FailureText {
  kind: FailureKind;
  code: string;
  meaning: string;
  nextStep: string;
  /** e.g. "Attaching the backup VDI" when the failure happened inside a step of a run. */
  step?: string;
  /** A bug: the local file holding its details (absent when it could not be written). */
  log?: string;
}

export interface OperatorFailureOptions {
  /** Where a bug's details are written (default: recordBug's log file). */
  recordBug?: (err: unknown) => { path: string } | { unwritten: string };
}

export function operatorFailure(err: unknown, opts: OperatorFailureOptions = {}): FailureText {
  const f = describeFailure(err);
  const text: FailureText = {
    kind: f.kind,
    code: errorText(f.code),
    meaning: errorText(f.meaning),
    nextStep: errorText(f.nextStep),
    ...(f.step !== undefined && { step: errorText(f.step) }),
  };
  if (f.kind !== 'bug') return text;
  const logged = (opts.recordBug ?? recordBug)(err);
  if ('path' in logged) {
    return { ...text, nextStep: errorText(`Please report it with ${logged.path}, where its details were written.`), log: errorText(logged.path) };
  }
  return { ...text, nextStep: errorText(`Please report it; its details could not be written (${logged.unwritten}).`) };
}

/** The failure as lines: "CODE: meaning", then the next step. */
export function failureLines(f: FailureText): [string, string] {
  return [`${f.code}: ${f.meaning}`, f.nextStep];
}

export function isBugCode(code: string): boolean {
  return code === BUG_CODE;
}
