import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.{ts,tsx}'],
    // Integration tests run real servers on loopback; give them room on a 2-core CI machine.
    // A bug's details go to a log file (src/app/bug-log.ts): never the tester's home folder.
    env: { XSDR_LOG_DIR: join(tmpdir(), 'xsconsole-dr-test-logs') },
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two files at a time even on 2 cores (vitest's default there is one): most files wait on
    // sockets and child processes, and the suite went from 545 s to 435 s. Bounds measured
    // in tests (peak RSS, byte counts) do not depend on it, and no test asserts an upper bound on time.
    maxWorkers: 2,
  },
});
