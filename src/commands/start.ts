/**
 * start: start VMs after a restore, for runbooks. Which VMs: those a restore made (its
 * --json report, `restore --json > restored.json`), and/or uuids given with --vm. They are
 * started in vApp and VM.order order (src/dr/start-vms.ts), started or paused; progress on
 * stderr, the result on stdout (or --json). Ctrl-C launches no more VMs, lets the starts in
 * flight finish and says which they were.
 * Exit code: 0 when every VM asked for runs (or was skipped, said why); 4 when some failed;
 * 1 on a failure before the starts, or when cancelled.
 */
import type { Command } from 'commander';
import { createInterface } from 'node:readline/promises';
import { readFile, stat } from 'node:fs/promises';
import type { GlobalOptions } from '../connect.js';
import { runWithConnection } from './connection.js';
import { startVms, type StartEvent, type StartReport } from '../dr/start-vms.js';
import { cancelledText, errorLine, startHeadline, startResultLines, vmLabel } from '../dr/start-text.js';
import { CancelledFailure, usageError } from '../failure/index.js';
import { operatorFailure } from '../app/index.js';
import { ExitCode, failureText, printJson, stdio, type Io } from './output.js';
import { parseIntOption } from './options.js';
import { errorText } from '../text-sinks.js';
import { neutralise } from '../safe-text.js';

/** A restore report of 1000s of VMs is a few MB; anything far larger is not one. */
const MAX_REPORT_BYTES = 64 * 1024 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const EXIT_SOME_FAILED = 4;

/** A repeated --vm option's uuids (start, and restore's chosen VMs). */
export function collectVmUuid(value: string, previous: string[] = []): string[] {
  if (!UUID.test(value)) throw usageError(`--vm takes a VM uuid, not "${neutralise(value)}".`);
  return [...previous, value.toLowerCase()];
}

/** The uuids of the VMs a restore created, from its --json report. */
export async function restoredUuids(path: string): Promise<string[]> {
  const size = (await stat(path)).size;
  if (size > MAX_REPORT_BYTES) throw usageError(`${neutralise(path)} is ${size} bytes: too large for a restore report.`);
  let report: unknown;
  try {
    report = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw usageError(`${neutralise(path)} is not JSON (${neutralise((err as Error).message)}).`, 'Give the file written by `restore --json`.');
  }
  const results = (report as { results?: unknown })?.results;
  if (!Array.isArray(results)) throw usageError(`${neutralise(path)} is not a restore report (no "results" list).`, 'Give the file written by `restore --json`.');
  const uuids: string[] = [];
  for (const r of results as Array<{ ok?: unknown; kind?: unknown; created?: unknown }>) {
    // Templates are not started (a report without kinds lists VMs only).
    if (r?.ok !== true || r.kind === 'template' || !Array.isArray(r.created)) continue;
    for (const c of r.created as Array<{ uuid?: unknown }>) if (typeof c?.uuid === 'string' && UUID.test(c.uuid)) uuids.push(c.uuid.toLowerCase());
  }
  if ((report as { dryRun?: unknown }).dryRun === true) throw usageError(`${neutralise(path)} is the report of a dry run: it created no VMs.`, 'Give the report of a real restore.');
  return uuids;
}

async function confirm(io: Io, count: number): Promise<boolean> {
  if (!process.stdin.isTTY) throw usageError('Starting VMs needs confirmation: run it at a terminal, or pass --yes.');
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    io.out(`Start ${count} VM(s)? Make sure the same VMs are not running at the production site.`);
    const answer = await rl.question("Please type in 'yes' and <enter> to continue.\n");
    return answer.trim() === 'yes';
  } finally {
    rl.close();
  }
}

/** Live progress, one line per change, on stderr. */
function progressLine(e: StartEvent): string | null {
  switch (e.kind) {
    case 'planned':
      return `${e.plan.groups.reduce((n, g) => n + g.vms.length, 0)} VM(s) to start in ${e.plan.groups.length} group(s); ${e.plan.skipped.length} skipped.`;
    case 'group':
      return `Group ${e.index + 1} of ${e.of}: ${e.vApp ? `vApp "${neutralise(e.vApp.name)}", ` : ''}order ${e.order}, ${e.size} VM(s)`;
    case 'vm':
      if (e.status === 'not-started') return null;
      return `  ${e.status} ${vmLabel(e.vm)}${e.error ? `: ${errorText(errorLine(e.error))}` : ''}`;
    case 'cancelling':
      return `Cancelling: no more VMs are launched; ${e.inFlight.length ? `waiting for the ${e.inFlight.length} being started: ${e.inFlight.map(vmLabel).join(', ')}` : 'none is being started'}.`;
  }
}

export function startText(r: StartReport): string {
  return [startHeadline(r), ...startResultLines(r).map((l) => errorText(l.text))].join('\n');
}

export function registerStartCommand(program: Command, io: Io = stdio): void {
  program
    .command('start')
    .description('start VMs after a restore, in vApp and VM.order order (exit code 4 when some failed)')
    .option('--from-restore <file>', 'the VMs a restore created: its report (restore --json > FILE)')
    .option('--vm <uuid>', 'a VM to start (repeat for more)', collectVmUuid)
    .option('--paused', 'start them paused (unpause to run)')
    .option('--concurrency <n>', 'VMs of one order group started at once (default 8)', parseIntOption('--concurrency', 1, 32))
    .option('--yes', 'do not ask for confirmation')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { fromRestore?: string; vm?: string[]; paused?: boolean; concurrency?: number; yes?: boolean; json?: boolean }, cmd: Command) => {
      const json = opts.json ?? false;
      const code = await runWithConnection(cmd.optsWithGlobals() as GlobalOptions, { json, io }, async (conn, signal) => {
        if (!opts.fromRestore && !opts.vm?.length) throw usageError('Say which VMs to start: --from-restore FILE (a restore\'s --json report) and/or --vm UUID.');
        const uuids = [...(opts.fromRestore ? await restoredUuids(opts.fromRestore) : []), ...(opts.vm ?? [])];
        if (uuids.length === 0) throw usageError('The restore report lists no VM it created.', 'Check the restore\'s result; nothing to start.');
        if (!opts.yes && !(await confirm(io, new Set(uuids).size))) {
          io.err('Not starting.');
          return 1;
        }
        const r = await startVms(conn.session, uuids, {
          mode: opts.paused ? 'paused' : 'start',
          ...(opts.concurrency !== undefined && { concurrency: opts.concurrency }),
          signal,
          ...(!json && {
            onEvent: (e: StartEvent) => {
              const line = progressLine(e);
              if (line !== null) io.err(line);
            },
          }),
        });
        const cancelled = r.cancelled ? operatorFailure(new CancelledFailure(cancelledText(r), 'Run the command again to start the rest; the VMs already running are skipped.')) : null;
        if (json) printJson(io, { ...r, ...(cancelled && { error: cancelled }) });
        else {
          io.out(startText(r));
          if (cancelled) io.err(failureText(cancelled));
        }
        if (cancelled) return 1;
        return r.failed ? EXIT_SOME_FAILED : 0;
      });
      if (code) throw new ExitCode(code);
    });
}
