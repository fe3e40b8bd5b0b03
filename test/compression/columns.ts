import fc from 'fast-check';
import { HI, LO } from '../../src/compression/float-words.js';

/**
 * fast-check arbitraries for codec tests. Values are built from raw 32-bit words and compared
 * as words, so a NaN payload or the sign of zero can never be lost in the test itself.
 */

export const MAX_TS = 2 ** 53 - 1;

type Pair = readonly [hi: number, lo: number];

const word = fc.integer({ min: 0, max: 0xffffffff });

/** Bit patterns the codecs must keep exactly. */
export const SPECIAL_PAIRS: readonly Pair[] = [
  [0x80000000, 0], // -0
  [0, 0], // +0
  [0x7ff00000, 0], // +Infinity
  [0xfff00000, 0], // -Infinity
  [0x7ff80000, 0], // the canonical quiet NaN
  [0x7ff00000, 1], // a signalling NaN
  [0xfff80000, 0xdeadbeef], // a negative quiet NaN with a payload
  [0x7fffffff, 0xffffffff], // NaN, all payload bits set
  [0, 1], // smallest subnormal
  [0x800fffff, 0xffffffff], // largest negative subnormal
  [0x00100000, 0], // smallest normal
  [0x7fefffff, 0xffffffff], // largest finite
];

const anyPair: fc.Arbitrary<Pair> = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(word, word) },
  { weight: 1, arbitrary: fc.constantFrom(...SPECIAL_PAIRS) },
  // small perturbations of a few values: the XOR codec's window reuse
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(0x40590000, 0xc0590000), fc.nat(255)) },
);

export function columnFromPairs(pairs: readonly Pair[]): Float64Array {
  const out = new Float64Array(pairs.length);
  const w = new Uint32Array(out.buffer);
  pairs.forEach(([hi, lo], i) => {
    w[2 * i + HI] = hi;
    w[2 * i + LO] = lo;
  });
  return out;
}

/** The column's bit patterns as hex strings, for exact comparison with readable diffs. */
export function bitsOf(column: Float64Array, start = 0, end = column.length): string[] {
  const w = new Uint32Array(column.buffer, column.byteOffset, column.length * 2);
  const out: string[] = [];
  for (let i = start; i < end; i++) {
    out.push(`${w[2 * i + HI].toString(16)}:${w[2 * i + LO].toString(16)}`);
  }
  return out;
}

/** Arbitrary float64 bit patterns, specials mixed in. */
export function anyBitsColumn(n: number): fc.Arbitrary<Float64Array> {
  return fc.array(anyPair, { minLength: n, maxLength: n }).map(columnFromPairs);
}

/** Decimals with 0..4 digits: a random walk of scaled integers, some big, some negative. */
export function decimalColumn(n: number): fc.Arbitrary<Float64Array> {
  return fc
    .tuple(
      fc.integer({ min: 0, max: 4 }),
      fc.integer({ min: -1e9, max: 1e9 }),
      fc.array(fc.integer({ min: -100_000, max: 100_000 }), { minLength: n, maxLength: n }),
      fc.constantFrom(1, 1, 5, 25, 1024), // steps with a common divisor
    )
    .map(([scale, start, steps, factor]) => {
      const p = 10 ** scale;
      let m = start;
      return Float64Array.from(steps, (s) => {
        m += s * factor;
        return m / p;
      });
    });
}

/** Few distinct values in runs, sometimes one value (a constant). */
export function runsColumn(n: number): fc.Arbitrary<Float64Array> {
  return fc
    .tuple(fc.array(anyPair, { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 50 }))
    .map(([distinct, runLength]) =>
      columnFromPairs(
        Array.from({ length: n }, (_, i) => distinct[Math.floor(i / runLength) % distinct.length]),
      ),
    );
}

export function valueColumn(n: number): fc.Arbitrary<Float64Array> {
  return fc.oneof(anyBitsColumn(n), decimalColumn(n), runsColumn(n));
}

/** Random distinct timestamps anywhere in [0, 2^53), sometimes including 0 and 2^53 - 1. */
function scatteredTimestamps(n: number): fc.Arbitrary<Float64Array> {
  return fc
    .tuple(
      fc.uniqueArray(fc.maxSafeNat(), { minLength: n, maxLength: n }),
      fc.boolean(),
      fc.boolean(),
    )
    .map(([ts, withZero, withMax]) => {
      const sorted = Float64Array.from(ts).sort();
      // the smallest and the largest can move to the extremes and stay distinct
      if (withZero) sorted[0] = 0;
      if (withMax) sorted[n - 1] = MAX_TS;
      return sorted;
    });
}

/** A regular interval with jitter and an occasional big gap, anchored at 0 or 2^53 - 1. */
function regularTimestamps(n: number): fc.Arbitrary<Float64Array> {
  return fc
    .record({
      interval: fc.integer({ min: 1, max: 100_000 }),
      jitter: fc.array(fc.integer({ min: -49_999, max: 49_999 }), { minLength: n, maxLength: n }),
      jitterEvery: fc.integer({ min: 1, max: 60 }),
      gapAt: fc.integer({ min: 0, max: n }),
      gap: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2 ** 40 })),
      anchor: fc.constantFrom('zero', 'max', 'epoch'),
    })
    .map(({ interval, jitter, jitterEvery, gapAt, gap, anchor }) => {
      const limit = Math.floor((interval - 1) / 2); // keeps jittered points ascending
      const ts = new Float64Array(n);
      let extra = 0;
      for (let i = 0; i < n; i++) {
        if (i === gapAt) extra = gap;
        const j = i % jitterEvery === 0 ? Math.max(-limit, Math.min(limit, jitter[i])) : 0;
        ts[i] = i * interval + j + limit + extra;
      }
      const shift =
        anchor === 'zero' ? -ts[0] : anchor === 'max' ? MAX_TS - ts[n - 1] : 1_767_225_600_000;
      for (let i = 0; i < n; i++) ts[i] += shift;
      return ts;
    });
}

export function timestampColumn(n: number): fc.Arbitrary<Float64Array> {
  return fc.oneof(scatteredTimestamps(n), regularTimestamps(n));
}

export interface Columns {
  timestamps: Float64Array;
  values: Float64Array;
}

export function columns(maxLength: number): fc.Arbitrary<Columns> {
  return fc
    .integer({ min: 1, max: maxLength })
    .chain((n) => fc.record({ timestamps: timestampColumn(n), values: valueColumn(n) }));
}
