import type { NodeId, Snapshot } from './types.js';

/**
 * The snapshot a new group starts from: index 1, term 1, the founding voters, and the state
 * machine's initial state. Every founding node stores the same one; nodes that join later
 * start with an empty store and receive it (or a later one) from the leader.
 */
export function bootstrapSnapshot(voters: readonly NodeId[], data: Uint8Array): Snapshot {
  return {
    meta: { index: 1, term: 1, conf: { voters: [...voters].sort(), learners: [] } },
    data,
  };
}

/** The snapshot of an empty store: index 0, no members (a node waiting to be added). */
export const EMPTY_SNAPSHOT: Snapshot = Object.freeze({
  meta: Object.freeze({ index: 0, term: 0, conf: Object.freeze({ voters: [], learners: [] }) }),
  data: new Uint8Array(0),
});
