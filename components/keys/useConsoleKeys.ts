/**
 * The console's only subscription to keyboard input.
 *
 * How raw input is obtained from Ink 6 (and why): Ink reads stdin itself (a 'readable'
 * listener in raw mode), splits what it reads into key sequences with its input parser,
 * and re-emits each one, unparsed, as an 'input' event on the emitter it shares through
 * StdinContext (`useStdin().internal_eventEmitter`; useInput listens to the same emitter).
 * Listening there gives the exact bytes — `ESC[15~` for F5 — without a second reader on
 * stdin: adding our own 'data' listener would switch the stream to flowing mode and race
 * Ink's reader for the same bytes. Raw mode is requested through Ink's setRawMode so Ink
 * keeps its reference count and restores the terminal on exit.
 */
import { useEffect, useRef } from 'react';
import { useStdin } from 'ink';
import { decodeKey, splitKeySequences, type ConsoleKey } from './decode.js';

export type KeyHandler = (key: ConsoleKey) => void;

export function useConsoleKeys(handler: KeyHandler, options: { isActive?: boolean } = {}): void {
  const active = options.isActive !== false;
  const { internal_eventEmitter: emitter, setRawMode, isRawModeSupported } = useStdin();
  const latest = useRef(handler);
  latest.current = handler;

  useEffect(() => {
    if (!active || !isRawModeSupported) return undefined;
    setRawMode(true);
    return () => setRawMode(false);
  }, [active, isRawModeSupported, setRawMode]);

  useEffect(() => {
    if (!active) return undefined;
    const onInput = (data: unknown) => {
      const chunk = typeof data === 'string' ? data : Buffer.isBuffer(data) ? data.toString('utf8') : '';
      for (const seq of splitKeySequences(chunk)) latest.current(decodeKey(seq));
    };
    emitter.on('input', onInput);
    return () => {
      emitter.removeListener('input', onInput);
    };
  }, [active, emitter]);
}
