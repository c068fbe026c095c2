/**
 * Restore Virtual Machine Metadata: SR picker → search for the backup VDI (the legacy
 * question and VDI chooser when needed) → available backups → the four stock choices →
 * (real restore: preflight, F8) → per-VM progress → summary, which can be saved.
 */
import React from 'react';
import { BUR_MENU, type FeatureRegistry } from '../registry.js';
import { SrPicker } from '../dialogues/SrPicker.js';
import { createFlow } from '../flow.js';
import { RestoreSearch } from './RestoreSearch.js';
import { RESTORE_KEY_HELP, RESTORE_MENU_TITLE, RESTORE_PICKER_TITLE, RESTORE_STATUS_TEXT } from './texts.js';

export function registerRestore(registry: FeatureRegistry): void {
  registry.addItem({
    key: 'DRRESTORE',
    menu: BUR_MENU,
    priority: 90,
    title: RESTORE_MENU_TITLE,
    statusText: RESTORE_STATUS_TEXT,
    keyHelp: RESTORE_KEY_HELP,
    requiresLogin: true,
    activate: ({ nav, session }) => {
      const flow = createFlow(nav);
      nav.push(
        <SrPicker
          title={RESTORE_PICKER_TITLE}
          // As stock: the same SRs as for a backup (read-write, VDIs can be created).
          filter={{ mode: 'rw', capability: 'vdi_create' }}
          session={session}
          next={(sr) => <RestoreSearch flow={flow} session={session} sr={sr} legacy={false} />}
        />,
      );
    },
  });
}
