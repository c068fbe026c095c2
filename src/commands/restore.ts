/**
 * The restore side on the command line, after xe-restore-metadata's options:
 *   probe     (-p)  backup VDI uuid(s) of an SR
 *   list      (-l)  dated backups, newest first
 *   compare         the backup's VMs beside this pool's (no stock counterpart)
 *   preflight       what a restore would do (no stock counterpart)
 *   restore         import the VMs' metadata and re-apply SR/VDI names
 * restore's exit code is the number of VMs that failed, as the stock script's.
 */
import type { Command } from 'commander';
import { createInterface } from 'node:readline/promises';
import { readFile } from 'node:fs/promises';
import type { GlobalOptions } from '../connect.js';
import { runWithConnection } from './connection.js';
import { BackupSource, BackupSourceError, legacyScanFoundNone, probeBackupVdis, type RestoreScope } from '../dr/backup-source.js';
import { nameOutcome, preflightRestore, restoreOutcomeTitle, runRestore, type PreflightReport, type RestoreReport } from '../dr/restore.js';
import { backupCountsText, preflightGroupLines, preflightGroups, restoreCountsText, vappsCountText, vappsLines } from '../dr/restore-text.js';
import type { AccessMode } from '../dr/volume/workspace.js';
import { ExitCode, printJson, stdio, type Io } from './output.js';
import { parseIntOption } from './options.js';
import { cleanedText } from '../dr/leftovers.js';
import { parseNetworkMap, type NetworkMapEntry } from '../dr/network-map.js';
import { macClashLines, networkMapLines, networkTableLines } from '../dr/network-map-text.js';
import { collectVmUuid } from './start.js';
import { compareBackup } from '../dr/backup-compare.js';
import { compareLines } from '../dr/compare-text.js';
import { describeDuration } from '../dr/master-clock.js';
import type { ClaimWait } from '../dr/vdi-claim.js';
import { neutralise, oneLine } from '../safe-text.js';
import { errorText } from '../text-sinks.js';
import { usageError } from '../failure/index.js';

/** The XSA-459 / CVE-2024-31144 warning, shown whenever the legacy scan is used. */
export const LEGACY_WARNING =
  'Warning: the legacy scan trusts any disk on this SR that looks like a metadata backup. ' +
  'A guest can format one of its own disks to look like one (XSA-459 / CVE-2024-31144): ' +
  'only use it if you trust the contents of every VDI on this storage repository.';

interface SourceOptions {
  sr?: string;
  vdi?: string;
  legacy?: boolean;
  access: AccessMode | 'auto';
  json?: boolean;
  wait?: number;
}

/** Waiting for a backup that holds the VDI: the bound, and one line on stderr per holder. */
function lockWait(opts: SourceOptions, io: Io): { lockWaitMs?: number; onLockWait?: (w: ClaimWait) => void } {
  let last = '';
  return {
    ...(opts.wait !== undefined && { lockWaitMs: opts.wait * 1000 }),
    ...(!opts.json && {
      onLockWait: (w: ClaimWait) => {
        if (w.message !== last) io.err((last = w.message));
      },
    }),
  };
}

function parseScope(v: string): RestoreScope {
  if (v !== 'sr' && v !== 'all') throw usageError(`Unknown restore mode "${v}": use sr or all.`);
  return v;
}

/** The VDI to read: --vdi, else the trusted one, else (legacy) exactly one candidate. */
async function chooseVdi(session: Parameters<typeof probeBackupVdis>[0], opts: SourceOptions, io: Io, signal: AbortSignal): Promise<string | undefined> {
  if (opts.vdi || !opts.legacy) return opts.vdi;
  io.err(LEGACY_WARNING);
  const probe = await probeBackupVdis(session, opts.sr, { legacy: true, access: opts.access, signal, ...lockWait(opts, io) });
  if (probe.found.length === 0) throw legacyScanFoundNone(probe.sr, probe.examined);
  if (probe.found.length > 1) {
    throw new BackupSourceError(
      'MULTIPLE',
      `Multiple metadata backups found (${probe.found.map((f) => neutralise(f.uuid)).join(', ')}), please use --vdi to specify the VDI UUID to use.`,
    );
  }
  return probe.found[0]!.uuid;
}

/** Names per group the CLI prints; --json has them all. */
export const PREFLIGHT_NAMES_PRINTED = 10;

/** The console's groups and counts (src/dr/restore-text.ts); names neutralised where they enter a line. */
export function preflightText(p: PreflightReport): string {
  const lines = [
    `Backup ${neutralise(p.date)} on SR "${neutralise(p.sr.name)}" (${neutralise(p.sr.uuid)}), ${p.scope === 'sr' ? 'only VMs on this SR' : 'all VM metadata'}${p.force ? ', forced' : ''}:`,
    ...p.cleaned.map(cleanedText),
    ...preflightGroupLines(p, { namesPerGroup: PREFLIGHT_NAMES_PRINTED, moreHint: '--json lists all' }).map((l) => (typeof l === 'string' ? l : l.text)),
    ...networkTableLines(p.networks),
    ...macClashLines(p.macClashes, p.macPolicy),
  ];
  return lines.join('\n');
}

/** The uuids xe prints for an import: those read back; a VM whose record could not be read is said so, never by its reference. */
function createdText(created: RestoreReport['results'][number]['created']): string {
  if (!created.length) return 'xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx';
  const known = created.filter((c) => c.uuid).map((c) => neutralise(c.uuid));
  const unknown = created.length - known.length;
  return [...known, ...(unknown ? [`(${unknown} created VM(s) whose record could not be read)`] : [])].join(',');
}

export function restoreText(r: RestoreReport): string {
  const lines: string[] = [];
  const flags = `${r.force ? ' --force' : ''}${r.dryRun ? ' --dry-run' : ''}`;
  for (const v of r.results) {
    lines.push(`xe vm-import filename=${neutralise(v.file)} sr-uuid=${neutralise(r.sr.uuid)} --metadata --preserve${flags}`);
    if (v.ok) lines.push(createdText(v.created));
    else {
      const e = v.error!;
      lines.push(`Error code: ${errorText(e.code)}`);
      if (e.params.length) lines.push(`Error parameters: ${e.params.map(neutralise).join(', ')}`);
      lines.push(`${errorText(e.meaning)} ${errorText(e.nextStep)}`);
    }
  }
  if (r.networkMap) lines.push(...networkMapLines(r.networkMap));
  for (const s of r.skipped) lines.push(`Skipped ${neutralise(s.name)}: ${oneLine(s.reason)}`);
  if (r.waited) lines.push(`Waited ${describeDuration(r.waited.ms)} for ${oneLine(r.waited.for)}.`);
  for (const c of r.cleaned) lines.push(cleanedText(c));
  // Stock prints every name it sets; names already so are not set, only counted.
  for (const n of r.names) {
    if (nameOutcome(n) === 'unchanged') continue;
    const what = `${n.kind} (${neutralise(n.uuid)})`;
    lines.push(`${r.dryRun ? 'Would set' : 'Setting'} ${what}:`, `  Name: ${neutralise(n.nameLabel)}`, `  Description: ${neutralise(n.nameDescription)}`);
    if (n.error) lines.push(`  Error setting ${n.kind} data for: ${neutralise(n.uuid)}: ${errorText(n.error)}`);
  }
  for (const l of vappsLines(r.vapps)) lines.push(typeof l === 'string' ? l : l.text);
  const c = r.counts;
  lines.push(
    vappsCountText(r.vapps),
    `SR/VDI names: ${c.namesSet} ${r.dryRun ? 'would be set' : 'set'}, ${c.namesUnchanged} already so, ${c.namesFailed} not set.`,
    oneLine(restoreCountsText(r)),
    oneLine(restoreOutcomeTitle(r)),
    oneLine(r.summary),
  );
  return lines.join('\n');
}

/** The --network-map file, read and checked line by line before the backup is opened. */
async function readMapFile(path: string | undefined): Promise<NetworkMapEntry[] | undefined> {
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw usageError(`cannot read the network map ${neutralise(path)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'Give the path of a readable network map file.');
  }
  return parseNetworkMap(text);
}

async function confirm(io: Io): Promise<boolean> {
  if (!process.stdin.isTTY) throw usageError('A real restore needs confirmation: run it at a terminal, or pass --yes.');
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    io.out('Do you wish to reimport all VM metadata?');
    const answer = await rl.question("Please type in 'yes' and <enter> to continue.\n");
    return answer.trim() === 'yes';
  } finally {
    rl.close();
  }
}

function sourceOptions(cmd: Command): Command {
  return cmd
    .option('--sr <uuid>', "SR holding the backup (default: the pool's default SR)")
    .option('--legacy', 'also scan VDIs that are not the deterministic backup VDI (backups made before 2024)')
    .option('--access <mode>', 'how to reach the VDI: auto, attach (on the master) or remote', 'auto')
    .option('--wait <seconds>', 'how long to wait for a backup using the backup VDI before refusing (default 300)', parseIntOption('--wait', 0, 86400))
    .option('--json', 'print JSON');
}

export function registerRestoreCommands(program: Command, io: Io = stdio): void {
  sourceOptions(program.command('probe').description('print the backup VDI uuid(s) of an SR, one per line')).action(
    async (opts: SourceOptions, cmd: Command) => {
      const code = await runWithConnection(cmd.optsWithGlobals() as GlobalOptions, { json: opts.json ?? false, io }, async (conn, signal) => {
        if (opts.legacy) io.err(LEGACY_WARNING);
        const r = await probeBackupVdis(conn.session, opts.sr, { legacy: opts.legacy ?? false, access: opts.access, signal, ...lockWait(opts, io) });
        if (opts.json) printJson(io, r);
        else if (r.found.length) io.out(r.found.map((f) => neutralise(f.uuid)).join('\n'));
        else io.err(r.examined === 0 ? `No VDIs found on SR.${opts.legacy ? '' : ' (Backups made before 2024 need --legacy.)'}` : 'Metadata backups not found.');
        return 0;
      });
      if (code) throw new ExitCode(code);
    },
  );

  sourceOptions(program.command('list').description('list the backups on the backup VDI, newest first'))
    .option('--vdi <uuid>', 'read this VDI (another than the deterministic one needs --legacy)')
    .action(async (opts: SourceOptions, cmd: Command) => {
      const code = await runWithConnection(cmd.optsWithGlobals() as GlobalOptions, { json: opts.json ?? false, io }, async (conn, signal) => {
        let src: BackupSource;
        try {
          const vdi = await chooseVdi(conn.session, opts, io, signal);
          src = await BackupSource.open(conn.session, { ...(opts.sr && { srUuid: opts.sr }), ...(vdi && { vdiUuid: vdi }), legacy: opts.legacy ?? false, access: opts.access, signal, ...lockWait(opts, io) });
        } catch (err) {
          // As xe-restore-metadata -l: an SR without a backup VDI is no failure (exit 0), it is said.
          if (!(err instanceof BackupSourceError && err.code === 'NO_BACKUP_VDI' && !opts.vdi)) throw err;
          const message = `No VDIs found on SR.${opts.legacy ? '' : ' (Backups made before 2024 need --legacy.)'}`;
          if (opts.json) printJson(io, { sr: err.srUuid ?? null, vdi: null, backups: [], message });
          else io.err(message);
          return 0;
        }
        try {
          if (!opts.json) for (const c of src.cleaned) io.err(cleanedText(c));
          const list = await src.summaries();
          if (opts.json) printJson(io, { sr: src.sr.uuid, vdi: src.vdi.uuid, backups: list });
          else io.out(list.map((b) => `${neutralise(b.date)}  ${backupCountsText(b)}${b.hasSrMeta ? '' : ', no SRMETA.xml'}`).join('\n'));
        } finally {
          await src.close();
        }
        return 0;
      });
      if (code) throw new ExitCode(code);
    });

  sourceOptions(program.command('compare').description("the backup's VMs beside this pool's: missing here, newer here, changed, only here"))
    .option('--vdi <uuid>', 'read this VDI (another than the deterministic one needs --legacy)')
    .option('--date <date>', 'backup to compare (default: the newest)')
    .action(async (opts: SourceOptions & { date?: string }, cmd: Command) => {
      const code = await runWithConnection(cmd.optsWithGlobals() as GlobalOptions, { json: opts.json ?? false, io }, async (conn, signal) => {
        const vdi = await chooseVdi(conn.session, opts, io, signal);
        const c = await compareBackup(conn.session, {
          ...(opts.sr && { srUuid: opts.sr }),
          ...(vdi && { vdiUuid: vdi }),
          legacy: opts.legacy ?? false,
          ...(opts.date && { date: opts.date }),
          access: opts.access,
          signal,
          ...lockWait(opts, io),
        });
        if (opts.json) printJson(io, c);
        else io.out(compareLines(c).join('\n'));
        return 0;
      });
      if (code) throw new ExitCode(code);
    });

  sourceOptions(program.command('preflight').description('show what a restore would do: clashes, missing disks, new networks'))
    .option('--vdi <uuid>', 'read this VDI (another than the deterministic one needs --legacy)')
    .option('--date <date>', 'backup to use (default: the newest)')
    .option('--mode <mode>', 'sr: only VMs on this SR; all: all VM metadata', parseScope, 'all' as RestoreScope)
    .option('--force', 'predict for a forced restore')
    .option('--network-map <file>', 'source network = network of this pool, one a line (see README)')
    .option('--vm <uuid>', 'only this VM (repeat for more; see compare)', collectVmUuid)
    .action(async (opts: SourceOptions & { date?: string; mode: RestoreScope; force?: boolean; networkMap?: string; vm?: string[] }, cmd: Command) => {
      const code = await runWithConnection(cmd.optsWithGlobals() as GlobalOptions, { json: opts.json ?? false, io }, async (conn, signal) => {
        const map = await readMapFile(opts.networkMap);
        const vdi = await chooseVdi(conn.session, opts, io, signal);
        const p = await preflightRestore(conn.session, {
          ...(map && { networkMap: map }),
          ...(opts.sr && { srUuid: opts.sr }),
          ...(vdi && { vdiUuid: vdi }),
          legacy: opts.legacy ?? false,
          ...(opts.date && { date: opts.date }),
          scope: opts.mode,
          force: opts.force ?? false,
          ...(opts.vm && { vmUuids: opts.vm }),
          access: opts.access,
          signal,
          ...lockWait(opts, io),
        });
        // The groups as the text shows them, with every name.
        if (opts.json) printJson(io, { ...p, groups: preflightGroups(p) });
        else io.out(preflightText(p));
        return 0;
      });
      if (code) throw new ExitCode(code);
    });

  sourceOptions(program.command('restore').description('restore VM metadata from a backup (exit code = number of failed VMs)'))
    .option('--vdi <uuid>', 'read this VDI (another than the deterministic one needs --legacy)')
    .option('--date <date>', 'backup to restore (default: the newest)')
    .option('--mode <mode>', 'sr: only VMs on this SR; all: all VM metadata', parseScope, 'all' as RestoreScope)
    .option('--dry-run', 'check every import with XAPI, create nothing, set no names')
    .option('--force', 'let XAPI skip missing disks and running clashes (xe --force)')
    .option('--yes', 'do not ask for confirmation')
    .option('--concurrency <n>', 'VM imports in flight at once (default 8)', parseIntOption('--concurrency', 1, 32))
    .option('--network-map <file>', 'after the imports, move the VIFs of each source network to a network of this pool (see README)')
    .option('--vm <uuid>', 'restore only this VM (repeat for more; see compare)', collectVmUuid)
    .action(async (opts: SourceOptions & { date?: string; mode: RestoreScope; dryRun?: boolean; force?: boolean; yes?: boolean; concurrency?: number; networkMap?: string; vm?: string[] }, cmd: Command) => {
      const code = await runWithConnection(cmd.optsWithGlobals() as GlobalOptions, { json: opts.json ?? false, io }, async (conn, signal) => {
        const map = await readMapFile(opts.networkMap);
        const vdi = await chooseVdi(conn.session, opts, io, signal);
        if (!opts.dryRun && !opts.yes && !(await confirm(io))) {
          io.err('Aborting metadata restore.');
          return 1;
        }
        const r = await runRestore(conn.session, {
          ...(map && { networkMap: map }),
          ...(opts.sr && { srUuid: opts.sr }),
          ...(vdi && { vdiUuid: vdi }),
          legacy: opts.legacy ?? false,
          ...(opts.date && { date: opts.date }),
          scope: opts.mode,
          dryRun: opts.dryRun ?? false,
          force: opts.force ?? false,
          ...(opts.concurrency !== undefined && { concurrency: opts.concurrency }),
          ...(opts.vm && { vmUuids: opts.vm }),
          access: opts.access,
          signal,
          ...lockWait(opts, io),
        });
        if (opts.json) printJson(io, r);
        else io.out(restoreText(r));
        return Math.min(r.errors, 255);
      });
      if (code) throw new ExitCode(code);
    });
}
