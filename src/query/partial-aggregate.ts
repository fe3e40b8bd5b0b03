import { assert } from '../model/assert.js';
import { CountError } from '../model/errors.js';
import type { Samples } from '../model/point.js';
import type { AggregateFn, AggregateOptions, Bucket } from './aggregate.js';
import { bucketCount, checkRange, forEachPoint } from './buckets.js';

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
