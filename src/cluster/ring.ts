import { createHash } from 'node:crypto';
import { assert } from '../model/assert.js';
import type { ClusterState, NodeInfo, RangeBounds, Token } from './cluster-state.js';
import { isOwner } from './cluster-state.js';

/**
 * The token ring: a series' token is the first 8 bytes of SHA-256 of its canonical key; each
 * owner holds virtual-node tokens; the replicas of a token are the first rf distinct nodes
 * clockwise from it. During a started join or leave, writes also go to the pending owners; once
 * the operation is at its `mid` step, reads go to the new owners and writes still go to both.
 */

export interface TokenRange extends RangeBounds {
  /** The read replicas, primary first (the new owners from the `mid` step on). */
  readonly replicas: readonly string[];
  /** Old plus new owners during a started operation (the write replicas). */
  readonly writeReplicas: readonly string[];
}

export const MIN_TOKEN: Token = '0000000000000000';
export const MAX_TOKEN: Token = 'ffffffffffffffff';

/** First 8 bytes of SHA-256 of the canonical series key, as 16 hex chars. */
export function tokenOf(seriesKey: string): Token {
  return createHash('sha256').update(seriesKey).digest('hex').slice(0, 16);
}

/** One ring of owners: sorted tokens and, per token, the replicas of the range it ends. */
class OwnerRing {
  readonly tokens: Token[];
  readonly replicas: string[][];

  constructor(nodes: readonly NodeInfo[], rf: number) {
    const pairs: [Token, string][] = [];
    for (const n of nodes) for (const t of n.tokens) pairs.push([t, n.id]);
    pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    this.tokens = pairs.map((p) => p[0]);
    const distinct = new Set(nodes.map((n) => n.id)).size;
    const want = Math.min(rf, distinct);
    this.replicas = new Array(pairs.length);
    for (let i = 0; i < pairs.length; i++) {
      const reps: string[] = [];
      // Bounded: the walk ends after one full turn, and stops at `want` distinct nodes.
      for (let j = 0; j < pairs.length && reps.length < want; j++) {
        const owner = pairs[(i + j) % pairs.length][1];
        if (!reps.includes(owner)) reps.push(owner);
      }
      this.replicas[i] = reps;
    }
  }

  /** Index of the token ending the range that holds `token`. */
  indexOf(token: Token): number {
    const ts = this.tokens;
    let lo = 0;
    let hi = ts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ts[mid] < token) lo = mid + 1;
      else hi = mid;
    }
    return lo === ts.length ? 0 : lo;
  }

  replicasOf(token: Token): readonly string[] {
    return this.tokens.length === 0 ? [] : this.replicas[this.indexOf(token)];
  }
}

/** The owners once the operation in flight has finished (the node joined, or left). */
export function ownersAfter(state: ClusterState): NodeInfo[] {
  const op = state.operation;
  const out: NodeInfo[] = [];
  for (const n of Object.values(state.nodes)) {
    if (op !== null && n.id === op.node) {
      if (op.kind === 'join') out.push({ ...n, state: 'normal' });
    } else if (isOwner(n)) {
      out.push(n);
    }
  }
  return out;
}

export class Ring {
  readonly epoch: number;
  readonly rf: number;
  private readonly owners: OwnerRing;
  /** The ring after the operation, when it is started (pending owners receive writes). */
  private readonly pending: OwnerRing | null;
  /** Where reads go: the current owners, or the ring after the operation from `mid` on. */
  private readonly reads: OwnerRing;
  /** Where writes go besides `reads`: the other ring while an operation is started or mid. */
  private readonly otherWrites: OwnerRing | null;
  private rangeList: TokenRange[] | null = null;

  private constructor(state: ClusterState) {
    this.epoch = state.epoch;
    this.rf = state.rf;
    const nodes = Object.values(state.nodes).filter(isOwner);
    this.owners = new OwnerRing(nodes, state.rf);
    const op = state.operation;
    this.pending =
      op !== null && op.step !== 'prepared' ? new OwnerRing(ownersAfter(state), state.rf) : null;
    const readNew = op !== null && op.step === 'mid' && this.pending !== null;
    this.reads = readNew ? this.pending! : this.owners;
    this.otherWrites = readNew ? this.owners : this.pending;
  }

  static from(state: ClusterState): Ring {
    return new Ring(state);
  }

  /**
   * The read replicas of `token`: the first rf distinct 'normal'/'leaving' nodes clockwise, or,
   * from the `mid` step of an operation on, those of the ring after it.
   */
  readReplicas(token: Token): string[] {
    return [...this.reads.replicasOf(token)];
  }

  /** The read replicas, then the other ring's (old or new owners) during an operation. */
  writeReplicas(token: Token): string[] {
    const reps = [...this.reads.replicasOf(token)];
    if (this.otherWrites !== null) {
      for (const id of this.otherWrites.replicasOf(token)) if (!reps.includes(id)) reps.push(id);
    }
    return reps;
  }

  /** Ranges covering the ring, in token order; the first one wraps around. */
  ranges(): TokenRange[] {
    if (this.rangeList === null) this.rangeList = this.computeRanges();
    return this.rangeList;
  }

  private computeRanges(): TokenRange[] {
    const bounds = new Set<Token>(this.owners.tokens);
    if (this.pending !== null) for (const t of this.pending.tokens) bounds.add(t);
    const ends = [...bounds].sort();
    if (ends.length === 0) return [];
    const out: TokenRange[] = [];
    for (let i = 0; i < ends.length; i++) {
      const end = ends[i];
      const start = ends[(i + ends.length - 1) % ends.length];
      out.push({
        start,
        end,
        replicas: this.readReplicas(end),
        writeReplicas: this.writeReplicas(end),
      });
    }
    return out;
  }

  /** The range of ranges() that holds `token`. */
  rangeOf(token: Token): TokenRange {
    const ranges = this.ranges();
    assert(ranges.length > 0, 'rangeOf on an empty ring');
    let lo = 0;
    let hi = ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ranges[mid].end < token) lo = mid + 1;
      else hi = mid;
    }
    return ranges[lo === ranges.length ? 0 : lo];
  }

  /** True when the ring has no owners (no data can be placed). */
  isEmpty(): boolean {
    return this.reads.tokens.length === 0;
  }
}

/** Whether `token` lies in the range (start, end] (wrapping past the top of the ring). */
export function rangeContains(range: RangeBounds, token: Token): boolean {
  if (range.start < range.end) return token > range.start && token <= range.end;
  // Wrapping range, or the whole ring when start === end.
  return token > range.start || token <= range.end;
}

/**
 * Ranges (over the union of both rings' tokens) whose read replicas differ between `before` and
 * `after`: what an operation moves, and so what it locks and streams.
 */
export function changedRanges(
  before: readonly NodeInfo[],
  after: readonly NodeInfo[],
  rf: number,
): { range: RangeBounds; from: readonly string[]; to: readonly string[] }[] {
  const a = new OwnerRing(before, rf);
  const b = new OwnerRing(after, rf);
  const ends = [...new Set<Token>([...a.tokens, ...b.tokens])].sort();
  const out: { range: RangeBounds; from: readonly string[]; to: readonly string[] }[] = [];
  for (let i = 0; i < ends.length; i++) {
    const end = ends[i];
    const from = a.replicasOf(end);
    const to = b.replicasOf(end);
    if (from.length === to.length && from.every((id) => to.includes(id))) continue;
    out.push({ range: { start: ends[(i + ends.length - 1) % ends.length], end }, from, to });
  }
  return out;
}
