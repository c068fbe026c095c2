/**
 * "Select SR": the SRs a feature can use (filter from the feature), sorted by name, with
 * type, size, free space, the backup each holds (from the record on its backup VDI) and the
 * pool's default SR marked. F5 reads them again.
 * Choosing one replaces the picker with the screen `next` returns.
 */
import React, { useCallback, useEffect, useRef, useState } from 'react';
import { Box } from 'ink';
import { DialogueBox, FRAME_WIDTH, Line } from '../Frame.js';
import { MenuList } from '../menu/MenuList.js';
import { useMenu } from '../menu/useMenu.js';
import { isSelectKey, useScreen, useScreenKeys } from '../navigation.js';
import { failureLines, useServices, type ConsoleSession, type FailureText, type SrChoice, type SrFilter } from '../services.js';
import { useWork, type Job } from '../work.js';
import { cell, rcell } from '../text.js';
import { formatBytes } from '../../src/dr/overview.js';
import { neutralise } from '../../src/safe-text.js';
import { srBackupCell, srBackupText } from '../status/backup-texts.js';

export const NO_SUITABLE_SRS = '<No suitable SRs available>';
export const SR_PICKER_PROMPT = 'Please select a Storage Repository';
const LIST_ROWS = 10;
/** Wider than other dialogues (the frame less a column each side): whole names and the backup column. */
const PICKER_WIDTH = FRAME_WIDTH - 2;
const ROW_WIDTH = PICKER_WIDTH - 4;

/**
 * One picker row, 70 columns (the row less marker and scroll arrow is 71): name, type, size, free,
 * how full its backup VDI is ("VDI": one without a record), default flag. The highlighted
 * SR's backup is spelt out under the list. An SR without a name is "(no name)": its uuid
 * would not fit the column whole, and the line under the list shows the highlighted SR's uuid.
 */
export function srRow(sr: SrChoice): string {
  const free = Math.max(0, sr.physicalSize - sr.physicalUtilisation);
  return `${cell(sr.nameLabel ? neutralise(sr.nameLabel) : '(no name)', 26)} ${cell(neutralise(sr.type), 9)} ${rcell(formatBytes(sr.physicalSize), 8)} ${rcell(formatBytes(free), 8)} ${rcell(srBackupCell(sr.backup), 6)}  ${sr.isDefault ? 'default' : ''}`;
}
const HEADER = `${cell('Name', 26)} ${cell('Type', 9)} ${rcell('Size', 8)} ${rcell('Free', 8)} ${rcell('Backup', 6)}`;

export interface SrPickerProps {
  title: string;
  prompt?: string;
  filter: SrFilter;
  session: ConsoleSession;
  next: (sr: SrChoice) => React.ReactElement;
}

export function SrPicker({ title, prompt = SR_PICKER_PROMPT, filter, session, next }: SrPickerProps) {
  const services = useServices();
  const work = useWork();
  const screen = useScreen();
  const [srs, setSrs] = useState<SrChoice[] | null>(null);
  const [failure, setFailure] = useState<FailureText | null>(null);
  const [loading, setLoading] = useState(false);
  const job = useRef<Job | null>(null);
  const mounted = useRef(true);
  // The load callback must stay stable (it runs from an effect); these may be new objects per render.
  const latest = useRef({ services, screen, filter });
  latest.current = { services, screen, filter };

  const load = useCallback(() => {
    job.current?.abort();
    const j = work.start('Reading storage repositories');
    job.current = j;
    setLoading(true);
    setFailure(null);
    session.listSrs(latest.current.filter, j.signal).then(
      (list) => {
        j.finish();
        if (!mounted.current || job.current !== j) return;
        setSrs(list);
        setLoading(false);
      },
      (err: unknown) => {
        j.finish();
        if (!mounted.current || job.current !== j) return;
        setLoading(false);
        // Ctrl-C while reading: back to the menu, as for any cancelled work.
        if (j.signal.aborted) latest.current.screen.close();
        else setFailure(latest.current.services.explain(err));
      },
    );
  }, [session, work]);

  useEffect(() => {
    mounted.current = true;
    load();
    return () => {
      mounted.current = false;
      job.current?.abort();
      job.current?.finish();
    };
  }, [load]);

  const list = srs ?? [];
  const rows = list.length > 0 ? list.map(srRow) : [NO_SUITABLE_SRS];
  const menu = useMenu(rows, LIST_ROWS);

  useScreenKeys((key) => {
    if (key.name === 'f5') {
      load();
      return true;
    }
    if (menu.handleKey(key)) return true;
    if (isSelectKey(key)) {
      const sr = list[menu.current().index];
      if (sr && !loading) screen.replace(next(sr));
      return true;
    }
    return false;
  });

  const current = list[menu.index];
  return (
    <DialogueBox title={title} keys="<Enter> OK  <Esc> Cancel  <F5> Refresh" width={PICKER_WIDTH}>
      <Box flexDirection="column">
        <Line>{prompt}</Line>
        <Box marginTop={1} flexDirection="column">
          <Line bold>Select SR</Line>
          <Line wrap="truncate">{`  ${HEADER}`}</Line>
          {srs === null ? (
            <Line>{failure ? ' ' : 'Reading storage repositories...'}</Line>
          ) : (
            <MenuList rows={rows} index={menu.index} offset={menu.offset} height={LIST_ROWS} width={ROW_WIDTH} active={list.length > 0} />
          )}
        </Box>
        <Box marginTop={1} flexDirection="column">
          {loading && srs !== null && <Line>Refreshing...</Line>}
          {failure && (
            <Line alert>
              Could not read the storage repositories: {failureLines(failure).join(' ')}
            </Line>
          )}
          {!loading && !failure && current && (
            <>
              <Line wrap="truncate">
                UUID {neutralise(current.uuid)}
                {current.shared ? ', shared' : ''}
              </Line>
              {/* Always one row, so the dialogue keeps its size as the highlight moves. */}
              <Line wrap="truncate">{current.backup.kind === 'none' ? ' ' : `On this SR: ${srBackupText(current.backup)}`}</Line>
            </>
          )}
        </Box>
      </Box>
    </DialogueBox>
  );
}
