/**
 * Schedule Virtual Machine Metadata (stock priority 70): shown only when the console was
 * given a schedule service (a cron folder, and how the runner reaches the pool).
 */
import React from 'react';
import { BUR_MENU, type FeatureRegistry } from '../registry.js';
import { ScheduleDialogue } from './ScheduleDialogue.js';
import { SCHEDULE_KEY_HELP, SCHEDULE_MENU_TITLE, SCHEDULE_STATUS_TEXT, SCHEDULE_STATUS_TITLE } from './texts.js';

export function registerSchedule(registry: FeatureRegistry): void {
  registry.addItem({
    key: 'DRSCHEDULE',
    menu: BUR_MENU,
    priority: 70,
    title: SCHEDULE_MENU_TITLE,
    statusTitle: SCHEDULE_STATUS_TITLE,
    statusText: SCHEDULE_STATUS_TEXT,
    keyHelp: SCHEDULE_KEY_HELP,
    requiresLogin: true,
    visible: (env) => env.services.schedule !== undefined,
    activate: ({ nav, services, session }) => {
      const schedule = services.schedule;
      if (schedule) nav.push(<ScheduleDialogue schedule={schedule} session={session} />);
    },
  });
}
