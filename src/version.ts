/** Product name and version shown on the status line and in --version. */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
// dist/src/version.js and src/version.ts both sit two levels below package.json's folder
// or one; try both so the built CLI and vitest agree.
function readVersion(): string {
  for (const p of ['../package.json', '../../package.json']) {
    try {
      const pkg = require(p) as { name?: string; version?: string };
      if (pkg.name === 'xsconsole-dr' && pkg.version) return pkg.version;
    } catch {
      /* try the next location */
    }
  }
  return '0.0.0';
}

export const PRODUCT_NAME = 'xsconsole-dr';
export const PRODUCT_VERSION = readVersion();
