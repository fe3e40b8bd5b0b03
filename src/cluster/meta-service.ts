import type { ClusterEnv } from '../env/cluster-env.js';
import { CountError } from '../model/errors.js';
import type { NodeAddress } from './cluster-commands.js';
import { type ClusterState, encodeClusterState } from './cluster-state.js';
import type { ClusterMetadata } from './metadata.js';
import { affectedGroups, type OperationDriver, type OperationProgress } from './operations.js';

/**
 * The 'meta.*' requests that change the cluster or report on an operation: join, decommission,
 * remove, cancel, resume, transfer-leader, progress. They must run on the metadata leader (it
 * proposes the commands and drives the staged steps): any node accepts them and forwards once to
 * the leader it knows, waiting a little for an election when there is none.
 */

export const META_JOIN = 'meta.join';
export const META_OP = 'meta.op';
export const META_PROGRESS = 'meta.progress';
export const META_ADDRESS = 'meta.address';

export type MetaAction = 'decommission' | 'remove' | 'cancel' | 'resume' | 'transfer-leader';

export interface JoinReply {
  /** The committed state as of the prepare (ClusterState bytes): the joiner's first view. */
  readonly state: Uint8Array;
  readonly opId: number | null;
  readonly leader: string;
}

export interface OpReply {
  readonly epoch: number;
  readonly opId: number | null;
  readonly leader: string;
}

export interface MetaServiceOptions {
  readonly requestTimeoutMs: number;
  /** How long a request waits for a leader to be elected before it fails. */
  readonly leaderWaitMs: number;
}

export const DEFAULT_META_SERVICE_OPTIONS: MetaServiceOptions = {
  requestTimeoutMs: 5000,
  leaderWaitMs: 3000,
};

const ACTIONS = new Set<MetaAction>([
  'decommission',
  'remove',
  'cancel',
  'resume',
  'transfer-leader',
]);

export class MetaService {
  private readonly opts: MetaServiceOptions;

  constructor(
    private readonly env: ClusterEnv,
    private readonly metadata: ClusterMetadata,
    private readonly driver: OperationDriver,
    options: Partial<MetaServiceOptions> = {},
  ) {
    this.opts = { ...DEFAULT_META_SERVICE_OPTIONS, ...options };
  }

  listen(): void {
    const net = this.env.net;
    net.on(META_JOIN, (_from, p) => {
      const r = p as { node?: NodeAddress; forwarded?: boolean } | null;
      if (!isAddress(r?.node)) throw new CountError('invalid_body', 'meta.join needs { node }');
      return this.join(r.node, r.forwarded === true);
    });
    net.on(META_OP, (_from, p) => {
      const r = p as { action?: MetaAction; node?: unknown; forwarded?: boolean } | null;
      if (r === null || r.action === undefined || !ACTIONS.has(r.action)) {
        throw new CountError('invalid_body', 'meta.op needs a known action');
      }
      const node = typeof r.node === 'string' ? r.node : null;
      return this.operate(r.action, node, r.forwarded === true);
    });
    net.on(META_ADDRESS, (_from, p) => {
      const r = p as { node?: NodeAddress; forwarded?: boolean } | null;
      if (!isAddress(r?.node)) throw new CountError('invalid_body', 'meta.address needs { node }');
      return this.updateAddress(r.node, r.forwarded === true);
    });
    net.on(META_PROGRESS, (_from, p) =>
      this.progress((p as { forwarded?: boolean } | null)?.forwarded === true),
    );
  }

  /** Stages the join of `node` (or finds it staged already) and drives it in the background. */
  join(node: NodeAddress, forwarded = false): Promise<JoinReply> {
    return this.onLeader(META_JOIN, { node }, forwarded, async () => {
      const state = await this.metadata.propose({ type: 'prepare-join', node });
      const op = state.operation;
      this.driveInBackground();
      return {
        state: encodeClusterState(state),
        opId: op !== null && op.node === node.id ? op.id : null,
        leader: this.env.nodeId,
      };
    });
  }

  /** decommission/remove <node>, cancel, resume, transfer-leader <node>. */
  operate(action: MetaAction, node: string | null, forwarded = false): Promise<OpReply> {
    return this.onLeader(META_OP, { action, node }, forwarded, async () => {
      let state: ClusterState = this.metadata.state();
      switch (action) {
        case 'decommission':
        case 'remove':
          if (node === null) throw new CountError('invalid_parameter', `${action} needs a node`);
          state = await this.metadata.propose({ type: 'prepare-leave', node, kind: action });
          this.driveInBackground();
          break;
        case 'resume':
          if (state.operation === null)
            throw new CountError('conflict', 'no operation is in flight');
          this.driveInBackground();
          break;
        case 'cancel': {
          const op = state.operation;
          if (op === null) throw new CountError('conflict', 'no operation is in flight');
          this.driver.abort();
          state = await this.metadata.propose({ type: 'cancel', opId: op.id });
          const back = state.operation;
          if (back !== null && back.id === op.id) {
            // Cancelled at `mid`: reads went back to the old owners first. End it once the
            // affected replicas saw that step (if that times out, a second cancel ends it).
            await this.driver.waitEpochSeen(back.stepEpoch, affectedGroups(state));
            state = await this.metadata.propose({ type: 'cancel', opId: op.id });
          }
          return { epoch: state.epoch, opId: op.id, leader: this.env.nodeId };
        }
        case 'transfer-leader':
          if (node === null)
            throw new CountError('invalid_parameter', 'transfer-leader needs a node');
          if (this.metadata.state().nodes[node] === undefined) {
            throw new CountError('not_found', `node ${node} is not a member`);
          }
          this.metadata.transferLeader(node);
          break;
      }
      return { epoch: state.epoch, opId: state.operation?.id ?? null, leader: this.env.nodeId };
    });
  }

  /** Records new addresses of a member (a node restarted elsewhere). */
  updateAddress(node: NodeAddress, forwarded = false): Promise<OpReply> {
    return this.onLeader(META_ADDRESS, { node }, forwarded, async () => {
      const state = await this.metadata.propose({ type: 'update-address', node });
      return { epoch: state.epoch, opId: null, leader: this.env.nodeId };
    });
  }

  /** The progress of the operation driven by the leader (null when none ran there). */
  progress(forwarded = false): Promise<OperationProgress | null> {
    return this.onLeader(META_PROGRESS, {}, forwarded, async () => this.driver.progress());
  }

  /**
   * The leader's progress for a status display: never waits for an election and gives the
   * leader `timeoutMs` to answer, so `status` stays fast while the leader is down (null then).
   */
  async quickProgress(timeoutMs: number): Promise<OperationProgress | null> {
    if (this.metadata.isLeader()) return this.driver.progress();
    const leader = this.metadata.leader();
    if (leader === null || leader === this.env.nodeId) return null;
    try {
      return (await this.env.net.request(
        leader,
        META_PROGRESS,
        { forwarded: true },
        timeoutMs,
      )) as OperationProgress | null;
    } catch {
      return null;
    }
  }

  private driveInBackground(): void {
    // Failures stay visible in progress() and the operation stays in flight for resume/cancel.
    this.driver.run().catch(() => {});
  }

  private async onLeader<T>(
    channel: string,
    payload: Record<string, unknown>,
    forwarded: boolean,
    local: () => Promise<T>,
  ): Promise<T> {
    // A node that has left is out of the Raft group: what it knows of the leader is stale.
    if (this.metadata.state().nodes[this.env.nodeId]?.state === 'left') {
      throw new CountError(
        'conflict',
        `node ${this.env.nodeId} has left the cluster; ask a member`,
        { details: { reason: 'left' } },
      );
    }
    const deadline = this.env.monotonic() + this.opts.leaderWaitMs;
    for (let round = 1; ; round++) {
      if (this.metadata.isLeader()) return local();
      const leader = this.metadata.leader();
      if (forwarded) {
        throw new CountError(
          'consistency_unavailable',
          `node ${this.env.nodeId} is not the metadata leader (leader: ${leader ?? 'unknown'})`,
          { details: { leader } },
        );
      }
      if (leader !== null && leader !== this.env.nodeId) {
        return (await this.env.net.request(
          leader,
          channel,
          { ...payload, forwarded: true },
          this.opts.requestTimeoutMs,
        )) as T;
      }
      if (this.env.monotonic() >= deadline) {
        throw new CountError('consistency_unavailable', 'no metadata leader is known; try again', {
          retryAfterSeconds: 1,
        });
      }
      await new Promise<void>((r) => this.env.setTimer(Math.min(500, 50 * round), r));
    }
  }
}

function isAddress(x: unknown): x is NodeAddress {
  if (typeof x !== 'object' || x === null) return false;
  const a = x as Record<string, unknown>;
  return (
    typeof a.id === 'string' &&
    typeof a.httpAddress === 'string' &&
    typeof a.peerAddress === 'string'
  );
}
