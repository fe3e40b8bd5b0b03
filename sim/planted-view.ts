import type { ClusterState, NodeInfo } from '../src/cluster/cluster-state.js';
import type { ClusterMetadata, MetadataView } from '../src/cluster/metadata.js';
import { Ring } from '../src/cluster/ring.js';
import type { Env } from '../src/env/env.js';

/**
 * The MetadataView a simulated node's data plane, gossip and checkers read: ClusterMetadata's
 * own view, or, with a planted bug, a wrong one (to show the epoch checkers catch it):
 * - 'epoch-regress': after adopting a new state, the view sometimes falls back to the state
 *   it held before, until the next change (an older state adopted over a newer one);
 * - 'early-owner': while a join or decommission is streaming (step 'started'), the ring already
 *   treats the joining node as an owner and the leaving one as gone (reads switched before the
 *   data streamed, outside the mid step).
 */
export type PlantedViewBug = 'epoch-regress' | 'early-owner';

/** Chance that 'epoch-regress' falls back after a change. */
const REGRESS_CHANCE = 0.3;

export class SimMetadataView implements MetadataView {
  private current: ClusterState;
  private ringOf: { state: ClusterState; ring: Ring } | null = null;
  private readonly listeners: ((state: ClusterState) => void)[] = [];

  constructor(
    private readonly inner: ClusterMetadata,
    private readonly bugs: ReadonlySet<PlantedViewBug>,
    private readonly env: Env,
  ) {
    this.current = inner.state();
    inner.onChange((next) => {
      const before = this.current;
      this.adopt(next);
      if (
        this.bugs.has('epoch-regress') &&
        before.epoch > 0 &&
        before.epoch < next.epoch &&
        this.env.random() < REGRESS_CHANCE
      ) {
        this.adopt(before);
      }
    });
  }

  private adopt(state: ClusterState): void {
    this.current = state;
    for (const l of this.listeners) l(state);
  }

  state(): ClusterState {
    return this.current;
  }

  epoch(): number {
    return this.current.epoch;
  }

  ring(): Ring {
    const state = this.current;
    if (this.ringOf?.state !== state) {
      const promoted = this.bugs.has('early-owner') ? promotePending(state) : state;
      this.ringOf = { state, ring: Ring.from(promoted) };
    }
    return this.ringOf.ring;
  }

  onChange(listener: (state: ClusterState) => void): void {
    this.listeners.push(listener);
  }

  async catchUp(epoch: number, hintPeer?: string): Promise<void> {
    await this.inner.catchUp(epoch, hintPeer);
  }
}

/** The state as if the started operation had finished (the 'early-owner' bug). */
function promotePending(state: ClusterState): ClusterState {
  const op = state.operation;
  if (op === null || op.step !== 'started') return state;
  const node = state.nodes[op.node];
  const after: NodeInfo = { ...node, state: op.kind === 'join' ? 'normal' : 'left' };
  return { ...state, operation: null, nodes: { ...state.nodes, [op.node]: after } };
}
