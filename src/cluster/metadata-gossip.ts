import type { ClusterState } from './cluster-state.js';
import type { MetadataView } from './metadata.js';

/**
 * The two links between metadata and gossip: gossip spreads this node's epoch and learns the
 * members from the committed state (addresses of new nodes, nodes that left); a peer that
 * gossip reports ahead makes this node catch up, fetching the state from that peer first.
 * Gossip never changes ownership; metadata never decides liveness.
 */
export interface GossipLink {
  setLocalEpoch(epoch: number): void;
  addMember(id: string, peerAddress: string, httpAddress: string): void;
  removeMember(id: string): void;
  onEpochSeen(listener: (id: string, epoch: number) => void): void;
}

export function linkMetadataToGossip(
  self: string,
  metadata: MetadataView,
  gossip: GossipLink,
): void {
  const follow = (s: ClusterState): void => {
    for (const n of Object.values(s.nodes)) {
      if (n.id === self) continue;
      if (n.state === 'left') gossip.removeMember(n.id);
      else gossip.addMember(n.id, n.peerAddress, n.httpAddress);
    }
    gossip.setLocalEpoch(s.epoch);
  };
  follow(metadata.state());
  metadata.onChange(follow);
  // One catch-up at a time toward the highest epoch heard of, so a burst of gossip about the
  // same new epoch costs one fetch.
  let target = 0;
  let running = false;
  const run = (hint: string): void => {
    if (running || target <= metadata.epoch()) return;
    running = true;
    metadata
      .catchUp(target, hint)
      .catch(() => {
        // Gossip will report the epoch again; the next report retries.
      })
      .finally(() => {
        running = false;
      });
  };
  gossip.onEpochSeen((id, epoch) => {
    if (epoch > target) target = epoch;
    run(id);
  });
}
