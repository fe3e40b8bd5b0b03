import { CountError } from '../model/errors.js';
import type { Samples } from '../model/point.js';

/**
 * Point values in JSON. JSON has no NaN or infinities, so the API accepts the strings "NaN",
 * "+Inf", "-Inf" and "Inf" for them and writes non-finite values back as "NaN", "+Inf" and
 * "-Inf". Finite values are plain JSON numbers; -0 is written as -0.
 */
export function parseJsonValue(v: unknown, field = 'value'): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    switch (v) {
      case 'NaN':
        return Number.NaN;
      case '+Inf':
      case 'Inf':
        return Number.POSITIVE_INFINITY;
      case '-Inf':
        return Number.NEGATIVE_INFINITY;
    }
  }
  const shown =
    typeof v === 'string' ? JSON.stringify(v.slice(0, 40)) : v === null ? 'null' : typeof v;
  throw new CountError(
    'invalid_value',
    `${field} must be a number or one of "NaN", "+Inf", "-Inf", got ${shown}`,
    { field },
  );
}

/** JSON text of one value. */
export function formatJsonValue(v: number): string {
  if (Number.isFinite(v)) return Object.is(v, -0) ? '-0' : String(v);
  if (Number.isNaN(v)) return '"NaN"';
  return v > 0 ? '"+Inf"' : '"-Inf"';
}

/** `[{"timestamp":t,"value":v},...]` built as text: range reads can return millions of points. */
export function formatPointsJson(samples: Samples): string {
  const { timestamps, values } = samples;
  const n = timestamps.length;
  if (n === 0) return '[]';
  const parts = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    parts[i] = `{"timestamp":${timestamps[i]},"value":${formatJsonValue(values[i])}}`;
  }
  return `[${parts.join(',')}]`;
}

/** `[{"start":s,"value":v},...]` for aggregate buckets. */
export function formatBucketsJson(
  buckets: ReadonlyArray<{ start: number; value: number }>,
): string {
  const parts = new Array<string>(buckets.length);
  for (let i = 0; i < buckets.length; i++) {
    parts[i] = `{"start":${buckets[i].start},"value":${formatJsonValue(buckets[i].value)}}`;
  }
  return `[${parts.join(',')}]`;
}
