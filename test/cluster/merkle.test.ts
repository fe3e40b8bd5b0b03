import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  forEachBucketDigest,
  type LeafEntry,
  MerkleTree,
  slotOf,
} from '../../src/cluster/merkle.js';
import type { Samples } from '../../src/model/point.js';
import { mergeSamples } from '../../src/query/merge.js';

const BUCKET = 1000;

/** A replica's writes: parts of (series, sorted samples), in the order they arrived. */
type Part = [string, Samples];

const partArb = fc
  .tuple(
    fc.constantFrom('a', 'b{x="1"}', 'c{x="2"}'),
    fc.array(
      fc.tuple(
        fc.integer({ min: 0, max: 5000 }),
        fc.oneof(fc.double(), fc.constantFrom(0, -0, Number.NaN, 1, 2)),
      ),
      { minLength: 1, maxLength: 20 },
    ),
  )
  .map(([series, pts]): Part => {
    pts.sort((p, q) => p[0] - q[0]);
    return [
      series,
      {
        timestamps: Float64Array.from(pts, (p) => p[0]),
        values: Float64Array.from(pts, (p) => p[1]),
      },
    ];
  });

/** How a replica digests the parts of one series it received, in arrival order. */
type Digest = (
  series: string,
  parts: Samples[],
  emit: (b: number, hi: number, lo: number) => void,
) => void;

/** The real one: digest the converged points (what the engine stores and reads back). */
const realDigest: Digest = (series, parts, emit) =>
  forEachBucketDigest(series, mergeSamples(parts), BUCKET, emit);

/**
 * A planted bug: a hash chain over the points in the order they arrived, without the
 * convergence rule, as a naive incremental implementation would keep it.
 */
const chainedDigest: Digest = (series, parts, emit) => {
  const chain = new Map<number, [number, number]>();
  for (const p of parts) {
    forEachBucketDigest(series, p, 1, (t, hi, lo) => {
      const b = Math.floor(t / BUCKET);
      const [h, l] = chain.get(b) ?? [0, 0];
      chain.set(b, [(Math.imul(h, 31) + hi) >>> 0, (l + lo) >>> 0]);
    });
  }
  for (const [b, [hi, lo]] of chain) emit(b, hi, lo);
};

/** The tree of a replica that applied `parts` in this order. */
function replicaTree(parts: Part[], digest: Digest, depth = 6): MerkleTree {
  const bySeries = new Map<string, Samples[]>();
  for (const [k, s] of parts) bySeries.set(k, [...(bySeries.get(k) ?? []), s]);
  const tree = new MerkleTree(depth);
  // A replica enumerates series in its own order: reverse insertion order here.
  for (const [k, list] of [...bySeries].reverse()) {
    digest(k, list, (b, hi, lo) => tree.add(k, b, hi, lo));
  }
  return tree.build();
}

/** The convergence check: replicas that received the same writes in any order have equal trees. */
function convergenceCounterexample(digest: Digest): unknown {
  const details = fc.check(
    fc.property(
      fc.array(partArb, { minLength: 1, maxLength: 8 }),
      fc.array(fc.nat(), { minLength: 8, maxLength: 8 }),
      (parts, keys) => {
        const order = parts.map((p, i) => [keys[i % keys.length] + i / 100, p] as const);
        const shuffled = order.sort((x, y) => x[0] - y[0]).map(([, p]) => p);
        const a = replicaTree(parts, digest);
        const b = replicaTree(shuffled, digest);
        return a.rootEquals(b) && a.diff(b).length === 0;
      },
    ),
    { numRuns: 200, seed: 42 },
  );
  return details.counterexample;
}

describe('Merkle trees of (series, bucket) digests', () => {
  it('are equal for replicas that converged, whatever order writes arrived in', () => {
    expect(convergenceCounterexample(realDigest)).toBeNull();
  });

  it('the convergence check catches an order-dependent digest (planted bug)', () => {
    expect(convergenceCounterexample(chainedDigest)).not.toBeNull();
  });

  it('name exactly the slot of a changed point, and the slot holds its entry', () => {
    fc.assert(
      fc.property(
        fc.array(partArb, { minLength: 1, maxLength: 6 }),
        fc.nat(),
        fc.double({ noNaN: true }),
        (parts, pick, v) => {
          const a = replicaTree(parts, realDigest);
          const [series, s] = parts[pick % parts.length];
          const i = pick % s.timestamps.length;
          const changed: Samples = { timestamps: s.timestamps, values: s.values.slice() };
          if (Object.is(changed.values[i], v)) return;
          const merged = mergeSamples(parts.filter(([k]) => k === series).map(([, x]) => x));
          // Make the converged value at that timestamp change: add a larger value there.
          const t = s.timestamps[i];
          const j = merged.timestamps.indexOf(t);
          const bigger = Number.isNaN(merged.values[j]) ? 1 : Math.abs(merged.values[j]) * 2 + 1;
          if (!Number.isFinite(bigger)) return;
          const extra: Part = [
            series,
            { timestamps: Float64Array.of(t), values: Float64Array.of(bigger) },
          ];
          const b = replicaTree([...parts, extra], realDigest);
          expect(a.diff(b)).toEqual([slotOf(series, Math.floor(t / BUCKET), 6)]);
          expect(b.diff(a)).toEqual(a.diff(b));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('round-trip through bytes and refuse a diff of different depths', () => {
    const t = new MerkleTree(4);
    t.add('x', 3, 1, 2);
    t.build();
    const back = MerkleTree.fromBytes(4, t.toBytes());
    expect(back.rootEquals(t)).toBe(true);
    expect(() => t.diff(new MerkleTree(5).build())).toThrow(/different depths/);
  });

  it('bucket digests count points per bucket', () => {
    const out: LeafEntry[] = [];
    forEachBucketDigest(
      's',
      { timestamps: Float64Array.of(1, 999, 1000, 5500), values: Float64Array.of(1, 2, 3, 4) },
      BUCKET,
      (bucket, hi, lo, count) => out.push({ series: 's', bucket, hi, lo, count }),
    );
    expect(out.map((e) => [e.bucket, e.count])).toEqual([
      [0, 2],
      [1, 1],
      [5, 1],
    ]);
  });
});
