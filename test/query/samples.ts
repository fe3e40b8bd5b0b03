import type { Samples } from '../../src/model/point.js';

/** Samples from (t, v) pairs in any order; of points sharing a timestamp the first is kept. */
export const samples = (pts: [number, number][]): Samples => {
  const sorted = [...pts].sort((a, b) => a[0] - b[0]);
  const dedup = sorted.filter((p, i) => i === 0 || p[0] !== sorted[i - 1][0]);
  return {
    timestamps: Float64Array.from(dedup.map((p) => p[0])),
    values: Float64Array.from(dedup.map((p) => p[1])),
  };
};

/** The values at timestamps 0, 1, 2, ... */
export const values = (xs: number[]) => samples(xs.map((x, i) => [i, x] as [number, number]));
