import { Gauge, type Registry } from 'prom-client';
import type { ClusterState } from '../cluster/cluster-state.js';
import type { GossipStats, MemberView } from '../cluster/gossip.js';
import type { RaftSummary } from '../cluster/metadata.js';
import type { DataPlaneStats } from '../distributed/coordinator.js';
import type { PeerTransportStats } from '../net/peer-transport.js';

/**
 * The cluster's figures in /metrics, read from the components when scraped: metadata (epoch,
 * members by state, Raft term and role), gossip (members by liveness, probe and suspicion
 * counters), the data plane (hints, read repairs, anti-entropy, overload refusals) and the
 * peer transport. Counters of the components are exported as gauges of their running totals,
 * because the components own the counts (prom-client counters cannot be set).
 */
export interface ClusterMetricSources {
  readonly metadata: { state(): ClusterState; raftStatus(): RaftSummary };
  readonly gossip: { members(): MemberView[]; readonly stats: GossipStats };
  readonly coordinator: { dataStats(): DataPlaneStats };
  readonly transport: { readonly stats: PeerTransportStats };
}

const NODE_STATES = ['joining', 'normal', 'leaving', 'left'] as const;
const LIVENESS = ['alive', 'suspect', 'dead'] as const;
const RAFT_ROLES = ['leader', 'follower', 'candidate', 'learner'] as const;

export function registerClusterMetrics(registry: Registry, src: ClusterMetricSources): void {
  const registers = [registry];
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(read());
      },
    });

  gauge(
    'count_cluster_epoch',
    'Metadata epoch this node has applied.',
    () => src.metadata.state().epoch,
  );
  gauge('count_cluster_rf', 'Replication factor of the cluster.', () => src.metadata.state().rf);
  new Gauge({
    name: 'count_cluster_members',
    help: 'Members of the cluster by state, as this node knows the metadata.',
    labelNames: ['state'],
    registers,
    collect() {
      const counts = Object.fromEntries(NODE_STATES.map((s) => [s, 0])) as Record<string, number>;
      for (const n of Object.values(src.metadata.state().nodes)) counts[n.state]++;
      for (const s of NODE_STATES) this.set({ state: s }, counts[s]);
    },
  });
  gauge(
    'count_cluster_operation_in_flight',
    '1 while a join, decommission or remove is staged.',
    () => (src.metadata.state().operation === null ? 0 : 1),
  );
  gauge(
    'count_raft_term',
    'Raft term of the metadata group on this node.',
    () => src.metadata.raftStatus().term,
  );
  gauge(
    'count_raft_commit_index',
    'Raft commit index of the metadata group.',
    () => src.metadata.raftStatus().commit,
  );
  new Gauge({
    name: 'count_raft_role',
    help: '1 for the Raft role this node has in the metadata group.',
    labelNames: ['role'],
    registers,
    collect() {
      const role = src.metadata.raftStatus().role;
      for (const r of RAFT_ROLES) this.set({ role: r }, r === role ? 1 : 0);
    },
  });

  new Gauge({
    name: 'count_gossip_members',
    help: 'Members by liveness as this node sees them (itself included).',
    labelNames: ['liveness'],
    registers,
    collect() {
      const counts: Record<string, number> = { alive: 0, suspect: 0, dead: 0 };
      for (const m of src.gossip.members()) counts[m.liveness]++;
      for (const l of LIVENESS) this.set({ liveness: l }, counts[l]);
    },
  });
  const gossipTotals: [keyof GossipStats, string][] = [
    ['probes', 'Direct probes sent.'],
    ['probesFailed', 'Probes that got no ack, direct or indirect.'],
    ['indirectProbes', 'Indirect probe requests sent.'],
    ['suspicions', 'Members this node started suspecting.'],
    ['deaths', 'Members this node declared dead.'],
    ['refutations', 'Times this node refuted a suspicion about itself.'],
    ['syncs', 'Full-state exchanges.'],
  ];
  for (const [key, help] of gossipTotals) {
    gauge(`count_gossip_${snake(key)}_total`, `Gossip: ${help}`, () => src.gossip.stats[key]);
  }

  const data = (name: string, help: string, read: (s: DataPlaneStats) => number) =>
    gauge(name, help, () => read(src.coordinator.dataStats()));
  data('count_hints_pending', 'Hints stored and not yet replayed.', (s) => s.hints.pending);
  data(
    'count_hints_stored_total',
    'Hints written for replicas that missed a write.',
    (s) => s.hints.stored,
  );
  data('count_hints_replayed_total', 'Hints delivered to their replica.', (s) => s.hints.replayed);
  data(
    'count_hints_refused_total',
    'Hints refused because the target was at its bound.',
    (s) => s.hints.refused,
  );
  data(
    'count_hints_dropped_total',
    'Hints dropped unreplayed (expired, unreadable).',
    (s) => s.hints.dropped,
  );
  data(
    'count_read_repairs_total',
    'Reads that wrote points back to a replica.',
    (s) => s.reads.repairs,
  );
  data(
    'count_read_repaired_points_total',
    'Points written back by read repair.',
    (s) => s.reads.repairedPoints,
  );
  data(
    'count_anti_entropy_pulled_points_total',
    'Points anti-entropy wrote here.',
    (s) => s.antiEntropy.pulled,
  );
  data(
    'count_anti_entropy_pushed_points_total',
    'Points anti-entropy sent to peers.',
    (s) => s.antiEntropy.pushed,
  );
  new Gauge({
    name: 'count_overloaded_refusals_total',
    help: 'Requests refused with overloaded, as coordinator and as replica.',
    labelNames: ['role'],
    registers,
    collect() {
      const o = src.coordinator.dataStats().overloaded;
      this.set({ role: 'coordinator' }, o.coordinator);
      this.set({ role: 'replica' }, o.replica);
    },
  });

  gauge(
    'count_peer_frames_sent_total',
    'Peer transport frames sent.',
    () => src.transport.stats.sent,
  );
  gauge(
    'count_peer_frames_received_total',
    'Peer transport frames received.',
    () => src.transport.stats.received,
  );
  gauge(
    'count_peer_frames_dropped_total',
    'Peer transport frames dropped (queue full, unknown peer).',
    () => src.transport.stats.dropped,
  );
  gauge(
    'count_peer_reconnects_total',
    'Peer transport reconnections.',
    () => src.transport.stats.reconnects,
  );
}

function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
