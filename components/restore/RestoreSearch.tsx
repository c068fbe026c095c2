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
import { useServices, type BackupVdiChoice, type BackupVdiSearch, type ConsoleSession, type SrChoice } from '../services.js';
import { useMountJob } from '../useJob.js';
import { BackupDates } from './BackupDates.js';
import {
  LEGACY_QUESTION,
  LEGACY_RISK,
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

  const job = useMountJob<BackupVdiSearch>({
    label: 'Searching for the backup VDI',
    run: (_, signal) => session.findBackupVdis(sr.uuid, { legacy, signal }),
    done(search) {
      const found = search.found;
      if (found.length === 0 && !legacy) {
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
        screen.replace(<InfoDialogue title={RESTORE_MENU_TITLE} text={restoreFailureText(services.explain(legacyScanFoundNone(sr, search.examined)))} alert />);
      } else if (found.length === 1) {
        screen.replace(<BackupDates flow={flow} session={session} sr={sr} vdi={found[0]!} legacy={legacy} />);
      } else {
        screen.replace(<VdiChooser flow={flow} session={session} sr={sr} found={found} />);
      }
    },
    failed(err) {
      screen.replace(<InfoDialogue title={RESTORE_MENU_TITLE} text={restoreFailureText(services.explain(err))} alert />);
    },
    aborted() {
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
      text={SEARCH_BANNER}
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
