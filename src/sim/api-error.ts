/**
 * The one error type of the simulator: a XenAPI failure as XAPI reports it, i.e. an error
 * code plus string parameters (the `ErrorDescription` array of a Failure response, or a
 * task's `error_info`). Anything else thrown inside the simulator becomes INTERNAL_ERROR.
 */
export class ApiFailure extends Error {
  readonly code: string;
  readonly params: string[];

  constructor(code: string, params: readonly string[] = []) {
    super(params.length > 0 ? `${code} [${params.join(', ')}]` : code);
    this.name = 'ApiFailure';
    this.code = code;
    this.params = [...params];
  }

  /** `[CODE, params…]` as sent on the wire. */
  toDescription(): string[] {
    return [this.code, ...this.params];
  }
}

/** Converts anything thrown into the `[CODE, params…]` XAPI would send. */
export function errorDescription(err: unknown): string[] {
  if (err instanceof ApiFailure) return err.toDescription();
  const text = err instanceof Error ? err.message : String(err);
  return ['INTERNAL_ERROR', text];
}
