import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CountError } from '../../src/model/errors.js';
import { AGGREGATE_FNS, aggregate, type Bucket } from '../../src/query/aggregate.js';
import {
  finishPartial,
  isMergeable,
  type MergeableFn,
  mergePartials,
  partialAggregate,
} from '../../src/query/partial-aggregate.js';
import { samples, values } from './samples.js';

function expectClose(got: Bucket[], want: Bucket[], scale: number): void {
  expect(got.map((b) => b.start)).toEqual(want.map((b) => b.start));
  for (let i = 0; i < got.length; i++) {
    const g = got[i].value;
    const w = want[i].value;
    if (Number.isNaN(w)) expect(g).toBeNaN();
    else expect(Math.abs(g - w)).toBeLessThanOrEqual(1e-9 * scale + 1e-12);
  }
}

describe('partial aggregates', () => {
  it('merging partials of a split equals aggregating the whole', () => {
    const mergeable = AGGREGATE_FNS.filter(isMergeable) as MergeableFn[];
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 99 }),
            fc.oneof(fc.double({ min: -1e3, max: 1e3, noNaN: true }), fc.constant(Number.NaN)),
            fc.boolean(),
          ),
          { maxLength: 80 },
        ),
        fc.constantFrom(...mergeable),
        fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }),
        (pts, fn, step) => {
          const left = samples(pts.filter((p) => p[2]).map((p) => [p[0], p[1]]));
          const right = samples(pts.filter((p) => !p[2]).map((p) => [p[0], p[1]]));
          const opts = { fn, start: 0, end: 100, step };
          const merged = finishPartial(
            mergePartials(partialAggregate([left], opts), partialAggregate([right], opts)),
          );
          expectClose(merged, aggregate([left, right], opts), 1e3 * 80);
        },
      ),
      { numRuns: 800 },
    );
  });

  it('refuses median and percentile, and mismatched grids', () => {
    const s = [values([1])];
    expect(() => partialAggregate(s, { fn: 'median', start: 0, end: 1 })).toThrow(
      expect.objectContaining({ code: 'invalid_query', field: 'fn' }),
    );
    expect(() => partialAggregate(s, { fn: 'median', start: 0, end: 1 })).toThrow(CountError);
    const a = partialAggregate(s, { fn: 'sum', start: 0, end: 10, step: 5 });
    const b = partialAggregate(s, { fn: 'sum', start: 0, end: 10, step: 2 });
    expect(() => mergePartials(a, b)).toThrow(/different functions or bucket grids/);
  });
});
