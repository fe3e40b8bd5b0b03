import type { ClusterState, RangeBounds } from '../cluster/cluster-state.js';
import type { Ring } from '../cluster/ring.js';

/**
 * What the data plane reads of the cluster: the ring of the committed metadata and liveness as
 * gossip sees it. Structural, so the metadata view (src/cluster) and Gossip fit as they are and
 * tests can pass small fakes.
 */
export interface MetadataSource {
  ring(): Ring;
  epoch(): number;
  /** Waits until the local state is at least `epoch`, fetching it from `hintPeer` or the group. */
  catchUp(epoch: number, hintPeer?: string): Promise<void>;
  /** Committed changes (optional: hints of nodes that left the cluster are dropped on it). */
  onChange?(listener: (state: ClusterState) => void): void;
}

export type Liveness = 'alive' | 'suspect' | 'dead';

export interface LivenessSource {
  isAlive(id: string): boolean;
  onLivenessChange(listener: (id: string, liveness: Liveness) => void): void;
}

/** The range's name in partial answers and logs: "start..end". */
export function rangeName(range: RangeBounds): string {
  return `${range.start}..${range.end}`;
}
