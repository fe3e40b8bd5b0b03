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
  if (v < 2147483648 && k < 31) {
    // common case: quotient, the one bit and the low bits in a single write of q + 1 + k bits
    const q = v >>> k;
    if (q < RICE_ESCAPE && q + 1 + k <= 32) {
      w.writeBits((1 << k) | (v & ((1 << k) - 1)), q + 1 + k);
      return;
    }
  }
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
  return r.readRice(k, RICE_ESCAPE, rawWidth);
}

/** Total bits of values[0..count) under parameter k. */
export function riceCost(values: Float64Array, count: number, k: number, rawWidth: number): number {
  const escaped = RICE_ESCAPE + rawWidth;
  let bits = 0;
  if (rawWidth <= 32 && k < 32) {
    // values below 2^32: v >>> k is the exact quotient
    for (let i = 0; i < count; i++) {
      const q = values[i] >>> k;
      bits += q < RICE_ESCAPE ? q + 1 + k : escaped;
    }
    return bits;
  }
  const scale = 1 / POW2[k];
  for (let i = 0; i < count; i++) {
    const q = Math.floor(values[i] * scale);
    bits += q < RICE_ESCAPE ? q + 1 + k : escaped;
  }
  return bits;
}

export interface RiceChoice {
  k: number;
  bits: number;
}

/**
 * The parameter with the fewest total bits for values[0..count) (each < 2^rawWidth). Tries k
 * around two guesses, log2 of the mean and the mean bit length (which outliers do not drag
 * up), then walks downhill from the best while the cost keeps falling: a few passes instead
 * of trying all of 0..rawWidth.
 */
export function bestRiceParameter(
  values: Float64Array,
  count: number,
  rawWidth: number,
): RiceChoice {
  if (count === 0) return { k: 0, bits: 0 };
  let sum = 0;
  let lengths = 0;
  for (let i = 0; i < count; i++) {
    const v = values[i];
    sum += v;
    lengths += v < 4294967296 ? 32 - Math.clz32(v) : 33;
  }
  const mean = sum / count;
  const maxK = Math.min(rawWidth, 53);
  const byMean = mean < 1 ? 0 : Math.floor(Math.log2(mean));
  const byLength = Math.floor(lengths / count);
  let lo = Math.max(0, Math.min(byMean, byLength) - 2);
  let hi = Math.min(maxK, Math.max(byMean, byLength) + 2);
  let k = lo;
  let bits = riceCost(values, count, k, rawWidth);
  for (let c = lo + 1; c <= hi; c++) {
    const b = riceCost(values, count, c, rawWidth);
    if (b < bits) {
      k = c;
      bits = b;
    }
  }
  while (k === lo && k > 0) {
    const lower = riceCost(values, count, k - 1, rawWidth);
    if (lower > bits) break;
    k--;
    bits = lower;
    lo--;
  }
  while (k === hi && k < maxK) {
    const higher = riceCost(values, count, k + 1, rawWidth);
    if (higher >= bits) break;
    k++;
    bits = higher;
    hi++;
  }
  return { k, bits };
}
