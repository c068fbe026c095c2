/** One line for the command line: what failed (code), what it means, what to do next. */
import { errorText } from './text-sinks.js';
import { explainError } from './xenapi/index.js';

/** Code, meaning and next step are each kept to one line, whatever host text they hold. */
export function describeError(err: unknown): string {
  const e = explainError(err);
  const code = e.code === 'ERROR' ? '' : `${errorText(e.code)}: `;
  return `Error: ${code}${errorText(e.meaning)}\n${errorText(e.nextStep)}`;
}
