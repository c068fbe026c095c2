/**
 * "Found VDI, retrieving available backups..." then "Available Metadata Backups", newest
 * first with their VM counts; choosing one opens "Restore Backup from <date>" on top, so
 * Left comes back to the dates. Esc cancels the restore.
 */
import React, { useState } from 'react';
import { Line } from '../Frame.js';
import { Banner } from '../dialogues/Banner.js';
import { ChoiceDialogue } from '../dialogues/ChoiceDialogue.js';
import { InfoDialogue } from '../dialogues/InfoDialogue.js';
import { useFlowScreen, type Flow } from '../flow.js';
import { isBackKey, useNavigator, useScreen, useScreenKeys } from '../navigation.js';
import { useServices, type BackupListing, type BackupVdiChoice, type ConsoleSession, type SrChoice } from '../services.js';
import { useMountJob } from '../useMountJob.js';
import type { BackupSummary } from '../../src/dr/backup-source.js';
import { Preflight } from './Preflight.js';
import { RestoreRun } from './RestoreRun.js';
import {
  DATES_LIST_TITLE,
  DATES_TITLE,
  LIST_KEYS,
  LISTING_BANNER,
  METHOD_KEYS,
  RESTORE_FAILED_PREFIX,
  RESTORE_MENU_TITLE,
  RESTORE_METHODS,
  UNTRUSTED_VDI_NOTE,
  dateRow,
  methodListTitle,
  methodRow,
  methodTitle,
  restoreFailureText,
  type RestoreMethod,
} from './texts.js';
import { neutralise } from '../../src/safe-text.js';

export interface BackupDatesProps {
  flow: Flow;
  session: ConsoleSession;
  sr: SrChoice;
  vdi: BackupVdiChoice;
  legacy: boolean;
}

export function BackupDates({ flow, session, sr, vdi, legacy }: BackupDatesProps) {
  useFlowScreen(flow);
  const services = useServices();
  const screen = useScreen();
  const nav = useNavigator();
  const [listing, setListing] = useState<BackupListing | null>(null);
  const source = { srUuid: sr.uuid, vdiUuid: vdi.uuid, legacy };

  const job = useMountJob<BackupListing>('Listing the backups', (signal) => session.listBackups(source, signal), {
    done(l) {
      if (l.backups.length === 0) screen.replace(<InfoDialogue title={RESTORE_MENU_TITLE} text={`${RESTORE_FAILED_PREFIX} No VM metadata backups found on VDI ${neutralise(vdi.uuid)}.`} alert />);
      else setListing(l);
    },
    failed(err) {
      screen.replace(<InfoDialogue title={RESTORE_MENU_TITLE} text={restoreFailureText(services.explain(err))} alert />);
    },
    aborted() {
      flow.cancel();
    },
  });

  useScreenKeys((key) => {
    if (listing) return false; // the list's own keys
    if (isBackKey(key)) job.abort();
    return true;
  });

  if (!listing) {
    return (
      <Banner
        title={RESTORE_MENU_TITLE}
        text={LISTING_BANNER}
        detail={<Line wrap="truncate">VDI: {neutralise(vdi.uuid)}</Line>}
        keys={job.cancelling ? 'Please wait...' : '<Ctrl-C> Abort'}
      />
    );
  }
  const trusted = listing.vdi.trusted;
  return (
    <ChoiceDialogue
      title={DATES_TITLE}
      listTitle={DATES_LIST_TITLE}
      choices={listing.backups.map((b) => ({ label: dateRow(b), value: b }))}
      keys={LIST_KEYS}
      {...(!trusted && { notes: [{ text: UNTRUSTED_VDI_NOTE, alert: true }] })}
      onChoose={(backup) => nav.push(<RestoreMethods flow={flow} session={session} sr={sr} vdi={listing.vdi} legacy={legacy} backup={backup} />)}
      onKey={(key) => {
        if (key.name !== 'escape') return false;
        flow.cancel();
        return true;
      }}
    />
  );
}

interface RestoreMethodsProps {
  flow: Flow;
  session: ConsoleSession;
  sr: SrChoice;
  vdi: { uuid: string; trusted: boolean };
  legacy: boolean;
  backup: BackupSummary;
}

/** The four stock choices. A dry run starts at once; a real restore shows the preflight first. */
function RestoreMethods({ flow, session, sr, vdi, legacy, backup }: RestoreMethodsProps) {
  useFlowScreen(flow);
  const nav = useNavigator();
  const choose = (m: RestoreMethod) => {
    const request = { srUuid: sr.uuid, vdiUuid: vdi.uuid, legacy, date: backup.date, scope: m.scope, dryRun: m.dryRun };
    nav.push(
      m.dryRun ? (
        <RestoreRun flow={flow} session={session} sr={sr} request={request} preflight={null} />
      ) : (
        <Preflight flow={flow} session={session} sr={sr} vdi={vdi} request={request} />
      ),
    );
  };
  return (
    <ChoiceDialogue
      title={methodTitle(backup.date)}
      listTitle={methodListTitle(backup.date)}
      choices={RESTORE_METHODS.map((m) => ({ label: methodRow(m, backup), value: m }))}
      keys={METHOD_KEYS}
      {...(!vdi.trusted && { notes: [{ text: UNTRUSTED_VDI_NOTE, alert: true }] })}
      onChoose={choose}
      onKey={(key) => {
        if (key.name !== 'escape') return false;
        flow.cancel();
        return true;
      }}
    />
  );
}
