/**
 * Start after restore as operator text, one wording for the CLI, the console's result
 * screen and a saved report. Names from the pool are neutralised where they enter a line;
 * XAPI's error text goes through the error sink when it is printed.
 */
import { neutralise } from '../safe-text.js';
import type { Named, StartErrorDetail, StartReport, VmStartResult } from './start-vms.js';

export const vmLabel = (x: Named): string => (x.name ? `"${neutralise(x.name)}" (${neutralise(x.uuid)})` : neutralise(x.uuid));

/** Where a VM sits in the order: "vApp "shop", order 1" or "order 0". */
export function placeText(x: Pick<VmStartResult, 'vApp' | 'order' | 'startDelay'>): string {
  const delay = x.startDelay > 0 ? `, start delay ${x.startDelay} s` : '';
  return `${x.vApp ? `vApp "${neutralise(x.vApp.name)}", ` : ''}order ${x.order}${delay}`;
}

export const errorLine = (e: StartErrorDetail): string => `${e.code}: ${e.meaning}`;

/** The heading: what was done, what failed, what was not done. */
export function startHeadline(r: StartReport): string {
  const done = r.mode === 'paused' ? 'Started paused' : 'Started';
  const parts = [`${done} ${r.started} of ${r.requested} VM(s)`];
  if (r.failed) parts.push(`${r.failed} failed`);
  if (r.skipped) parts.push(`${r.skipped} skipped`);
  if (r.notStarted) parts.push(`${r.notStarted} not started (cancelled)`);
  return `${parts.join(', ')}.`;
}

/** Said when a run was cancelled: what was running then (let finish), and what was not launched. */
export function cancelledText(r: StartReport): string {
  const flight = r.inFlightAtCancel.length
    ? `${r.inFlightAtCancel.length} VM(s) were being started and were let finish (${r.inFlightAtCancel.map(vmLabel).join(', ')})`
    : 'no VM was being started';
  return `Start cancelled: ${flight}; ${r.notStarted} VM(s) were not started.`;
}

const STATUS: Record<VmStartResult['status'], string> = {
  started: 'started',
  paused: 'paused',
  failed: 'FAILED',
  skipped: 'skipped',
  'not-started': 'not started',
};

/**
 * One block per VM, failures first (with each host's reason and the next step), then the
 * ones not started, skipped, and started: what needs the operator comes first.
 */
export function startResultLines(r: StartReport): Array<{ text: string; alert?: boolean }> {
  const rank: Record<VmStartResult['status'], number> = { failed: 0, 'not-started': 1, skipped: 2, started: 3, paused: 3 };
  const sorted = [...r.results].sort((a, b) => rank[a.status] - rank[b.status]);
  const lines: Array<{ text: string; alert?: boolean }> = [];
  for (const x of sorted) {
    const head = `${STATUS[x.status].padEnd(11)} ${vmLabel(x)}`;
    if (x.status === 'skipped') {
      lines.push({ text: `${head}: ${x.reason ?? ''}` });
      continue;
    }
    lines.push({ text: `${head}, ${placeText(x)}`, ...(x.status === 'failed' && { alert: true }) });
    if (!x.error) continue;
    lines.push({ text: `    ${errorLine(x.error)}`, alert: true });
    for (const h of x.hosts ?? []) {
      lines.push({ text: `    on host "${neutralise(h.host.name)}": ${h.error ? errorLine(h.error) : 'could start it now'}` });
    }
    const hostSteps = [...new Set((x.hosts ?? []).flatMap((h) => (h.error ? [h.error.nextStep] : [])))];
    for (const step of hostSteps.length ? hostSteps : [x.error.nextStep]) lines.push({ text: `    Next: ${step}` });
  }
  return lines;
}
