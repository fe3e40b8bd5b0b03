import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CountError } from '../../src/model/errors.js';
import type { Samples } from '../../src/model/point.js';
import {
  AGGREGATE_FNS,
  type AggregateFn,
  aggregate,
  type Bucket,
  parseAggregateFn,
  parseQuantile,
  parseStep,
} from '../../src/query/aggregate.js';
import { MAX_BUCKETS } from '../../src/query/buckets.js';
import { samples, values } from './samples.js';

const one = (fn: AggregateFn, xs: number[], q?: number) =>
  aggregate([values(xs)], { fn, start: 0, end: xs.length, q })[0]?.value;

function expectCode(fn: () => unknown, code: string, field: string, pattern?: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CountError);
    expect((e as CountError).code).toBe(code);
    expect((e as CountError).field).toBe(field);
    if (pattern) expect((e as CountError).message).toMatch(pattern);
    return;
  }
  throw new Error(`expected ${code}`);
}

/** Reference: collect each bucket's values, sort (NaN first), compute each fn directly. */
function naiveAggregate(
  series: Samples[],
  fn: AggregateFn,
  start: number,
  end: number,
  step?: number,
  q?: number,
): Bucket[] {
  const buckets = new Map<number, number[]>();
  for (const s of series) {
    for (let i = 0; i < s.timestamps.length; i++) {
      const t = s.timestamps[i];
      if (t < start || t >= end) continue;
      const b = step === undefined ? 0 : Math.floor((t - start) / step);
      if (!buckets.has(b)) buckets.set(b, []);
      buckets.get(b)!.push(s.values[i]);
    }
  }
  const out: Bucket[] = [];
  for (const b of [...buckets.keys()].sort((x, y) => x - y)) {
    const xs = buckets.get(b)!;
    const sorted = [...xs].sort((x, y) =>
      Number.isNaN(x) ? (Number.isNaN(y) ? 0 : -1) : Number.isNaN(y) ? 1 : x - y,
    );
    const n = xs.length;
    const sum = xs.reduce((a, x) => a + x, 0);
    const mean = sum / n;
    const rank = (qq: number) => {
      const h = (n - 1) * qq;
      const lo = Math.floor(h);
      const hi = Math.min(lo + 1, n - 1);
      return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
    };
    const finite = xs.filter((x) => !Number.isNaN(x));
    const value = {
      sum,
      mean,
      count: n,
      min: finite.length ? Math.min(...finite) : Number.NaN,
      max: finite.length ? Math.max(...finite) : Number.NaN,
      stddev: Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / n),
      median: rank(0.5),
      percentile: rank(q ?? 0),
    }[fn];
    out.push({ start: start + b * (step ?? 0), value });
  }
  return out;
}

function expectClose(got: Bucket[], want: Bucket[], scale: number): void {
  expect(got.map((b) => b.start)).toEqual(want.map((b) => b.start));
  for (let i = 0; i < got.length; i++) {
    const g = got[i].value;
    const w = want[i].value;
    if (Number.isNaN(w)) expect(g).toBeNaN();
    else expect(Math.abs(g - w)).toBeLessThanOrEqual(1e-9 * scale + 1e-12);
  }
}

describe('parsing', () => {
  it('parses functions', () => {
    for (const fn of AGGREGATE_FNS) expect(parseAggregateFn(fn)).toBe(fn);
    expectCode(() => parseAggregateFn('avg'), 'unknown_function', 'fn', /use one of sum, mean/);
    expectCode(() => parseAggregateFn(3, 'agg'), 'unknown_function', 'agg');
  });

  it('parses steps', () => {
    expect(parseStep('10s')).toBe(10_000);
    expect(parseStep('5m')).toBe(300_000);
    expect(parseStep('1h')).toBe(3_600_000);
    expect(parseStep('1d')).toBe(86_400_000);
    expect(parseStep('250ms')).toBe(250);
    expect(parseStep('1h30m')).toBe(5_400_000);
    expect(parseStep('1500')).toBe(1500);
    expect(parseStep(60_000)).toBe(60_000);
    for (const bad of ['', '0', '0s', '-5s', '1.5s', '10x', 's', '5m1h', '1m1m', ' 1s', '1e3']) {
      expectCode(() => parseStep(bad), 'invalid_parameter', 'step');
    }
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 60]) {
      expectCode(() => parseStep(bad), 'invalid_parameter', 'step');
    }
  });

  it('parses q in [0, 1]', () => {
    expect(parseQuantile(0)).toBe(0);
    expect(parseQuantile(1)).toBe(1);
    expect(parseQuantile('0.99')).toBe(0.99);
    for (const bad of [-0.1, 1.01, 99, Number.NaN, '', 'x', null, undefined]) {
      expectCode(() => parseQuantile(bad), 'invalid_parameter', 'q', /between 0 and 1/);
    }
  });

  it('bounds the bucket count and checks the range', () => {
    const s = [values([1])];
    expect(aggregate(s, { fn: 'count', start: 0, end: MAX_BUCKETS, step: 1 })).toHaveLength(1);
    expectCode(
      () => aggregate(s, { fn: 'count', start: 0, end: MAX_BUCKETS + 1, step: 1 }),
      'invalid_parameter',
      'step',
      /at least 2ms/,
    );
    expectCode(() => aggregate(s, { fn: 'sum', start: 5, end: 4 }), 'invalid_parameter', 'start');
    expectCode(() => aggregate(s, { fn: 'sum', start: 0.5, end: 4 }), 'invalid_parameter', 'start');
    expectCode(() => aggregate(s, { fn: 'sum', start: 0, end: -1 }), 'invalid_parameter', 'end');
    expectCode(
      () => aggregate(s, { fn: 'percentile', start: 0, end: 4 }),
      'invalid_parameter',
      'q',
    );
    expectCode(
      () => aggregate(s, { fn: 'nope' as AggregateFn, start: 0, end: 4 }),
      'unknown_function',
      'fn',
    );
  });
});

describe('aggregate', () => {
  it('computes each function on a small example', () => {
    const xs = [4, 1, 3, 2];
    expect(one('sum', xs)).toBe(10);
    expect(one('mean', xs)).toBe(2.5);
    expect(one('min', xs)).toBe(1);
    expect(one('max', xs)).toBe(4);
    expect(one('count', xs)).toBe(4);
    expect(one('median', xs)).toBe(2.5);
    expect(one('stddev', xs)).toBeCloseTo(Math.sqrt(1.25), 12); // population
    expect(one('percentile', xs, 0.25)).toBe(1.75); // numpy.percentile([1,2,3,4], 25)
    expect(one('percentile', [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9)).toBeCloseTo(9.1, 12);
    expect(one('percentile', xs, 0)).toBe(1);
    expect(one('percentile', xs, 1)).toBe(4);
    expect(one('stddev', [7])).toBe(0);
  });

  it('buckets by step, cuts the last bucket at end and omits empty buckets', () => {
    const s = samples([
      [100, 1],
      [105, 2],
      [125, 5],
      [139, 7],
      [140, 100],
    ]);
    expect(aggregate([s], { fn: 'sum', start: 100, end: 140, step: 10 })).toEqual([
      { start: 100, value: 3 },
      { start: 120, value: 5 },
      { start: 130, value: 7 },
    ]);
    expect(aggregate([s], { fn: 'count', start: 100, end: 140 })).toEqual([
      { start: 100, value: 4 },
    ]);
    expect(aggregate([s], { fn: 'count', start: 100, end: 100 })).toEqual([]);
  });

  it('pools the points of several series', () => {
    const a = samples([
      [0, 1],
      [10, 2],
    ]);
    const b = samples([
      [0, 3],
      [15, 4],
    ]);
    expect(aggregate([a, b], { fn: 'max', start: 0, end: 20, step: 10 })).toEqual([
      { start: 0, value: 3 },
      { start: 10, value: 4 },
    ]);
  });

  it('follows the NaN rules', () => {
    const nan = Number.NaN;
    expect(one('sum', [1, nan, 2])).toBeNaN();
    expect(one('mean', [1, nan])).toBeNaN();
    expect(one('stddev', [1, nan])).toBeNaN();
    expect(one('min', [3, nan, 2])).toBe(2);
    expect(one('max', [nan, 3, 2])).toBe(3);
    expect(one('min', [nan, nan])).toBeNaN();
    expect(one('max', [nan])).toBeNaN();
    expect(one('count', [nan, 1])).toBe(2);
    expect(one('percentile', [5, nan, 1], 0)).toBeNaN(); // NaN sorts first
    expect(one('percentile', [5, nan, 1], 0.5)).toBe(1);
    expect(one('percentile', [5, nan, 1], 1)).toBe(5);
    expect(one('median', [nan, 1])).toBeNaN();
  });

  it('handles infinities', () => {
    const inf = Number.POSITIVE_INFINITY;
    expect(one('sum', [1, inf])).toBe(inf);
    expect(one('sum', [inf, -inf])).toBeNaN();
    expect(one('mean', [-inf, 1])).toBe(-inf);
    expect(one('max', [1, inf])).toBe(inf);
    expect(one('median', [-inf, 1])).toBe(-inf);
    expect(one('median', [-inf, inf])).toBeNaN();
    expect(one('median', [inf, inf])).toBe(inf);
    expect(one('stddev', [1, inf])).toBeNaN();
  });

  it('sums and averages accurately (compensated summation, Welford)', () => {
    const xs = [1e16, 1, -1e16, 1];
    expect(one('sum', xs)).toBe(2); // naive left-to-right gives 1 (or 0)
    const big = Array.from({ length: 1000 }, (_, i) => 1e9 + (i % 2));
    expect(one('stddev', big)).toBeCloseTo(0.5, 9); // naive sum-of-squares loses this
    expect(one('mean', big)).toBe(1e9 + 0.5);
  });

  it('equals a sort-based reference on random samples and steps', () => {
    const series = fc.array(
      fc
        .array(
          fc.tuple(
            fc.integer({ min: 0, max: 400 }),
            fc.double({ min: -1e6, max: 1e6, noNaN: true }),
          ),
          { maxLength: 60 },
        )
        .map(samples),
      { minLength: 1, maxLength: 4 },
    );
    fc.assert(
      fc.property(
        series,
        fc.constantFrom(...AGGREGATE_FNS),
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 0, max: 300 }),
        fc.option(fc.integer({ min: 1, max: 120 }), { nil: undefined }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (ss, fn, start, len, step, q) => {
          const end = start + len;
          const got = aggregate(ss, { fn, start, end, step, q });
          const want = naiveAggregate(ss, fn, start, end, step, q);
          expectClose(got, want, 1e6 * 300);
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('handles NaN values like the reference', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant(Number.NaN), fc.integer({ min: -50, max: 50 })), {
          minLength: 1,
          maxLength: 20,
        }),
        fc.constantFrom(...AGGREGATE_FNS),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (xs, fn, q) => {
          const s = values(xs);
          const opts = { fn, start: 0, end: xs.length, step: 3, q };
          expectClose(aggregate([s], opts), naiveAggregate([s], fn, 0, xs.length, 3, q), 1000);
        },
      ),
      { numRuns: 800 },
    );
  });
});
