import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BitReader, BitWriter } from '../../src/compression/bit-io.js';
import { decodeTimestamps, encodeTimestamps } from '../../src/compression/timestamps.js';
import { AssertionFailed } from '../../src/model/assert.js';
import { CountError } from '../../src/model/errors.js';
import { MAX_TS, timestampColumn } from './columns.js';

function encode(ts: Float64Array, start = 0, end = ts.length): BitWriter {
  const w = new BitWriter(16);
  encodeTimestamps(w, ts, start, end);
  return w;
}

function decode(bytes: Uint8Array, count: number, minTime: number, maxTime: number): Float64Array {
  const r = new BitReader();
  r.reset(bytes);
  const out = new Float64Array(count);
  decodeTimestamps(r, count, minTime, maxTime, out, 0);
  r.finish();
  return out;
}

function regular(n: number, start: number, interval: number): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => start + i * interval);
}

describe('timestamp codec', () => {
  it('round-trips ascending timestamps: jitter, big gaps, 0 and 2^53 - 1', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 400 }).chain((n) => timestampColumn(n)),
        (ts) => {
          const n = ts.length;
          const out = decode(encode(ts).toBytes(), n, ts[0], ts[n - 1]);
          expect(Array.from(out)).toEqual(Array.from(ts));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('round-trips the extremes of the range', () => {
    for (const ts of [
      Float64Array.from([0]),
      Float64Array.from([MAX_TS]),
      Float64Array.from([0, MAX_TS]),
      Float64Array.from([0, 1, MAX_TS - 1, MAX_TS]),
      Float64Array.from([0, MAX_TS - 1, MAX_TS]),
    ]) {
      const n = ts.length;
      expect(Array.from(decode(encode(ts).toBytes(), n, ts[0], ts[n - 1]))).toEqual(Array.from(ts));
    }
  });

  it('codes a regular series in a few bytes, whatever its length', () => {
    for (const n of [2, 720, 8640, 100_000]) {
      expect(encode(regular(n, 1_767_225_600_000, 10_000)).bitLength).toBeLessThan(64);
    }
  });

  it('costs well under a bit per point with 2 % of points jittered by a few ms', () => {
    const ts = regular(8640, 1_767_225_600_000, 10_000);
    for (let i = 7; i < ts.length; i += 50) ts[i] += (i % 11) - 5 || 3;
    expect(encode(ts).bitLength / ts.length).toBeLessThan(0.6);
  });

  it('refuses timestamps that are not strictly ascending integers in range', () => {
    for (const bad of [
      [5, 5],
      [5, 4],
      [1, 2.5],
      [-1, 2],
      [1, 2 ** 53],
    ]) {
      expect(() => encode(Float64Array.from(bad))).toThrow(AssertionFailed);
    }
  });

  it('detects a header that disagrees with the stream', () => {
    const ts = regular(100, 1000, 10);
    const bytes = encode(ts).toBytes();
    expect(() => decode(bytes, 100, 1000, 1000 + 99 * 10 + 1)).toThrow(CountError);
    expect(() => decode(bytes, 99, 1000, 1000 + 98 * 10)).toThrow(CountError);
  });
});
