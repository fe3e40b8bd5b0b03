import { PointBatch } from '../model/batch.js';
import type { Samples } from '../model/point.js';

const bitsA = new Float64Array(1);
const bitsB = new Float64Array(1);
const wordsA = new Uint32Array(bitsA.buffer);
const wordsB = new Uint32Array(bitsB.buffer);

/** Same float64 bit pattern (so NaN payloads and -0 count as values of their own). */
function sameBits(a: number, b: number): boolean {
  bitsA[0] = a;
  bitsB[0] = b;
  return wordsA[0] === wordsB[0] && wordsA[1] === wordsB[1];
}

/**
 * The points of `merged` that `replica` lacks or holds with another value (both sorted, one
 * point per timestamp; `merged` includes `replica`'s points, merged by the convergence rule).
 * Writing them to the replica makes it converge to `merged`, since the convergence rule picks
 * the merged value there too. Used by read repair and anti-entropy.
 */
export function pointsLacking(series: string, merged: Samples, replica: Samples): PointBatch {
  const out = new PointBatch(16);
  const mt = merged.timestamps;
  const rt = replica.timestamps;
  let j = 0;
  let id = -1;
  for (let i = 0; i < mt.length; i++) {
    const t = mt[i];
    while (j < rt.length && rt[j] < t) j++;
    if (j < rt.length && rt[j] === t && sameBits(replica.values[j], merged.values[i])) continue;
    if (id < 0) id = out.seriesId(series);
    out.addById(id, t, merged.values[i]);
  }
  return out;
}
