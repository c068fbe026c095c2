/** One line for the command line: what failed (code), what it means, what to do next. */
import { explainError } from './xenapi/index.js';

export function describeError(err: unknown): string {
  const e = explainError(err);
  const code = e.code === 'ERROR' ? '' : `${e.code}: `;
  return `Error: ${code}${e.meaning}\n${e.nextStep}`;
}
