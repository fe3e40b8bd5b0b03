import { CountError } from '../model/errors.js';
import type { Samples } from '../model/point.js';
import { bucketCount, checkRange, forEachPoint } from './buckets.js';
import { finishPartial, partialAggregate } from './partial-aggregate.js';

/**
 * Aggregation of samples into time buckets. Without a step there is one bucket [start, end);
 * with a step, bucket i is [start + i*step, start + (i+1)*step) cut at `end`. Buckets without
 * points are omitted. All points of all given series are pooled per bucket.
 *
 * NaN rules: sum, mean and stddev propagate NaN; min and max skip NaN unless every point of the
 * bucket is NaN; count counts NaN points; median and percentile sort NaN first (NaN is the
 * smallest value, as in the convergence rule). stddev is the population standard deviation.
 * percentile(q), q in [0, 1], interpolates linearly between closest ranks (R-7, NumPy's
 * default); median is percentile(0.5).
 */
export type AggregateFn =
  | 'sum'
  | 'mean'
  | 'min'
  | 'max'
  | 'count'
  | 'median'
  | 'stddev'
  | 'percentile';

export const AGGREGATE_FNS: readonly AggregateFn[] = [
  'sum',
  'mean',
  'min',
  'max',
  'count',
  'median',
  'stddev',
  'percentile',
];

export interface Bucket {
  start: number;
  value: number;
}

export interface AggregateOptions {
  fn: AggregateFn;
  start: number;
  end: number;
  step?: number;
  q?: number;
}

/** Longest step accepted: 100 years. */
export const MAX_STEP_MS = 100 * 365 * 86_400_000;

export function parseAggregateFn(text: unknown, field = 'fn'): AggregateFn {
  if (typeof text === 'string' && (AGGREGATE_FNS as readonly string[]).includes(text)) {
    return text as AggregateFn;
  }
  throw new CountError(
    'unknown_function',
    `${field}: unknown function ${typeof text === 'string' ? JSON.stringify(text.slice(0, 40)) : typeof text}; use one of ${AGGREGATE_FNS.join(', ')}`,
    { field },
  );
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const UNIT_ORDER = ['d', 'h', 'm', 's', 'ms'];

/**
 * A step as `250ms`, `10s`, `5m`, `1h`, `1d`, a combination in descending units (`1h30m`), or a
 * positive integer number of milliseconds (as a string or a number).
 */
export function parseStep(text: string | number, field = 'step'): number {
  const bad = (why: string) =>
    new CountError(
      'invalid_parameter',
      `${field} must be a duration such as 250ms, 10s, 5m, 1h, 1d or 1h30m, or a positive integer number of milliseconds; ${why}`,
      { field },
    );
  let ms: number;
  if (typeof text === 'number') {
    if (!Number.isSafeInteger(text)) throw bad(`got ${text}`);
    ms = text;
  } else if (typeof text === 'string') {
    const shown = JSON.stringify(text.slice(0, 40));
    if (text.length === 0 || text.length > 40) throw bad(`got ${shown}`);
    if (/^[0-9]+$/.test(text)) ms = Number(text);
    else {
      ms = 0;
      let lastUnit = -1;
      const re = /([0-9]+)(ms|s|m|h|d)/y;
      let at = 0;
      while (at < text.length) {
        re.lastIndex = at;
        const m = re.exec(text);
        if (m === null) throw bad(`got ${shown}`);
        const unit = UNIT_ORDER.indexOf(m[2]);
        if (unit <= lastUnit) throw bad(`units must appear once each, largest first; got ${shown}`);
        lastUnit = unit;
        ms += Number(m[1]) * UNIT_MS[m[2]];
        at = re.lastIndex;
      }
    }
  } else {
    throw bad(`got ${typeof text}`);
  }
  if (!(ms > 0)) throw bad(`got ${JSON.stringify(text)}, which is not positive`);
  if (ms > MAX_STEP_MS) throw bad(`got ${JSON.stringify(text)}, longer than 100 years`);
  return ms;
}

/** q for percentile: a number (or numeric string) in [0, 1]; 0.99 is the 99th percentile. */
export function parseQuantile(q: unknown, field = 'q'): number {
  const v = typeof q === 'string' && q.trim() !== '' ? Number(q) : q;
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
    throw new CountError(
      'invalid_parameter',
      `${field} must be a number between 0 and 1 (e.g. 0.99 for the 99th percentile); got ${typeof q === 'string' || typeof q === 'number' ? JSON.stringify(q) : typeof q}`,
      { field },
    );
  }
  return v;
}

/**
 * R-7 percentile of a bucket whose sorted values are `nanCount` NaNs followed by `sorted`
 * (ascending, no NaN).
 */
function percentileOf(sorted: Float64Array, nanCount: number, q: number): number {
  const n = nanCount + sorted.length;
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, n - 1);
  const at = (k: number) => (k < nanCount ? Number.NaN : sorted[k - nanCount]);
  const a = at(lo);
  const f = h - lo;
  if (f === 0) return a;
  const b = at(hi);
  if (a === b) return a;
  // (1-f)a + fb keeps infinities meaningful; a + f(b-a) is exact at the ends for finite values.
  if (!Number.isFinite(a) || !Number.isFinite(b)) return (1 - f) * a + f * b;
  return a + f * (b - a);
}

function rankAggregate(series: readonly Samples[], opts: AggregateOptions, q: number): Bucket[] {
  const { start, end, step } = opts;
  const nb = bucketCount(start, end, step);
  // Pass 1: points per bucket (NaN counted apart); pass 2: scatter the values by bucket.
  const counts = new Float64Array(nb);
  const nans = new Float64Array(nb);
  for (const s of series) {
    forEachPoint(s, start, end, step, (b, x) => {
      if (Number.isNaN(x)) nans[b]++;
      else counts[b]++;
    });
  }
  const offsets = new Float64Array(nb + 1);
  for (let b = 0; b < nb; b++) offsets[b + 1] = offsets[b] + counts[b];
  const values = new Float64Array(offsets[nb]);
  const fill = offsets.slice(0, nb);
  for (const s of series) {
    forEachPoint(s, start, end, step, (b, x) => {
      if (!Number.isNaN(x)) values[fill[b]++] = x;
    });
  }
  const out: Bucket[] = [];
  for (let b = 0; b < nb; b++) {
    if (counts[b] + nans[b] === 0) continue;
    const slice = values.subarray(offsets[b], offsets[b + 1]).sort();
    out.push({ start: start + b * (step ?? 0), value: percentileOf(slice, nans[b], q) });
  }
  return out;
}

/**
 * Aggregates all points of all `series` (pooled) per bucket. Throws CountError
 * ('invalid_parameter') for a bad range, step or q.
 */
export function aggregate(series: readonly Samples[], opts: AggregateOptions): Bucket[] {
  checkRange(opts.start, opts.end, opts.step);
  if (opts.fn === 'median') return rankAggregate(series, opts, 0.5);
  if (opts.fn === 'percentile') {
    if (opts.q === undefined) {
      throw new CountError('invalid_parameter', 'q is required for fn=percentile (0 <= q <= 1)', {
        field: 'q',
      });
    }
    return rankAggregate(series, opts, parseQuantile(opts.q));
  }
  parseAggregateFn(opts.fn);
  return finishPartial(partialAggregate(series, opts));
}
