/**
 * A built console in a real terminal: a private tmux server (its own socket) runs it in a
 * window of a given size; a test types as an operator would (send-keys) and reads the screen
 * (capture-pane), waiting — bounded — for each expected frame. NO_COLOR: the monochrome theme
 * marks the highlighted row with ">", which a captured screen (text only) can show. CI=true:
 * Ink draws nothing but the last frame where it sees CI set, and the console must draw in a
 * terminal wherever it runs. LC_ALL: a UTF-8 terminal whatever the machine's locale (the
 * console draws ASCII boxes outside one). The exit status is written where the test reads it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SBIN_PATH } from './commands-helpers.js';

export interface TmuxConsole {
  screen(): string;
  /** Keys by tmux name (Enter, Escape, Down, Tab, F8, NPage) or, with `literal`, text typed as is. */
  send(keys: string, literal?: boolean): void;
  /** Polls the screen until `pred` holds (bounded); fails with the last screen and the process's state. */
  waitForScreen(pred: (s: string) => boolean, what: string, timeoutMs?: number): Promise<string>;
  waitForText(text: string, timeoutMs?: number): Promise<string>;
  /** The menu pane (left) is titled `title`. */
  atMenu(title: string): Promise<string>;
  /** Presses Down until the highlighted row satisfies `pred`. */
  highlight(pred: (row: string) => boolean, what: string): Promise<void>;
  /** At the login dialogue: types the password (after the user name offered) and logs in. */
  logIn(password: string): Promise<void>;
  /** From a menu under the root: back to the root menu, Quit; the console's exit status. */
  quit(): Promise<string>;
  /** The console's exit status, once it has exited (bounded). */
  exitCode(timeoutMs?: number): Promise<string>;
  /** Stops this test's private tmux server only. */
  close(): void;
}

/** The row marked as highlighted (monochrome theme: "> "). */
export function highlighted(s: string): string | undefined {
  return /│\s*> (.+?)\s*[↑↓]?\s*│/.exec(s)?.[1]?.trim();
}

/** A screen's text with box borders gone and wrapping collapsed, so a wrapped sentence reads whole. */
export function flatScreen(s: string): string {
  return s.replace(/[│┌┐└┘─]/g, ' ').replace(/\s+/g, ' ').trim();
}

/**
 * Starts `args` (after node) in a `width`×`height` tmux window; `dir` holds the socket, the
 * exit-code and stderr files, and the remote-mode cache.
 */
export function startTmuxConsole(opts: { dir: string; session: string; width: number; height: number; args: string[] }): TmuxConsole {
  const { dir, session } = opts;
  const socket = join(dir, 'tmux.sock');
  const exitFile = join(dir, 'exit-code');
  const stderrFile = join(dir, 'stderr');
  const tmux = (...a: string[]): string => execFileSync('tmux', ['-S', socket, '-f', '/dev/null', ...a], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const screen = () => tmux('capture-pane', '-p', '-t', session);
  const send = (keys: string, literal = false) => void tmux('send-keys', '-t', session, ...(literal ? ['-l', keys] : [keys]));
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const command =
    `env PATH=${quote(SBIN_PATH)} CI=true NO_COLOR=1 LC_ALL=C.UTF-8 XSDR_CACHE_DIR=${quote(join(dir, 'cache'))} ` +
    `${quote(process.execPath)} ${opts.args.map(quote).join(' ')} 2>${quote(stderrFile)}; echo $? > ${quote(exitFile)}`;
  tmux('new-session', '-d', '-s', session, '-x', String(opts.width), '-y', String(opts.height), command);

  /** What the console's process was doing, for a failure message: its state, and its stderr. */
  async function diagnostics(): Promise<string> {
    const out: string[] = [];
    try {
      const pid = tmux('display-message', '-p', '-t', session, '#{pane_pid}').trim();
      out.push(execFileSync('ps', ['-o', 'pid,stat,etime,rss,args', '--ppid', pid, '-p', pid], { encoding: 'utf8' }));
    } catch (err) {
      out.push(`(no process list: ${(err as Error).message.trim()})`);
    }
    out.push(`stderr: ${existsSync(stderrFile) ? (await readFile(stderrFile, 'utf8')).slice(-4000) || '(empty)' : '(none)'}`);
    return out.join('\n');
  }

  async function waitForScreen(pred: (s: string) => boolean, what: string, timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      try {
        last = screen();
      } catch (err) {
        throw new Error(`The console's terminal is gone while waiting for ${what} (${(err as Error).message.trim()}); exit code file: ${existsSync(exitFile) ? await readFile(exitFile, 'utf8') : 'none'}`);
      }
      if (pred(last)) return last;
      if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}. Screen:\n${last}\n${await diagnostics()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  const tc: TmuxConsole = {
    screen,
    send,
    waitForScreen,
    waitForText: (text, timeoutMs) => waitForScreen((s) => s.includes(text), JSON.stringify(text), timeoutMs),
    atMenu: (title) => waitForScreen((s) => new RegExp(`^\\s*┌─ ${title} ─`, 'm').test(s), `the menu "${title}"`),
    async logIn(password) {
      await tc.waitForText('Please log in to perform this function');
      send('Tab');
      send(password, true);
      await waitForScreen((s) => new RegExp(`Password\\s+\\*{${password.length}}_`).test(s), 'the masked password');
      send('Enter');
    },
    async quit() {
      send('Escape');
      await tc.atMenu('Customize System');
      await tc.highlight((row) => row === 'Quit', 'Quit');
      send('Enter');
      return tc.exitCode();
    },
    async highlight(pred, what) {
      for (let i = 0; i < 12; i++) {
        const s = await waitForScreen((sc) => highlighted(sc) !== undefined, 'a highlighted row');
        const row = highlighted(s)!;
        if (pred(row)) return;
        send('Down');
        await waitForScreen((sc) => highlighted(sc) !== row, `the highlight to move from ${row}`);
      }
      throw new Error(`No row ${what}. Screen:\n${screen()}`);
    },
    async exitCode(timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!existsSync(exitFile)) {
        if (Date.now() > deadline) throw new Error(`The console did not exit. Screen:\n${screen()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      // The shell writes the status once the file exists: wait for the line.
      for (;;) {
        const code = await readFile(exitFile, 'utf8');
        if (code.endsWith('\n') || Date.now() > deadline) return code;
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    close() {
      if (!existsSync(socket)) return;
      try {
        tmux('kill-server');
      } catch {
        /* already gone: the console exited and the server with it */
      }
    },
  };
  return tc;
}
