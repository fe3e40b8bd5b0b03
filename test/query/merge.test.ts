import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AssertionFailed } from '../../src/model/assert.js';
import { convergeValue, type Samples } from '../../src/model/point.js';
import { mergeSamples } from '../../src/query/merge.js';

const samples = (pts: [number, number][]): Samples => ({
  timestamps: Float64Array.from(pts.map((p) => p[0])),
  values: Float64Array.from(pts.map((p) => p[1])),
});
const bits = (vs: Float64Array) =>
  Array.from(new Uint32Array(vs.buffer, vs.byteOffset, vs.length * 2));

/** Reference: group all points by timestamp, fold each group with the convergence rule. */
function naiveMerge(parts: Samples[]): Samples {
  const byTs = new Map<number, number>();
  for (const p of parts) {
    for (let i = 0; i < p.timestamps.length; i++) {
      const t = p.timestamps[i];
      const prev = byTs.get(t);
      byTs.set(t, prev === undefined ? p.values[i] : convergeValue(prev, p.values[i]));
    }
  }
  const ts = [...byTs.keys()].sort((a, b) => a - b);
  return {
    timestamps: Float64Array.from(ts),
    values: Float64Array.from(ts.map((t) => byTs.get(t)!)),
  };
}

const valueArb = fc.oneof(
  fc.double({ noNaN: false }),
  fc.constantFrom(0, -0, Number.NaN, 1, 2, Infinity, -Infinity),
);
const partArb = (maxTs: number) =>
  fc
    .array(fc.tuple(fc.integer({ min: 0, max: maxTs }), valueArb), { maxLength: 30 })
    .map((pts) => samples(pts.sort((a, b) => a[0] - b[0])));

describe('mergeSamples', () => {
  it('merges sorted parts and converges duplicates (larger value wins)', () => {
    const m = mergeSamples([
      samples([
        [1, 10],
        [3, 30],
        [5, 50],
      ]),
      samples([
        [2, 20],
        [3, 31],
        [5, Number.NaN],
      ]),
      samples([[3, 29]]),
    ]);
    expect(Array.from(m.timestamps)).toEqual([1, 2, 3, 5]);
    expect(Array.from(m.values)).toEqual([10, 20, 31, 50]);
  });

  it('returns the single sorted part as is, and concatenates disjoint parts', () => {
    const a = samples([
      [1, 1],
      [2, 2],
    ]);
    expect(mergeSamples([a])).toBe(a);
    expect(
      mergeSamples([{ timestamps: new Float64Array(0), values: new Float64Array(0) }, a]),
    ).toBe(a);
    const b = samples([
      [5, 5],
      [6, 6],
    ]);
    const m = mergeSamples([b, a]);
    expect(Array.from(m.timestamps)).toEqual([1, 2, 5, 6]);
    expect(mergeSamples([]).timestamps.length).toBe(0);
  });

  it('folds duplicates inside a single part', () => {
    const m = mergeSamples([
      samples([
        [1, 1],
        [1, 3],
        [1, 2],
      ]),
    ]);
    expect(Array.from(m.timestamps)).toEqual([1]);
    expect(Array.from(m.values)).toEqual([3]);
  });

  it('asserts that parts are sorted', () => {
    expect(() =>
      mergeSamples([
        samples([
          [2, 1],
          [1, 1],
        ]),
      ]),
    ).toThrow(AssertionFailed);
    expect(() =>
      mergeSamples([{ timestamps: new Float64Array(2), values: new Float64Array(1) }]),
    ).toThrow(AssertionFailed);
  });

  it('equals a naive group-and-converge merge, bit for bit, whatever the part order', () => {
    fc.assert(
      fc.property(fc.array(partArb(60), { maxLength: 7 }), (parts) => {
        const want = naiveMerge(parts);
        const got = mergeSamples(parts);
        expect(Array.from(got.timestamps)).toEqual(Array.from(want.timestamps));
        expect(bits(got.values)).toEqual(bits(want.values));
        const rev = mergeSamples([...parts].reverse());
        expect(bits(rev.values)).toEqual(bits(want.values));
      }),
      { numRuns: 1500 },
    );
  });
});
