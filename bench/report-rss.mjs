// Preloaded into a measured process (node --import): prints its peak RSS on exit, so the
// benchmark can read the real CLI's memory high-water mark (and CPU time) without wrapping its code.
import { writeSync } from 'node:fs';

process.on('exit', () => {
  const u = process.resourceUsage();
  writeSync(2, `\nXSDR_BENCH_MAXRSS_KB ${u.maxRSS}\nXSDR_BENCH_CPU_US ${u.userCPUTime + u.systemCPUTime}\n`);
});
