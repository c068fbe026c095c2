/**
 * The network map from the preflight: <N> lists the backup's source networks with what this
 * pool will use for each; choosing one lists this pool's networks to move its VIFs to after
 * the imports (or none: as the import leaves them). Enter chooses, Esc goes back to the
 * preflight; the map is held by the restore's state (restore-machine.ts) and shown in the
 * preflight's network table.
 */
import React from 'react';
import { ChoiceDialogue } from '../dialogues/ChoiceDialogue.js';
import type { PoolNetwork, PreflightNetwork } from '../../src/dr/network-map.js';
import { networkOutcomeText, sourceNetworkText } from '../../src/dr/network-map-text.js';
import { neutralise } from '../../src/safe-text.js';

export const NETWORK_MAP_TITLE = 'Network Map';
export const NO_MAPPING_LABEL = 'No mapping (as the import does)';

export interface NetworkPickerProps {
  networks: readonly PreflightNetwork[];
  pool: readonly PoolNetwork[];
  onMap(source: PreflightNetwork, target: PoolNetwork | null): void;
}

export function NetworkPicker({ networks, pool, onMap }: NetworkPickerProps) {
  return (
    <ChoiceDialogue
      title={NETWORK_MAP_TITLE}
      prompt="After the restore, move the VIFs of a source network to a network of this pool. Choose a source network:"
      listTitle="Source networks"
      choices={networks.map((n) => ({ label: `${neutralise(n.name)}${n.mappedTo ? ` -> ${neutralise(n.mappedTo.name)}` : n.match === 'new' ? ' (new internal)' : ''}`, value: n }))}
      empty="<No networks in the backup>"
      details={(n) => [sourceNetworkText(n), `Here: ${networkOutcomeText(n)}`]}
      next={(source) => (
        <ChoiceDialogue<PoolNetwork | null>
          title={NETWORK_MAP_TITLE}
          prompt={`Move the VIFs of "${neutralise(source.name)}" to:`}
          listTitle="Networks of this pool"
          choices={[{ label: NO_MAPPING_LABEL, value: null }, ...pool.map((p) => ({ label: `${neutralise(p.name)} (${neutralise(p.bridge)})`, value: p }))]}
          details={(p) => (p ? [`uuid ${neutralise(p.uuid)}`] : ['The VIFs stay where the import puts them.'])}
          next={(target) => {
            onMap(source, target);
            return null;
          }}
        />
      )}
    />
  );
}
