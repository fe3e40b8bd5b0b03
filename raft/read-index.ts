import type { Index, NodeId, ReadState } from './types.js';

interface PendingRead {
  readonly ctx: string;
  readonly index: Index;
  readonly acks: Set<NodeId>;
}

/**
 * The leader's ReadIndex rounds in flight (etcd's readOnly): each remembers the commit index
 * at the time of the request and which voters answered the heartbeat that carried its ctx.
 * Bounded by `capacity`; dropped whole when leadership is lost.
 */
export class ReadIndexQueue {
  private reads: PendingRead[] = [];

  constructor(private readonly capacity: number) {}

  get length(): number {
    return this.reads.length;
  }

  isFull(): boolean {
    return this.reads.length >= this.capacity;
  }

  add(ctx: string, index: Index, self: NodeId): void {
    this.reads.push({ ctx, index, acks: new Set([self]) });
  }

  /**
   * Records a voter's answer for `ctx`. When a quorum has answered, that round and every
   * earlier one are confirmed (a quorum still followed this leader after they were taken).
   */
  ack(ctx: string, from: NodeId, quorum: number): ReadState[] {
    const i = this.reads.findIndex((r) => r.ctx === ctx);
    if (i < 0) return [];
    const read = this.reads[i];
    read.acks.add(from);
    if (read.acks.size < quorum) return [];
    return this.reads.splice(0, i + 1).map((r) => ({ ctx: r.ctx, index: r.index }));
  }

  clear(): void {
    this.reads = [];
  }
}
