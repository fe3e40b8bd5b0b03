import type { BitReader, BitWriter } from './bit-io.js';

/**
 * Rice code of a non-negative integer v with parameter k: q = floor(v / 2^k) zero bits, a one
 * bit, then the low k bits of v. A quotient of RICE_ESCAPE or more writes RICE_ESCAPE zeros and
 * then v raw in `rawWidth` bits, so an outlier costs a bounded number of bits and a corrupt
 * stream cannot make a reader count zeros for long.
 */
export const RICE_ESCAPE = 24;

const POW2: Float64Array = (() => {
  const p = new Float64Array(54);
  for (let i = 0; i < 54; i++) p[i] = 2 ** i;
  return p;
})();

export function riceBits(v: number, k: number, rawWidth: number): number {
  const q = Math.floor(v / POW2[k]);
  return q < RICE_ESCAPE ? q + 1 + k : RICE_ESCAPE + rawWidth;
}

export function writeRice(w: BitWriter, v: number, k: number, rawWidth: number): void {
  const q = Math.floor(v / POW2[k]);
  if (q < RICE_ESCAPE) {
    w.writeBits(1, q + 1); // q zeros, then a one
    w.writeBitsLong(v - q * POW2[k], k);
  } else {
    w.writeBits(0, RICE_ESCAPE);
    w.writeBitsLong(v, rawWidth);
  }
}

export function readRice(r: BitReader, k: number, rawWidth: number): number {
  const q = r.readZeroRun(RICE_ESCAPE);
  if (q === RICE_ESCAPE) return r.readBitsLong(rawWidth);
  return q * POW2[k] + r.readBitsLong(k);
}

/** Total bits of values[0..count) under parameter k. */
export function riceCost(values: Float64Array, count: number, k: number, rawWidth: number): number {
  const scale = 1 / POW2[k];
  let bits = 0;
  for (let i = 0; i < count; i++) {
    const q = Math.floor(values[i] * scale);
    bits += q < RICE_ESCAPE ? q + 1 + k : RICE_ESCAPE + rawWidth;
  }
  return bits;
}

export interface RiceChoice {
  k: number;
  bits: number;
}

/**
 * The parameter with the fewest total bits for values[0..count) (each < 2^rawWidth). The cost
 * is convex in k in practice, so a walk from the estimate log2(mean) finds the minimum in a
 * few passes instead of trying all of 0..rawWidth.
 */
export function bestRiceParameter(
  values: Float64Array,
  count: number,
  rawWidth: number,
): RiceChoice {
  if (count === 0) return { k: 0, bits: 0 };
  let sum = 0;
  for (let i = 0; i < count; i++) sum += values[i];
  const mean = sum / count;
  const maxK = Math.min(rawWidth, 53);
  let k = Math.min(maxK, mean < 1 ? 0 : Math.floor(Math.log2(mean)));
  let bits = riceCost(values, count, k, rawWidth);
  while (k > 0) {
    const lower = riceCost(values, count, k - 1, rawWidth);
    if (lower > bits) break;
    k--;
    bits = lower;
  }
  while (k < maxK) {
    const higher = riceCost(values, count, k + 1, rawWidth);
    if (higher >= bits) break;
    k++;
    bits = higher;
  }
  return { k, bits };
}
