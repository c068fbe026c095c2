/**
 * Where a bug's details go: a local log file whose path the operator is shown, never the
 * screen (a stack means nothing to an operator mid-failover and may hold host text). The
 * folder is decided here, never by a host: $XSDR_LOG_DIR, else /var/log/xsconsole-dr for
 * root on a host, else the user's state folder.
 */
import { appendFileSync, chmodSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { redactSecrets } from '../redact.js';
import { guardLines } from '../safe-text.js';
import { PRODUCT_VERSION } from '../version.js';

export function bugLogDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['XSDR_LOG_DIR']) return env['XSDR_LOG_DIR'];
  if (process.getuid?.() === 0) return '/var/log/xsconsole-dr';
  return join(env['XDG_STATE_HOME'] || join(homedir(), '.local', 'state'), 'xsconsole-dr');
}

/** Appends the error's stack (and its causes') to errors.log; the path, or why it could not. */
export function recordBug(err: unknown, env: NodeJS.ProcessEnv = process.env): { path: string } | { unwritten: string } {
  const dir = bugLogDir(env);
  const path = join(dir, 'errors.log');
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    appendFileSync(path, entry(err), { mode: 0o600 });
    chmodSync(path, 0o600);
    return { path };
  } catch (e) {
    return { unwritten: `${path}: ${(e as Error).message}` };
  }
}

function entry(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && depth < 5; depth++) {
    parts.push(e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  const text = guardLines(redactSecrets(parts.join('\ncaused by: ')));
  return `--- ${new Date().toISOString()} xsconsole-dr ${PRODUCT_VERSION} (node ${process.version}, pid ${process.pid})\n${text}\n`;
}
