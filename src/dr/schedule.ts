/**
 * "Schedule Virtual Machine Metadata", stock compatible (xsconsole
 * plugins-base/XSFeatureDRSchedule.py): the schedule is the presence of
 * `<cron-root>/cron.{daily,weekly,monthly}/backup-metadata`, so the host's cron runs it and
 * stock xsconsole shows the same setting. Our link points to a small runner script,
 * `<cron-root>/xsconsole-dr/backup-metadata-cron`, that runs `xsconsole-dr backup
 * --scheduled` non-interactively; `schedule.json` beside it records the settings for
 * `schedule get` and the console. Neither file ever holds a password.
 *
 * An existing `backup-metadata` that is not our link (the stock runner's link, or a file
 * someone wrote) is never replaced or removed without `force`, and what it was is reported.
 */
import { realpathSync } from 'node:fs';
import { lstat, mkdir, readFile, readlink, rename, rm, symlink, writeFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { isUuid } from './layout.js';
import { neutralise } from '../safe-text.js';
import { readLastScheduledResult, type ScheduledResult } from './scheduled-backup.js';
import { ExpectedFailure } from '../failure/index.js';

export type Frequency = 'daily' | 'weekly' | 'monthly';
export type ScheduleSetting = Frequency | 'never';

/** The order stock xsconsole looks in; the last one found wins. */
export const FREQUENCIES: readonly Frequency[] = ['daily', 'weekly', 'monthly'];
export const CRON_LINK_NAME = 'backup-metadata';
export const DEFAULT_CRON_ROOT = '/etc';
export const DEFAULT_STATE_DIR = '/var/lib/xsconsole-dr';
export const DEFAULT_POOL_CONF = '/etc/xensource/pool.conf';
/** Where the stock runner lives (libexec: /usr/lib/xcp/lib, older /opt/xensource/libexec). */
export const STOCK_RUNNER_PATHS: readonly string[] = ['/usr/lib/xcp/lib/backup-metadata-cron', '/opt/xensource/libexec/backup-metadata-cron'];
const RUNNER_DIR = 'xsconsole-dr';
const RUNNER_FILE = 'backup-metadata-cron';
const CONFIG_FILE = 'schedule.json';
const CONFIG_MAX_BYTES = 64 * 1024;

export function isScheduleSetting(s: string): s is ScheduleSetting {
  return s === 'never' || (FREQUENCIES as readonly string[]).includes(s);
}

export function cronLinkPath(cronRoot: string, frequency: Frequency): string {
  return join(cronRoot, `cron.${frequency}`, CRON_LINK_NAME);
}

export function runnerPath(cronRoot: string): string {
  return join(cronRoot, RUNNER_DIR, RUNNER_FILE);
}

export function scheduleConfigPath(cronRoot: string): string {
  return join(cronRoot, RUNNER_DIR, CONFIG_FILE);
}

/** How the scheduled run reaches the pool and where it keeps its state. No password. */
export interface RunnerSettings {
  /** SR to back up to; absent = the pool's default SR (as stock). */
  sr?: string;
  host?: string;
  user?: string;
  passwordFile?: string;
  insecure?: boolean;
  fingerprint?: string;
  simState?: string;
  /** --sim-dom0 of a schedule for a separately run simulated pool. */
  simDom0?: string;
  stateDir: string;
  poolConf: string;
}

/** schedule.json: the settings plus what the runner executes. */
export interface RunnerConfig extends RunnerSettings {
  version: 1;
  node: string;
  cli: string;
  writtenAt: string;
}

export type CronEntryKind = 'ours' | 'stock' | 'other-link' | 'not-a-link';

export interface CronEntry {
  frequency: Frequency;
  path: string;
  kind: CronEntryKind;
  /** The link's target as written (links only). */
  target?: string;
}

const SCHEDULE_NEXT_STEP = {
  FOREIGN_ENTRY: 'Replace it only if it is no longer wanted (schedule set --force, or agree to replace it in the console); what it pointed to is reported.',
  NO_CRON_DIR: 'Install cron (or anacron) on this host, or give the right cron folder (--cron-root).',
  BAD_SETTING: 'Choose daily, weekly, monthly or never, and an SR by its uuid.',
  LINK_FAILED: 'Check the permissions of the cron folders (root is needed for /etc).',
} as const;

export class ScheduleError extends ExpectedFailure {
  constructor(
    override readonly code: keyof typeof SCHEDULE_NEXT_STEP,
    message: string,
    readonly entries: CronEntry[] = [],
  ) {
    super(code, message, SCHEDULE_NEXT_STEP[code]);
    this.name = 'ScheduleError';
  }
}

/** What an entry is, in words an operator understands. */
export function describeEntry(e: CronEntry): string {
  // A link's target is whatever someone wrote into the cron folder: shown, never obeyed.
  const path = neutralise(e.path);
  switch (e.kind) {
    case 'ours':
      return `${path} -> ${neutralise(e.target)} (xsconsole-dr)`;
    case 'stock':
      return `${path} -> ${neutralise(e.target)} (the stock XenServer runner, xe-backup-metadata -c on the default SR)`;
    case 'other-link':
      return `${path} -> ${neutralise(e.target)} (not written by xsconsole-dr)`;
    case 'not-a-link':
      return `${path} (a file, not a link: not written by xsconsole-dr)`;
  }
}

/** Every `backup-metadata` entry under the cron root, in stock order. */
export async function readCronEntries(cronRoot: string): Promise<CronEntry[]> {
  const ours = runnerPath(cronRoot);
  const out: CronEntry[] = [];
  for (const frequency of FREQUENCIES) {
    const path = cronLinkPath(cronRoot, frequency);
    const st = await lstat(path).catch(() => null);
    if (!st) continue;
    if (!st.isSymbolicLink()) {
      out.push({ frequency, path, kind: 'not-a-link' });
      continue;
    }
    const target = await readlink(path);
    const absolute = isAbsolute(target) ? target : resolve(dirname(path), target);
    const kind: CronEntryKind = absolute === ours ? 'ours' : STOCK_RUNNER_PATHS.includes(absolute) ? 'stock' : 'other-link';
    out.push({ frequency, path, kind, target });
  }
  return out;
}

/** Stock xsconsole's reading: the last entry found in the order daily, weekly, monthly. */
export function effectiveSetting(entries: readonly CronEntry[]): ScheduleSetting {
  return entries.at(-1)?.frequency ?? 'never';
}

/** Quotes one word for /bin/sh: everything literal. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The command line the runner executes (global options first, then the command). */
export function runnerArgs(c: RunnerConfig): string[] {
  const args = [c.node, c.cli];
  if (c.host) args.push('--host', c.host);
  if (c.user && c.user !== 'root') args.push('--user', c.user);
  if (c.passwordFile) args.push('--password-file', c.passwordFile);
  if (c.insecure) args.push('--insecure');
  if (c.fingerprint) args.push('--fingerprint', c.fingerprint);
  if (c.simState) args.push('--sim-state', c.simState);
  if (c.simDom0) args.push('--sim-dom0', c.simDom0);
  args.push('backup', '--scheduled');
  if (c.sr) args.push('--sr', c.sr);
  args.push('--state-dir', c.stateDir, '--pool-conf', c.poolConf);
  return args;
}

/**
 * The runner script. Like the stock cron script, output is discarded (cron would mail it)
 * and it exits 0; the backup logs its own failures to syslog and records its result. If
 * Node itself cannot run (missing, crashed), the script logs that the stock way.
 */
export function runnerScript(c: RunnerConfig): string {
  return [
    '#!/bin/sh',
    '# Scheduled VM metadata backup, written by `xsconsole-dr schedule set`.',
    `# Linked from ${CRON_LINK_NAME} in a cron.daily / cron.weekly / cron.monthly folder.`,
    '# Settings: schedule.json in this folder. No password is stored here.',
    `${runnerArgs(c).map(shellQuote).join(' ')} >/dev/null 2>&1`,
    'EXITVALUE=$?',
    'if [ $EXITVALUE != 0 ]; then',
    '    logger -t backup-metadata "ALERT exited abnormally with [$EXITVALUE]"',
    'fi',
    'exit 0',
    '',
  ].join('\n');
}

/** Writes a file under a temporary name and renames it into place. */
async function writeAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, data, { mode });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export async function readRunnerConfig(cronRoot: string): Promise<RunnerConfig | null> {
  let text: string;
  try {
    const path = scheduleConfigPath(cronRoot);
    if ((await stat(path)).size > CONFIG_MAX_BYTES) return null;
    text = await readFile(path, 'utf8');
  } catch {
    return null;
  }
  try {
    const v = JSON.parse(text) as Partial<RunnerConfig>;
    if (v.version !== 1 || typeof v.stateDir !== 'string' || typeof v.poolConf !== 'string') return null;
    if (v.sr !== undefined && (typeof v.sr !== 'string' || !isUuid(v.sr))) return null;
    return v as RunnerConfig;
  } catch {
    return null;
  }
}

/** Node and this program's script, for the runner to start again (the console uses it too). */
export function currentProgram(): { node: string; cli: string } {
  const script = process.argv[1];
  if (!script) throw new ExpectedFailure('NO_PROGRAM_PATH', 'Cannot tell where this program is installed (no script path).', 'Run it as `node <path>/cli.js` (or the installed xsconsole-dr).');
  return { node: process.execPath, cli: realpathSync(script) };
}

export interface ScheduleStatus {
  setting: ScheduleSetting;
  /** Every backup-metadata entry found (more than one is reported as a warning). */
  entries: CronEntry[];
  /** The entry that decides the setting (stock rule), if any. */
  active: CronEntry | null;
  /** Our runner's settings, when our runner is installed. */
  config: RunnerConfig | null;
  runner: { path: string; exists: boolean };
  /** SR the scheduled backup uses; null = the pool's default SR. */
  sr: string | null;
  stateDir: string;
  lastResult: ScheduledResult | null;
  warnings: string[];
}

export async function getSchedule(opts: { cronRoot: string; stateDir?: string }): Promise<ScheduleStatus> {
  const entries = await readCronEntries(opts.cronRoot);
  const active = entries.at(-1) ?? null;
  const config = await readRunnerConfig(opts.cronRoot);
  const rp = runnerPath(opts.cronRoot);
  const exists = (await stat(rp).catch(() => null))?.isFile() ?? false;
  const stateDir = opts.stateDir ?? config?.stateDir ?? DEFAULT_STATE_DIR;
  const warnings: string[] = [];
  if (entries.length > 1) {
    warnings.push(`Several schedule links exist; cron runs each of them: ${entries.map((e) => e.path).join(', ')}. Setting the schedule again keeps one.`);
  }
  if (active?.kind === 'ours' && !exists) warnings.push(`The schedule link points to ${rp}, which is missing: set the schedule again.`);
  if (active && active.kind !== 'ours') warnings.push(`The schedule is not xsconsole-dr's: ${describeEntry(active)}.`);
  const ourSchedule = active?.kind === 'ours';
  return {
    setting: effectiveSetting(entries),
    entries,
    active,
    config: ourSchedule ? config : null,
    runner: { path: rp, exists },
    sr: ourSchedule ? (config?.sr ?? null) : null,
    stateDir,
    lastResult: await readLastScheduledResult(stateDir),
    warnings,
  };
}

export interface SetScheduleOptions {
  cronRoot: string;
  setting: ScheduleSetting;
  /** Required unless the setting is never. */
  runner?: RunnerSettings & { node: string; cli: string };
  /** Replace or remove entries that are not ours (the stock link, a file). */
  force?: boolean;
  now?: () => Date;
}

export interface SetScheduleReport {
  setting: ScheduleSetting;
  previous: ScheduleSetting;
  /** The link made (null for never). */
  link: string | null;
  runner: string | null;
  sr: string | null;
  /** Entries removed; `kind` says whose they were. */
  removed: CronEntry[];
}

/**
 * Sets the schedule as stock xsconsole does (remove the current links, make one link),
 * after checking that nothing foreign is in the way.
 */
export async function setSchedule(opts: SetScheduleOptions): Promise<SetScheduleReport> {
  const { cronRoot, setting } = opts;
  if (!isScheduleSetting(setting)) throw new ScheduleError('BAD_SETTING', `Unknown schedule "${String(setting)}": use daily, weekly, monthly or never.`);
  const before = await readCronEntries(cronRoot);
  const foreign = before.filter((e) => e.kind !== 'ours');
  if (foreign.length && !opts.force) {
    throw new ScheduleError(
      'FOREIGN_ENTRY',
      `Not changing a schedule xsconsole-dr did not write: ${foreign.map(describeEntry).join('; ')}`,
      foreign,
    );
  }
  let config: RunnerConfig | null = null;
  if (setting !== 'never') {
    const r = opts.runner;
    if (!r) throw new ScheduleError('BAD_SETTING', 'A schedule needs the runner settings.');
    if (r.sr !== undefined && !isUuid(r.sr)) throw new ScheduleError('BAD_SETTING', `--sr takes an SR uuid, not "${r.sr}".`);
    const cronDir = dirname(cronLinkPath(cronRoot, setting));
    if (!(await stat(cronDir).catch(() => null))?.isDirectory()) {
      throw new ScheduleError('NO_CRON_DIR', `${cronDir} does not exist: this system's cron does not run ${setting} scripts from there (is cron or anacron installed? is --cron-root right?).`);
    }
    config = {
      version: 1,
      ...pick(r),
      node: r.node,
      cli: r.cli,
      writtenAt: (opts.now ?? (() => new Date()))().toISOString(),
    };
    const rp = runnerPath(cronRoot);
    await mkdir(dirname(rp), { recursive: true, mode: 0o755 });
    await writeAtomic(scheduleConfigPath(cronRoot), `${JSON.stringify(config, null, 2)}\n`, 0o644);
    await writeAtomic(rp, runnerScript(config), 0o755);
  }
  // Stock: remove the current link(s), errors ignored, then make the new one.
  const removed: CronEntry[] = [];
  for (const e of before) {
    if (setting !== 'never' && e.frequency === setting && e.kind === 'ours') continue; // replaced atomically below
    try {
      await rm(e.path, { force: true }); // never recursive: a folder there stays, and the link fails
      removed.push(e);
    } catch {
      /* as stock: errors ignored */
    }
  }
  let link: string | null = null;
  if (setting !== 'never') {
    link = cronLinkPath(cronRoot, setting);
    const tmp = `${link}.${process.pid}.tmp`;
    try {
      await rm(tmp, { force: true });
      await symlink(runnerPath(cronRoot), tmp);
      await rename(tmp, link);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw new ScheduleError('LINK_FAILED', `Failed to create metadata schedule link ${link}: ${(err as Error).message}`);
    }
  } else {
    // Nothing runs our runner any more: remove it and its settings.
    await rm(runnerPath(cronRoot), { force: true });
    await rm(scheduleConfigPath(cronRoot), { force: true });
  }
  return { setting, previous: effectiveSetting(before), link, runner: link ? runnerPath(cronRoot) : null, sr: config?.sr ?? null, removed };
}

/** Only the known settings, absolute paths, nothing undefined (the file is read by people). */
function pick(r: RunnerSettings): RunnerSettings {
  const abs = (p: string) => resolve(p);
  return {
    ...(r.sr && { sr: r.sr }),
    ...(r.host && { host: r.host }),
    ...(r.user && r.user !== 'root' && { user: r.user }),
    ...(r.passwordFile && { passwordFile: abs(r.passwordFile) }),
    ...(r.insecure && { insecure: true }),
    ...(r.fingerprint && { fingerprint: r.fingerprint }),
    ...(r.simState && { simState: abs(r.simState) }),
    ...(r.simDom0 && { simDom0: abs(r.simDom0) }),
    stateDir: abs(r.stateDir),
    poolConf: abs(r.poolConf),
  };
}
