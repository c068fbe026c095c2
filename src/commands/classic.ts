/**
 * The classic (XenServer 4.1) path on the command line:
 *   export --vm UUID --out FILE | --all --out FILE   FILE, FILE2, FILE3… (xe vm-export --multiple numbering)
 *   import FILE [--sr UUID] [--preserve] [--force] [--dry-run]   FILE, FILE2, … until one is missing
 * Exit codes: export 0 done, 4 done but some VM exports failed, 1 failure; import the
 * number of files that failed (as the restore), 1 when nothing could start.
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import type { GlobalOptions } from '../connect.js';
import { runWithConnection } from './connection.js';
import { ClassicError, exportClassic, importClassic, type ClassicExportReport, type ClassicImportReport } from '../dr/legacy.js';
import { formatBytes } from '../dr/overview.js';
import { ExitCode, printFailure, printJson, stdio, type Io } from './output.js';
import { neutralise, oneLine } from '../safe-text.js';
import { errorText } from '../text-sinks.js';

export const EXIT_EXPORT_PARTIAL = 4;

/** Names from the pool and file names neutralised where they enter a line. */
export function classicExportText(r: ClassicExportReport): string {
  const lines: string[] = [];
  for (const s of r.removedStale) lines.push(`Removed stale ${neutralise(s)}`);
  for (const f of r.files) {
    const vm = `${neutralise(f.file)}: "${neutralise(f.vm.name)}" (${neutralise(f.vm.uuid)})`;
    lines.push(
      f.ok
        ? `${vm} ${formatBytes(f.bytes ?? 0)}: Export succeeded`
        : `${vm} FAILED: ${f.error!.code === 'ERROR' ? '' : `${errorText(f.error!.code)}: `}${errorText(f.error!.meaning)}`,
    );
  }
  for (const w of r.warnings) lines.push(`Warning: ${oneLine(w)}`);
  lines.push(`Exported ${r.exported} VM(s), and ${r.failed} error(s)`);
  return lines.join('\n');
}

export function classicImportText(r: ClassicImportReport): string {
  const lines: string[] = [];
  const flags = `${r.preserve ? ' --preserve' : ''}${r.force ? ' --force' : ''}${r.dryRun ? ' --dry-run' : ''}`;
  for (const v of r.results) {
    lines.push(`xe vm-import filename=${neutralise(v.file)} sr-uuid=${neutralise(r.sr.uuid)} metadata=true${flags}`);
    if (v.ok) {
      if (v.created.length) lines.push(v.created.map((c) => neutralise(c.uuid)).join(','));
      else lines.push(r.dryRun ? 'xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx' : '(no VM listed)');
    } else {
      const e = v.error!;
      lines.push(`Error code: ${errorText(e.code)}`);
      if (e.params.length) lines.push(`Error parameters: ${e.params.map(neutralise).join(', ')}`);
      lines.push(`${errorText(e.meaning)} ${errorText(e.nextStep)}`);
    }
  }
  lines.push(oneLine(r.summary));
  return lines.join('\n');
}

interface ExportOptions {
  vm?: string;
  all?: boolean;
  out: string;
  force?: boolean;
  json?: boolean;
}

interface ImportOptions {
  sr?: string;
  preserve?: boolean;
  force?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

export function registerClassicCommands(program: Command, io: Io = stdio): void {
  program
    .command('export')
    .description('export VM metadata to numbered files FILE, FILE2, FILE3… (xe vm-export --multiple metadata=true)')
    .option('--vm <uuid>', 'the VM to export')
    .option('--all', 'every VM (not templates, snapshots or the control domain), one file each')
    .requiredOption('--out <file>', 'first file of the set; the next ones get 2, 3, … appended')
    .option('--force', 'replace an existing set (and remove stale numbered files after it)')
    .option('--json', 'print JSON')
    .action(async (opts: ExportOptions, cmd: Command) => {
      if (!!opts.vm === !!opts.all) {
        printFailure(io, new ClassicError('BAD_SELECTION', 'Give either --vm UUID or --all.'), opts.json ?? false);
        throw new ExitCode(1);
      }
      const code = await runWithConnection(cmd.optsWithGlobals() as GlobalOptions, { json: opts.json ?? false, io }, async (conn, signal) => {
        try {
          const r = await exportClassic(conn.session, {
            ...(opts.vm && { vmUuid: opts.vm }),
            ...(opts.all && { all: true }),
            out: resolve(opts.out),
            force: opts.force ?? false,
            signal,
            ...(!opts.json && { onProgress: (e) => io.err(`Exporting VM ${e.index}/${e.total} "${neutralise(e.vm.name)}" to ${neutralise(e.file)}...`) }),
          });
          if (opts.json) printJson(io, r);
          else io.out(classicExportText(r));
          return r.failed ? EXIT_EXPORT_PARTIAL : 0;
        } catch (err) {
          printFailure(io, err, opts.json ?? false);
          return 1;
        }
      });
      if (code) throw new ExitCode(code);
    });

  program
    .command('import')
    .description('import VM metadata from FILE, FILE2, FILE3… until one is missing (exit code = files that failed)')
    .argument('<file>', 'first file of the set')
    .option('--sr <uuid>', "SR named to XAPI as xe does (default: the pool's default SR)")
    .option('--preserve', 'keep the exported VM uuids and MACs (default: new ones, as xe vm-import metadata=true)')
    .option('--force', 'let XAPI skip missing disks (xe --force)')
    .option('--dry-run', 'check every import with XAPI, create nothing')
    .option('--json', 'print JSON')
    .action(async (file: string, opts: ImportOptions, cmd: Command) => {
      const code = await runWithConnection(cmd.optsWithGlobals() as GlobalOptions, { json: opts.json ?? false, io }, async (conn, signal) => {
        try {
          const r = await importClassic(conn.session, {
            file: resolve(file),
            ...(opts.sr && { srUuid: opts.sr }),
            preserve: opts.preserve ?? false,
            force: opts.force ?? false,
            dryRun: opts.dryRun ?? false,
            signal,
            ...(!opts.json && {
              onProgress: (e) => io.err(`Importing ${neutralise(e.file)}: ${e.vms.map((v) => `"${neutralise(v.name)}" (${neutralise(v.uuid)})`).join(', ') || 'no VM'}...`),
            }),
          });
          if (opts.json) printJson(io, r);
          else io.out(classicImportText(r));
          return Math.min(r.errors, 255);
        } catch (err) {
          printFailure(io, err, opts.json ?? false);
          return 1;
        }
      });
      if (code) throw new ExitCode(code);
    });
}
