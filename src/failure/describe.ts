/**
 * Any thrown value → what kind of failure it is, its code, meaning and next step. Pure (no
 * logging, no terminal guard): the domain uses it for the per-item failures in its reports,
 * and src/app/operator-failure.ts for what the front ends print.
 */
import { AbortError, TransportError, XenApiError, isAbortError } from '../xenapi/index.js';
import { CancelledFailure, ExpectedFailure, StepFailure, isSystemError, type ErrorExplanation } from './expected.js';
import { explainTransportError, explainXenApiError } from './xenapi-text.js';

export type FailureKind = 'expected' | 'cancelled' | 'bug';

export interface Failure extends ErrorExplanation {
  kind: FailureKind;
  /** The step of a run that failed ("Attaching the backup VDI"), where known. */
  step?: string;
}

export const BUG_CODE = 'INTERNAL_BUG';

export function describeFailure(err: unknown): Failure {
  if (err instanceof StepFailure) {
    const inner = describeFailure(err.cause);
    return { ...inner, meaning: `${err.stepText} failed: ${inner.meaning}${err.afterMeaning}`, step: err.stepText };
  }
  if (err instanceof ExpectedFailure) return { kind: 'expected', code: err.code, meaning: err.meaning, nextStep: err.nextStep };
  if (err instanceof XenApiError) {
    if (err.code === 'TASK_CANCELLED') return { kind: 'cancelled', ...explainXenApiError(err) };
    return { kind: 'expected', ...explainXenApiError(err) };
  }
  if (err instanceof TransportError) return { kind: 'expected', ...explainTransportError(err) };
  if (err instanceof CancelledFailure) return { kind: 'cancelled', code: 'CANCELLED', meaning: err.message, nextStep: err.nextStep };
  if (err instanceof AbortError || isAbortError(err)) {
    return { kind: 'cancelled', code: 'CANCELLED', meaning: 'The operation was cancelled.', nextStep: 'Start it again when ready.' };
  }
  // A local file or folder the operator named (a report saved, a password file, an image).
  if (isSystemError(err)) {
    return { kind: 'expected', code: err.code, meaning: err.message, nextStep: 'Check the path and its permissions, or choose another file or folder.' };
  }
  const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return {
    kind: 'bug',
    code: BUG_CODE,
    meaning: `xsconsole-dr failed unexpectedly (${what}). This is a bug in the program, not a problem of the pool.`,
    nextStep: 'Please report it with the error log; nothing else was changed after this point.',
  };
}

/** The three parts only, as reports carry them per item. */
export function explainError(err: unknown): ErrorExplanation {
  const { code, meaning, nextStep } = describeFailure(err);
  return { code, meaning, nextStep };
}
