import { createHash } from 'node:crypto';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';
import { assert } from '../src/model/assert.js';

/**
 * A seeded random stream. Every source of chance in the simulator (network delays, faults,
 * the workload, each node's Raft election jitter) draws from its own stream derived from the
 * seed and a purpose name, so adding a draw to one purpose never shifts the others: a change
 * to the workload does not change which messages the network drops.
 */
export class SimRandom {
  private readonly rng: RandomGenerator;

  constructor(seed: number) {
    this.rng = xoroshiro128plus(seed | 0);
  }

  /** Independent stream for `purpose`, a pure function of (seed, purpose). */
  static stream(seed: number, purpose: string): SimRandom {
    const digest = createHash('sha256').update(`${seed}\u0000${purpose}`).digest();
    return new SimRandom(digest.readInt32LE(0));
  }

  /** Uniform in [0, 1). */
  next(): number {
    return uniformFloat64(this.rng);
  }

  /** Uniform integer in [lo, hi], both included. */
  int(lo: number, hi: number): number {
    assert(Number.isInteger(lo) && Number.isInteger(hi) && lo <= hi, 'SimRandom.int: bad range');
    return uniformInt(this.rng, lo, hi);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, 'SimRandom.pick: empty list');
    return items[this.int(0, items.length - 1)];
  }

  /** Fisher-Yates shuffle of a copy. */
  shuffled<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      const t = out[i];
      out[i] = out[j];
      out[j] = t;
    }
    return out;
  }
}
