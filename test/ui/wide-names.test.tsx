/**
 * Text that fits, at 80×24: names in CJK, emoji sequences and decomposed accents keep the
 * columns and the borders where they belong (cells counted as the terminal draws them),
 * cuts fall between graphemes; and outside a UTF-8 locale the frame is drawn in ASCII.
 */
import React from 'react';
import { afterEach, describe, expect, it } from 'vitest';
import { registerCore } from '../../components/core-features.js';
import { BUR_MENU, type FeatureRegistry } from '../../components/registry.js';
import { ChoiceDialogue } from '../../components/dialogues/ChoiceDialogue.js';
import { runBackup } from '../../src/dr/backup.js';
import { DEMO_ROOT_PASSWORD } from '../../src/sim/index.js';
import { simulatedControlDomain } from '../../src/dr/volume/control-domain.js';
import { createConsoleServices, type LiveConsoleServices } from '../../src/app/index.js';
import { BACKUP_PICKER_TITLE } from '../../components/backup/feature.js';
import { startTestPool, type TestPool } from '../helpers/pool.js';
import { highlightRow, openRestorePicker, readAllPages } from './restore-helpers.js';
import { textWidth } from '../../components/text.js';
import { ASCII_GLYPHS, MONO_THEME, themeFromEnv } from '../../components/theme.js';
import { FakePool, srRecord } from './fake-pool.js';
import { KEYS, flat, paneTitle, press, renderConsole, stripAnsi, waitForFrame, type Rendered } from './helpers.js';

const CJK = '日本語のストレージリポジトリ名前';
const COMBINING = `Cafe\u0301 ${'e\u0301'.repeat(13)} SR`;
const FAMILY = '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}';

let r: Rendered | undefined;
let pool: TestPool | undefined;
let live: LiveConsoleServices | undefined;
afterEach(async () => {
  r?.unmount();
  r = undefined;
  await live?.close();
  live = undefined;
  await pool?.close();
  pool = undefined;
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
    // The picker is 78 cells wide (the frame less a column each side): its bars at cells 1 and 78 on every row.
    expectDialogueAligned(f, '│', 1, 78);
    const rows = f.split('\n');
    const row = (start: string) => rows.find((l) => l.includes(start))!;
    // Each name is cut to its 26-cell column: the type column starts at the same cell.
    for (const start of ['Cafe\u0301', '日本語', FAMILY]) {
      const line = row(start);
      expect(textWidth(line.slice(0, line.indexOf(' lvm '))), line).toBe(5 + 26);
    }
    expect(row('日本語')).toContain('日本語のストレージリポジ~ ');
    expect(row(FAMILY)).toContain(`${FAMILY.repeat(12)}~  lvm`);
    expect(row('Cafe\u0301')).toContain(`Cafe\u0301 ${'e\u0301'.repeat(13)} SR  `);
  });
});

/** Every frame drawn: within each, all rows with side bars have them at the same cells. */
function expectFramesAligned(rendered: Rendered): void {
  for (const raw of rendered.frames) {
    const frame = stripAnsi(raw);
    const pairs = new Set(columnsOf(frame, '│').filter((c) => c.length > 0).map((c) => `${c[0]},${c.at(-1)}`));
    expect(pairs.size, frame).toBeLessThanOrEqual(1);
  }
}

describe('a restore dry run of VMs with wide and combining names, at 80x24', () => {
  it('keeps every frame aligned; names too long for their column are cut between graphemes', async () => {
    pool = await startTestPool({ vms: 3, seed: 5 });
    const db = pool.sim.db;
    const [, poolRec] = [...db.allRecords('pool').entries()][0]!;
    const srRef = poolRec.default_SR;
    db.set('SR', srRef, 'name_label', CJK);
    const names = [`経理部の会計サーバー本番環境データベース`, COMBINING, FAMILY.repeat(3)];
    db.where('VM', (v) => !v.is_control_domain && !v.is_a_template && !v.is_a_snapshot).forEach(({ ref }, i) => db.set('VM', ref, 'name_label', names[i % names.length]!));
    const srUuid = db.get('SR', srRef).uuid;
    const backup = await runBackup(pool.session, { srUuid, vdiSize: 64 * 1024 * 1024 });
    live = createConsoleServices({ target: { url: pool.sim.url, tls: {}, describe: 'wide pool', controlDomain: simulatedControlDomain(pool.sim) }, user: 'root', hostLabel: 'wide' });
    r = renderConsole({ services: live });
    await openRestorePicker(r, DEMO_ROOT_PASSWORD);
    await highlightRow(r, '日本語');
    press(r, KEYS.enter);
    await waitForFrame(r, (f) => paneTitle(f) === 'Available Metadata Backups', 10_000);
    await highlightRow(r, backup.date);
    press(r, KEYS.enter);
    await waitForFrame(r, (f) => paneTitle(f) === `Restore Backup from ${backup.date}`);
    await highlightRow(r, 'All VM Metadata (Dry Run)');
    press(r, KEYS.enter);
    await waitForFrame(r, (f) => /^(Metadata Restore|Restore partly|Dry run: )/.test(paneTitle(f) ?? ''), 20_000);
    const text = await readAllPages(r);
    expectFramesAligned(r);
    // In the summary's VM column the long CJK name is cut between characters and marked;
    // the clash said under its row, which wraps, shows it whole.
    expect(text).toMatch(/ 経理部の会計サーバー本番環?~ [0-9a-f]{8}-/);
    expect(text).toContain('("経理部の会計サーバー本番環境データベース", Running)');
    expect(text).toContain(COMBINING);
    expect(text).toContain(FAMILY.repeat(3));
  }, 60_000);
});

/** A feature whose item opens a choice list with a long prompt, many rows and long details. */
function registerLongChoice(registry: FeatureRegistry): void {
  registry.addItem({
    key: 'LONGCHOICE',
    menu: BUR_MENU,
    priority: 10,
    title: 'Long choice',
    statusText: 'A choice list taller than the body.',
    keyHelp: '<Enter> Open',
    requiresLogin: false,
    activate: ({ nav }) =>
      nav.push(
        <ChoiceDialogue
          title="Long Choice"
          prompt={`${'A warning that takes several rows of the dialogue to say. '.repeat(5)}`}
          listTitle="Disks"
          choices={Array.from({ length: 12 }, (_, i) => ({ label: `disk ${i + 1}`, value: i + 1 }))}
          details={(n) => [`Name: "${`${CJK} `.repeat(n % 3 === 0 ? 8 : 1)}"`, `Attached to VM "vm ${n}".`]}
          notes={['A note under the list, two rows long once wrapped: it must stay on the screen too, whole.']}
          next={() => null}
        />,
      ),
  });
}

describe('a choice list taller than the body', () => {
  it('scrolls its list so that the prompt, the details, the notes and the key help all stay on screen', async () => {
    r = renderConsole({ services: new FakePool(), features: [registerCore, registerLongChoice] });
    await waitForFrame(r, (f) => f.includes('Customize System'));
    press(r, KEYS.enter);
    await waitForFrame(r, (f) => unicodeTitle(f) === 'Backup, Restore and Update');
    press(r, KEYS.enter);
    const f = await waitForFrame(r, (fr) => unicodeTitle(fr) === 'Long Choice');
    const lines = f.split('\n');
    expect(lines.filter((l) => l.includes('└')), f).toHaveLength(1);
    expect(f).toContain('<Enter> OK  <Esc> Cancel');
    expect(flat(f)).toContain('it must stay on the screen too, whole.');
    expect(f).toMatch(/disk \d+\s+↓/);
    expect(f).not.toContain('disk 12');
    // The tallest details (disk 3's) fit too: move there and read them whole.
    press(r, KEYS.down.repeat(2));
    const g = await waitForFrame(r, (fr) => fr.includes('Attached to VM "vm 3".'));
    expect(g.split('\n').filter((l) => l.includes(CJK)).length).toBeGreaterThan(2);
    expect(g).toContain('<Enter> OK  <Esc> Cancel');
  });
});

describe('typing', () => {
  it('Backspace removes a whole emoji from the login field, so what is left is what was meant', async () => {
    const p = widePool();
    r = renderConsole({ services: p });
    await waitForFrame(r, (f) => f.includes('Customize System'));
    press(r, KEYS.enter);
    await waitForFrame(r, (f) => unicodeTitle(f) === 'Backup, Restore and Update');
    press(r, KEYS.enter);
    await waitForFrame(r, (f) => /Username\s+root_/.test(f));
    press(r, KEYS.backspace.repeat(3));
    await waitForFrame(r, (f) => /Username\s+r_/.test(f));
    press(r, FAMILY);
    await waitForFrame(r, (f) => f.includes(`Username      r${FAMILY}_`));
    press(r, KEYS.backspace);
    await waitForFrame(r, (f) => /Username\s+r_/.test(f));
    press(r, `oot\t${p.password}\r`);
    await waitForFrame(r, (f) => unicodeTitle(f) === BACKUP_PICKER_TITLE);
    expect(p.logins).toBe(1);
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
    expectDialogueAligned(f, '|', 1, 78);
    for (const frame of [menu, f]) expect(frame, frame).toMatch(/^[\x20-\x7e\n\u00e9\u0301\u3040-\u30ff\u4e00-\u9fff\u{1F468}\u{1F469}\u{1F467}\u200d]*$/u);
  });
});
