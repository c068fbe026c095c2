/**
 * The last backup and the last scheduled result, under the status text of the root and the
 * "Backup, Restore and Update" menus: read again each time the menu comes back on top (a
 * backup or a schedule change may have happened), never attaching a VDI. The reads run in
 * the background, not as work Ctrl-C cancels: the menu stays usable while they run, and a
 * re-read keeps the last answer on screen until the new one comes.
 */
import React, { useEffect, useRef, useState } from 'react';
import { Box } from 'ink';
import { Line } from '../Frame.js';
import { wrapText } from '../text.js';
import { useAuth } from '../auth.js';
import { useScreen } from '../navigation.js';
import { useServices, type ConsoleSession } from '../services.js';
import { newestRecorded } from '../../src/dr/overview.js';
import type { LastScheduledRun } from '../../src/app/index.js';
import { lastBackupLines, lastScheduledLines, type LastBackupState, type PaneLine } from './backup-texts.js';

export interface BackupStatus {
  backup: LastBackupState;
  /** undefined: this console has no schedule service (nothing to show). */
  scheduled: LastScheduledRun | null | undefined;
}

export function useBackupStatus(): BackupStatus {
  const services = useServices();
  const { session } = useAuth();
  const { isTop } = useScreen();
  const [status, setStatus] = useState<BackupStatus>({ backup: { kind: session ? 'reading' : 'logged-out' }, scheduled: undefined });
  // Reads for this session stop when it ends (or the menu goes); a menu covered by a dialogue
  // still takes the answers of reads it started, so none is lost to a quick key press.
  const reads = useRef<{ session: ConsoleSession | null; controller: AbortController; seq: number } | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    reads.current = { session, controller, seq: 0 };
    return () => controller.abort();
  }, [session]);

  useEffect(() => {
    const r = reads.current;
    if (!isTop || !r || r.session !== session) return;
    const seq = ++r.seq;
    const current = () => !r.controller.signal.aborted && r.seq === seq;
    const schedule = services.schedule;
    if (schedule) {
      schedule.lastRun().then(
        (run) => current() && setStatus((s) => ({ ...s, scheduled: run })),
        () => current() && setStatus((s) => ({ ...s, scheduled: null })),
      );
    }
    if (!session) {
      setStatus((s) => ({ ...s, backup: { kind: 'logged-out' } }));
      return;
    }
    session.lastBackups(r.controller.signal).then(
      (entries) => current() && setStatus((s) => ({ ...s, backup: { kind: 'read', entries, newest: newestRecorded(entries) } })),
      (err: unknown) => current() && setStatus((s) => ({ ...s, backup: { kind: 'failed', failure: services.explain(err) } })),
    );
  }, [isTop, session, services]);

  // A new session (log in as someone else, after an idle logout) never shows the last one's answer.
  const [shownFor, setShownFor] = useState(session);
  if (shownFor !== session) {
    setShownFor(session);
    setStatus((s) => ({ ...s, backup: { kind: session ? 'reading' : 'logged-out' } }));
  }
  return status;
}

/**
 * A failed scheduled run first: where the pane is short (under a long item text) it is what
 * must show; then the last backup (with a refusal to come), and only then the failure's next
 * step, the longest line and the one the Schedule screen gives whole too.
 */
export function backupStatusLines(s: BackupStatus): PaneLine[] {
  const backup = lastBackupLines(s.backup);
  if (s.scheduled === undefined) return backup;
  const scheduled = lastScheduledLines(s.scheduled);
  if (s.scheduled?.status !== 'failed') return [...backup, ...scheduled];
  const [failure, ...next] = scheduled;
  return [failure!, ...backup, ...next.map((l) => ({ ...l, text: `Scheduled backup: ${l.text}` }))];
}

/** The status lines, wrapped to `width`; a failure in the alert colour. */
export function BackupStatusFooter({ width }: { width: number }) {
  const lines = backupStatusLines(useBackupStatus());
  // Its own height whatever room it is given: the pane clips it at the bottom (rows that
  // shrank instead would be drawn over each other).
  return (
    <Box flexDirection="column" flexShrink={0}>
      {lines.flatMap((l, i) =>
        wrapText(l.text, width).map((row, k) => (
          <Line key={`${i}.${k}`} wrap="truncate" {...(l.alert && { alert: true })}>
            {row === '' ? ' ' : row}
          </Line>
        )),
      )}
    </Box>
  );
}
