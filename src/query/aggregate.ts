import { assert } from '../model/assert.js';
import { CountError } from '../model/errors.js';
import { isValidTimestamp, MAX_TIMESTAMP_EXCLUSIVE, type Samples } from '../model/point.js';

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

/** Most buckets one aggregation may produce ((end - start) / step, rounded up). */
export const MAX_BUCKETS = 11_000;
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

/** Number of buckets for a range (0 when the range is empty). */
export function bucketCount(start: number, end: number, step?: number): number {
  if (end <= start) return 0;
  return step === undefined ? 1 : Math.ceil((end - start) / step);
}

/**
 * Validates a range and step: integer ms, start <= end, step positive, at most MAX_BUCKETS
 * buckets. Throws CountError('invalid_parameter') naming the field.
 */
export function checkRange(start: unknown, end: unknown, step?: unknown): void {
  if (!isValidTimestamp(start)) {
    throw new CountError(
      'invalid_parameter',
      `start must be an integer number of milliseconds with 0 <= start < 2^53; got ${JSON.stringify(start) ?? typeof start}`,
      { field: 'start' },
    );
  }
  if (!(isValidTimestamp(end) || end === MAX_TIMESTAMP_EXCLUSIVE)) {
    throw new CountError(
      'invalid_parameter',
      `end must be an integer number of milliseconds with 0 <= end <= 2^53; got ${JSON.stringify(end) ?? typeof end}`,
      { field: 'end' },
    );
  }
  if (start > end) {
    throw new CountError('invalid_parameter', `start (${start}) must not be after end (${end})`, {
      field: 'start',
    });
  }
  if (step === undefined) return;
  if (typeof step !== 'number' || !Number.isSafeInteger(step) || step <= 0) {
    throw new CountError('invalid_parameter', `step must be a positive integer number of ms`, {
      field: 'step',
    });
  }
  const n = bucketCount(start, end as number, step);
  if (n > MAX_BUCKETS) {
    const minStep = Math.ceil(((end as number) - start) / MAX_BUCKETS);
    throw new CountError(
      'invalid_parameter',
      `step ${step}ms over a range of ${(end as number) - start}ms makes ${n} buckets; the limit is ${MAX_BUCKETS}, so use a step of at least ${minStep}ms`,
      { field: 'step' },
    );
  }
}

/** Index of the first timestamp >= t. */
function lowerBound(ts: Float64Array, t: number): number {
  let lo = 0;
  let hi = ts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ts[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Calls `visit(bucket, i)` for every point i of `s` in [start, end), walking bucket boundaries
 * instead of dividing per point.
 */
function forEachPoint(
  s: Samples,
  start: number,
  end: number,
  step: number | undefined,
  visit: (bucket: number, value: number) => void,
): void {
  const ts = s.timestamps;
  const vs = s.values;
  let i = lowerBound(ts, start);
  if (step === undefined) {
    for (; i < ts.length && ts[i] < end; i++) visit(0, vs[i]);
    return;
  }
  let b = 0;
  let bucketEnd = start + step;
  for (; i < ts.length; i++) {
    const t = ts[i];
    if (t >= end) break;
    if (t >= bucketEnd) {
      b = Math.floor((t - start) / step);
      bucketEnd = start + (b + 1) * step;
    }
    visit(b, vs[i]);
  }
}

// ---------------------------------------------------------------------------------------------
// Mergeable partial aggregates

/** Functions whose partial aggregates merge exactly (median/percentile need all the values). */
export type MergeableFn = 'sum' | 'mean' | 'min' | 'max' | 'count' | 'stddev';

export function isMergeable(fn: AggregateFn): fn is MergeableFn {
  return fn !== 'median' && fn !== 'percentile';
}

/**
 * Per-bucket state of a mergeable aggregation, in columns (one entry per bucket). Only the
 * columns `fn` needs are maintained: count always; sum+comp (Neumaier-compensated sum) for sum
 * and mean; min/max plus nan (NaN count) for min and max; mean+m2 (Welford) for stddev.
 * Two partials over the same grid (fn, start, end, step) merge exactly.
 */
export interface PartialAggregate {
  fn: MergeableFn;
  start: number;
  end: number;
  /** 0 when the whole range is one bucket. */
  step: number;
  count: Float64Array;
  sum: Float64Array;
  comp: Float64Array;
  min: Float64Array;
  max: Float64Array;
  nan: Float64Array;
  mean: Float64Array;
  m2: Float64Array;
}

function emptyPartial(fn: MergeableFn, start: number, end: number, step: number): PartialAggregate {
  const n = bucketCount(start, end, step === 0 ? undefined : step);
  const min = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  const max = new Float64Array(n).fill(Number.NEGATIVE_INFINITY);
  return {
    fn,
    start,
    end,
    step,
    count: new Float64Array(n),
    sum: new Float64Array(n),
    comp: new Float64Array(n),
    min,
    max,
    nan: new Float64Array(n),
    mean: new Float64Array(n),
    m2: new Float64Array(n),
  };
}

/** Neumaier's compensated addition of x into (sum, comp)[b]. */
function addCompensated(sum: Float64Array, comp: Float64Array, b: number, x: number): void {
  const s = sum[b];
  const t = s + x;
  if (Math.abs(s) >= Math.abs(x)) comp[b] += s - t + x;
  else comp[b] += x - t + s;
  sum[b] = t;
}

/** The partial aggregate of `series` (pooled) for a mergeable fn. */
export function partialAggregate(
  series: readonly Samples[],
  opts: AggregateOptions,
): PartialAggregate {
  const { fn, start, end, step } = opts;
  checkRange(start, end, step);
  if (!isMergeable(fn)) {
    throw new CountError('invalid_query', `${fn} has no exact partial aggregate`, { field: 'fn' });
  }
  const p = emptyPartial(fn, start, end, step ?? 0);
  const { count, sum, comp, min, max, nan, mean, m2 } = p;
  let visit: (b: number, x: number) => void;
  switch (fn) {
    case 'count':
      visit = (b) => {
        count[b]++;
      };
      break;
    case 'sum':
    case 'mean':
      visit = (b, x) => {
        count[b]++;
        addCompensated(sum, comp, b, x);
      };
      break;
    case 'min':
      visit = (b, x) => {
        count[b]++;
        if (x < min[b]) min[b] = x;
        else if (Number.isNaN(x)) nan[b]++;
      };
      break;
    case 'max':
      visit = (b, x) => {
        count[b]++;
        if (x > max[b]) max[b] = x;
        else if (Number.isNaN(x)) nan[b]++;
      };
      break;
    case 'stddev':
      visit = (b, x) => {
        const n = ++count[b];
        const delta = x - mean[b];
        mean[b] += delta / n;
        m2[b] += delta * (x - mean[b]);
      };
      break;
  }
  for (const s of series) forEachPoint(s, start, end, step, visit);
  return p;
}

/** Merges `b` into a new partial; both must cover the same grid with the same fn. */
export function mergePartials(a: PartialAggregate, b: PartialAggregate): PartialAggregate {
  assert(
    a.fn === b.fn && a.start === b.start && a.end === b.end && a.step === b.step,
    'mergePartials: partials over different functions or bucket grids',
  );
  const n = a.count.length;
  assert(b.count.length === n, 'mergePartials: bucket counts differ');
  const out = emptyPartial(a.fn, a.start, a.end, a.step);
  for (let i = 0; i < n; i++) {
    const na = a.count[i];
    const nb = b.count[i];
    const total = na + nb;
    out.count[i] = total;
    out.nan[i] = a.nan[i] + b.nan[i];
    out.min[i] = Math.min(a.min[i], b.min[i]);
    out.max[i] = Math.max(a.max[i], b.max[i]);
    out.sum[i] = a.sum[i];
    out.comp[i] = a.comp[i] + b.comp[i];
    addCompensated(out.sum, out.comp, i, b.sum[i]);
    if (total === 0) continue;
    // Chan et al.: combine Welford states.
    const delta = b.mean[i] - a.mean[i];
    if (na === 0) {
      out.mean[i] = b.mean[i];
      out.m2[i] = b.m2[i];
    } else if (nb === 0) {
      out.mean[i] = a.mean[i];
      out.m2[i] = a.m2[i];
    } else {
      out.mean[i] = a.mean[i] + (delta * nb) / total;
      out.m2[i] = a.m2[i] + b.m2[i] + (delta * delta * na * nb) / total;
    }
  }
  return out;
}

function finalSum(sum: number, comp: number): number {
  // Once the running sum is infinite or NaN it stays so, and comp holds garbage.
  return Number.isFinite(sum) ? sum + comp : sum;
}

/** The buckets of a partial aggregate; buckets without points are omitted. */
export function finishPartial(p: PartialAggregate): Bucket[] {
  const out: Bucket[] = [];
  const n = p.count.length;
  for (let i = 0; i < n; i++) {
    const c = p.count[i];
    if (c === 0) continue;
    let value: number;
    switch (p.fn) {
      case 'count':
        value = c;
        break;
      case 'sum':
        value = finalSum(p.sum[i], p.comp[i]);
        break;
      case 'mean':
        value = finalSum(p.sum[i], p.comp[i]) / c;
        break;
      case 'min':
        value = p.nan[i] === c ? Number.NaN : p.min[i];
        break;
      case 'max':
        value = p.nan[i] === c ? Number.NaN : p.max[i];
        break;
      case 'stddev':
        // Math.max(0, NaN) is NaN, so NaN propagates; the clamp only removes rounding below 0.
        value = Math.sqrt(Math.max(0, p.m2[i]) / c);
        break;
    }
    out.push({ start: p.start + i * p.step, value });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Rank-based functions (median, percentile)

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
