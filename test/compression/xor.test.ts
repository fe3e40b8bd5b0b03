import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BitReader, BitWriter } from '../../src/compression/bit-io.js';
import { decodeXor, encodeXor, measureXor } from '../../src/compression/xor.js';
import { anyBitsColumn, bitsOf, columnFromPairs, SPECIAL_PAIRS, valueColumn } from './columns.js';

function roundTrip(values: Float64Array, start = 0, end = values.length): Float64Array {
  const w = new BitWriter(16);
  encodeXor(w, values, start, end);
  expect(w.bitLength).toBe(measureXor(values, start, end));
  const r = new BitReader();
  r.reset(w.toBytes());
  const out = new Float64Array(end - start + 3).fill(7);
  decodeXor(r, out, 2, end - start);
  r.finish();
  expect(out[0]).toBe(7);
  expect(out[1]).toBe(7);
  expect(out[out.length - 1]).toBe(7);
  return out.subarray(2, 2 + end - start);
}

describe('XOR codec', () => {
  it('round-trips every float64 bit pattern, NaN payloads and -0 included, at the measured size', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }).chain((n) => fc.oneof(anyBitsColumn(n), valueColumn(n))),
        (values) => {
          expect(bitsOf(roundTrip(values))).toEqual(bitsOf(values));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('round-trips each special value next to every other', () => {
    const pairs = SPECIAL_PAIRS.flatMap((a) => SPECIAL_PAIRS.flatMap((b) => [a, b]));
    const values = columnFromPairs(pairs);
    expect(bitsOf(roundTrip(values))).toEqual(bitsOf(values));
  });

  it('encodes a sub-range of the column', () => {
    const values = Float64Array.from({ length: 50 }, (_, i) => Math.sin(i));
    expect(bitsOf(roundTrip(values, 10, 30))).toEqual(bitsOf(values, 10, 30));
  });

  it('measureXor gives up past its budget', () => {
    const values = Float64Array.from({ length: 100 }, (_, i) => Math.sin(i));
    const bits = measureXor(values, 0, 100);
    expect(measureXor(values, 0, 100, bits)).toBe(bits);
    expect(measureXor(values, 0, 100, bits - 1)).toBe(Number.POSITIVE_INFINITY);
  });

  it('spends one bit on a repeated value', () => {
    const w = new BitWriter();
    encodeXor(w, new Float64Array(101).fill(Math.PI), 0, 101);
    expect(w.bitLength).toBe(64 + 100);
  });
});
