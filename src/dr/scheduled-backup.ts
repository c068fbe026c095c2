/**
 * The scheduled runner (`xsconsole-dr backup --scheduled`), after the stock
 * backup-metadata-cron (xen-api scripts/backup-metadata-cron):
 *  - acts only where /etc/xensource/pool.conf says exactly "master" (a pool supporter says
 *    "slave:<master>" and does nothing); with no pool.conf at all (not a XenServer host,
 *    e.g. a workstation using --host) it acts too;
 *  - creates the backup VDI when missing, backs up to the configured SR or, when none is
 *    configured or it no longer exists, to the pool's default SR (stock always uses that);
 *  - on failure logs `ALERT exited abnormally with [<code>]` with `logger -t backup-metadata`
 *    as stock does, and still ends normally (the cron job itself never fails);
 *  - records the outcome as JSON in the state folder (written atomically) so `schedule get`
 *    and the console can show the last result.
 */
import { execFile } from 'node:child_process';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { cleanedText } from './leftovers.js';
import { join } from 'node:path';
import { type Session } from '../xenapi/index.js';
import { explainError, type ErrorExplanation } from '../failure/index.js';
import { runBackup, type BackupFailure, type BackupOptions } from './backup.js';
import { BackupTargetError, NoBackupVdiError, resolveSr, type SrInfo } from './backup-vdi.js';
import { findTool } from './volume/e2fsprogs.js';
import { neutralise } from '../safe-text.js';
import { recordedJson, syslogMessage } from '../text-sinks.js';
import { childEnv } from '../child-env.js';

export const SYSLOG_TAG = 'backup-metadata';
export const LAST_RESULT_FILE = 'last-scheduled-backup.json';
const POOL_CONF_MAX_BYTES = 4096;
const RESULT_MAX_BYTES = 1024 * 1024;
/** Failures listed in the result file; the count is always complete. */
const MAX_FAILURES_RECORDED = 50;

/** The same exit codes as `xsconsole-dr backup`. */
export const SCHEDULED_EXIT = { ok: 0, failed: 1, noVdi: 3, partial: 4 } as const;

export type PoolRole =
  | { role: 'master' }
  | { role: 'supporter'; master: string }
  /** No pool.conf: not a XenServer host. */
  | { role: 'none' }
  /** pool.conf exists but says neither (stock does nothing then). */
  | { role: 'unknown'; content: string };

/** Reads pool.conf the way the stock script compares `$(cat pool.conf)`: trailing newlines dropped. */
export async function readPoolRole(path: string): Promise<PoolRole> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { role: 'none' };
    return { role: 'unknown', content: '' };
  }
  try {
    const buf = Buffer.alloc(POOL_CONF_MAX_BYTES);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const content = buf.subarray(0, bytesRead).toString('utf8').replace(/\n+$/, '');
    if (content === 'master') return { role: 'master' };
    if (content.startsWith('slave:')) return { role: 'supporter', master: content.slice('slave:'.length) };
    return { role: 'unknown', content: content.slice(0, 200) };
  } catch {
    return { role: 'unknown', content: '' };
  } finally {
    await fh.close();
  }
}

export function roleActs(role: PoolRole): boolean {
  return role.role === 'master' || role.role === 'none';
}

export interface ScheduledBackupSummary {
  date: string;
  vdi: string;
  vdiCreated: boolean;
  vmsExported: number;
  templatesExported: number;
  failureCount: number;
  failures: BackupFailure[];
  backupsKept: number;
  usedPercent: number;
  access: string;
  durationMs: number;
}

export interface ScheduledResult {
  status: 'ok' | 'partial' | 'failed';
  startedAt: string;
  finishedAt: string;
  /** What `xsconsole-dr backup` would have exited with (0, 1, 3, 4). */
  exitCode: number;
  /** The SR configured for the schedule; null = the pool's default SR. */
  requestedSr: string | null;
  sr: { uuid: string; name: string } | null;
  fellBackToDefaultSr: boolean;
  warnings: string[];
  backup?: ScheduledBackupSummary;
  error?: ErrorExplanation;
  /** The syslog line sent on failure (absent on success). */
  alert?: string;
  alertLogged?: boolean;
}

export type ScheduledOutcome =
  | { acted: false; reason: string; poolRole: PoolRole }
  | { acted: true; result: ScheduledResult; resultFile: string; recorded: boolean; recordError?: string };

export interface ScheduledRunOptions {
  poolConf: string;
  stateDir: string;
  srUuid?: string;
  /** Logs in (called only when this host acts). */
  connect: () => Promise<{ session: Session; close(): Promise<void> }>;
  backup?: Omit<BackupOptions, 'srUuid' | 'signal' | 'onProgress'>;
  /** The logger executable; default `logger` found on PATH (or /usr/bin, /bin); null = none. */
  loggerCommand?: string | null;
  signal?: AbortSignal;
  now?: () => Date;
}

export function lastResultPath(stateDir: string): string {
  return join(stateDir, LAST_RESULT_FILE);
}

/** `logger -t backup-metadata <message>`; false when there is no logger or it failed. */
export async function syslog(message: string, loggerCommand?: string | null): Promise<boolean> {
  const cmd = loggerCommand === undefined ? await findTool('logger') : loggerCommand;
  if (!cmd) return false;
  return new Promise((done) => {
    execFile(cmd, ['-t', SYSLOG_TAG, syslogMessage(message)], { timeout: 10_000, env: childEnv() }, (err) => done(!err));
  });
}

function exitCodeOf(err: unknown): number {
  return err instanceof NoBackupVdiError ? SCHEDULED_EXIT.noVdi : SCHEDULED_EXIT.failed;
}

/** The configured SR, or the default SR when none is configured or it is gone. */
async function chooseSr(session: Session, requested: string | undefined, warnings: string[]): Promise<{ sr: SrInfo; fellBack: boolean }> {
  if (!requested) return { sr: await resolveSr(session), fellBack: false };
  try {
    return { sr: await resolveSr(session, requested), fellBack: false };
  } catch (err) {
    if (!(err instanceof BackupTargetError)) throw err;
    const sr = await resolveSr(session);
    warnings.push(`The scheduled SR ${neutralise(requested)} does not exist in this pool; backed up to the default SR "${neutralise(sr.nameLabel)}" (${neutralise(sr.uuid)}) instead.`);
    return { sr, fellBack: true };
  }
}

export async function runScheduledBackup(opts: ScheduledRunOptions): Promise<ScheduledOutcome> {
  const role = await readPoolRole(opts.poolConf);
  if (!roleActs(role)) {
    const reason =
      role.role === 'supporter'
        ? `This host is a pool supporter (pool coordinator: ${neutralise(role.master)}); only the coordinator backs up.`
        : `${neutralise(opts.poolConf)} does not say "master"; only the pool coordinator backs up.`;
    return { acted: false, reason, poolRole: role };
  }
  const now = opts.now ?? (() => new Date());
  const startedAt = now().toISOString();
  const warnings: string[] = [];
  let result: ScheduledResult;
  let chosen: { sr: SrInfo; fellBack: boolean } | null = null;
  try {
    const conn = await opts.connect();
    try {
      chosen = await chooseSr(conn.session, opts.srUuid, warnings);
      const report = await runBackup(conn.session, {
        create: true,
        ...opts.backup,
        srUuid: chosen.sr.uuid,
        ...(opts.signal && { signal: opts.signal }),
      });
      // Clock skew, a lock taken over, leftovers cleaned: recorded and sent to syslog.
      warnings.push(...report.warnings, ...report.cleaned.map(cleanedText));
      const partial = report.failures.length > 0;
      result = {
        status: partial ? 'partial' : 'ok',
        startedAt,
        finishedAt: now().toISOString(),
        exitCode: partial ? SCHEDULED_EXIT.partial : SCHEDULED_EXIT.ok,
        requestedSr: opts.srUuid ?? null,
        sr: report.sr,
        fellBackToDefaultSr: chosen.fellBack,
        warnings,
        backup: {
          date: report.date,
          vdi: report.vdi.uuid,
          vdiCreated: report.vdi.created,
          vmsExported: report.vmsExported,
          templatesExported: report.templatesExported,
          failureCount: report.failures.length,
          failures: report.failures.slice(0, MAX_FAILURES_RECORDED),
          backupsKept: report.backupsKept.length,
          usedPercent: report.spaceAfter.usedPercent,
          access: report.access,
          durationMs: report.durationMs,
        },
      };
    } finally {
      await conn.close().catch(() => undefined);
    }
  } catch (err) {
    result = {
      status: 'failed',
      startedAt,
      finishedAt: now().toISOString(),
      exitCode: exitCodeOf(err),
      requestedSr: opts.srUuid ?? null,
      sr: chosen ? { uuid: chosen.sr.uuid, name: chosen.sr.nameLabel } : null,
      fellBackToDefaultSr: chosen?.fellBack ?? false,
      warnings,
      error: explainError(err),
    };
  }
  if (result.exitCode !== 0) {
    result.alert = `ALERT exited abnormally with [${result.exitCode}]`;
    result.alertLogged = await syslog(result.alert, opts.loggerCommand);
  }
  for (const w of warnings) await syslog(`WARNING ${w}`, opts.loggerCommand);

  const resultFile = lastResultPath(opts.stateDir);
  try {
    await writeResult(opts.stateDir, result);
    return { acted: true, result, resultFile, recorded: true };
  } catch (err) {
    const recordError = `could not record the result in ${resultFile}: ${(err as Error).message}`;
    await syslog(`ALERT ${recordError}`, opts.loggerCommand);
    return { acted: true, result, resultFile, recorded: false, recordError };
  }
}

async function writeResult(stateDir: string, result: ScheduledResult): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o755 });
  const path = lastResultPath(stateDir);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    // Owner-only: it names the pool, its SRs and every failed VM (a new file, so the mode holds).
    await rm(tmp, { force: true });
    await writeFile(tmp, `${recordedJson(result)}\n`, { mode: 0o600, flag: 'wx' });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** The last recorded outcome, or null when there is none (or it is not one). */
export async function readLastScheduledResult(stateDir: string): Promise<ScheduledResult | null> {
  const path = lastResultPath(stateDir);
  try {
    if ((await stat(path)).size > RESULT_MAX_BYTES) return null;
    const v = JSON.parse(await readFile(path, 'utf8')) as Partial<ScheduledResult>;
    if (!v || typeof v !== 'object' || !['ok', 'partial', 'failed'].includes(v.status as string)) return null;
    if (typeof v.startedAt !== 'string' || typeof v.exitCode !== 'number') return null;
    return v as ScheduledResult;
  } catch {
    return null;
  }
}
