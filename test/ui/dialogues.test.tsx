/**
 * The reusable dialogues (question, choice) inside the running console, driven by a test
 * feature registered the way a feature folder does it — which also shows a new feature
 * appears in the stock order without any change to the core.
 */
import React from 'react';
import { describe, expect, it } from 'vitest';
import { registerCore } from '../../components/core-features.js';
import { registerBackup } from '../../components/backup/feature.js';
import { BUR_MENU, type FeatureRegistry } from '../../components/registry.js';
import { QuestionDialogue } from '../../components/dialogues/QuestionDialogue.js';
import { ChoiceDialogue } from '../../components/dialogues/ChoiceDialogue.js';
import { InfoDialogue } from '../../components/dialogues/InfoDialogue.js';
import { FakePool } from './fake-pool.js';
import { KEYS, flat, highlighted, paneTitle, press, renderConsole, waitForFrame, waitForText, type Rendered } from './helpers.js';

/** A feature folder's registration: a Restore-like item with a question and a choice list. */
function registerTestRestore(registry: FeatureRegistry): void {
  registry.addItem({
    key: 'TESTRESTORE',
    menu: BUR_MENU,
    priority: 90,
    title: 'Restore Virtual Machine Metadata',
    statusText: 'Press <Enter> to restore Virtual Machine metadata from a Storage Repository.',
    keyHelp: '<Enter> Restore',
    requiresLogin: true,
    activate: ({ nav }) => {
      nav.push(
        <QuestionDialogue
          title="Scan"
          text="Scan for backup VDIs made by earlier versions?"
          onAnswer={(yes) => {
            if (!yes) {
              nav.push(<InfoDialogue title="Answer" text="Metadata Restore failed: a backup VDI could not be found" alert />);
              return;
            }
            nav.push(
              <ChoiceDialogue
                title="Available Metadata Backups"
                prompt="Select Metadata Backup to Restore From"
                listTitle="Backups"
                choices={['2025-06-02-08-30-00', '2025-06-01-08-30-00', '2024-12-24-00-00-00'].map((d) => ({ label: d, value: d }))}
                next={(date) => <InfoDialogue title="Chosen" text={`Restore Backup from ${date}`} />}
              />,
            );
          }}
        />,
      );
    },
  });
}

/** The core and Backup, plus the test folder in Restore's place. */
const TEST_FEATURES = [registerCore, registerBackup, registerTestRestore];

async function toRestore(r: Rendered, pool: FakePool): Promise<void> {
  await waitForText(r, 'Customize System');
  press(r, KEYS.enter);
  let f = await waitForFrame(r, (fr) => paneTitle(fr) === 'Backup, Restore and Update');
  // Registered by the test "folder", placed after Backup by its priority.
  expect(f).toMatch(/Backup Virtual Machine Metadata[\s\S]*Restore Virtual Machine Metadata/);
  press(r, 'r');
  f = await waitForFrame(r, (fr) => highlighted(fr) === 'Restore Virtual Machine Metadata');
  expect(f).toContain('<Enter> Restore');
  press(r, KEYS.enter);
  await waitForFrame(r, (fr) => paneTitle(fr) === 'Login');
  press(r, `\t${pool.password}\r`);
  await waitForText(r, 'Scan for backup VDIs');
}

describe('question and choice dialogues', () => {
  it('answers no with Esc, n or Left, and ignores other keys', async () => {
    const pool = new FakePool();
    const r = renderConsole({ services: pool, features: TEST_FEATURES });
    await toRestore(r, pool);
    let f = await waitForText(r, '<F8> Yes  <Esc> No');
    press(r, KEYS.enter);
    press(r, 'x');
    press(r, KEYS.left);
    f = await waitForText(r, 'a backup VDI could not be found');
    expect(paneTitle(f)).toBe('Answer');
    press(r, KEYS.enter);
    await waitForFrame(r, (fr) => paneTitle(fr) === 'Backup, Restore and Update');
    press(r, KEYS.enter);
    await waitForText(r, 'Scan for backup VDIs');
    press(r, 'n');
    await waitForText(r, 'a backup VDI could not be found');
    r.unmount();
  });

  it('answers yes with F8 and chooses from a list with letter jump and Enter', async () => {
    const pool = new FakePool();
    const r = renderConsole({ services: pool, features: TEST_FEATURES });
    await toRestore(r, pool);
    press(r, KEYS.f8);
    let f = await waitForFrame(r, (fr) => paneTitle(fr) === 'Available Metadata Backups');
    expect(flat(f)).toContain('Select Metadata Backup to Restore From');
    expect(highlighted(f)).toBe('2025-06-02-08-30-00');
    press(r, '2');
    f = await waitForFrame(r, (fr) => highlighted(fr) === '2025-06-01-08-30-00');
    press(r, KEYS.up);
    f = await waitForFrame(r, (fr) => highlighted(fr) === '2025-06-02-08-30-00');
    press(r, KEYS.up);
    f = await waitForFrame(r, (fr) => highlighted(fr) === '2024-12-24-00-00-00');
    press(r, KEYS.right);
    f = await waitForText(r, 'Restore Backup from 2024-12-24-00-00-00');
    expect(paneTitle(f)).toBe('Chosen');
    r.unmount();
  });

  it('cancels a choice list with Esc back to the menu', async () => {
    const pool = new FakePool();
    const r = renderConsole({ services: pool, features: TEST_FEATURES });
    await toRestore(r, pool);
    press(r, 'Y');
    await waitForFrame(r, (fr) => paneTitle(fr) === 'Available Metadata Backups');
    press(r, KEYS.escape);
    const f = await waitForFrame(r, (fr) => paneTitle(fr) === 'Backup, Restore and Update');
    expect(highlighted(f)).toBe('Restore Virtual Machine Metadata');
    r.unmount();
  });
});
