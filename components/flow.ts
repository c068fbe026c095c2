/**
 * A flow: several screens that belong to one task (the restore's search, lists, preflight,
 * progress and summary). Left goes back one screen; Esc cancels the task, closing every
 * screen of it at once — as xsconsole's restore dialogue, whose Esc leaves the dialogue
 * from any of its states. Screens are replaced and pushed as the task goes on, so the flow
 * keeps the ids of its mounted screens and closes from the lowest one.
 */
import { useLayoutEffect } from 'react';
import { useNavigator, useScreen, type Navigator } from './navigation.js';

export interface Flow {
  /** Closes every screen of the flow (back to where it started). */
  cancel(): void;
  /** Called by useFlowScreen. */
  join(screenId: number): () => void;
}

export function createFlow(nav: Navigator): Flow {
  const ids = new Set<number>();
  return {
    cancel() {
      if (ids.size > 0) nav.close(Math.min(...ids));
    },
    join(id) {
      ids.add(id);
      return () => {
        ids.delete(id);
      };
    },
  };
}

/** Makes this screen part of `flow` while it is mounted. */
export function useFlowScreen(flow: Flow): void {
  const { id } = useScreen();
  useLayoutEffect(() => flow.join(id), [flow, id]);
}

/** A new flow bound to the console's navigator. */
export function useNewFlow(): () => Flow {
  const nav = useNavigator();
  return () => createFlow(nav);
}
