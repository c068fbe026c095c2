/**
 * Why the console's choice lists are not built on ink-select-input (docs/ARCHITECTURE.md,
 * "Choice lists"): the facts that decision rests on, checked against the installed version.
 * If one of these starts failing, the library changed: read the section again.
 */
import React from 'react';
import { describe, expect, it } from 'vitest';
import { render } from 'ink-testing-library';
import SelectInput from 'ink-select-input';
import { KEYS, stripAnsi } from './helpers.js';

const items = ['2025-06-03', '2025-06-02', 'Charlie', 'Delta', 'Echo'].map((l) => ({ label: l, value: l }));

async function until(pred: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function start(props: { limit?: number; initialIndex?: number } = {}) {
  const highlighted: string[] = [];
  const chosen: string[] = [];
  const el = (p: typeof props) => <SelectInput items={items} {...p} onHighlight={(i) => highlighted.push(i.value)} onSelect={(i) => chosen.push(i.value)} />;
  const r = render(el(props));
  return { r, highlighted, chosen, rerender: (p: typeof props) => r.rerender(el(p)) };
}

describe('ink-select-input 6.2, as installed', () => {
  it('chooses (onSelect) the n-th visible row when a digit is typed: a date list would start a restore where xsconsole jumps', async () => {
    const { r, chosen } = start();
    await until(() => (r.lastFrame() ?? '').includes('2025-06-03'), 'the list');
    r.stdin.write('2');
    await until(() => chosen.length > 0, 'a choice');
    expect(chosen).toEqual(['2025-06-02']);
    r.unmount();
  });

  it('moves on j and k whatever the items are called (no first-letter jump to fit beside it)', async () => {
    const { r, highlighted } = start();
    await until(() => (r.lastFrame() ?? '').includes('2025-06-03'), 'the list');
    r.stdin.write('j');
    await until(() => highlighted.length > 0, 'a move');
    expect(highlighted).toEqual(['2025-06-02']);
    r.unmount();
  });

  it('keeps the highlight to itself: a new initialIndex after mount is ignored', async () => {
    const { r, highlighted, rerender } = start();
    await until(() => (r.lastFrame() ?? '').includes('2025-06-03'), 'the list');
    rerender({ initialIndex: 3 });
    r.stdin.write('j');
    await until(() => highlighted.length > 0, 'a move');
    expect(highlighted).toEqual(['2025-06-02']); // from row 0, not from row 3
    r.unmount();
  });

  it('loses keys that arrive in one read: its handler sees the state of the last render', async () => {
    const { r, highlighted } = start();
    await until(() => (r.lastFrame() ?? '').includes('2025-06-03'), 'the list');
    r.stdin.write(`${KEYS.down}${KEYS.down}`);
    await until(() => highlighted.length === 2, 'two moves');
    expect(highlighted).toEqual(['2025-06-02', '2025-06-02']);
    r.unmount();
  });

  it('scrolls by rotating the list: Up on the first row brings the last one above it', async () => {
    const { r, highlighted } = start({ limit: 3 });
    await until(() => (r.lastFrame() ?? '').includes('2025-06-03'), 'the list');
    r.stdin.write(KEYS.up);
    await until(() => highlighted.length === 1 && stripAnsi(r.lastFrame() ?? '').includes('Echo'), 'a move, drawn');
    const rows = stripAnsi(r.lastFrame() ?? '').split('\n').map((l) => l.slice(2).trim());
    expect(rows).toEqual(['Echo', '2025-06-03', '2025-06-02']);
    r.unmount();
  });
});
