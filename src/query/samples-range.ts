import type { Samples } from '../model/point.js';

/** First index i in sorted `ts[0, length)` with ts[i] >= t. */
export function lowerBound(ts: Float64Array, length: number, t: number): number {
  let lo = 0;
  let hi = length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ts[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The part of sorted samples with start <= t < end, as views (no copy). */
export function sliceSamples(s: Samples, start: number, end: number): Samples {
  const n = s.timestamps.length;
  const a = lowerBound(s.timestamps, n, start);
  const b = lowerBound(s.timestamps, n, end);
  if (a === 0 && b === n) return s;
  return { timestamps: s.timestamps.subarray(a, b), values: s.values.subarray(a, b) };
}
