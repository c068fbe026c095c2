/**
 * The one expected-failure type: made where the failure is known (a domain rule, the pool's
 * answer, the operator's input), so it carries its code, what it means and what to do next.
 * Anything thrown that is not one of these (nor a XAPI, transport or abort error) is a bug.
 * Next steps name no keys: the front ends add their own ("F5", "--force").
 */
import { AbortError } from '../xenapi/index.js';

export interface ErrorExplanation {
  code: string;
  meaning: string;
  nextStep: string;
}

export class ExpectedFailure extends Error implements ErrorExplanation {
  constructor(
    readonly code: string,
    meaning: string,
    readonly nextStep: string,
    options: { cause?: unknown } = {},
  ) {
    super(meaning, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'ExpectedFailure';
  }

  get meaning(): string {
    return this.message;
  }
}

/**
 * A cancelled run that tells what it had done and what it cleaned up. Still an AbortError,
 * so code that only asks "was it cancelled?" needs no change.
 */
export class CancelledFailure extends AbortError {
  constructor(
    meaning: string,
    readonly nextStep: string,
    cause?: unknown,
  ) {
    // Its name stays 'AbortError' (isAbortError() reads the name).
    super(meaning, cause !== undefined ? { cause } : undefined);
  }
}

/**
 * A failure inside a named step of a run ("Attaching the backup VDI failed: …"): the cause
 * decides the code and next step, and whether it is a bug.
 */
export class StepFailure extends Error {
  constructor(
    readonly stepText: string,
    override readonly cause: unknown,
    /** Said after the cause's meaning (e.g. what state the VDI was left in). */
    readonly afterMeaning = '',
  ) {
    super(`${stepText} failed: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'StepFailure';
  }
}

/** A local file or folder operation the operator asked for (saving a report, a path given). */
export function isSystemError(err: unknown): err is NodeJS.ErrnoException & { code: string; syscall: string } {
  const e = err as NodeJS.ErrnoException;
  return err instanceof Error && typeof e.code === 'string' && typeof e.syscall === 'string';
}

/** The operator's own input was refused (an option, a value): said with how to give it. */
export function usageError(meaning: string, nextStep = 'See --help for the options and their values.'): ExpectedFailure {
  return new ExpectedFailure('USAGE', meaning, nextStep);
}
