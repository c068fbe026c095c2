import React, { useState } from 'react';
import { describe, expect, it } from 'vitest';
import { Text } from 'ink';
import { render } from 'ink-testing-library';
import { decodeKey, keyLabel, splitKeySequences } from '../../components/keys/decode.js';
import { useConsoleKeys } from '../../components/keys/useConsoleKeys.js';
import { Console } from '../../components/Console.js';
import { MONO_THEME } from '../../components/theme.js';
import { FakePool } from './fake-pool.js';
import { KEYS, flat, highlighted, paneTitle, press, renderConsole, waitForFrame, waitForText } from './helpers.js';

describe('decodeKey', () => {
  it.each([
    ['\u001b[15~', 'f5'],
    ['\u001b[19~', 'f8'],
    ['\u001b[2~', 'insert'],
    ['\u001b[3~', 'delete'],
    ['\u001b[5~', 'pageUp'],
    ['\u001b[6~', 'pageDown'],
    ['\u001b[11~', 'f1'],
    ['\u001b[24~', 'f12'],
    ['\u001b[[E', 'f5'], // Linux console
    ['\u001b[[A', 'f1'],
    ['\u001bOP', 'f1'],
    ['\u001bOS', 'f4'],
    ['\u001bOt', 'f5'], // VT100 keypad function keys
    ['\u001bOl', 'f8'],
    ['\u001b[A', 'up'],
    ['\u001bOA', 'up'], // application cursor mode
    ['\u001b[D', 'left'],
    ['\u001bOC', 'right'],
    ['\u001b[H', 'home'],
    ['\u001b[1~', 'home'],
    ['\u001b[F', 'end'],
    ['\u001b[4~', 'end'],
    ['\u001bOM', 'enter'],
    ['\r', 'enter'],
    ['\n', 'enter'],
    ['\t', 'tab'],
    ['\u001b[Z', 'backTab'],
    ['\u007f', 'backspace'],
    ['\b', 'backspace'],
    ['\u001b', 'escape'],
    ['\u001b\u001b', 'escape'],
  ])('%j is %s', (seq, name) => {
    expect(decodeKey(seq).name).toBe(name);
  });

  it('reads xterm modifiers on function and cursor keys', () => {
    expect(decodeKey('\u001b[15;2~')).toMatchObject({ name: 'f5', shift: true, ctrl: false });
    expect(decodeKey('\u001b[1;5A')).toMatchObject({ name: 'up', ctrl: true });
    expect(decodeKey('\u001b[1;3B')).toMatchObject({ name: 'down', alt: true });
    expect(decodeKey('\u001bO2P')).toMatchObject({ name: 'f1', shift: true });
  });

  it('treats ESC before a sequence as Alt', () => {
    expect(decodeKey('\u001b\u001b[A')).toMatchObject({ name: 'up', alt: true });
    expect(decodeKey('\u001bx')).toMatchObject({ name: 'text', text: 'x', alt: true });
  });

  it('names control letters and keeps text as typed', () => {
    expect(decodeKey('\u0003')).toMatchObject({ name: 'ctrl', letter: 'c', ctrl: true });
    expect(decodeKey('\u000c')).toMatchObject({ name: 'ctrl', letter: 'l' });
    expect(decodeKey('b')).toMatchObject({ name: 'text', text: 'b' });
    expect(decodeKey('pässwörd')).toMatchObject({ name: 'text', text: 'pässwörd' });
  });

  it('reports unknown sequences instead of guessing', () => {
    expect(decodeKey('\u001b[99~').name).toBe('unknown');
    expect(decodeKey('\u001b[?').name).toBe('unknown');
    expect(decodeKey('').name).toBe('unknown');
  });

  it('labels keys for key help', () => {
    expect(keyLabel(decodeKey('\u001b[15~'))).toBe('F5');
    expect(keyLabel(decodeKey('\u0003'))).toBe('Ctrl-C');
    expect(keyLabel(decodeKey('\u001b[6~'))).toBe('PgDn');
  });
});

describe('splitKeySequences', () => {
  it('cuts control characters and escape sequences out of a chunk', () => {
    expect(splitKeySequences('ab\r')).toEqual(['ab', '\r']);
    expect(splitKeySequences('\u001b[15~\u001b[Ax\u001b[19~')).toEqual(['\u001b[15~', '\u001b[A', 'x', '\u001b[19~']);
    expect(splitKeySequences('\u001b[[E\u001bOt')).toEqual(['\u001b[[E', '\u001bOt']);
    expect(splitKeySequences('\r\n\t')).toEqual(['\r\n', '\t']);
    expect(splitKeySequences('\u001b\u001b[B')).toEqual(['\u001b\u001b[B']);
    expect(splitKeySequences('\u001b')).toEqual(['\u001b']);
    expect(splitKeySequences('\u001bq')).toEqual(['\u001bq']);
  });

  it('keeps an unfinished sequence whole rather than leaking its bytes as text', () => {
    expect(splitKeySequences('\u001b[15')).toEqual(['\u001b[15']);
    expect(decodeKey('\u001b[15').name).toBe('unknown');
  });
});

function KeyEcho() {
  const [seen, setSeen] = useState<string[]>([]);
  useConsoleKeys((k) => setSeen((s) => [...s, k.name === 'text' ? `text:${k.text}` : k.name]));
  return <Text>keys: {seen.join(',')}</Text>;
}

describe('useConsoleKeys (through Ink)', () => {
  it('tells F5, F8 and Insert apart, which useInput cannot', async () => {
    const r = render(<KeyEcho />);
    r.stdin.write('\u001b[15~');
    await waitForText(r, 'keys: f5');
    r.stdin.write('\u001b[19~');
    await waitForText(r, 'keys: f5,f8');
    r.stdin.write('\u001b[2~');
    await waitForText(r, 'keys: f5,f8,insert');
    r.stdin.write('\u001b[[E');
    await waitForText(r, 'f5,f8,insert,f5');
    r.unmount();
  });

  it('delivers Escape, Ctrl-C and typed text', async () => {
    const r = render(<KeyEcho />);
    r.stdin.write('\u001b');
    await waitForText(r, 'keys: escape');
    r.stdin.write('\u0003');
    await waitForText(r, 'keys: escape,ctrl');
    r.stdin.write('ab\r');
    await waitForText(r, 'keys: escape,ctrl,text:ab,enter');
    r.unmount();
  });
});

describe('Ctrl-C and Escape as stock xsconsole handles them', () => {
  const ROOT_FIRST = 'Backup, Restore and Update';

  it('Ctrl-C with nothing running closes every dialogue and menu, back to the root menu on its first item; it does not quit', async () => {
    let exits = 0;
    const r = renderConsole({ services: new FakePool(), onExit: () => exits++ });
    await waitForText(r, 'Customize System');
    press(r, KEYS.enter);
    await waitForFrame(r, (f) => paneTitle(f) === 'Backup, Restore and Update');
    press(r, KEYS.down);
    await waitForFrame(r, (f) => highlighted(f) !== 'Backup Virtual Machine Metadata');
    press(r, KEYS.escape);
    await waitForFrame(r, (f) => paneTitle(f) === 'Customize System');
    press(r, 'l');
    await waitForFrame(r, (f) => highlighted(f) === 'Log In');
    press(r, KEYS.enter);
    await waitForFrame(r, (f) => paneTitle(f) === 'Login');
    press(r, KEYS.ctrlC);
    const f = await waitForFrame(r, (fr) => paneTitle(fr) === 'Customize System');
    expect(highlighted(f)).toBe(ROOT_FIRST);
    // The submenu starts over too: its first item again.
    press(r, KEYS.enter);
    const sub = await waitForFrame(r, (fr) => paneTitle(fr) === 'Backup, Restore and Update');
    expect(highlighted(sub)).toBe('Backup Virtual Machine Metadata');
    expect(exits).toBe(0);
    r.unmount();
  });

  it('Esc at the root menu puts the highlight back on the first item', async () => {
    let exits = 0;
    const r = renderConsole({ services: new FakePool(), onExit: () => exits++ });
    await waitForText(r, 'Customize System');
    press(r, 'q');
    await waitForFrame(r, (f) => highlighted(f) === 'Quit');
    press(r, KEYS.escape);
    const f = await waitForFrame(r, (fr) => highlighted(fr) === ROOT_FIRST);
    expect(paneTitle(f)).toBe('Customize System');
    expect(exits).toBe(0);
    r.unmount();
  });

  it('Ctrl-C quits while the terminal is too small to show the menu (the message says so)', async () => {
    let exits = 0;
    const services = new FakePool();
    const r = render(<Console services={services} theme={MONO_THEME} size={{ columns: 60, rows: 20 }} onExit={() => exits++} />);
    const f = await waitForFrame(r, (fr) => flat(fr).includes('needs at least 80x24'));
    expect(flat(f)).toContain('(Ctrl-C quits)');
    press(r, KEYS.ctrlC);
    await waitForFrame(r, () => exits === 1);
    r.unmount();
  });
});
