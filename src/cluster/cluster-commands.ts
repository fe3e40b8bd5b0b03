import type { ErrorCode } from '../model/errors.js';
import {
  type ClusterState,
  checkClusterState,
  DEFAULT_TOKENS_PER_NODE,
  DEFAULT_VOTERS,
  isOwner,
  type NodeInfo,
  type OperationKind,
  type PendingOperation,
} from './cluster-state.js';
import { changedRanges, ownersAfter } from './ring.js';
import { allocateTokens } from './token-allocator.js';

/**
 * The commands of the metadata state machine and their pure transitions. A command either
 * commits a change (the epoch goes up by one) or is refused with a stable error code and the
 * state unchanged; repeating a command that already took effect is a no-op, so a client may
 * retry after a timeout without staging an operation twice.
 */

export interface NodeAddress {
  readonly id: string;
  readonly httpAddress: string;
  readonly peerAddress: string;
}

export type ClusterCommand =
  | { readonly type: 'prepare-join'; readonly node: NodeAddress }
  | {
      readonly type: 'prepare-leave';
      readonly node: string;
      readonly kind: 'decommission' | 'remove';
    }
  | { readonly type: 'start'; readonly opId: number }
  | { readonly type: 'mid'; readonly opId: number }
  | { readonly type: 'finish'; readonly opId: number }
  | { readonly type: 'cancel'; readonly opId: number | null }
  | { readonly type: 'update-address'; readonly node: NodeAddress };

export type CommandResult =
  | { readonly ok: true; readonly state: ClusterState; readonly changed: boolean }
  | {
      readonly ok: false;
      readonly state: ClusterState;
      readonly code: ErrorCode;
      readonly message: string;
    };

export interface BootstrapOptions {
  readonly nodes: readonly NodeAddress[];
  readonly rf: number;
  readonly voters?: number;
  readonly tokensPerNode?: number;
}

/** The founding state: every founding node normal, tokens allocated one node after another. */
export function initialClusterState(opts: BootstrapOptions): ClusterState {
  const tokensPerNode = opts.tokensPerNode ?? DEFAULT_TOKENS_PER_NODE;
  const nodes: Record<string, NodeInfo> = {};
  const sorted = [...opts.nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const n of sorted) {
    const tokens = allocateTokens(Object.values(nodes), n.id, tokensPerNode);
    nodes[n.id] = { ...n, state: 'normal', tokens };
  }
  const state: ClusterState = {
    epoch: 1,
    // Kept as asked: the ring caps it at the number of owners, so a cluster that starts
    // with one node reaches the full factor as nodes join.
    rf: Math.max(1, opts.rf),
    voterTarget: opts.voters ?? DEFAULT_VOTERS,
    tokensPerNode,
    nodes,
    operation: null,
    lastOperation: null,
  };
  checkClusterState(state);
  return state;
}

function refuse(state: ClusterState, code: ErrorCode, message: string): CommandResult {
  return { ok: false, state, code, message };
}

function unchanged(state: ClusterState): CommandResult {
  return { ok: true, state, changed: false };
}

function commit(state: ClusterState): CommandResult {
  checkClusterState(state);
  return { ok: true, state, changed: true };
}

function describeOp(op: PendingOperation): string {
  return `${op.kind} of ${op.node} (operation ${op.id}, step ${op.step})`;
}

function inFlight(state: ClusterState, op: PendingOperation): CommandResult {
  return refuse(
    state,
    'conflict',
    `${describeOp(op)} is in flight and locks ${op.ranges.length} range(s); resume or cancel it first`,
  );
}

/** Applies one committed command. Pure: the same state and command give the same result. */
export function applyCommand(state: ClusterState, cmd: ClusterCommand): CommandResult {
  switch (cmd.type) {
    case 'prepare-join':
      return prepareJoin(state, cmd.node);
    case 'prepare-leave':
      return prepareLeave(state, cmd.node, cmd.kind);
    case 'start':
      return start(state, cmd.opId);
    case 'mid':
      return mid(state, cmd.opId);
    case 'finish':
      return finish(state, cmd.opId);
    case 'cancel':
      return cancel(state, cmd.opId);
    case 'update-address':
      return updateAddress(state, cmd.node);
    default:
      return refuse(state, 'invalid_parameter', 'unknown cluster command');
  }
}

function withOperation(
  state: ClusterState,
  nodes: Record<string, NodeInfo>,
  kind: OperationKind,
  node: string,
): ClusterState {
  const epoch = state.epoch + 1;
  const staged: ClusterState = { ...state, epoch, nodes };
  const before = Object.values(state.nodes).filter(isOwner);
  const moved = changedRanges(
    before,
    ownersAfter({ ...staged, operation: placeholder(kind, node) }),
    state.rf,
  );
  return {
    ...staged,
    operation: {
      id: epoch,
      kind,
      node,
      step: 'prepared',
      stepEpoch: epoch,
      ranges: moved.map((m) => m.range),
    },
  };
}

function placeholder(kind: OperationKind, node: string): PendingOperation {
  return { id: 0, kind, node, step: 'prepared', stepEpoch: 0, ranges: [] };
}

function prepareJoin(state: ClusterState, node: NodeAddress): CommandResult {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(node.id)) {
    return refuse(
      state,
      'invalid_parameter',
      `node id "${node.id}" must be 1-64 of [A-Za-z0-9._-]`,
    );
  }
  const op = state.operation;
  const existing = state.nodes[node.id];
  if (op !== null) {
    if (op.kind === 'join' && op.node === node.id) return unchanged(state);
    return inFlight(state, op);
  }
  if (existing !== undefined && existing.state !== 'left') {
    // Asking again after the join finished (the joiner retried): already a member.
    if (existing.state === 'normal') return unchanged(state);
    return refuse(state, 'conflict', `node ${node.id} is already ${existing.state}`);
  }
  const owners = Object.values(state.nodes).filter(isOwner);
  const tokens = allocateTokens(owners, node.id, state.tokensPerNode);
  const nodes = { ...state.nodes, [node.id]: { ...node, state: 'joining' as const, tokens } };
  return commit(withOperation(state, nodes, 'join', node.id));
}

function prepareLeave(
  state: ClusterState,
  id: string,
  kind: 'decommission' | 'remove',
): CommandResult {
  const op = state.operation;
  if (op !== null) {
    if (op.kind === kind && op.node === id) return unchanged(state);
    return inFlight(state, op);
  }
  const node = state.nodes[id];
  if (node === undefined) return refuse(state, 'not_found', `node ${id} is not a member`);
  if (node.state === 'left') return unchanged(state);
  if (node.state !== 'normal') return refuse(state, 'conflict', `node ${id} is ${node.state}`);
  const remaining = Object.values(state.nodes).filter((n) => n.state === 'normal' && n.id !== id);
  // The replication factor is capped at the number of members (DESIGN.md), so leaving fewer
  // than rf nodes is allowed: the ring then keeps every series on all the nodes that remain,
  // and a decommission streams the leaving node's ranges to them first. Only the last node
  // cannot leave, since its data would have nowhere to go.
  if (remaining.length === 0) {
    return refuse(state, 'conflict', `${kind} of ${id} would leave no node in the cluster`);
  }
  const nodes = { ...state.nodes, [id]: { ...node, state: 'leaving' as const } };
  return commit(withOperation(state, nodes, kind, id));
}

function checkOp(state: ClusterState, opId: number): CommandResult | PendingOperation {
  const op = state.operation;
  if (op === null) {
    // The step may have committed already (a retried request): not an error if it finished.
    if (state.lastOperation !== null && state.lastOperation.id === opId) return unchanged(state);
    return refuse(state, 'conflict', `operation ${opId} is not in flight`);
  }
  if (op.id !== opId)
    return refuse(state, 'conflict', `${describeOp(op)} is in flight, not ${opId}`);
  return op;
}

function start(state: ClusterState, opId: number): CommandResult {
  const op = checkOp(state, opId);
  if ('ok' in op) return op;
  if (op.step !== 'prepared') return unchanged(state);
  const epoch = state.epoch + 1;
  return commit({ ...state, epoch, operation: { ...op, step: 'started', stepEpoch: epoch } });
}

/** Reads move to the new owners; writes still reach old and new (the data has streamed). */
function mid(state: ClusterState, opId: number): CommandResult {
  const op = checkOp(state, opId);
  if ('ok' in op) return op;
  if (op.step === 'mid') return unchanged(state);
  if (op.step !== 'started') {
    return refuse(state, 'conflict', `${describeOp(op)} must be started before reads move`);
  }
  const epoch = state.epoch + 1;
  return commit({ ...state, epoch, operation: { ...op, step: 'mid', stepEpoch: epoch } });
}

function finish(state: ClusterState, opId: number): CommandResult {
  const op = checkOp(state, opId);
  if ('ok' in op) return op;
  if (op.step !== 'mid') {
    return refuse(
      state,
      'conflict',
      `${describeOp(op)} must have moved reads (step mid) before it finishes`,
    );
  }
  const epoch = state.epoch + 1;
  const node = state.nodes[op.node];
  const done: NodeInfo =
    op.kind === 'join' ? { ...node, state: 'normal' } : { ...node, state: 'left', tokens: [] };
  return commit({
    ...state,
    epoch,
    nodes: { ...state.nodes, [op.node]: done },
    operation: null,
    lastOperation: { id: op.id, kind: op.kind, node: op.node, outcome: 'finished', epoch },
  });
}

function cancel(state: ClusterState, opId: number | null): CommandResult {
  const op = state.operation;
  if (op === null) {
    if (opId !== null && state.lastOperation?.id === opId) return unchanged(state);
    return refuse(state, 'conflict', 'no operation is in flight');
  }
  if (opId !== null && op.id !== opId) {
    return refuse(state, 'conflict', `${describeOp(op)} is in flight, not ${opId}`);
  }
  const epoch = state.epoch + 1;
  if (op.step === 'mid') {
    // Reads are on the new owners: going straight back to the old ring would let a coordinator
    // still on 'mid' read new owners that miss writes acknowledged by the old ones. Step back
    // first (reads on the old owners, writes to both); a second cancel, once the affected
    // replicas saw this epoch, ends the operation.
    return commit({ ...state, epoch, operation: { ...op, step: 'started', stepEpoch: epoch } });
  }
  const node = state.nodes[op.node];
  // A cancelled join leaves the node 'left' (so gossip and Raft drop it); a cancelled leave
  // returns the node to 'normal'. Pending owners may keep copies they received: harmless.
  const back: NodeInfo =
    op.kind === 'join' ? { ...node, state: 'left', tokens: [] } : { ...node, state: 'normal' };
  return commit({
    ...state,
    epoch,
    nodes: { ...state.nodes, [op.node]: back },
    operation: null,
    lastOperation: { id: op.id, kind: op.kind, node: op.node, outcome: 'cancelled', epoch },
  });
}

function updateAddress(state: ClusterState, addr: NodeAddress): CommandResult {
  const node = state.nodes[addr.id];
  if (node === undefined || node.state === 'left') {
    return refuse(state, 'not_found', `node ${addr.id} is not a member`);
  }
  if (node.httpAddress === addr.httpAddress && node.peerAddress === addr.peerAddress) {
    return unchanged(state);
  }
  return commit({
    ...state,
    epoch: state.epoch + 1,
    nodes: { ...state.nodes, [addr.id]: { ...node, ...addr } },
  });
}

export function encodeCommand(cmd: ClusterCommand): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(cmd));
}

export function decodeCommand(data: Uint8Array): ClusterCommand {
  return JSON.parse(new TextDecoder().decode(data)) as ClusterCommand;
}
