/** The one error model above the protocol: expected failures and their operator text. */
export { CancelledFailure, ExpectedFailure, StepFailure, isSystemError, usageError } from './expected.js';
export type { ErrorExplanation } from './expected.js';
export { describeFailure, explainError, BUG_CODE } from './describe.js';
export type { Failure, FailureKind } from './describe.js';
export { explainXenApiError, explainTransportError } from './xenapi-text.js';
