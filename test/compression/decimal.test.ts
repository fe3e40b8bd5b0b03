import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BitReader, BitWriter } from '../../src/compression/bit-io.js';
import {
  decimalScale,
  decodeDecimal,
  encodeDecimal,
  planDecimal,
} from '../../src/compression/decimal.js';
import { anyBitsColumn, bitsOf, decimalColumn } from './columns.js';

function encode(values: Float64Array): BitWriter | null {
  const plan = planDecimal(values, 0, values.length);
  if (plan === null) return null;
  const w = new BitWriter(16);
  encodeDecimal(w, values, 0, values.length, plan);
  expect(w.bitLength).toBe(plan.bits);
  return w;
}

function decode(w: BitWriter, n: number): Float64Array {
  const r = new BitReader();
  r.reset(w.toBytes());
  const out = new Float64Array(n);
  decodeDecimal(r, out, 0, n);
  r.finish();
  return out;
}

describe('decimal codec', () => {
  it('round-trips every column it accepts, bit for bit, at the planned size', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }).chain((n) => fc.oneof(decimalColumn(n), anyBitsColumn(n))),
        (values) => {
          const w = encode(values);
          if (w === null) return;
          expect(bitsOf(decode(w, values.length))).toEqual(bitsOf(values));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('accepts every decimal random walk, at the smallest scale', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }).chain((n) => decimalColumn(n)),
        (values) => {
          const scale = decimalScale(values, 0, values.length);
          expect(scale).toBeGreaterThanOrEqual(0);
          expect(scale).toBeLessThanOrEqual(4);
          if (scale > 0) {
            const p = 10 ** (scale - 1);
            expect(values.every((v) => Object.is(Math.round(v * p) / p, v))).toBe(false);
          }
        },
      ),
    );
  });

  it('refuses -0, NaN, infinities and values with too many digits', () => {
    for (const bad of [-0, Number.NaN, Number.POSITIVE_INFINITY, 0.1 + 0.2, 2 ** 60, 5e-324]) {
      expect(decimalScale(Float64Array.from([1, bad]), 0, 2)).toBe(-1);
    }
    expect(decimalScale(Float64Array.from([1, 2.5, -3.25]), 0, 3)).toBe(2);
    expect(decimalScale(Float64Array.from([100, 0, -7]), 0, 3)).toBe(0);
  });

  it('packs uniform increments near their entropy and random-walk deltas with Rice codes', () => {
    // counter: increments uniform over 0..50 (entropy log2(51) = 5.67 bits)
    let c = 1000;
    const counter = Float64Array.from({ length: 5000 }, (_, i) => (c += (i * 7919) % 51));
    expect(encode(counter)!.bitLength / 5000).toBeLessThan(5.8);
    // constant increment: zero bits per point
    const linear = Float64Array.from({ length: 1000 }, (_, i) => 5 + 0.25 * i);
    expect(encode(linear)!.bitLength).toBeLessThan(64);
    expect(bitsOf(decode(encode(linear)!, 1000))).toEqual(bitsOf(linear));
  });

  it('divides the deltas by their common divisor', () => {
    // a random walk in steps of 0.25 costs what the same walk in steps of 1 costs
    let x = 12345;
    const steps = Array.from({ length: 2000 }, () => {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      return (x % 41) - 20;
    });
    const units = new Float64Array(2000);
    const quarters = new Float64Array(2000);
    for (let i = 1; i < 2000; i++) {
      units[i] = units[i - 1] + steps[i];
      quarters[i] = quarters[i - 1] + steps[i] * 0.25;
    }
    quarters.forEach((q, i) => {
      quarters[i] = q + 7.5;
    });
    const unitsBits = encode(units)!.bitLength;
    const quarterBits = encode(quarters)!.bitLength;
    expect(Math.abs(quarterBits - unitsBits)).toBeLessThan(32);
    expect(bitsOf(decode(encode(quarters)!, 2000))).toEqual(bitsOf(quarters));
    // byte counters in whole kilobytes
    let bytes = 0;
    const kb = Float64Array.from(steps, (s) => (bytes += 1024 * (s + 20)));
    expect(encode(kb)!.bitLength / 2000).toBeLessThan(5.5);
  });
});
