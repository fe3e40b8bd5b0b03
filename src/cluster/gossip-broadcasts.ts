import { assert } from '../model/assert.js';
import type { MemberRecord } from './gossip-messages.js';

interface Pending {
  record: MemberRecord;
  transmits: number;
  /** Enqueue order: among equally transmitted records, the newest goes first. */
  order: number;
}

/**
 * The piggyback queue of SWIM's infection-style dissemination. It holds at most one record per
 * member (a newer record about a member replaces the pending one, as memberlist invalidates
 * broadcasts by node name), so its size is bounded by the member count and by `capacity`.
 * Each record is sent at most `limit` times (lambda * log(n), given by the caller), least
 * transmitted first, which spreads a fresh update to every node in O(log n) gossip rounds.
 */
export class BroadcastQueue {
  private readonly pending = new Map<string, Pending>();
  private nextOrder = 0;
  /** Records discarded because the queue was full (should stay 0 below `capacity` members). */
  dropped = 0;

  constructor(readonly capacity: number) {
    assert(Number.isInteger(capacity) && capacity > 0, 'BroadcastQueue: capacity must be > 0');
  }

  get size(): number {
    return this.pending.size;
  }

  /** Queues `record`, replacing any pending record about the same member. */
  enqueue(record: MemberRecord): void {
    const existing = this.pending.get(record.id);
    if (existing === undefined && this.pending.size >= this.capacity) this.evictMostSent();
    this.pending.set(record.id, { record, transmits: 0, order: this.nextOrder++ });
  }

  remove(id: string): void {
    this.pending.delete(id);
  }

  /**
   * Up to `max` records to piggyback on one message, least transmitted (then newest) first.
   * Each counts as one transmission; a record sent `limit` times leaves the queue.
   */
  take(max: number, limit: number): MemberRecord[] {
    assert(limit >= 1, 'BroadcastQueue.take: limit must be >= 1');
    if (max <= 0 || this.pending.size === 0) return [];
    const all = [...this.pending.values()];
    all.sort((a, b) => a.transmits - b.transmits || b.order - a.order);
    const out: MemberRecord[] = [];
    for (let i = 0; i < all.length && out.length < max; i++) {
      const p = all[i];
      out.push(p.record);
      p.transmits++;
      if (p.transmits >= limit) this.pending.delete(p.record.id);
    }
    return out;
  }

  private evictMostSent(): void {
    let victim: Pending | null = null;
    for (const p of this.pending.values()) {
      if (
        victim === null ||
        p.transmits > victim.transmits ||
        (p.transmits === victim.transmits && p.order < victim.order)
      ) {
        victim = p;
      }
    }
    if (victim !== null) {
      this.pending.delete(victim.record.id);
      this.dropped++;
    }
  }
}
