import type { ClusterEnv } from '../env/cluster-env.js';
import type { StorageEngine } from '../storage/engine.js';
import { ALL_SERIES } from './anti-entropy.js';
import type { ClusterState, RangeBounds } from './cluster-state.js';
import { isOwner } from './cluster-state.js';
import type { MetadataView } from './metadata.js';
import { changedRanges, rangeContains, tokenOf } from './ring.js';

/**
 * After an operation finishes, the old owners of the moved ranges drop their copies: a node
 * that stopped being a replica of a range deletes the series of that range, after a grace
 * delay (coordinators still on the previous epoch are refused as stale and catch up meanwhile).
 * At drop time each series is checked against the ring of that moment, so a range that came
 * back (a node rejoined, a later operation) is never dropped.
 */

/** Ranges `self` was a replica of in `prev` and is not in `next`. */
export function rangesLost(prev: ClusterState, next: ClusterState, self: string): RangeBounds[] {
  const before = Object.values(prev.nodes).filter(isOwner);
  const after = Object.values(next.nodes).filter(isOwner);
  return changedRanges(before, after, next.rf)
    .filter((m) => m.from.includes(self) && !m.to.includes(self))
    .map((m) => m.range);
}

export interface RangeCleanupOptions {
  readonly delayMs: number;
  /** Ranges waiting to be dropped; past it the oldest are forgotten (anti-entropy never re-adds them). */
  readonly maxPending: number;
}

export const DEFAULT_RANGE_CLEANUP_OPTIONS: RangeCleanupOptions = {
  delayMs: 60_000,
  maxPending: 4096,
};

export class RangeCleanup {
  private readonly opts: RangeCleanupOptions;
  private prev: ClusterState;
  private readonly pending: RangeBounds[] = [];
  private timer: { cancel(): void } | null = null;
  private running = false;
  private stopped = false;
  /** Series deleted so far (for stats and tests). */
  dropped = 0;

  constructor(
    private readonly env: ClusterEnv,
    private readonly metadata: MetadataView,
    private readonly engine: Pick<StorageEngine, 'select' | 'deleteSeries'>,
    options: Partial<RangeCleanupOptions> = {},
  ) {
    this.opts = { ...DEFAULT_RANGE_CLEANUP_OPTIONS, ...options };
    this.prev = metadata.state();
  }

  start(): void {
    this.metadata.onChange((next) => {
      if (this.stopped) return;
      // A node that has not held any state yet (epoch 0) had no ranges to lose.
      const lost = this.prev.epoch === 0 ? [] : rangesLost(this.prev, next, this.env.nodeId);
      this.prev = next;
      if (lost.length === 0) return;
      for (const r of lost) {
        if (this.pending.length >= this.opts.maxPending) this.pending.shift();
        this.pending.push(r);
      }
      this.schedule();
    });
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = null;
  }

  private schedule(): void {
    if (this.timer !== null || this.running || this.stopped) return;
    this.timer = this.env.setTimer(this.opts.delayMs, () => {
      this.timer = null;
      void this.drain();
    });
  }

  /** Deletes the series of the pending ranges that this node does not replicate now. */
  async drain(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    let n = 0;
    try {
      const ranges = this.pending.splice(0);
      if (ranges.length === 0) return 0;
      const self = this.env.nodeId;
      for (const key of await this.engine.select(ALL_SERIES)) {
        const t = tokenOf(key);
        if (!ranges.some((r) => rangeContains(r, t))) continue;
        // The ring of this moment, not of the drain's start: a later operation applied while
        // the drain runs may make this node a write replica again (data streams in).
        if (this.metadata.ring().writeReplicas(t).includes(self)) continue;
        if (await this.engine.deleteSeries(key)) n++;
      }
      this.dropped += n;
      return n;
    } finally {
      this.running = false;
      if (this.pending.length > 0) this.schedule();
    }
  }
}
