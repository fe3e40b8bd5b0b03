import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BitReader, BitWriter, bitLength } from '../../src/compression/bit-io.js';
import {
  bestRiceParameter,
  readRice,
  riceBits,
  riceCost,
  writeRice,
} from '../../src/compression/rice.js';

describe('Rice code with escape', () => {
  it('round-trips values up to 2^53 - 1 for any parameter, at the size riceBits says', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.nat(5000), fc.maxSafeNat()), { minLength: 1, maxLength: 100 }),
        fc.integer({ min: 0, max: 53 }),
        (values, kRaw) => {
          const rawWidth = Math.max(...values.map(bitLength));
          const k = Math.min(kRaw, rawWidth);
          const w = new BitWriter(16);
          let bits = 0;
          for (const v of values) {
            writeRice(w, v, k, rawWidth);
            bits += riceBits(v, k, rawWidth);
          }
          expect(w.bitLength).toBe(bits);
          expect(riceCost(Float64Array.from(values), values.length, k, rawWidth)).toBe(bits);
          const r = new BitReader();
          r.reset(w.toBytes());
          for (const v of values) expect(readRice(r, k, rawWidth)).toBe(v);
          r.finish();
        },
      ),
    );
  });

  const exhaustive = (col: Float64Array, rawWidth: number) => {
    let best = Number.POSITIVE_INFINITY;
    for (let k = 0; k <= rawWidth; k++)
      best = Math.min(best, riceCost(col, col.length, k, rawWidth));
    return best;
  };

  it('picks the parameter with the fewest bits for one-peaked data', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 30 }),
        fc.integer({ min: 20, max: 2000 }),
        fc.constantFrom('exponential', 'uniform'),
        (scaleBits, n, shape) => {
          // the quantiles of the distribution: a sample with exactly its shape
          const col = Float64Array.from({ length: n }, (_, i) => {
            const u = (i + 0.5) / n;
            const x = shape === 'exponential' ? -Math.log1p(-u) : u;
            return Math.floor(x * 2 ** scaleBits);
          });
          const rawWidth = Math.max(...Array.from(col, bitLength));
          const choice = bestRiceParameter(col, col.length, rawWidth);
          expect(choice.bits).toBe(exhaustive(col, rawWidth));
          expect(choice.bits).toBe(riceCost(col, col.length, choice.k, rawWidth));
        },
      ),
    );
  });

  it('stays near the best parameter when outliers make the cost two-peaked', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.nat(100), fc.nat(1 << 16)), { minLength: 1, maxLength: 200 }),
        (values) => {
          const col = Float64Array.from(values);
          const rawWidth = Math.max(...values.map(bitLength));
          const best = exhaustive(col, rawWidth);
          const choice = bestRiceParameter(col, col.length, rawWidth);
          expect(choice.bits).toBeLessThanOrEqual(Math.max(best * 1.1, best + 8));
        },
      ),
      { numRuns: 500 },
    );
  });
});
