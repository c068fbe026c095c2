/**
 * UI test helpers: render the console with ink-testing-library and wait for the frame
 * we expect after each key press (polling lastFrame, never sleeping a fixed time).
 */
import React from 'react';
import { render } from 'ink-testing-library';
import { Console, type ConsoleProps } from '../../components/Console.js';
import { MONO_THEME } from '../../components/theme.js';

const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;

export function stripAnsi(s: string): string {
  return s.replace(ANSI, '');
}

export const KEYS = {
  up: '\u001b[A',
  down: '\u001b[B',
  right: '\u001b[C',
  left: '\u001b[D',
  enter: '\r',
  escape: '\u001b',
  tab: '\t',
  backspace: '\u007f',
  pageUp: '\u001b[5~',
  pageDown: '\u001b[6~',
  home: '\u001b[H',
  end: '\u001b[F',
  f5: '\u001b[15~',
  f8: '\u001b[19~',
  ctrlC: '\u0003',
  ctrlL: '\u000c',
} as const;

export type Rendered = ReturnType<typeof render>;

/** Polls until `pred(frame)` holds; throws with the last frame after `timeoutMs`. */
export async function waitForFrame(r: Rendered, pred: (frame: string) => boolean, timeoutMs = 5000, what = 'the expected frame'): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const frame = stripAnsi(r.lastFrame() ?? '');
    if (pred(frame)) return frame;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}. Last frame:\n${frame}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Waits for a frame containing every one of `texts`. */
export function waitForText(r: Rendered, ...texts: string[]): Promise<string> {
  return waitForFrame(r, (f) => texts.every((t) => f.includes(t)), 5000, texts.map((t) => JSON.stringify(t)).join(' and '));
}

/** Waits until a condition outside the frame holds (a service's state). */
export async function waitUntil(pred: () => boolean, timeoutMs = 5000, what = 'the condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Writes one key. Ink delivers a lone ESC on the next turn (it might start a sequence),
 * so after an Escape the caller waits for its effect like after any other key.
 */
export function press(r: Rendered, key: string): void {
  r.stdin.write(key);
}

/** The title in the menu pane's (or dialogue's) top border. */
export function paneTitle(frame: string): string | undefined {
  for (const line of frame.split('\n')) {
    const m = /┌─ (.+?) ─/.exec(line);
    if (m) return m[1];
  }
  return undefined;
}

/** Collapses the wrapping of a frame's text, for phrases that may break across lines. */
export function flat(frame: string): string {
  return frame.replace(/[│┌┐└┘─]/g, ' ').replace(/\s+/g, ' ');
}

/** The highlighted row in the monochrome theme (marked with ">"). */
export function highlighted(frame: string): string | undefined {
  const m = /[│|]\s*> (.+?)\s*[↑↓]?\s*[│|]/.exec(frame);
  return m?.[1]?.trim();
}

export function renderConsole(props: Omit<ConsoleProps, 'theme' | 'size'> & Partial<Pick<ConsoleProps, 'theme' | 'size'>>): Rendered {
  return render(<Console theme={MONO_THEME} size={{ columns: 80, rows: 24 }} {...props} />);
}
