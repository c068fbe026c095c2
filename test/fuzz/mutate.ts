/**
 * Seeded input mutation for the fuzz tests: the same seed gives the same cases, so a
 * failure names a case that can be replayed.
 */
import { expect } from 'vitest';

/** mulberry32: small, fast, good enough to pick mutations. */
export class Prng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 1;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)] as T;
  }
}

/** Fragments that make XML parsers work hard or misbehave. */
export const XML_TOKENS = [
  '<value>', '</value>', '<struct>', '</struct>', '<member>', '</member>', '<name>', '</name>',
  '<array><data>', '</data></array>', '<string>', '</string>', '<int>', '</int>', '<i4>-2147483649</i4>',
  '<boolean>2</boolean>', '<double>1e999</double>', '<dateTime.iso8601>20251301T99:99:99</dateTime.iso8601>',
  '<base64>!!!</base64>', '<nil/>', '&amp;', '&lt;', '&#0;', '&#xD800;', '&unknown;', '&', '<', '>', ']]>',
  '<![CDATA[x]]>', '<!-- c -->', '<?pi x?>', '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>', '&a;', '\u0000', '\uFFFE',
  '"', "'", '<sr uuid="', '<vdi name_label="', '/>', '<meta>', '</meta>', '<methodCall>', '<methodName>',
  '<params><param>', '</param></params>', 'OpaqueRef:NULL', '__proto__', 'constructor',
];

/** One random mutation of `input` (text or bytes). */
export function mutate(rng: Prng, input: Buffer, donors: readonly Buffer[] = []): Buffer {
  const b = Buffer.from(input);
  switch (rng.int(0, 7)) {
    case 0: {
      // bit flips
      for (let i = rng.int(1, 8); i > 0 && b.length > 0; i--) {
        const at = rng.int(0, b.length - 1);
        b[at] = b[at]! ^ (1 << rng.int(0, 7));
      }
      return b;
    }
    case 1:
      return b.subarray(0, rng.int(0, b.length)); // truncation
    case 2: {
      // splice with another input (or itself)
      const other = donors.length > 0 ? rng.pick(donors) : b;
      return Buffer.concat([b.subarray(0, rng.int(0, b.length)), other.subarray(rng.int(0, other.length))]);
    }
    case 3: {
      // token insertion
      const at = rng.int(0, b.length);
      return Buffer.concat([b.subarray(0, at), Buffer.from(rng.pick(XML_TOKENS)), b.subarray(at)]);
    }
    case 4: {
      // duplicate a slice many times ("huge counts")
      const from = rng.int(0, b.length);
      const slice = b.subarray(from, Math.min(b.length, from + rng.int(1, 200)));
      const times = rng.int(2, 500);
      return Buffer.concat([b.subarray(0, from), ...Array<Buffer>(times).fill(slice), b.subarray(from)]);
    }
    case 5: {
      // delete a range
      const from = rng.int(0, b.length);
      return Buffer.concat([b.subarray(0, from), b.subarray(Math.min(b.length, from + rng.int(1, 64)))]);
    }
    case 6: {
      // overwrite with random bytes
      for (let i = rng.int(1, 32); i > 0 && b.length > 0; i--) b[rng.int(0, b.length - 1)] = rng.int(0, 255);
      return b;
    }
    default: {
      // deep nesting at a random point
      const depth = rng.int(100, 5000);
      const open = rng.pick(['<value><array><data>', '<struct><member><name>x</name><value>', '<a>', '<value>']);
      const at = rng.int(0, b.length);
      return Buffer.concat([b.subarray(0, at), Buffer.from(open.repeat(depth)), b.subarray(at)]);
    }
  }
}

/** Cases per parser, and the time each may take. */
export const CASES = 200;
export const BOUND_MS = 3000;

/** Mutated variants of `seeds`, case i from seed 1000 + i (replayable). */
export function* cases(seeds: readonly Buffer[], count = CASES): Generator<{ i: number; input: Buffer }> {
  for (let i = 0; i < count; i++) {
    const rng = new Prng(1000 + i);
    let input = rng.pick(seeds);
    for (let k = rng.int(1, 3); k > 0; k--) input = mutate(rng, input, seeds);
    yield { i, input };
  }
}

/** The case settled in time, and a failure is a real Error (not a string, not undefined). */
export function settled(o: Outcome, what: string): void {
  expect(o.kind, `${what}: did not settle within ${BOUND_MS} ms`).not.toBe('timeout');
  if (o.kind === 'error') expect(o.error, `${what}: threw a non-Error ${String(o.error)}`).toBeInstanceOf(Error);
}

export interface Outcome {
  kind: 'value' | 'error' | 'timeout';
  value?: unknown;
  error?: unknown;
}

/** Runs one case with a time bound; a parser that never settles is a timeout, not a hang. */
export async function bounded(fn: () => unknown, ms: number): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'timeout' }), ms);
  });
  try {
    const run = (async (): Promise<Outcome> => {
      try {
        return { kind: 'value', value: await fn() };
      } catch (error) {
        return { kind: 'error', error };
      }
    })();
    return await Promise.race([run, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
