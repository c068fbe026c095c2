/** The application layer: use cases shared by the console's screens and the CLI commands. */
export * from './console-services.js';
export * from './console-session.js';
export * from './restore-session.js';
export * from './console-schedule.js';
export * from './saved-report.js';
export * from './operator-failure.js';
export type { SrChoice, SrFilter } from '../dr/sr-choice.js';
export { selectSrChoices } from '../dr/sr-choice.js';
