/**
 * The simulated master's clock: this machine's time moved by an offset, read in a time zone
 * of its own, so tests can play a master whose clock and zone differ from the client's
 * (a workstation in another country, a host whose NTP is off by hours).
 */

export interface SimClockOptions {
  /** Added to this machine's time (ms). Default 0. */
  offsetMs?: number;
  /** IANA time zone of the master's dom0 (its /etc/localtime). Default "UTC". */
  timeZone?: string;
}

/** A wall-clock reading: what `date +%F-%H-%M-%S` would print. */
export interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function checkZone(zone: string): string {
  // Intl refuses an unknown zone with a RangeError; say which option was wrong.
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    throw new RangeError(`unknown time zone "${zone}"`);
  }
  return zone;
}

export class SimClock {
  #offsetMs: number;
  #zone: string;
  #format: Intl.DateTimeFormat;

  constructor(opts: SimClockOptions = {}) {
    this.#offsetMs = opts.offsetMs ?? 0;
    this.#zone = checkZone(opts.timeZone ?? 'UTC');
    this.#format = this.#formatter();
  }

  get offsetMs(): number {
    return this.#offsetMs;
  }

  get timeZone(): string {
    return this.#zone;
  }

  /** Moves the master's clock (tests change it between runs). */
  set(opts: SimClockOptions): void {
    if (opts.offsetMs !== undefined) {
      if (!Number.isFinite(opts.offsetMs)) throw new RangeError('offsetMs must be a finite number');
      this.#offsetMs = opts.offsetMs;
    }
    if (opts.timeZone !== undefined) {
      this.#zone = checkZone(opts.timeZone);
      this.#format = this.#formatter();
    }
  }

  /** The master's idea of now (UTC instant). */
  now(): Date {
    return new Date(Date.now() + this.#offsetMs);
  }

  /** The master's local wall clock at `at` (default: its now), in its time zone. */
  wallClock(at: Date = this.now()): WallClock {
    const parts: Record<string, number> = {};
    for (const p of this.#format.formatToParts(at)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
    return {
      year: parts['year']!,
      month: parts['month']!,
      day: parts['day']!,
      // Some ICU versions print midnight as 24 with hourCycle h23 unset; normalise.
      hour: parts['hour']! % 24,
      minute: parts['minute']!,
      second: parts['second']!,
    };
  }

  #formatter(): Intl.DateTimeFormat {
    return new Intl.DateTimeFormat('en-US', {
      timeZone: this.#zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  }
}
