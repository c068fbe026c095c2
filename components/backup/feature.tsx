/**
 * Backup Virtual Machine Metadata: SR picker (read-write SRs where a VDI can be created)
 * → backup with live progress → summary, or the failure with its code and next step.
 */
import React from 'react';
import { BUR_MENU, type FeatureRegistry } from '../registry.js';
import { SrPicker } from '../dialogues/SrPicker.js';
import { BackupRun } from './BackupRun.js';

export const BACKUP_MENU_TITLE = 'Backup Virtual Machine Metadata';
export const BACKUP_PICKER_TITLE = 'Select Storage Repository for Backup';
export const BACKUP_KEY_HELP = '<Enter> Backup';
export const BACKUP_STATUS_TEXT =
  'Press <Enter> to copy the configuration of every VM (not the disk contents) onto a ' +
  'backup disk on a Storage Repository you choose. If that SR is later moved to another ' +
  'pool, the VMs can be restored there from this backup.';

export function registerBackup(registry: FeatureRegistry): void {
  registry.addItem({
    key: 'DRBACKUP',
    menu: BUR_MENU,
    priority: 80,
    title: BACKUP_MENU_TITLE,
    statusText: BACKUP_STATUS_TEXT,
    keyHelp: BACKUP_KEY_HELP,
    requiresLogin: true,
    activate: ({ nav, session }) => {
      nav.push(
        <SrPicker
          title={BACKUP_PICKER_TITLE}
          filter={{ mode: 'rw', capability: 'vdi_create' }}
          session={session}
          next={(sr) => <BackupRun sr={sr} session={session} />}
        />,
      );
    },
  });
}
