/**
 * The feature list (xsconsole loads every plug-in in its plug-in folders; here a feature
 * folder is enabled by one line). Order does not matter: menus sort by priority.
 * Stock priorities in "Backup, Restore and Update": Schedule 70, Backup 80, Restore 90.
 */
import type { FeatureRegistration } from './registry.js';
import { registerCore } from './core-features.js';
import { registerBackup } from './backup/feature.js';
import { registerRestore } from './restore/feature.js';
import { registerSchedule } from './schedule/feature.js';

export const FEATURES: readonly FeatureRegistration[] = [registerCore, registerSchedule, registerBackup, registerRestore];
