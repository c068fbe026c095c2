/** Driving the restore flow in UI tests: menu → login → SR picker → rows of lists. */
import { expect } from 'vitest';
import { RESTORE_MENU_TITLE, RESTORE_PICKER_TITLE } from '../../components/restore/texts.js';
import { KEYS, flat, highlighted, paneTitle, press, waitForFrame, type Rendered } from './helpers.js';
import { controlDomainAttachments } from '../helpers/pool.js';
import type { SimHandle } from '../../src/sim/index.js';

export const BUR = 'Backup, Restore and Update';

/** The status (right) pane of a menu frame, its wrapping collapsed. */
export function statusPane(frame: string): string {
  return flat(frame.split('\n').map((l) => l.slice(40, 80)).join('\n'));
}

export function atBurMenu(f: string): boolean {
  return paneTitle(f) === BUR;
}

/** Root → Backup, Restore and Update → Restore → (login when asked) → the SR picker, read. */
export async function openRestorePicker(r: Rendered, password: string | null): Promise<string> {
  const f = await waitForFrame(r, (fr) => paneTitle(fr) === 'Customize System' || atBurMenu(fr));
  if (!atBurMenu(f)) {
    press(r, KEYS.enter);
    await waitForFrame(r, atBurMenu);
  }
  press(r, 'r');
  await waitForFrame(r, (fr) => highlighted(fr) === RESTORE_MENU_TITLE);
  press(r, KEYS.enter);
  if (password !== null) {
    await waitForFrame(r, (fr) => paneTitle(fr) === 'Login');
    press(r, `\t${password}\r`);
  }
  return waitForFrame(r, (fr) => paneTitle(fr) === RESTORE_PICKER_TITLE && !fr.includes('Reading storage repositories'));
}

/** Moves a list's highlight down (wrapping) to the row starting with one of `starts`. */
export async function highlightRow(r: Rendered, ...starts: string[]): Promise<string> {
  for (let i = 0; i < 20; i++) {
    const f = await waitForFrame(r, (fr) => highlighted(fr) !== undefined);
    const h = highlighted(f)!;
    if (starts.some((s) => h.startsWith(s))) return f;
    press(r, KEYS.down);
    await waitForFrame(r, (fr) => highlighted(fr) !== h);
  }
  throw new Error(`no row starting with ${starts.join(' or ')}`);
}

/** In an SR picker: moves the highlight down (wrapping) to the SR whose uuid the line under the list shows. */
export async function highlightSr(r: Rendered, uuid: string): Promise<string> {
  const shown = (f: string) => /UUID ([0-9a-f-]{36})/.exec(f)?.[1];
  for (let i = 0; i < 20; i++) {
    const f = await waitForFrame(r, (fr) => shown(fr) !== undefined);
    const at = shown(f);
    if (at === uuid) return f;
    press(r, KEYS.down);
    await waitForFrame(r, (fr) => shown(fr) !== undefined && shown(fr) !== at);
  }
  throw new Error(`no SR ${uuid} in the picker`);
}

/** From the picker: choose the SR (by its uuid) and wait for the backup list. */
export async function chooseSrAndListBackups(r: Rendered, sr: { uuid: string; name: string }): Promise<string> {
  await highlightSr(r, sr.uuid);
  press(r, KEYS.enter);
  const f = await waitForFrame(r, (fr) => paneTitle(fr) === 'Available Metadata Backups', 10_000);
  expect(f).toContain('Select Metadata Backup to Restore From');
  return f;
}

/** The text rows inside a dialogue box (borders and the key help line left out). */
function dialogueRows(frame: string): string[] {
  const lines = frame.split('\n');
  const top = lines.findIndex((l) => l.includes('┌─'));
  const bottom = lines.findIndex((l, i) => i > top && l.includes('└'));
  return lines.slice(top + 1, bottom - 1).map((l) => l.replace(/^\s*│ ?/, '').replace(/ ?│\s*$/, '').trimEnd());
}

/**
 * The whole text of a scrollable dialogue: from the top, a page at a time, until the key
 * help says the last row is shown; each row once, wrapping collapsed.
 */
export async function readAllPages(r: Rendered): Promise<string> {
  press(r, KEYS.home);
  let f = await waitForFrame(r, (fr) => !/\((\d+)-\d+ of \d+[,)]/.test(fr) || /\(1-\d+ of \d+[,)]/.test(fr));
  const rows: string[] = [];
  for (let i = 0; i < 50; i++) {
    const m = /\((\d+)-(\d+) of (\d+)[,)]/.exec(f);
    const first = m ? Number(m[1]) : 1;
    dialogueRows(f).forEach((row, k) => (rows[first - 1 + k] = row));
    if (!m || m[2] === m[3]) return flat(rows.join('\n'));
    press(r, KEYS.pageDown);
    f = await waitForFrame(r, (fr) => /\((\d+)-\d+ of \d+[,)]/.exec(fr)?.[1] !== m[1]);
  }
  throw new Error('the dialogue did not reach its end');
}

/**
 * No VBD of the control domain left. A restore left by a key releases its backup VDI as
 * its screen goes, after the frame has changed: waited for (a bounded poll).
 */
export async function noneAttached(sim: SimHandle): Promise<void> {
  const deadline = Date.now() + 5000;
  let now = await controlDomainAttachments(sim);
  while ((now.vbds > 0 || now.devices.length > 0) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    now = await controlDomainAttachments(sim);
  }
  expect(now).toEqual({ vbds: 0, devices: [] });
}
