/**
 * The network table, MAC clashes and the applied network map as text lines, shared by the
 * CLI and the console (which bounds the rows it shows). Names pass through neutralise().
 */
import { neutralise } from '../safe-text.js';
import { errorText } from '../text-sinks.js';
import type { MacClash, NetworkMapReport, PreflightNetwork } from './network-map.js';

const q = (s: string) => `"${neutralise(s)}"`;

/** What this pool will use for a source network, in words. */
export function networkOutcomeText(n: PreflightNetwork): string {
  const uses = n.match === 'name' ? `same name: ${q(n.target!.name)}` : n.match === 'bridge' ? `same bridge: ${q(n.target!.name)} (${neutralise(n.target!.bridge)})` : 'a new internal network (no uplink)';
  return n.mappedTo ? `${uses}, then mapped to ${q(n.mappedTo.name)}` : uses;
}

export function sourceNetworkText(n: PreflightNetwork): string {
  const mtu = n.mtu === null ? 'MTU unknown' : `MTU ${n.mtu}`;
  return `${q(n.name)} (bridge ${neutralise(n.bridge) || 'none'}, ${mtu}, ${n.vifs} VIF${n.vifs === 1 ? '' : 's'})`;
}

export function networkTableLines(networks: readonly PreflightNetwork[]): string[] {
  if (networks.length === 0) return ['Networks: the backup\'s VMs have no VIFs.'];
  return [`Networks (${networks.length} in the backup):`, ...networks.map((n) => `  ${sourceNetworkText(n)} -> ${networkOutcomeText(n)}`)];
}

export function macClashLines(clashes: readonly MacClash[], policy: string, limit = Infinity): string[] {
  if (clashes.length === 0) return ['MAC clashes: none.'];
  const shown = clashes.slice(0, limit).map((c) => `  ${neutralise(c.mac)} of ${q(c.vm.name)} (VIF ${neutralise(c.device)}) is used by ${q(c.poolVm.name)} ${neutralise(c.poolVm.uuid)}`);
  const more = clashes.length > limit ? [`  … and ${clashes.length - limit} more`] : [];
  return [`MAC clashes (${clashes.length}): ${policy}`, ...shown, ...more];
}

export function networkMapLines(r: NetworkMapReport): string[] {
  const would = r.dryRun;
  const lines = [`Network map (${r.map.length} source network${r.map.length === 1 ? '' : 's'}):`];
  for (const m of r.map) lines.push(`  ${q(m.source.name)} (bridge ${neutralise(m.source.bridge) || 'none'}) -> ${q(m.target.name)} ${neutralise(m.target.uuid)}`);
  if (r.error) return [...lines, `The map was not applied, ${errorText(r.error.code)}: ${errorText(r.error.meaning)} ${errorText(r.error.nextStep)}`];
  const toMove = r.vifs.filter((v) => !v.already);
  const ok = toMove.filter((v) => v.ok).length;
  const already = r.vifs.length - toMove.length;
  lines.push(`VIFs ${would ? 'that would be moved' : 'moved'}: ${ok} of ${toMove.length}${toMove[0] ? ` (${toMove[0].method === 'move' ? 'VIF.move' : 'destroyed and created again, keeping MAC and device: this pool has no VIF.move'})` : ''}${already ? `; ${already} on the mapped network already` : ''}`);
  for (const v of toMove) {
    const head = `  ${q(v.vm.name)} VIF ${neutralise(v.device)} (${neutralise(v.mac)}) -> ${q(v.to.name)}`;
    lines.push(v.error ? `${head}: failed, ${errorText(v.error.code)}: ${errorText(v.error.meaning)} ${errorText(v.error.nextStep)}` : head);
  }
  if (would) {
    for (const n of r.wouldNotCreate) lines.push(`Would remove the internal network the import makes for ${q(n.name)}: nothing would use it.`);
  } else {
    for (const n of r.removed) lines.push(n.error ? `Could not remove unused network ${q(n.name)} ${neutralise(n.uuid)}: ${errorText(n.error.code)}: ${errorText(n.error.meaning)}` : `Removed unused network ${q(n.name)} ${neutralise(n.uuid)} that the import had made.`);
    if (r.removed.length === 0) lines.push('No unused network left by the import.');
  }
  return lines;
}
