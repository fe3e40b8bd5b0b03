import type { DeliveryResult, HintStats, HintStore } from '../cluster/hints.js';
import type { ClusterEnv } from '../env/cluster-env.js';
import type { TimerHandle } from '../env/env.js';
import { CountError } from '../model/errors.js';
import type { LivenessSource } from './cluster-view.js';
import { DATA_WRITE, type EpochAnswer } from './data-messages.js';
import type { ReplicaClient } from './replica-client.js';

export interface HintedHandoffOptions {
  /** Pause between two hints replayed to one target (throttle). */
  replayPauseMs: number;
  /** How often targets with hints are checked, in case a liveness event was missed. */
  checkIntervalMs: number;
  /** Hints replayed per target per round; the next round continues. */
  hintsPerRound: number;
}

/**
 * Hinted handoff: a write a replica missed is stored as a durable hint (HintStore) and replayed,
 * throttled, when gossip sees the replica alive again (and on a periodic check). Replays are
 * repair writes: the target accepts them whatever the epoch and however old the points.
 */
export class HintedHandoff {
  /** Set once the store has opened (it loads the index of the hints on disk). */
  private store: HintStore | null = null;
  private timer: TimerHandle | null = null;
  private closed = false;
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    private readonly env: ClusterEnv,
    private readonly opening: Promise<HintStore>,
    private readonly client: ReplicaClient,
    private readonly liveness: LivenessSource,
    private readonly options: HintedHandoffOptions,
    /** Replays hints for this node itself (a local write that failed, e.g. memory pressure). */
    private readonly writeLocal: (batch: Uint8Array) => Promise<void>,
  ) {
    void this.track(
      opening.then((store) => {
        this.store = store;
      }),
    );
    liveness.onLivenessChange((id, state) => {
      if (state === 'alive' && (this.store?.pending(id) ?? 0) > 0) this.replaySoon(id);
    });
    this.schedule();
  }

  /** The store, once open. */
  ready(): Promise<HintStore> {
    return this.opening;
  }

  /** The store's counters (zeros until it has opened). */
  stats(): HintStats & { pending: number } {
    const store = this.store;
    if (store === null) return { stored: 0, replayed: 0, refused: 0, dropped: 0, pending: 0 };
    let pending = 0;
    for (const t of store.targetsWithHints()) pending += store.pending(t);
    return { ...store.stats, pending };
  }

  /** Hints waiting for `target` (0 until the store has opened). */
  pending(target: string): number {
    return this.store?.pending(target) ?? 0;
  }

  /** Stores a hint for `target`; false when its bound refused it (or the store failed). */
  hint(target: string, batch: Uint8Array): Promise<boolean> {
    return this.track(this.opening.then((store) => store.add(target, batch)).catch(() => false));
  }

  /** Replays the hints of `target` now (one replay per target at a time). */
  async replay(target: string): Promise<number> {
    const store = await this.opening;
    return store.replay(target, (payload) => this.deliver(target, payload), {
      pauseMs: this.options.replayPauseMs,
      maxHints: this.options.hintsPerRound,
    });
  }

  /** Drops the hints of a node that left the cluster: nobody will take them. */
  discard(target: string): Promise<void> {
    return this.track(
      this.opening.then(async (store) => {
        if (store.pending(target) > 0) await store.discard(target);
      }),
    );
  }

  /** Waits for the hint writes and replays started so far (tests, shutdown). */
  async settle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  close(): void {
    this.closed = true;
    this.timer?.cancel();
    this.timer = null;
  }

  private replaySoon(target: string): void {
    if (this.closed) return;
    void this.track(this.replay(target).catch(() => 0));
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.running.add(p);
    p.then(
      () => this.running.delete(p),
      () => this.running.delete(p),
    );
    return p;
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = this.env.setTimer(this.options.checkIntervalMs, () => {
      for (const target of this.store?.targetsWithHints() ?? []) {
        if (this.liveness.isAlive(target)) this.replaySoon(target);
      }
      this.schedule();
    });
  }

  private async deliver(target: string, payload: Uint8Array): Promise<DeliveryResult> {
    try {
      if (target === this.env.nodeId) await this.writeLocal(payload);
      else
        await this.client.call<EpochAnswer>(target, DATA_WRITE, { batch: payload, repair: true });
      return 'delivered';
    } catch (e) {
      // A 4xx means the target will never take this batch: replaying it again cannot help.
      if (e instanceof CountError && e.status >= 400 && e.status < 500 && e.code !== 'overloaded') {
        return 'drop';
      }
      return 'retry';
    }
  }
}
