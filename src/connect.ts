/**
 * From global options to a logged-in session: resolve the target, find the password
 * (embedded demo pool: its documented password; local socket: trusted as root), log in.
 */
import { resolveTarget, type Target, type TargetOptions } from './target.js';
import { obtainPassword } from './credentials.js';
import { declarePublic } from './redact.js';
import { Session, tlsWarning, type TransportChoice } from './xenapi/index.js';
import { declareLocalControlDomain } from './dr/volume/control-domain.js';

export interface GlobalOptions extends TargetOptions {
  user: string;
  passwordFile?: string;
  /** Folder holding cron.daily/weekly/monthly (the console's and the schedule commands'). */
  cronRoot?: string;
  /** XenAPI wire protocol (--transport). */
  transport?: TransportChoice;
}

export interface Connection {
  target: Target;
  session: Session;
  /** Logs out and stops an embedded simulator; safe to call twice. */
  close(): Promise<void>;
}

export const ORIGINATOR = 'xsconsole-dr';

/** Where the --insecure warning goes: stderr, so that --json output stays clean. */
const toStderr = (text: string) => void process.stderr.write(`${text}\n`);

export async function connect(
  opts: GlobalOptions,
  io: { input?: NodeJS.ReadStream; output?: NodeJS.WriteStream; warn?: (text: string) => void } = {},
): Promise<Connection> {
  const target = await resolveTarget(opts);
  const warning = tlsWarning(target.tls);
  if (warning !== undefined) (io.warn ?? toStderr)(`Warning: ${warning}`);
  try {
    let password: string;
    if (target.kind === 'embedded') {
      // Documented in the README: not a secret, so names holding "demo" are shown as they are.
      declarePublic(target.password);
      password = target.password;
    } else if (target.kind === 'local') password = '';
    else {
      password = await obtainPassword({
        ...(opts.passwordFile && { passwordFile: opts.passwordFile }),
        ...(io.input && { input: io.input }),
        ...(io.output && { output: io.output }),
        user: opts.user,
        host: new URL(target.url).host,
      });
    }
    const session = await Session.login({
      url: target.url,
      user: opts.user,
      password,
      originator: ORIGINATOR,
      tls: target.tls,
      ...(target.kind === 'local' && { socketPath: target.socketPath }),
      ...(opts.transport && { transport: opts.transport }),
    });
    if (target.controlDomain) declareLocalControlDomain(session, target.controlDomain);
    let closed = false;
    return {
      target,
      session,
      async close() {
        if (closed) return;
        closed = true;
        try {
          await session.logout();
        } finally {
          if (target.kind === 'embedded') await target.close();
        }
      },
    };
  } catch (err) {
    if (target.kind === 'embedded') await target.close();
    throw err;
  }
}
