import { decodeColumn, encodeColumn } from '../cluster/samples-codec.js';
import { CountError } from '../model/errors.js';
import type { Samples } from '../model/point.js';
import { bucketCount } from '../query/buckets.js';
import {
  type MergeableFn,
  type PartialAggregate,
  partialAggregate,
} from '../query/partial-aggregate.js';

/**
 * Partial aggregates on the wire: only the columns the function maintains travel (count always;
 * sum+comp for sum/mean; min/max/nan for min/max; mean+m2 for stddev), as bytes.
 */
type Column = 'count' | 'sum' | 'comp' | 'min' | 'max' | 'nan' | 'mean' | 'm2';

const COLUMNS: Record<MergeableFn, readonly Column[]> = {
  count: ['count'],
  sum: ['count', 'sum', 'comp'],
  mean: ['count', 'sum', 'comp'],
  min: ['count', 'min', 'nan'],
  max: ['count', 'max', 'nan'],
  stddev: ['count', 'mean', 'm2'],
};

export function partialOfSeries(
  s: Samples,
  fn: MergeableFn,
  start: number,
  end: number,
  step: number | undefined,
): PartialAggregate {
  return partialAggregate([s], { fn, start, end, step });
}

export function encodePartial(p: PartialAggregate): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const c of COLUMNS[p.fn]) out[c] = encodeColumn(p[c]);
  return out;
}

/** Rebuilds a partial over the grid (fn, start, end, step) from a replica's columns. */
export function decodePartial(
  columns: unknown,
  fn: MergeableFn,
  start: number,
  end: number,
  step: number | undefined,
): PartialAggregate {
  if (typeof columns !== 'object' || columns === null) {
    throw new CountError('invalid_body', 'data message: malformed partial aggregate');
  }
  const n = bucketCount(start, end, step);
  const p: PartialAggregate = {
    fn,
    start,
    end,
    step: step ?? 0,
    count: new Float64Array(n),
    sum: new Float64Array(n),
    comp: new Float64Array(n),
    min: new Float64Array(n).fill(Number.POSITIVE_INFINITY),
    max: new Float64Array(n).fill(Number.NEGATIVE_INFINITY),
    nan: new Float64Array(n),
    mean: new Float64Array(n),
    m2: new Float64Array(n),
  };
  const cols = columns as Record<string, unknown>;
  for (const c of COLUMNS[fn]) p[c] = decodeColumn(cols[c], n);
  return p;
}
