/**
 * When a console backup is refused because the backup VDI is over the space guard
 * (BACKUP_VDI_FULL), the remedies its next step names, as choices: keep fewer backups, or
 * back up anyway. Each says what will happen before the operator confirms: the new backup is
 * written first, into the space free now (past the guard), and only then are older backups
 * beyond the number kept removed; a backup that does not fit fails and changes nothing.
 */
import React from 'react';
import { ChoiceDialogue } from '../dialogues/ChoiceDialogue.js';
import { QuestionDialogue } from '../dialogues/QuestionDialogue.js';
import { useNavigator, useScreen } from '../navigation.js';
import type { FailureText } from '../services.js';
import { keepFewerChoices, type KeepFewerPlan, type SpaceGuardError, type SpaceGuardFacts } from '../../src/dr/backup.js';
import { BACKUP_FULL_TITLE, forceQuestion, keepFewerLabel, keepFewerQuestion, spaceOfferPrompt } from './summary.js';

type Remedy = 'keep' | 'force' | 'cancel';

export const KEEP_FEWER_CHOICE = 'Keep fewer backups';
export const FORCE_CHOICE = 'Back up anyway';
export const KEEP_FEWER_TITLE = 'Keep Fewer Backups';

/** How to run the backup again past the guard (the backup screen's own; passed in, so the modules import no cycle). */
export type Rerun = (opts: { keep?: number }) => React.ReactElement;

export function SpaceOffer({ rerun, error, failure }: { rerun: Rerun; error: SpaceGuardError & { facts: SpaceGuardFacts }; failure: FailureText }) {
  const screen = useScreen();
  const nav = useNavigator();
  const facts = error.facts;
  const plans = keepFewerChoices(facts);
  const choices = [
    ...(plans.length > 0 ? [{ label: KEEP_FEWER_CHOICE, value: 'keep' as Remedy }] : []),
    { label: FORCE_CHOICE, value: 'force' as Remedy },
    { label: 'Cancel', value: 'cancel' as Remedy },
  ];
  const run = (opts: { keep?: number }) => nav.push(rerun(opts));
  const ask = (text: string, opts: { keep?: number }) => (
    <QuestionDialogue title={BACKUP_FULL_TITLE} text={text} onAnswer={(yes) => yes && run(opts)} />
  );
  return (
    <ChoiceDialogue
      title={BACKUP_FULL_TITLE}
      prompt={spaceOfferPrompt(failure, error.usedPercent, facts)}
      promptAlert
      choices={choices}
      onChoose={(remedy) => {
        if (remedy === 'cancel') screen.close();
        else if (remedy === 'force') screen.replace(ask(forceQuestion(error.usedPercent, facts), {}));
        else
          screen.replace(
            <ChoiceDialogue<KeepFewerPlan>
              title={KEEP_FEWER_TITLE}
              prompt={`${facts.backups.length} backup(s) on the VDI now. How many should be kept, the new one included?`}
              choices={plans.map((p) => ({ label: keepFewerLabel(p), value: p }))}
              next={(plan) => ask(keepFewerQuestion(plan, error.usedPercent, facts), { keep: plan.keep })}
            />,
          );
      }}
    />
  );
}
