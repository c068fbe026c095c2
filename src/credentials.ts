/**
 * Where the password comes from. Never argv (visible in `ps`), never logged.
 * Order: --password-file, then $XSDR_PASSWORD, then an interactive masked prompt.
 */
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { ExpectedFailure } from './failure/index.js';

export interface PasswordSources {
  passwordFile?: string;
  env?: NodeJS.ProcessEnv;
  /** Terminal to prompt on; omitted or not a TTY = no prompt possible. */
  input?: NodeJS.ReadStream;
  output?: NodeJS.WriteStream;
  user?: string;
  host?: string;
}

export class PasswordUnavailableError extends ExpectedFailure {
  constructor() {
    super('NO_PASSWORD', 'No password was given, and no terminal is attached to ask for one.', 'Give --password-file FILE or set XSDR_PASSWORD.');
    this.name = 'PasswordUnavailableError';
  }
}

export async function readPasswordFile(path: string): Promise<string> {
  const text = await readFile(path, 'utf8');
  // A password file usually ends with a newline that is not part of the password.
  return text.replace(/\r?\n$/, '');
}

export async function obtainPassword(src: PasswordSources): Promise<string> {
  if (src.passwordFile) return readPasswordFile(src.passwordFile);
  const fromEnv = (src.env ?? process.env)['XSDR_PASSWORD'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (src.input?.isTTY && src.output) {
    const who = `${src.user ?? 'root'}${src.host ? `@${src.host}` : ''}`;
    return promptHidden(`Password for ${who}: `, src.input, src.output);
  }
  throw new PasswordUnavailableError();
}

/** Reads one line from a TTY without echoing it. */
export function promptHidden(
  question: string,
  input: NodeJS.ReadStream,
  output: NodeJS.WriteStream,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let muted = false;
    const rl = createInterface({
      input,
      output: {
        write: (chunk: string) => {
          // Let the question and the final newline through; swallow the echoed keys.
          if (!muted || chunk === '\n' || chunk === '\r\n') output.write(chunk);
          return true;
        },
      } as unknown as NodeJS.WritableStream,
      terminal: true,
    });
    rl.on('SIGINT', () => {
      rl.close();
      output.write('\n');
      reject(new Error('Password prompt cancelled'));
    });
    rl.question(question, (answer) => {
      rl.close();
      resolve(answer);
    });
    muted = true;
  });
}
