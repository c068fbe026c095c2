/**
 * "Searching for backup VDI...": the SR's own backup VDI (its deterministic uuid); when
 * there is none, the stock question whether to scan for backups made before 2024, with
 * the XSA-459 risk spelt out; with several candidates, the operator chooses (never us).
 */
import React from 'react';
import { Line } from '../Frame.js';
import { Banner } from '../dialogues/Banner.js';
import { ChoiceDialogue } from '../dialogues/ChoiceDialogue.js';
import { InfoDialogue } from '../dialogues/InfoDialogue.js';
import type { TextLine } from '../dialogues/TextDialogue.js';
import { QuestionDialogue } from '../dialogues/QuestionDialogue.js';
import { useFlowScreen, type Flow } from '../flow.js';
import { isBackKey, useNavigator, useScreen, useScreenKeys } from '../navigation.js';
import { useServices, type BackupListing, type BackupVdiChoice, type BackupVdiSearch, type ConsoleSession, type FailureText, type RestoreSession, type SrChoice } from '../services.js';
import { useMountJob } from '../useJob.js';
import { BackupDates } from './BackupDates.js';
import {
  LEGACY_QUESTION,
  LEGACY_RISK,
  LISTING_BANNER,
  LIST_KEYS,
  RESTORE_MENU_TITLE,
  SEARCH_BANNER,
  VDI_CHOOSER_TITLE,
  VDI_CHOOSER_WARNING,
  restoreFailureText,
  vdiRow,
} from './texts.js';
import { neutralise } from '../../src/safe-text.js';
import { legacyScanFoundNone, noBackupVdiError } from '../../src/dr/backup-source.js';
import { backupVdiUuid } from '../../src/dr/layout.js';

type SearchOutcome =
  /** The SR's own backup VDI, attached and listed: the restore goes on with this hold. */
  | { kind: 'held'; restore: RestoreSession; listing: BackupListing }
  /** The SR has no backup VDI of its own (none, not a backup, or not on this SR): the stock question. */
  | { kind: 'none' }
  /** The legacy scan's result. */
  | { kind: 'scanned'; search: BackupVdiSearch };

/** What opening the SR's own backup VDI says when there is none to restore from. */
const NOT_THIS_SRS_BACKUP = new Set(['NO_BACKUP_VDI', 'NOT_A_BACKUP', 'NOT_PERMITTED']);

/**
 * The SR's own backup VDI is opened for the restore straight away (the opening checks the
 * stock marker, which is all a probe would do): the search, the listing, the preflight and
 * the run then share one attachment.
 */
async function openTrusted(session: ConsoleSession, sr: SrChoice, signal: AbortSignal, explain: (err: unknown) => FailureText, onOpened: () => void): Promise<SearchOutcome> {
  const restore = session.openRestore({ srUuid: sr.uuid, vdiUuid: backupVdiUuid(sr.uuid), legacy: false });
  try {
    const listing = await restore.list({ signal, onOpened });
    signal.throwIfAborted();
    // Nothing to restore from: the VDI is not held while that is said.
    if (listing.backups.length === 0) await restore.release();
    return { kind: 'held', restore, listing };
  } catch (err) {
    await restore.release().catch(() => undefined);
    if (!signal.aborted && NOT_THIS_SRS_BACKUP.has(explain(err).code)) return { kind: 'none' };
    throw err;
  }
}

export interface RestoreSearchProps {
  flow: Flow;
  session: ConsoleSession;
  sr: SrChoice;
  /** Scan every disk of the SR (the operator agreed to the legacy question). */
  legacy: boolean;
}

export function RestoreSearch({ flow, session, sr, legacy }: RestoreSearchProps) {
  useFlowScreen(flow);
  const services = useServices();
  const screen = useScreen();
  const nav = useNavigator();

  // Progress: the SR's own VDI was found and opened, and its backups are being listed (the stock banner).
  const job = useMountJob<SearchOutcome, 'opened', boolean>({
    label: 'Searching for the backup VDI',
    progress: { initial: false, reduce: () => true },
    run: (_, signal, emit) =>
      legacy
        ? session.findBackupVdis(sr.uuid, { legacy, signal }).then((search) => ({ kind: 'scanned' as const, search }))
        : openTrusted(session, sr, signal, services.explain, () => emit('opened')),
    done(outcome) {
      if (outcome.kind === 'held') {
        screen.replace(<BackupDates flow={flow} session={session} sr={sr} vdi={outcome.listing.vdi} legacy={false} restore={outcome.restore} listing={outcome.listing} />);
        return;
      }
      const found = outcome.kind === 'scanned' ? outcome.search.found : [];
      if (outcome.kind === 'none') {
        screen.replace(
          <QuestionDialogue
            title={RESTORE_MENU_TITLE}
            text={`${LEGACY_QUESTION}\n\n${LEGACY_RISK}`}
            onAnswer={(yes) => {
              if (yes) nav.push(<RestoreSearch flow={flow} session={session} sr={sr} legacy />);
              // Said as every front end says it (the CLI's restore without --legacy).
              else nav.push(<InfoDialogue title={RESTORE_MENU_TITLE} text={restoreFailureText(services.explain(noBackupVdiError(sr)))} alert />);
            }}
          />,
        );
      } else if (found.length === 0) {
        screen.replace(<InfoDialogue title={RESTORE_MENU_TITLE} text={restoreFailureText(services.explain(legacyScanFoundNone(sr, outcome.search.examined)))} alert />);
      } else if (found.length === 1) {
        screen.replace(<BackupDates flow={flow} session={session} sr={sr} vdi={found[0]!} legacy={legacy} />);
      } else {
        screen.replace(<VdiChooser flow={flow} session={session} sr={sr} found={found} />);
      }
    },
    failed(err) {
      screen.replace(<InfoDialogue title={RESTORE_MENU_TITLE} text={restoreFailureText(services.explain(err))} alert />);
    },
    aborted(outcome) {
      // Found just as the operator stopped it: the VDI is not held for nobody.
      if (outcome?.kind === 'held') void outcome.restore.release().catch(() => undefined);
      flow.cancel();
    },
  });

  // Esc or Left while searching: stop, as Ctrl-C does.
  useScreenKeys((key) => {
    if (isBackKey(key)) job.abort();
    return true;
  });
  return (
    <Banner
      title={RESTORE_MENU_TITLE}
      text={job.progress ? LISTING_BANNER : SEARCH_BANNER}
      detail={
        <>
          <Line wrap="truncate">SR: {neutralise(sr.nameLabel || sr.uuid)}</Line>
          {legacy && <Line>Scanning every disk of this SR for backups made before 2024.</Line>}
        </>
      }
      keys={job.cancelling ? 'Please wait...' : '<Ctrl-C> Abort'}
    />
  );
}

/** A VM a candidate disk is attached to, as the chooser names it. */
function attachedVmText(vm: BackupVdiChoice['attachedTo'][number]): string {
  const name = vm.nameLabel ? `"${neutralise(vm.nameLabel)}"` : neutralise(vm.uuid);
  return vm.controlDomain ? `the control domain ${name}` : `VM ${name}`;
}

/**
 * What tells the highlighted disk apart (XSA-459): its whole name, and the VMs it is
 * attached to — a disk a guest uses is that guest's, whatever its filesystem holds.
 */
export function vdiDetails(v: BackupVdiChoice): TextLine[] {
  const name = `Name: ${v.nameLabel ? `"${neutralise(v.nameLabel)}"` : '(no name)'}`;
  if (v.attachedTo.length === 0) return [name, 'Not attached to any VM.'];
  const guest = v.attachedTo.some((vm) => !vm.controlDomain);
  return [name, { text: `Attached to ${v.attachedTo.map(attachedVmText).join(', ')}.`, alert: guest }];
}

/** Several disks look like backups: the operator picks one, warned; Left comes back here. */
function VdiChooser({ flow, session, sr, found }: { flow: Flow; session: ConsoleSession; sr: SrChoice; found: BackupVdiChoice[] }) {
  useFlowScreen(flow);
  const nav = useNavigator();
  return (
    <ChoiceDialogue
      title={VDI_CHOOSER_TITLE}
      prompt={`${VDI_CHOOSER_WARNING}\n\n${LEGACY_RISK}`}
      promptAlert
      listTitle={`Disks of SR "${neutralise(sr.nameLabel || sr.uuid)}" holding a metadata backup`}
      choices={found.map((v) => ({ label: vdiRow(v), value: v }))}
      keys={LIST_KEYS}
      details={vdiDetails}
      notes={found.filter((v) => v.trusted).map((v) => `${neutralise(v.uuid)} is this SR's own backup VDI (its uuid is derived from the SR's).`)}
      onChoose={(vdi) => nav.push(<BackupDates flow={flow} session={session} sr={sr} vdi={vdi} legacy />)}
      onKey={(key) => {
        if (key.name === 'escape') {
          flow.cancel();
          return true;
        }
        return false; // Left: back (the default)
      }}
    />
  );
}
