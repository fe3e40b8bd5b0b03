import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BitReader, BitWriter } from '../../src/compression/bit-io.js';
import { decodeRuns, encodeRuns, measureRuns } from '../../src/compression/runs.js';
import { CountError } from '../../src/model/errors.js';
import { bitsOf, columnFromPairs, runsColumn, valueColumn } from './columns.js';

describe('constant-run codec', () => {
  it('round-trips any column bit for bit, and measureRuns predicts its size', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }).chain((n) => fc.oneof(runsColumn(n), valueColumn(n))),
        (values) => {
          const w = new BitWriter(16);
          encodeRuns(w, values, 0, values.length);
          expect(w.bitLength).toBe(measureRuns(values, 0, values.length).bits);
          const r = new BitReader();
          r.reset(w.toBytes());
          const out = new Float64Array(values.length);
          decodeRuns(r, out, 0, values.length);
          r.finish();
          expect(bitsOf(out)).toEqual(bitsOf(values));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('tells NaN payloads and the zeros apart', () => {
    const values = columnFromPairs([
      [0x7ff80000, 0],
      [0x7ff80000, 1],
      [0x80000000, 0],
      [0, 0],
    ]);
    expect(measureRuns(values, 0, 4).runs).toBe(4);
  });

  it('costs 65 bits for a constant of any length', () => {
    const values = new Float64Array(10_000).fill(42.5);
    expect(measureRuns(values, 0, values.length)).toEqual({ runs: 1, bits: 6 + 1 + 64 });
  });

  it('rejects run lengths that overflow the chunk', () => {
    const w = new BitWriter();
    encodeRuns(w, Float64Array.from([1, 1, 1, 2]), 0, 4);
    const r = new BitReader();
    r.reset(w.toBytes());
    // the same stream read as a 3-point chunk: the first run (3) leaves no room for the second
    expect(() => decodeRuns(r, new Float64Array(3), 0, 3)).toThrow(CountError);
  });
});
