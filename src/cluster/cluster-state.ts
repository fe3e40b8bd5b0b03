import { assert } from '../model/assert.js';

/**
 * ClusterState: the replicated state machine of the metadata Raft group (what every node agrees
 * on): the members with their addresses, states and ring tokens, the replication factor, the one
 * staged operation in flight, and an epoch that every committed change increases. This file
 * holds the types and their JSON encoding; the transitions live in cluster-commands.ts.
 */

/** 16 lowercase hex chars = the first 8 bytes of SHA-256; string order == numeric order. */
export type Token = string;

export type NodeState = 'joining' | 'normal' | 'leaving' | 'left';

export interface NodeInfo {
  readonly id: string;
  readonly httpAddress: string;
  readonly peerAddress: string;
  readonly state: NodeState;
  readonly tokens: readonly Token[];
}

/** A token range (start exclusive, end inclusive); start === end only on a one-token ring. */
export interface RangeBounds {
  readonly start: Token;
  readonly end: Token;
}

export type OperationKind = 'join' | 'decommission' | 'remove';

/**
 * The committed steps of a staged operation (after Cassandra's transactional cluster metadata):
 * `prepared` locks the affected ranges; `started` makes the pending owners write replicas while
 * data streams (reads stay on the old owners); `mid` moves reads to the new owners while writes
 * still go to old and new; the `finish` step drops the old owners and clears the operation.
 * Reads and writes never switch in the same step, so a coordinator one epoch behind still
 * reads a replica set that every acknowledged write reached a quorum of.
 */
export type OperationStep = 'prepared' | 'started' | 'mid';

export interface PendingOperation {
  /** The epoch the operation was prepared at: its id. */
  readonly id: number;
  readonly kind: OperationKind;
  readonly node: string;
  readonly step: OperationStep;
  /** Epoch of the last committed step; the next step waits until affected replicas saw it. */
  readonly stepEpoch: number;
  /** Ranges whose replica set changes: locked against other operations until the end. */
  readonly ranges: readonly RangeBounds[];
}

export interface FinishedOperation {
  readonly id: number;
  readonly kind: OperationKind;
  readonly node: string;
  readonly outcome: 'finished' | 'cancelled';
  readonly epoch: number;
}

export interface ClusterState {
  readonly epoch: number;
  readonly rf: number;
  /** How many Raft voters the group keeps (3 or 5); the other members are learners. */
  readonly voterTarget: number;
  readonly tokensPerNode: number;
  readonly nodes: Readonly<Record<string, NodeInfo>>;
  readonly operation: PendingOperation | null;
  readonly lastOperation: FinishedOperation | null;
}

export const DEFAULT_TOKENS_PER_NODE = 16;
export const DEFAULT_VOTERS = 3;

/** The empty state a node holds before it has the group's snapshot. */
export const EMPTY_CLUSTER_STATE: ClusterState = Object.freeze({
  epoch: 0,
  rf: 1,
  voterTarget: DEFAULT_VOTERS,
  tokensPerNode: DEFAULT_TOKENS_PER_NODE,
  nodes: Object.freeze({}),
  operation: null,
  lastOperation: null,
});

/** Nodes that own data now (read replicas): normal ones, and leaving ones until they have left. */
export function isOwner(node: NodeInfo): boolean {
  return node.state === 'normal' || node.state === 'leaving';
}

/** Members of the cluster (not yet gone), sorted by id. */
export function members(state: ClusterState): NodeInfo[] {
  return Object.values(state.nodes)
    .filter((n) => n.state !== 'left')
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export function encodeClusterState(state: ClusterState): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(state));
}

/** Decodes and checks the shape (a snapshot or a peer's answer is input, not trusted code). */
export function decodeClusterState(data: Uint8Array): ClusterState {
  const s = JSON.parse(new TextDecoder().decode(data)) as ClusterState;
  checkClusterState(s);
  return s;
}

const TOKEN_RE = /^[0-9a-f]{16}$/;

export function isToken(x: unknown): x is Token {
  return typeof x === 'string' && TOKEN_RE.test(x);
}

/** The invariants every committed state keeps; a violation is a bug, so it throws. */
export function checkClusterState(s: ClusterState): void {
  assert(typeof s === 'object' && s !== null, 'cluster state: not an object');
  assert(Number.isInteger(s.epoch) && s.epoch >= 0, 'cluster state: bad epoch');
  assert(Number.isInteger(s.rf) && s.rf >= 1, 'cluster state: bad rf');
  assert(s.voterTarget === 3 || s.voterTarget === 5, 'cluster state: voters must be 3 or 5');
  assert(typeof s.nodes === 'object' && s.nodes !== null, 'cluster state: no nodes');
  const seen = new Set<Token>();
  for (const [id, n] of Object.entries(s.nodes)) {
    assert(n.id === id, `cluster state: node ${id} has id ${n.id}`);
    assert(
      n.state === 'joining' || n.state === 'normal' || n.state === 'leaving' || n.state === 'left',
      `cluster state: node ${id} has state ${String(n.state)}`,
    );
    assert(Array.isArray(n.tokens), `cluster state: node ${id} has no tokens`);
    for (const t of n.tokens) {
      assert(isToken(t), `cluster state: node ${id} has a bad token`);
      if (n.state !== 'left') {
        assert(!seen.has(t), `cluster state: token ${t} held twice`);
        seen.add(t);
      }
    }
  }
  const op = s.operation;
  if (op !== null) {
    assert(
      op.step === 'prepared' || op.step === 'started' || op.step === 'mid',
      `cluster state: operation step ${String(op.step)}`,
    );
    const n = s.nodes[op.node];
    assert(n !== undefined, `cluster state: operation on unknown node ${op.node}`);
    assert(
      op.kind === 'join' ? n.state === 'joining' : n.state === 'leaving',
      `cluster state: ${op.kind} of ${op.node} in state ${n.state}`,
    );
  }
  for (const n of Object.values(s.nodes)) {
    if (n.state === 'joining' || n.state === 'leaving') {
      assert(
        op !== null && op.node === n.id,
        `cluster state: ${n.id} is ${n.state} with no operation`,
      );
    }
  }
}
