/**
 * The one place a failure becomes operator text, for the CLI (text and --json) and the
 * console alike: code, meaning and next step, the step that failed, and for a bug the log
 * file its details went to. The parts are exact (no secret in them); each sink guards them
 * as it prints (failureLines: one line each, whatever host text is in them; --json: escapes).
 */
import { describeFailure, type FailureKind } from '../failure/index.js';
import { redactSecrets } from '../redact.js';
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
    code: redactSecrets(f.code),
    meaning: redactSecrets(f.meaning),
    nextStep: redactSecrets(f.nextStep),
    ...(f.step !== undefined && { step: redactSecrets(f.step) }),
  };
  if (f.kind !== 'bug') return text;
  const logged = (opts.recordBug ?? recordBug)(err);
  if ('path' in logged) {
    return { ...text, nextStep: `Please report it with ${logged.path}, where its details were written.`, log: logged.path };
  }
  return { ...text, nextStep: `Please report it; its details could not be written (${redactSecrets(logged.unwritten)}).` };
}

/** The failure as two guarded lines: "CODE: meaning", then the next step. */
export function failureLines(f: FailureText): [string, string] {
  return [`${errorText(f.code)}: ${errorText(f.meaning)}`, errorText(f.nextStep)];
}
