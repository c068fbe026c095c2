/**
 * The entry point's heap tuning (src/heap-tuning.ts) is in force in the built program: the
 * same allocation pattern (survivors kept for a while among garbage, as a backup's decoding
 * makes) grows a tuned heap far less than V8's default one, and the simulator's
 * restoreDefaultHeapSizing() undoes it. `npm test` builds dist/ first.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const ROOT = resolve(__dirname, '../..');
const TUNED = join(ROOT, 'dist/src/heap-tuned.js');
const TUNING = join(ROOT, 'dist/src/heap-tuning.js');

const ALLOCATE = `
import v8 from 'node:v8';
const keep = [];
let peakNew = 0, peakTotal = 0;
for (let round = 0; round < 300; round++) {
  const batch = [];
  for (let i = 0; i < 2000; i++) batch.push({ uuid: 'u-' + round + '-' + i, n: i, a: [i, i + 1] });
  keep.push(batch);
  if (keep.length > 40) keep.shift();
  const ns = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  peakNew = Math.max(peakNew, ns.space_size);
  peakTotal = Math.max(peakTotal, v8.getHeapStatistics().total_heap_size);
}
console.log(JSON.stringify({ newMb: peakNew / 1048576, totalMb: peakTotal / 1048576 }));
`;

async function heapPeaks(prelude: string): Promise<{ newMb: number; totalMb: number }> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', prelude + ALLOCATE], { timeout: 60_000 });
  return JSON.parse(stdout) as { newMb: number; totalMb: number };
}

describe('heap tuning of the built program', () => {
  it('keeps the young generation small and the heap near its live size; the simulator gets V8 defaults back', async () => {
    if (!existsSync(TUNED)) throw new Error(`${TUNED} is missing: build first (npm run build; npm test builds it).`);
    const tuning = JSON.stringify(pathToFileURL(TUNING).href);
    const [untuned, tuned, restored] = await Promise.all([
      heapPeaks(''),
      heapPeaks(`import ${JSON.stringify(pathToFileURL(TUNED).href)};\n`),
      heapPeaks(`import { tuneHeapForClient, restoreDefaultHeapSizing } from ${tuning};\ntuneHeapForClient(); restoreDefaultHeapSizing();\n`),
    ]);
    expect(tuned.newMb).toBeLessThanOrEqual(4);
    expect(untuned.newMb).toBeGreaterThan(8);
    expect(tuned.totalMb).toBeLessThan(untuned.totalMb * 0.6);
    expect(restored.newMb).toBeGreaterThan(8);
  }, 90_000);
});
