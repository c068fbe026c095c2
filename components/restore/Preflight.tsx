/**
 * Before a real restore: what it would do (VMs, clashes with VMs already here, disks not
 * found, networks that would be created, the XAPI error each import is expected to meet),
 * computed without changing anything. <F8> restores; <S> saves the report; <Esc> cancels;
 * <Left> goes back to the choice of VMs. F8, not Enter, so a key typed ahead cannot start a
 * restore. Where VMs would fail only for want of force, <F> explains what XAPI's force does
 * and asks before a forced restore (the stock console never forces).
 */
import React from 'react';
import { Line } from '../Frame.js';
import { Banner } from '../dialogues/Banner.js';
import { SaveTextDialogue } from '../dialogues/SaveTextDialogue.js';
import { TextDialogue, plainText, type TextLine } from '../dialogues/TextDialogue.js';
import type { ConsoleKey } from '../keys/decode.js';
import { useNavigator } from '../navigation.js';
import type { SrChoice } from '../services.js';
import type { PreflightReport } from '../../src/dr/restore.js';
import { forceWouldHelp } from './restore-machine.js';
import { PREFLIGHT_BANNER, preflightFileName, preflightLines } from './texts.js';
import { neutralise } from '../../src/safe-text.js';
import type { PoolNetwork, PreflightNetwork } from '../../src/dr/network-map.js';
import { NetworkPicker } from './NetworkPicker.js';

export const SAVE_PREFLIGHT_TITLE = 'Save Restore Preflight';
// <N> (the network map) is offered in the preflight's network section: with it the key help
// would no longer leave room for the page position at 80 columns.
export const PREFLIGHT_SAVE_KEYS = '<F8> Restore  <S> Save  <Esc> Cancel  <Left> Back';
export const PREFLIGHT_FORCE_KEYS = '<F8> Restore  <F> Force  <S> Save  <Esc> Cancel';
export const FORCE_CONFIRM_KEYS = '<F8> Restore with force  <Esc> Back';

export function confirmTitle(date: string): string {
  return `Confirm Restore from ${neutralise(date)}`;
}

export function forceTitle(date: string): string {
  return `Forced Restore from ${neutralise(date)}`;
}

/** The line that offers force, when some VMs would fail only without it. */
export function forceOfferLine(report: PreflightReport): TextLine | null {
  const n = forceWouldHelp(report);
  if (n === 0) return null;
  return { text: `${n} VM(s) would fail only because the restore is not forced (disks not found, VMs already here): press <F> to see what a forced restore does.`, alert: true };
}

/**
 * What force does on XAPI's /import_metadata (xen-api ocaml/xapi/import.ml), said before
 * the operator agrees to it.
 */
export function forceConfirmationLines(report: PreflightReport): TextLine[] {
  const n = forceWouldHelp(report);
  return [
    { text: `Restore with force? ${n} VM(s) of this backup would fail without it.`, bold: true },
    '',
    'The stock console never forces a restore. With force, XAPI\'s metadata import (/import_metadata, force=true; xe vm-import --force) changes what it does:',
    '  - a disk the VM had that is not found in this pool is left out: the VM is created without it;',
    '  - a VM with the same uuid that is running is left as it is, and the backup\'s copy is skipped without an error;',
    '  - a halted VM with the same uuid is replaced by the backup\'s copy even when it is not older;',
    '  - when an import fails part way, what it had created is left in the pool instead of being removed.',
    'Disks that were attached to a running VM when it was backed up are still required.',
    '',
    { text: 'Press <F8> to restore with force, or <Esc> to go back to the preflight.', bold: true },
  ];
}

export function PreflightChecking({ date, sr, cancelling }: { date: string; sr: SrChoice; cancelling: boolean }) {
  return (
    <Banner
      title={confirmTitle(date)}
      text={PREFLIGHT_BANNER}
      detail={<Line wrap="truncate">SR: {neutralise(sr.nameLabel || sr.uuid)}</Line>}
      keys={cancelling ? 'Please wait...' : '<Ctrl-C> Abort'}
    />
  );
}

/** Over a preflight shown again after an idle logout. */
export const KEPT_PREFLIGHT_NOTE = 'This preflight was made before the idle logout: the pool may have changed since. <Left> and choosing again checks it anew.';

export interface PreflightViewProps {
  report: PreflightReport;
  /** Shown again after an idle logout. */
  kept?: boolean;
  vdi: { uuid: string; trusted: boolean };
  /** F8, F, Esc, Left: the flow's; S (save) and N (the network map) are handled here. */
  onKey(key: ConsoleKey): boolean;
  /** A source network mapped (or unmapped) in the network picker. */
  onMap(source: PreflightNetwork, target: PoolNetwork | null): void;
}

export function PreflightView({ report, vdi, kept, onKey, onMap }: PreflightViewProps) {
  const nav = useNavigator();
  const offer = forceOfferLine(report);
  // After the report's own closing line: the key help names <F> from the first page on.
  const lines: TextLine[] = [...(kept ? [{ text: KEPT_PREFLIGHT_NOTE, alert: true }, ''] : []), ...preflightLines(report, vdi), ...(offer ? [offer] : [])];
  const title = confirmTitle(report.date);
  return (
    <TextDialogue
      title={title}
      lines={lines}
      keys={offer ? PREFLIGHT_FORCE_KEYS : PREFLIGHT_SAVE_KEYS}
      onKey={(key) => {
        if (key.name === 'text' && (key.text === 's' || key.text === 'S')) {
          // Saved whole: every name of every group, and no key prompts.
          const saved = plainText([...(kept ? [KEPT_PREFLIGHT_NOTE, ''] : []), ...preflightLines(report, vdi, { full: true })]);
          nav.push(<SaveTextDialogue title={SAVE_PREFLIGHT_TITLE} what="restore preflight" text={`${title}\n\n${saved}`} defaultPath={preflightFileName(new Date())} />);
          return true;
        }
        if (key.name === 'text' && (key.text === 'n' || key.text === 'N')) {
          nav.push(<NetworkPicker networks={report.networks} pool={report.poolNetworks} onMap={onMap} />);
          return true;
        }
        return onKey(key);
      }}
    />
  );
}
