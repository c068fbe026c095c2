/**
 * The frame every pool command runs in: connect (password from file/env/prompt; the
 * --insecure warning on stderr), turn Ctrl-C / SIGTERM into an AbortSignal so services release
 * what they hold, print a failure as text or JSON, always log out. Returns the exit code.
 */
import { connect, type Connection, type GlobalOptions } from '../connect.js';
import { printFailure, stdio, type Io } from './output.js';

export async function runWithConnection(
  global: GlobalOptions,
  opts: { json?: boolean; io?: Io; failureCode?: (err: unknown) => number },
  fn: (conn: Connection, signal: AbortSignal, io: Io) => Promise<number>,
): Promise<number> {
  const io = opts.io ?? stdio;
  const abort = new AbortController();
  const onSignal = () => abort.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let conn: Connection | null = null;
  try {
    conn = await connect(global, { input: process.stdin, output: process.stdout, warn: (text) => io.err(text) });
    return await fn(conn, abort.signal, io);
  } catch (err) {
    printFailure(io, err, opts.json ?? false);
    return opts.failureCode?.(err) ?? 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await conn?.close();
  }
}
