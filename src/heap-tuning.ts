/**
 * V8 heap sizing for the client. Its live data is small (about 35 MB mid-way through a
 * 5000-VM backup) but it allocates fast, and by default V8 lets the old generation grow to
 * 2.5–4 × its live size between full collections and the young generation grow to 2 × 16 MB:
 * a 5000-VM backup peaked at 200–250 MB RSS, over half of it garbage. Growing the heap by
 * 30 % per full collection and keeping the young generation at its initial size held that
 * backup to about 130 MB with no measurable change in time (bench/results.md).
 *
 * V8 reads both flags each time it sizes the heap, so setting them at start-up works; they
 * must be set before the young generation first grows, hence this module is the entry's
 * first import. The simulator, a server with a large live database, puts the defaults back.
 */
import { setFlagsFromString } from 'node:v8';

export const CLIENT_HEAP_FLAGS = ['--heap-growing-percent=30', '--semi-space-growth-factor=1'] as const;
const V8_DEFAULTS = ['--heap-growing-percent=0', '--semi-space-growth-factor=2'] as const;

export function tuneHeapForClient(): void {
  for (const flag of CLIENT_HEAP_FLAGS) setFlagsFromString(flag);
}

export function restoreDefaultHeapSizing(): void {
  for (const flag of V8_DEFAULTS) setFlagsFromString(flag);
}
