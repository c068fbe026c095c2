/**
 * Text that fits, at 80×24: names in CJK, emoji sequences and decomposed accents keep the
 * columns and the borders where they belong (cells counted as the terminal draws them),
 * cuts fall between graphemes; and outside a UTF-8 locale the frame is drawn in ASCII.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BACKUP_PICKER_TITLE } from '../../components/backup/feature.js';
import { textWidth } from '../../components/text.js';
import { ASCII_GLYPHS, MONO_THEME, themeFromEnv } from '../../components/theme.js';
import { FakePool, srRecord } from './fake-pool.js';
import { KEYS, press, renderConsole, waitForFrame, type Rendered } from './helpers.js';

const CJK = '日本語のストレージリポジトリ名前';
const COMBINING = `Cafe\u0301 ${'e\u0301'.repeat(13)} SR`;
const FAMILY = '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}';

let r: Rendered | undefined;
afterEach(() => {
  r?.unmount();
  r = undefined;
});

/** The cells at which `glyph` is drawn on each row of the frame. */
function columnsOf(frame: string, glyph: string): number[][] {
  return frame.split('\n').map((line) => {
    const cols: number[] = [];
    let at = 0;
    for (const { segment } of new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(line)) {
      if (segment === glyph) cols.push(at);
      at += textWidth(segment);
    }
    return cols;
  });
}

/** Every row between a dialogue's top and bottom border has its side bars at `left` and `right`. */
function expectDialogueAligned(frame: string, bar: string, left: number, right: number): void {
  const rows = columnsOf(frame, bar).filter((c) => c.length > 0);
  expect(rows.length, frame).toBeGreaterThan(5);
  for (const cols of rows) expect([cols[0], cols.at(-1)], frame).toEqual([left, right]);
}

function widePool(): FakePool {
  const p = new FakePool();
  p.srs = {
    'OpaqueRef:a': srRecord('aaaaaaaa-0000-4000-8000-000000000001', CJK),
    'OpaqueRef:b': srRecord('bbbbbbbb-0000-4000-8000-000000000002', COMBINING),
    'OpaqueRef:c': srRecord('cccccccc-0000-4000-8000-000000000003', FAMILY.repeat(14)),
  };
  p.pbds = Object.fromEntries(Object.keys(p.srs).map((sr, i) => [`OpaqueRef:pbd-${i}`, { SR: sr, host: p.thisHost }]));
  return p;
}

async function openBackupPicker(rendered: Rendered, p: FakePool, title: (f: string) => string | undefined): Promise<string> {
  await waitForFrame(rendered, (f) => f.includes('Customize System'));
  press(rendered, KEYS.enter);
  await waitForFrame(rendered, (f) => title(f) === 'Backup, Restore and Update');
  press(rendered, KEYS.enter);
  await waitForFrame(rendered, (f) => title(f) === 'Login');
  press(rendered, `\t${p.password}\r`);
  return waitForFrame(rendered, (f) => title(f) === BACKUP_PICKER_TITLE && !f.includes('Reading storage repositories'));
}

const unicodeTitle = (f: string) => /┌─ (.+?) ─/.exec(f)?.[1];
const asciiTitle = (f: string) => /\+- (.+?) -/.exec(f)?.[1];

describe('wide and combining names at 80x24', () => {
  it('the SR picker keeps its columns and borders; names are cut between graphemes, marked "~"', async () => {
    const p = widePool();
    r = renderConsole({ services: p });
    const f = await openBackupPicker(r, p, unicodeTitle);
    // The dialogue is 72 cells wide, centred: its bars at cells 4 and 75 on every row.
    expectDialogueAligned(f, '│', 4, 75);
    const rows = f.split('\n');
    const row = (start: string) => rows.find((l) => l.includes(start))!;
    // Each name is cut to its 26-cell column: the type column starts at the same cell.
    for (const start of ['Cafe\u0301', '日本語', FAMILY]) {
      const line = row(start);
      expect(textWidth(line.slice(0, line.indexOf(' lvm '))), line).toBe(8 + 26);
    }
    expect(row('日本語')).toContain('日本語のストレージリポジ~ ');
    expect(row(FAMILY)).toContain(`${FAMILY.repeat(12)}~  lvm`);
    expect(row('Cafe\u0301')).toContain(`Cafe\u0301 ${'e\u0301'.repeat(13)} SR  `);
  });
});

describe('outside a UTF-8 locale', () => {
  it('draws the frame, the dialogue and the list marks in ASCII', async () => {
    const p = widePool();
    const theme = themeFromEnv({ LANG: 'C', NO_COLOR: '1' });
    expect(theme).toEqual({ ...MONO_THEME, glyphs: ASCII_GLYPHS });
    r = renderConsole({ services: p, theme });
    const menu = await waitForFrame(r, (f) => asciiTitle(f) === 'Customize System');
    // The two menu panes: 40 cells each, bars at 0 and 39, 40 and 79.
    const bars = columnsOf(menu, '|').filter((c) => c.length > 0);
    expect(bars.length).toBeGreaterThan(15);
    for (const cols of bars) expect(cols, menu).toEqual([0, 39, 40, 79]);
    expect(menu.split('\n')[1]).toMatch(/^\+- Customize System -+\+\+- .+ -+\+$/);
    expect(menu.split('\n')[23]).toBe(`+${'-'.repeat(38)}++${'-'.repeat(38)}+`);
    const f = await openBackupPicker(r, p, asciiTitle);
    expectDialogueAligned(f, '|', 4, 75);
    for (const frame of [menu, f]) expect(frame, frame).toMatch(/^[\x20-\x7e\n\u00e9\u0301\u3040-\u30ff\u4e00-\u9fff\u{1F468}\u{1F469}\u{1F467}\u200d]*$/u);
  });
});
