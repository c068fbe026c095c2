// Preloaded into a measured process (node --import): prints its peak RSS on exit, so the
// benchmark can read the real CLI's memory high-water mark without wrapping its code.
import { writeSync } from 'node:fs';

process.on('exit', () => {
  writeSync(2, `\nXSDR_BENCH_MAXRSS_KB ${process.resourceUsage().maxRSS}\n`);
});
