import { CountError } from '../model/errors.js';
import { isValidTimestamp, MAX_TIMESTAMP_EXCLUSIVE, type Samples } from '../model/point.js';
import { lowerBound } from './samples-range.js';

// The bucket grid of an aggregation. Without a step there is one bucket [start, end); with a
// step, bucket i is [start + i*step, start + (i+1)*step), the last one cut at `end`.

/** Most buckets one aggregation may produce ((end - start) / step, rounded up). */
export const MAX_BUCKETS = 11_000;

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

/**
 * Calls `visit(bucket, i)` for every point i of `s` in [start, end), walking bucket boundaries
 * instead of dividing per point.
 */
export function forEachPoint(
  s: Samples,
  start: number,
  end: number,
  step: number | undefined,
  visit: (bucket: number, value: number) => void,
): void {
  const ts = s.timestamps;
  const vs = s.values;
  let i = lowerBound(ts, ts.length, start);
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
