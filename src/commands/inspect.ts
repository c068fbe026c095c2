/**
 * `xsconsole-dr inspect IMAGE [--date D]`: the backups inside a backup VDI image file,
 * offline (no pool, nothing written). Exit codes: 0 done, 1 not a backup / unreadable.
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { inspectImage, type ImageInspection } from '../dr/inspect.js';
import { formatBytes } from '../dr/overview.js';
import { ExitCode, printFailure, printJson, stdio, type Io } from './output.js';
import { neutralise, quote } from '../safe-text.js';
import { errorText } from '../text-sinks.js';

/** Every name read from the image is neutralised where it enters a line; names it ignores are quoted. */
export function inspectText(r: ImageInspection): string {
  const lines = [
    `Image: ${neutralise(r.image)} (${formatBytes(r.sizeBytes)}, ${r.usedPercent}% used)`,
    `Backup VDI: ${r.backupVdis.map(neutralise).join(', ') || 'unknown (no conf/ file)'}${r.history !== null ? `; keeps ${r.history} backup(s)` : ''}`,
  ];
  for (const d of r.databases) lines.push(`Pool ${neutralise(d.pool)}: ${d.dumps} database dump(s)`);
  if (r.backups.length === 0) lines.push('No VM metadata backups found.');
  else lines.push(`Backups (newest first):`);
  for (const b of r.backups) {
    const bySr = b.bySr.map((s) => `${neutralise(s.sr)}: ${s.vms}`).join(', ');
    lines.push(`  ${neutralise(b.date)}  ${b.vms} VM(s)${bySr ? `; by SR ${bySr}` : ''}${b.hasSrMeta ? '' : '; no SRMETA.xml'}`);
    for (const p of b.problems ?? []) lines.push(`    not read: ${errorText(p)}`);
  }
  for (const n of r.incomplete) lines.push(`Interrupted run (ignored): ${neutralise(n)}`);
  for (const n of r.ignored) lines.push(`Not a backup name (ignored): ${quote(n)}`);
  const d = r.detail;
  if (d) {
    lines.push(`Backup ${neutralise(d.date)}:`);
    for (const v of d.vms) {
      if (v.error) lines.push(`  ${neutralise(v.uuid)}  unreadable: ${errorText(v.error)}`);
      else {
        const where = v.srs?.length ? ` on SR ${v.srs.map(neutralise).join(', ')}` : '';
        lines.push(`  ${neutralise(v.uuid)}  "${neutralise(v.name)}"  ${v.isTemplate ? 'template' : neutralise(v.powerState)}, ${v.disks} disk(s)${where}`);
      }
    }
    for (const n of d.ignored) lines.push(`  ignored: ${quote(n)}`);
    if (d.srMeta) for (const sr of d.srMeta) lines.push(`  SR ${neutralise(sr.uuid)} "${neutralise(sr.nameLabel)}": ${sr.vdis.length} VDI name(s)`);
    if (d.srMetaError) lines.push(`  SRMETA.xml unreadable: ${errorText(d.srMetaError)}`);
    if (d.vapps) for (const a of d.vapps) lines.push(`  vApp ${neutralise(a.uuid)} "${neutralise(a.name)}": ${a.vms} VM(s)`);
    for (const w of d.vappsWarnings) lines.push(`  ${errorText(w)}`);
  }
  return lines.join('\n');
}

export function registerInspectCommand(program: Command, io: Io = stdio): void {
  program
    .command('inspect')
    .description('list the backups inside a backup VDI image file, offline (nothing is written)')
    .argument('<image>', 'image file (or block device) of a "Pool Metadata Backup" VDI')
    .option('--date <date>', 'also list the VMs of this backup')
    .option('--json', 'print JSON')
    .action(async (image: string, opts: { date?: string; json?: boolean }) => {
      try {
        const r = await inspectImage(resolve(image), opts.date !== undefined ? { date: opts.date } : {});
        if (opts.json) printJson(io, r);
        else io.out(inspectText(r));
      } catch (err) {
        printFailure(io, err, opts.json ?? false);
        throw new ExitCode(1);
      }
    });
}
