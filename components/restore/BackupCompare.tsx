/**
 * "Backup beside this pool", from the list of backups (<C>): the backup's VMs and templates
 * grouped by what this pool has of them (src/dr/backup-compare.ts), with counts, then the VMs
 * only this pool has; the highlighted VM's differences below the list. <Space> ticks a VM,
 * <A> all those missing here (or none), <F8> goes on to the restore choices with the ticked
 * VMs only (F8, not Enter, as elsewhere where a choice leads to changes).
 */
import React, { useState } from 'react';
import { Box } from 'ink';
import { DIALOGUE_WIDTH, DialogueBox, Line } from '../Frame.js';
import { useScreenKeys } from '../navigation.js';
import type { ConsoleKey } from '../keys/decode.js';
import { cell, shorten } from '../text.js';
import { COMPARE_STATUSES, type BackupComparison, type ComparedVm } from '../../src/dr/backup-compare.js';
import { ONLY_HERE_TITLE, STATUS_TEXT, compareCountsText, differenceText } from '../../src/dr/compare-text.js';
import { neutralise } from '../../src/safe-text.js';

export const COMPARE_KEYS = '<Space> Tick  <A> All missing  <F8> Restore ticked  <Left> Back';
export function compareTitle(date: string): string {
  return `Backup ${neutralise(date)} beside this pool`;
}
/** Rows of the list on an 80×24 screen (group headings included). */
const LIST_ROWS = 9;
/** Lines under the list for the highlighted VM. */
const DETAIL_ROWS = 3;

type Row = { kind: 'head'; text: string } | { kind: 'vm'; vm: ComparedVm } | { kind: 'here'; name: string; uuid: string; isTemplate: boolean };

/** The list as drawn: each group's heading with its count, then its VMs. */
export function compareRows(c: BackupComparison): Row[] {
  const rows: Row[] = [];
  for (const s of COMPARE_STATUSES) {
    const vms = c.vms.filter((v) => v.status === s);
    if (!vms.length) continue;
    rows.push({ kind: 'head', text: `${STATUS_TEXT[s].title} (${vms.length})` }, ...vms.map((vm): Row => ({ kind: 'vm', vm })));
  }
  if (c.onlyHere.length) rows.push({ kind: 'head', text: `${ONLY_HERE_TITLE} (${c.onlyHere.length}), not in the backup` }, ...c.onlyHere.map((v): Row => ({ kind: 'here', name: v.name, uuid: v.uuid, isTemplate: v.isTemplate })));
  return rows;
}

function details(row: Row | undefined): string[] {
  if (!row || row.kind === 'head') return [];
  if (row.kind === 'here') return ['Only in this pool: a restore of this backup leaves it alone.'];
  const v = row.vm;
  const lines = [`${STATUS_TEXT[v.status].title}: ${STATUS_TEXT[v.status].restore}.`, ...v.differences.map(differenceText)];
  return lines.length > DETAIL_ROWS ? [...lines.slice(0, DETAIL_ROWS - 1), `and ${lines.length - DETAIL_ROWS + 1} more difference(s) (the compare command lists all)`] : lines;
}

export interface BackupCompareProps {
  comparison: BackupComparison;
  onChoose(uuids: readonly string[]): void;
  /** Esc and Left, as the restore's other steps handle them. */
  onKey(key: ConsoleKey): boolean;
}

export function BackupCompare({ comparison: c, onChoose, onKey }: BackupCompareProps) {
  const rows = compareRows(c);
  // The cursor moves over rows that are VMs (headings are skipped).
  const selectable = rows.flatMap((r, i) => (r.kind === 'head' ? [] : [i]));
  const [at, setAt] = useState(0);
  const [ticked, setTicked] = useState<ReadonlySet<string>>(new Set());
  const cursor = selectable[Math.min(at, selectable.length - 1)] ?? -1;
  const row = rows[cursor];
  const missing = c.vms.filter((v) => v.status === 'missing').map((v) => v.uuid);

  useScreenKeys((key) => {
    if (key.name === 'up' || key.name === 'down') setAt((i) => Math.max(0, Math.min(selectable.length - 1, i + (key.name === 'up' ? -1 : 1))));
    else if (key.name === 'pageUp' || key.name === 'pageDown') setAt((i) => Math.max(0, Math.min(selectable.length - 1, i + (key.name === 'pageUp' ? -LIST_ROWS : LIST_ROWS))));
    else if (key.name === 'home' || key.name === 'end') setAt(key.name === 'home' ? 0 : Math.max(0, selectable.length - 1));
    else if (key.name === 'text' && key.text === ' ') {
      if (row?.kind !== 'vm') return true;
      const uuid = row.vm.uuid;
      setTicked((t) => {
        const next = new Set(t);
        if (!next.delete(uuid)) next.add(uuid);
        return next;
      });
    } else if (key.name === 'text' && (key.text === 'a' || key.text === 'A')) setTicked((t) => (missing.length && missing.every((u) => t.has(u)) ? new Set() : new Set(missing)));
    else if (key.name === 'f8') {
      // In the backup's order, whatever order they were ticked in.
      if (ticked.size) onChoose(c.vms.filter((v) => ticked.has(v.uuid)).map((v) => v.uuid));
    } else return onKey(key);
    return true;
  });

  const width = DIALOGUE_WIDTH - 4;
  const top = Math.min(Math.max(0, cursor - LIST_ROWS + 1), Math.max(0, rows.length - LIST_ROWS));
  // "> [x] " and a space before the uuid, which is never cut.
  const nameWidth = width - 6 - 1 - 36;
  const lines = details(row);
  return (
    <DialogueBox title={compareTitle(c.date)} keys={COMPARE_KEYS}>
      <Box flexDirection="column">
        <Line wrap="truncate">{shorten(compareCountsText(c), width)}</Line>
        <Line> </Line>
        {rows.length === 0 && <Line>The backup holds no VM and this pool none to back up.</Line>}
        {rows.slice(top, top + LIST_ROWS).map((r, i) => {
          const here = top + i === cursor;
          if (r.kind === 'head') {
            return (
              <Line key={`h${top + i}`} wrap="truncate" bold>
                {shorten(r.text, width)}
              </Line>
            );
          }
          const name = r.kind === 'vm' ? r.vm.backup.name : r.name;
          const uuid = r.kind === 'vm' ? r.vm.uuid : r.uuid;
          const template = (r.kind === 'vm' ? r.vm.backup.isTemplate : r.isTemplate) ? ' (template)' : '';
          const box = r.kind === 'vm' ? `[${ticked.has(uuid) ? 'x' : ' '}]` : '   ';
          return (
            <Line key={uuid} wrap="truncate" bold={here}>
              {shorten(`${here ? '>' : ' '} ${box} ${cell(neutralise(name || '(no name)') + template, nameWidth)} ${neutralise(uuid)}`, width)}
            </Line>
          );
        })}
        <Line> </Line>
        <Box flexDirection="column" height={DETAIL_ROWS}>
          {lines.map((l, i) => (
            <Line key={`d${i}`} wrap="truncate">
              {shorten(l, width)}
            </Line>
          ))}
        </Box>
        <Line wrap="truncate">
          {`${ticked.size} ticked${rows.length > LIST_ROWS ? ` (rows ${top + 1}-${Math.min(rows.length, top + LIST_ROWS)} of ${rows.length})` : ''}. ${ticked.size ? 'F8: restore choices for these only.' : 'Tick VMs to restore only those.'}`}
        </Line>
      </Box>
    </DialogueBox>
  );
}
