import React from 'react';
import { describe, expect, it } from 'vitest';
import { render } from 'ink-testing-library';
import { INITIAL_MENU_STATE, jumpCharOf, menuReducer, type MenuAction, type MenuState } from '../../components/menu/menu-state.js';
import { stackReducer, type ScreenEntry } from '../../components/navigation.js';
import { BUR_MENU, FeatureRegistry, ROOT_MENU, type MenuEnv } from '../../components/registry.js';
import { FEATURES } from '../../components/features.js';
import { createConsoleSchedule } from '../../src/app/index.js';
import { registerCore } from '../../components/core-features.js';
import { registerBackup } from '../../components/backup/feature.js';
import { statusLineText, titledTopBorder, tooSmallMessage } from '../../components/Frame.js';
import { Console } from '../../components/Console.js';
import { MONO_THEME, COLOUR_THEME, themeFromEnv } from '../../components/theme.js';
import { CLEAR_SCREEN } from '../../components/App.js';
import { wrapText, progressBar } from '../../components/text.js';
import { FakePool } from './fake-pool.js';
import { KEYS, flat, highlighted, paneTitle, press, renderConsole, stripAnsi, waitForFrame, waitForText } from './helpers.js';

const run = (titles: string[], actions: MenuAction[], rows = 5, from: MenuState = INITIAL_MENU_STATE) =>
  actions.reduce((s, a) => menuReducer(s, a, titles, rows), from);

describe('menu state', () => {
  const titles = ['Backup', 'Restore', 'Schedule', 'Quit'];

  it('wraps Up from the first item and Down from the last', () => {
    expect(run(titles, [{ type: 'up' }]).index).toBe(3);
    expect(run(titles, [{ type: 'up' }, { type: 'down' }]).index).toBe(0);
    expect(run(titles, [{ type: 'down' }, { type: 'down' }, { type: 'down' }, { type: 'down' }]).index).toBe(0);
  });

  it('jumps to the next item starting with a letter, cycling, case-insensitively', () => {
    const t = ['Alpha', 'beta', 'Bravo', 'Charlie', 'Bingo'];
    expect(run(t, [{ type: 'letter', letter: 'b' }]).index).toBe(1);
    expect(run(t, [{ type: 'letter', letter: 'B' }, { type: 'letter', letter: 'b' }]).index).toBe(2);
    expect(run(t, [{ type: 'letter', letter: 'b' }, { type: 'letter', letter: 'b' }, { type: 'letter', letter: 'b' }]).index).toBe(4);
    expect(run(t, [{ type: 'letter', letter: 'b' }, { type: 'letter', letter: 'b' }, { type: 'letter', letter: 'b' }, { type: 'letter', letter: 'b' }]).index).toBe(1);
    expect(run(t, [{ type: 'letter', letter: 'z' }]).index).toBe(0);
  });

  it('jumps by the first letter or digit, past brackets and spaces', () => {
    expect(jumpCharOf('<No suitable SRs available>')).toBe('n');
    expect(jumpCharOf('  2025-06-02')).toBe('2');
    expect(jumpCharOf('---')).toBe('');
  });

  it('pages and keeps the highlight inside the visible window', () => {
    const many = Array.from({ length: 23 }, (_, i) => `Item ${i}`);
    const down = run(many, [{ type: 'pageDown' }], 5);
    expect(down).toEqual({ index: 5, offset: 5 });
    expect(run(many, [{ type: 'end' }], 5)).toEqual({ index: 22, offset: 18 });
    expect(run(many, [{ type: 'end' }, { type: 'pageUp' }], 5)).toEqual({ index: 17, offset: 13 });
    expect(run(many, [{ type: 'up' }], 5)).toEqual({ index: 22, offset: 18 });
    expect(run(many, [{ type: 'end' }, { type: 'down' }], 5)).toEqual({ index: 0, offset: 0 });
  });

  it('clamps when the list shrinks and survives an empty list', () => {
    expect(menuReducer({ index: 9, offset: 7 }, { type: 'clamp' }, ['a', 'b', 'c'], 5)).toEqual({ index: 2, offset: 0 });
    expect(menuReducer({ index: 3, offset: 1 }, { type: 'down' }, [], 5)).toEqual(INITIAL_MENU_STATE);
  });
});

describe('screen stack', () => {
  const e = (id: number): ScreenEntry => ({ id, element: <></> });
  const ids = (s: ScreenEntry[]) => s.map((x) => x.id);

  it('pushes, pops and never pops the root', () => {
    let s = [e(0)];
    s = stackReducer(s, { type: 'push', entry: e(1) });
    s = stackReducer(s, { type: 'push', entry: e(2) });
    expect(ids(s)).toEqual([0, 1, 2]);
    s = stackReducer(s, { type: 'pop' });
    expect(ids(s)).toEqual([0, 1]);
    s = stackReducer(stackReducer(s, { type: 'pop' }), { type: 'pop' });
    expect(ids(s)).toEqual([0]);
  });

  it('replaces or closes a screen with everything above it; a gone screen is a no-op', () => {
    const s = [e(0), e(1), e(2), e(3)];
    expect(ids(stackReducer(s, { type: 'replace', id: 2, entry: e(9) }))).toEqual([0, 1, 9]);
    expect(ids(stackReducer(s, { type: 'close', id: 1 }))).toEqual([0]);
    expect(ids(stackReducer(s, { type: 'close', id: 0 }))).toEqual([0, 1, 2, 3]);
    expect(ids(stackReducer(s, { type: 'close', id: 42 }))).toEqual([0, 1, 2, 3]);
    expect(ids(stackReducer(s, { type: 'replace', id: 42, entry: e(9) }))).toEqual([0, 1, 2, 3]);
    expect(ids(stackReducer(s, { type: 'popToRoot' }))).toEqual([0]);
  });
});

describe('feature registry', () => {
  const env: MenuEnv = { loggedIn: false, user: null, services: new FakePool() };

  it('orders a menu by priority and hides invisible items', () => {
    const r = FeatureRegistry.from(FEATURES);
    expect(r.itemsOf(ROOT_MENU, env).map((i) => i.key)).toEqual(['MENU_BUR', 'LOGINOUT', 'QUIT']);
    // Schedule is offered only by services that can manage one (the hand-made pool cannot).
    expect(r.itemsOf(BUR_MENU, env).map((i) => i.key)).toEqual(['DRBACKUP', 'DRRESTORE']);
    const withSchedule = new FakePool();
    withSchedule.schedule = createConsoleSchedule({ cronRoot: '/nonexistent', runner: null, unavailable: 'test' });
    expect(r.itemsOf(BUR_MENU, { ...env, services: withSchedule }).map((i) => i.key)).toEqual(['DRSCHEDULE', 'DRBACKUP', 'DRRESTORE']);
    r.addItem({ key: 'HIDDEN', menu: BUR_MENU, priority: 1, title: 'Hidden', statusText: '', keyHelp: '', visible: () => false, activate: () => undefined });
    expect(r.itemsOf(BUR_MENU, env).map((i) => i.key)).toEqual(['DRBACKUP', 'DRRESTORE']);
  });

  it('lets a feature folder add an item in stock order without touching the core, and replace one by key', () => {
    const schedule = (reg: FeatureRegistry) =>
      reg.addItem({ key: 'DRSCHEDULE', menu: BUR_MENU, priority: 70, title: 'Schedule Virtual Machine Metadata', statusText: 's', keyHelp: '<Enter> Change Schedule', activate: () => undefined });
    const restore = (reg: FeatureRegistry) =>
      reg.addItem({ key: 'DRRESTORE', menu: BUR_MENU, priority: 90, title: 'Restore Virtual Machine Metadata', statusText: 'r', keyHelp: '<Enter> Restore', activate: () => undefined });
    const r = FeatureRegistry.from([restore, registerBackup, registerCore, schedule]);
    expect(r.itemsOf(BUR_MENU, env).map((i) => i.key)).toEqual(['DRSCHEDULE', 'DRBACKUP', 'DRRESTORE']);
    r.addItem({ key: 'DRRESTORE', menu: BUR_MENU, priority: 95, title: 'Restore (replaced)', statusText: '', keyHelp: '', activate: () => undefined });
    expect(r.itemsOf(BUR_MENU, env).map((i) => i.title)).toContain('Restore (replaced)');
    expect(r.itemsOf(BUR_MENU, env)).toHaveLength(3);
    expect(() => r.menu('MENU_NOPE')).toThrow(/No menu/);
  });
});

describe('text helpers', () => {
  it('wraps words and cuts words longer than a line', () => {
    expect(wrapText('one two three four', 9)).toEqual(['one two', 'three', 'four']);
    expect(wrapText('abcdefghij', 4)).toEqual(['abcd', 'efgh', 'ij']);
    expect(wrapText('a\n\nb', 10)).toEqual(['a', '', 'b']);
    expect(wrapText('  indented words here', 12)).toEqual(['  indented', '  words here']);
  });

  it('draws bars, status lines and titled borders to the exact width', () => {
    expect(progressBar(1, 4, 10)).toBe('[##......]');
    expect(progressBar(5, 0, 6)).toBe('[....]');
    const line = statusLineText('xsconsole-dr 1.0', '12:34', 'root@host', 80);
    expect(line).toHaveLength(80);
    expect(line.startsWith('xsconsole-dr 1.0')).toBe(true);
    expect(line.endsWith('root@host')).toBe(true);
    expect(line.indexOf('12:34')).toBe(37);
    expect(statusLineText('l'.repeat(60), 'cc', 'r'.repeat(60), 80)).toHaveLength(80);
    expect(titledTopBorder('Menu', 12)).toBe('┌─ Menu ───┐');
    expect(titledTopBorder('A very long title indeed', 12)).toHaveLength(12);
  });

  it('picks the monochrome palette for NO_COLOR and TERM=dumb', () => {
    const utf8 = { LANG: 'en_US.UTF-8' };
    expect(themeFromEnv({ ...utf8, NO_COLOR: '1' })).toEqual(MONO_THEME);
    expect(themeFromEnv({ ...utf8, TERM: 'dumb' })).toEqual(MONO_THEME);
    expect(themeFromEnv({ ...utf8, NO_COLOR: '' })).toEqual(COLOUR_THEME);
    expect(themeFromEnv(utf8)).toEqual(COLOUR_THEME);
  });
});

describe('the console frame and menus', () => {
  it('shows the root menu with status line, status pane and key help, and wraps Up/Down', async () => {
    const r = renderConsole({ services: new FakePool() });
    let f = await waitForText(r, 'Customize System', 'Backup, Restore and Update', 'Log In', 'Quit');
    const lines = f.split('\n');
    expect(lines).toHaveLength(24);
    expect(lines[0]).toMatch(/^xsconsole-dr \S+ +\d\d:\d\d +fake-host$/);
    expect(highlighted(f)).toBe('Backup, Restore and Update');
    expect(f).toContain('<Up/Dn> Select <Enter> OK');
    expect(f).toContain('<Enter> Select');

    press(r, KEYS.up);
    f = await waitForFrame(r, (fr) => highlighted(fr) === 'Quit');
    expect(f).toContain('<Enter> Quit');
    expect(f).toContain('Press <Enter> to leave the console');
    press(r, KEYS.down);
    await waitForFrame(r, (fr) => highlighted(fr) === 'Backup, Restore and Update');
    press(r, KEYS.down);
    f = await waitForFrame(r, (fr) => highlighted(fr) === 'Log In');
    expect(f).toContain('Pool: hand-made test pool');
    expect(flat(f)).toContain('Test pool: the password is in the test.');
    r.unmount();
  });

  it('jumps by first letter and opens a submenu with Enter or Right; Esc and Left go back', async () => {
    const r = renderConsole({ services: new FakePool() });
    await waitForText(r, 'Customize System');
    press(r, 'q');
    await waitForFrame(r, (f) => highlighted(f) === 'Quit');
    press(r, 'b');
    await waitForFrame(r, (f) => highlighted(f) === 'Backup, Restore and Update');
    press(r, KEYS.enter);
    let f = await waitForFrame(r, (fr) => paneTitle(fr) === 'Backup, Restore and Update');
    expect(highlighted(f)).toBe('Backup Virtual Machine Metadata');
    expect(f).toContain('<Enter> Backup');
    expect(f).toContain('<Esc> Back');
    press(r, KEYS.escape);
    f = await waitForFrame(r, (fr) => paneTitle(fr) === 'Customize System');
    expect(highlighted(f)).toBe('Backup, Restore and Update');
    press(r, KEYS.right);
    await waitForFrame(r, (fr) => paneTitle(fr) === 'Backup, Restore and Update');
    press(r, KEYS.left);
    await waitForFrame(r, (fr) => paneTitle(fr) === 'Customize System');
    // Esc at the root stays at the root.
    press(r, KEYS.escape);
    press(r, KEYS.down);
    f = await waitForFrame(r, (fr) => highlighted(fr) === 'Log In');
    expect(f).toContain('┌─ Customize System');
    r.unmount();
  });

  it('keeps a menu position under a dialogue and shows only the top screen', async () => {
    const r = renderConsole({ services: new FakePool() });
    await waitForText(r, 'Customize System');
    press(r, 'l');
    await waitForFrame(r, (f) => highlighted(f) === 'Log In');
    press(r, KEYS.enter);
    const f = await waitForText(r, '┌─ Login');
    expect(f).not.toContain('Customize System');
    press(r, KEYS.escape);
    const back = await waitForText(r, 'Customize System');
    expect(highlighted(back)).toBe('Log In');
    r.unmount();
  });

  it('says clearly when the terminal is too small, and keeps the screens through a resize', async () => {
    const services = new FakePool();
    const r = render(<Console services={services} theme={MONO_THEME} size={{ columns: 80, rows: 24 }} />);
    await waitForText(r, 'Customize System');
    r.stdin.write(KEYS.enter);
    await waitForFrame(r, (fr) => paneTitle(fr) === 'Backup, Restore and Update');
    r.rerender(<Console services={services} theme={MONO_THEME} size={{ columns: 79, rows: 30 }} />);
    let f = await waitForFrame(r, (fr) => flat(fr).includes('needs at least 80x24'));
    expect(flat(f)).toContain(tooSmallMessage(79, 30));
    expect(f).not.toContain('Backup, Restore and Update');
    // Keys other than Ctrl-C do nothing while the frame cannot be seen.
    r.stdin.write(KEYS.escape);
    r.rerender(<Console services={services} theme={MONO_THEME} size={{ columns: 80, rows: 23 }} />);
    f = await waitForText(r, 'The terminal is 80x23');
    r.rerender(<Console services={services} theme={MONO_THEME} size={{ columns: 80, rows: 24 }} />);
    f = await waitForFrame(r, (fr) => paneTitle(fr) === 'Backup, Restore and Update');
    expect(highlighted(f)).toBe('Backup Virtual Machine Metadata');
    r.unmount();
  });

  it('centres the 80x24 frame in a larger terminal', async () => {
    const r = renderConsole({ services: new FakePool(), size: { columns: 100, rows: 30 } });
    const f = await waitForText(r, 'Customize System');
    const lines = f.split('\n');
    const status = lines.findIndex((l) => l.includes('xsconsole-dr'));
    expect(status).toBe(3);
    expect(lines[status]!.indexOf('xsconsole-dr')).toBe(10);
    expect(lines[status + 1]!.indexOf('┌─ Customize System')).toBe(10);
    r.unmount();
  });

  it('renders in colour with the same content', async () => {
    const r = renderConsole({ services: new FakePool(), theme: COLOUR_THEME });
    const f = await waitForText(r, 'Customize System', 'Backup, Restore and Update');
    expect(f).not.toContain('> Backup');
    r.unmount();
  });

  it('quits from the Quit item', async () => {
    let exits = 0;
    const r = renderConsole({ services: new FakePool(), onExit: () => exits++ });
    await waitForText(r, 'Customize System');
    press(r, 'q');
    await waitForFrame(r, (f) => highlighted(f) === 'Quit');
    expect(exits).toBe(0);
    press(r, KEYS.enter);
    await waitForFrame(r, () => exits === 1);
    r.unmount();
  });

  it('keeps keys typed ahead for a screen that is still opening, in order', async () => {
    const p = new FakePool();
    const r = renderConsole({ services: p });
    await waitForText(r, 'Customize System');
    // Down, Up, Enter (open the submenu), Enter (its first item: Backup → login),
    // Tab (to the password), the password and Enter — all in one read.
    press(r, `${KEYS.down}${KEYS.up}\r\r\t${p.password}\r`);
    const f = await waitForFrame(r, (fr) => paneTitle(fr) === 'Select Storage Repository for Backup');
    expect(f.split('\n')[0]).toMatch(/root@fake-master$/);
    expect(p.logins).toBe(1);
    r.unmount();
  });

  it('redraws the whole screen on Ctrl-L', async () => {
    const r = renderConsole({ services: new FakePool() });
    await waitForText(r, 'Customize System');
    const before = r.frames.length;
    press(r, KEYS.ctrlL);
    // Ink writes the clear sequence, then the whole frame again.
    await waitForFrame(r, () => {
      const after = r.frames.slice(before);
      const cleared = after.findIndex((fr) => fr.startsWith(CLEAR_SCREEN));
      return cleared >= 0 && after.slice(cleared).some((fr) => stripAnsi(fr).includes('Customize System'));
    });
    r.unmount();
  });
});
