import type {
  ClusterState,
  FinishedOperation,
  NodeState,
  PendingOperation,
} from './cluster-state.js';
import type { Liveness } from './gossip-messages.js';
import type { RaftSummary } from './metadata.js';
import type { OperationProgress } from './operations.js';

/**
 * What `countctl status` shows: every member with its state, tokens, Raft role and liveness as
 * gossip sees it, plus the Raft leader, term and the epoch, and the operation in flight.
 */
export interface GossipMembers {
  members(): readonly { id: string; liveness: Liveness; epoch: number }[];
}

export interface MemberStatus {
  readonly id: string;
  readonly httpAddress: string;
  readonly peerAddress: string;
  readonly state: NodeState;
  readonly tokens: number;
  readonly raft: 'voter' | 'learner' | 'none';
  /** Liveness as this node's gossip sees it; 'unknown' without gossip. */
  readonly liveness: Liveness | 'unknown';
  /** The member's metadata epoch as gossip last heard it. */
  readonly epoch: number | null;
}

export interface ClusterStatus {
  readonly node: string;
  readonly epoch: number;
  readonly rf: number;
  readonly voterTarget: number;
  readonly raft: RaftSummary;
  readonly members: readonly MemberStatus[];
  readonly operation: PendingOperation | null;
  readonly lastOperation: FinishedOperation | null;
  readonly progress: OperationProgress | null;
}

export function clusterStatus(
  self: string,
  state: ClusterState,
  raft: RaftSummary,
  gossip: GossipMembers | null,
  progress: OperationProgress | null,
): ClusterStatus {
  const seen = new Map<string, { liveness: Liveness; epoch: number }>();
  for (const m of gossip?.members() ?? []) seen.set(m.id, m);
  const voters = new Set(raft.voters);
  const learners = new Set(raft.learners);
  const members = Object.values(state.nodes)
    .filter((n) => n.state !== 'left')
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((n): MemberStatus => {
      const g = seen.get(n.id);
      return {
        id: n.id,
        httpAddress: n.httpAddress,
        peerAddress: n.peerAddress,
        state: n.state,
        tokens: n.tokens.length,
        raft: voters.has(n.id) ? 'voter' : learners.has(n.id) ? 'learner' : 'none',
        liveness: n.id === self ? 'alive' : (g?.liveness ?? 'unknown'),
        epoch: n.id === self ? state.epoch : (g?.epoch ?? null),
      };
    });
  return {
    node: self,
    epoch: state.epoch,
    rf: state.rf,
    voterTarget: state.voterTarget,
    raft,
    members,
    operation: state.operation,
    lastOperation: state.lastOperation,
    progress,
  };
}
