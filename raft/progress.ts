import { assert } from './assert.js';
import type { Index, Snapshot } from './types.js';

/**
 * What the leader knows about one follower's log, as in etcd's tracker.Progress:
 * - probe: one AppendEntries at a time until the follower's match point is found;
 * - replicate: appends stream optimistically, at most `maxInflight` messages in flight;
 * - snapshot: InstallSnapshot chunks go out one at a time until the follower has it all.
 */
export class FollowerProgress {
  match: Index = 0;
  next: Index;
  state: 'probe' | 'replicate' | 'snapshot' = 'probe';
  /** Probe state: an append was sent and no answer came yet. */
  probeSent = false;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** Snapshot state: the snapshot being sent and the first byte not yet acknowledged. */
  snapshot: Snapshot | null = null;
  snapshotOffset = 0;
  /** Snapshot state: a chunk is in flight. */
  snapshotSent = false;
  /** Snapshot state: heartbeat answers since the last chunk went out. */
  snapshotStall = 0;
  /** Last index of each append in flight, oldest first (a bounded ring). */
  private readonly inflight: Int32Array;
  private inflightStart = 0;
  private inflightCount = 0;

  constructor(
    next: Index,
    readonly maxInflight: number,
    public learner: boolean,
  ) {
    assert(maxInflight >= 1, 'maxInflight must be at least 1');
    this.next = next;
    this.inflight = new Int32Array(maxInflight);
  }

  becomeProbe(): void {
    if (this.state === 'snapshot' && this.snapshot !== null) {
      const pending = this.snapshot.meta.index;
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.next = this.match + 1;
    }
    this.state = 'probe';
    this.resetState();
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.resetState();
  }

  becomeSnapshot(snapshot: Snapshot): void {
    this.state = 'snapshot';
    this.resetState();
    this.snapshot = snapshot;
  }

  private resetState(): void {
    this.probeSent = false;
    this.snapshot = null;
    this.snapshotOffset = 0;
    this.snapshotSent = false;
    this.snapshotStall = 0;
    this.inflightStart = 0;
    this.inflightCount = 0;
  }

  /** An append was acknowledged up to `index`; false if it tells nothing new. */
  maybeUpdate(index: Index): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * The follower rejected an append at `rejected`; `matchHint` is where the leader's log
   * may match it. False when the rejection is stale (an answer to an older message).
   */
  maybeDecrTo(rejected: Index, matchHint: Index): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflightCount >= this.maxInflight;
      case 'snapshot':
        return true;
    }
  }

  /** Records an append whose last entry is `last` (replicate state) and moves `next` past it. */
  sentEntries(last: Index): void {
    if (this.state === 'replicate') {
      this.next = last + 1;
      assert(this.inflightCount < this.maxInflight, 'progress: inflight window overflow');
      this.inflight[(this.inflightStart + this.inflightCount) % this.maxInflight] = last;
      this.inflightCount++;
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  /** Frees the inflight slots of appends up to `index` (acknowledged). */
  freeLE(index: Index): void {
    while (this.inflightCount > 0 && this.inflight[this.inflightStart] <= index) {
      this.inflightStart = (this.inflightStart + 1) % this.maxInflight;
      this.inflightCount--;
    }
  }

  /** A heartbeat answer shows the follower is alive: let one more message through. */
  freeFirstOne(): void {
    if (this.inflightCount > 0) {
      this.inflightStart = (this.inflightStart + 1) % this.maxInflight;
      this.inflightCount--;
    }
  }

  inflightLength(): number {
    return this.inflightCount;
  }
}
