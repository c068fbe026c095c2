/**
 * "Schedule Regular Metadata Backup": the current setting read as stock xsconsole reads it
 * (the cron link), Daily / Weekly / Monthly / Never, the SR the scheduled backup uses and
 * how its last run went. A schedule someone else wrote (the stock runner's link, a file)
 * is replaced only after asking.
 */
import React, { useRef, useState } from 'react';
import { Line } from '../Frame.js';
import { Banner } from '../dialogues/Banner.js';
import { ChoiceDialogue } from '../dialogues/ChoiceDialogue.js';
import { InfoDialogue } from '../dialogues/InfoDialogue.js';
import { QuestionDialogue } from '../dialogues/QuestionDialogue.js';
import type { TextLine } from '../dialogues/TextDialogue.js';
import { isBackKey, useNavigator, useScreen, useScreenKeys } from '../navigation.js';
import { failureLines, useServices, type ConsoleSchedule, type ConsoleSession, type SrLabel } from '../services.js';
import { useJob, useMountJob } from '../useJob.js';
import { ScheduleError, describeEntry, type ScheduleSetting, type ScheduleStatus, type SetScheduleReport } from '../../src/dr/schedule.js';
import { SCHEDULE_CHOICES, SCHEDULE_LINK_FAILED, SCHEDULE_TITLE, lastRunLine, scheduleSetMessage, schedulePrompt, srLine } from './texts.js';
import { oneLine } from '../../src/safe-text.js';

interface Change {
  setting: ScheduleSetting;
  force: boolean;
}

interface Loaded {
  status: ScheduleStatus;
  sr: SrLabel | null;
}

export function ScheduleDialogue({ schedule, session }: { schedule: ConsoleSchedule; session: ConsoleSession }) {
  const services = useServices();
  const screen = useScreen();
  const nav = useNavigator();
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  // The change asked for last (a foreign entry asks again, with force).
  const lastChange = useRef<Change | null>(null);

  useMountJob<Loaded>({
    label: 'Reading the schedule',
    async run() {
      const status = await schedule.status();
      // The SR the runner uses: the configured one (ours), else the pool's default SR.
      return { status, sr: await session.srLabel(status.sr) };
    },
    done: setLoaded,
    failed(err) {
      const f = services.explain(err);
      screen.replace(<InfoDialogue title={SCHEDULE_TITLE} text={`Could not read the schedule: ${failureLines(f).join('\n\n')}`} alert />);
    },
    aborted() {
      screen.close();
    },
  });

  const change = useJob<Change, SetScheduleReport>({
    label: 'Changing the schedule',
    run: ({ setting, force }) => schedule.set(setting, { force }),
    done(report) {
      screen.replace(<InfoDialogue title={SCHEDULE_TITLE} text={scheduleSetMessage(report)} />);
    },
    failed(err) {
      const asked = lastChange.current;
      if (err instanceof ScheduleError && err.code === 'FOREIGN_ENTRY' && asked && !asked.force) {
        nav.push(
          <QuestionDialogue
            title={SCHEDULE_TITLE}
            text={`The current schedule was not written by this console:\n${err.entries.map(describeEntry).join('\n')}\n\nReplace it?`}
            onAnswer={(yes) => {
              if (yes) apply(asked.setting, true);
            }}
          />,
        );
        return;
      }
      const f = services.explain(err);
      const prefix = err instanceof ScheduleError && (err.code === 'LINK_FAILED' || err.code === 'NO_CRON_DIR') ? `${SCHEDULE_LINK_FAILED}: ` : 'Could not change the schedule: ';
      screen.replace(<InfoDialogue title={SCHEDULE_TITLE} text={`${prefix}${failureLines(f).join('\n\n')}`} alert />);
    },
    // Ctrl-C cannot stop a write under way: when it has gone through, it is reported.
    aborted(report) {
      if (report) screen.replace(<InfoDialogue title={SCHEDULE_TITLE} text={scheduleSetMessage(report)} />);
      else screen.close();
    },
  });
  const apply = (setting: ScheduleSetting, force: boolean) => {
    const asked = { setting, force };
    // A choice typed ahead while a change is being written is not a second change.
    if (change.start(asked)) lastChange.current = asked;
  };

  // While reading, only Esc/Left (back) do anything; while writing, nothing.
  useScreenKeys((key) => change.running || (!loaded && !isBackKey(key)));

  if (!loaded) return <Banner title={SCHEDULE_TITLE} text="Reading the schedule..." detail={<Line>{schedule.cronRoot}</Line>} />;
  const { status, sr } = loaded;
  const notes: TextLine[] = [srLine(status, sr), lastRunLine(status.lastResult)];
  for (const w of status.warnings) notes.push({ text: `Warning: ${oneLine(w)}`, alert: true });
  if (schedule.cannotSet) notes.push({ text: `Only "Never" can be chosen here: ${schedule.cannotSet}`, alert: true });
  return (
    <ChoiceDialogue
      title={SCHEDULE_TITLE}
      prompt={schedulePrompt(status.setting)}
      choices={SCHEDULE_CHOICES}
      notes={notes}
      onChoose={(setting) => {
        if (change.running) return;
        if (setting !== 'never' && schedule.cannotSet) {
          nav.push(<InfoDialogue title={SCHEDULE_TITLE} text={`The schedule was not changed: ${schedule.cannotSet}`} alert />);
          return;
        }
        apply(setting, false);
      }}
    />
  );
}
