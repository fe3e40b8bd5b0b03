import { CountError, isCountError } from '../model/errors.js';
import type { Samples } from '../model/point.js';
import { NAME_LABEL, type Selector } from '../model/selector.js';
import { LABEL_NAME_PATTERN } from '../model/series.js';
import {
  type AggregateFn,
  aggregate,
  type Bucket,
  parseAggregateFn,
  parseQuantile,
  parseStep,
} from './aggregate.js';
import { checkRange } from './buckets.js';
import { SeriesGroups } from './group-by.js';
import { parseSelector, validateSelector } from './selectors.js';

/**
 * Query execution over any source of series: one storage engine now, the distributed query
 * router later. Select the series, read each in the range (a bounded number at a time), then
 * return points, per-series buckets, or buckets per group of series.
 */
export interface SeriesSource {
  /** Canonical keys of the series the selector picks. */
  select(selector: Selector): Promise<string[]>;
  /** Points of one series with start <= t < end, sorted, one per timestamp. */
  readRange(series: string, start: number, end: number): Promise<Samples>;
}

export interface QueryRequest {
  selector: Selector;
  start: number;
  end: number;
  fn?: AggregateFn;
  q?: number;
  step?: number;
  /** Labels to group by (needs fn); [] pools every selected series into one group. */
  groupBy?: string[];
}

export type QueryResult =
  | { series: string; points: Samples }
  | { series: string; buckets: Bucket[] }
  | { group: Record<string, string>; buckets: Bucket[] };

export interface QueryLimits {
  maxSeries?: number;
  maxPoints?: number;
}

export const DEFAULT_MAX_SERIES = 10_000;
export const DEFAULT_MAX_POINTS = 50_000_000;
export const MAX_GROUP_BY = 32;
/** Series read at once; bounds the reads in flight per query. */
const READ_CONCURRENCY = 16;

const BODY_FIELDS: ReadonlySet<string> = new Set([
  'select',
  'start',
  'end',
  'fn',
  'q',
  'step',
  'groupBy',
]);

function invalidQuery(message: string, field?: string, details?: Record<string, unknown>) {
  return new CountError('invalid_query', message, { field, details });
}

function invalidParameter(message: string, field: string) {
  return new CountError('invalid_parameter', message, { field });
}

function checkGroupBy(groupBy: unknown): string[] {
  if (!Array.isArray(groupBy)) {
    throw invalidParameter('groupBy must be a list of label names, e.g. ["host"]', 'groupBy');
  }
  if (groupBy.length > MAX_GROUP_BY) {
    throw invalidParameter(
      `groupBy has ${groupBy.length} labels; the limit is ${MAX_GROUP_BY}`,
      'groupBy',
    );
  }
  const seen = new Set<string>();
  for (const name of groupBy as unknown[]) {
    if (
      typeof name !== 'string' ||
      !LABEL_NAME_PATTERN.test(name) ||
      (name.startsWith('__') && name !== NAME_LABEL)
    ) {
      throw invalidParameter(
        `groupBy: ${JSON.stringify(name)} is not a label name ([A-Za-z_][A-Za-z0-9_]*, or __name__)`,
        'groupBy',
      );
    }
    if (seen.has(name)) {
      throw invalidParameter(`groupBy: label ${JSON.stringify(name)} appears twice`, 'groupBy');
    }
    seen.add(name);
  }
  return groupBy as string[];
}

/**
 * Checks a request built in code or received from a peer; parseQueryRequest produces valid ones.
 * Throws CountError naming the field.
 */
export function validateQueryRequest(req: QueryRequest): QueryRequest {
  validateSelector(req.selector, 'select');
  checkRange(req.start, req.end, req.step);
  if (req.fn === undefined) {
    if (req.step !== undefined) throw invalidQuery('step needs fn (e.g. "fn": "mean")', 'step');
    if (req.groupBy !== undefined) {
      throw invalidQuery('groupBy needs fn (e.g. "fn": "sum")', 'groupBy');
    }
    if (req.q !== undefined) throw invalidQuery('q is only used with fn=percentile', 'q');
    return req;
  }
  parseAggregateFn(req.fn);
  if (req.fn === 'percentile') {
    if (req.q === undefined) {
      throw invalidParameter('q is required for fn=percentile (0 <= q <= 1)', 'q');
    }
    parseQuantile(req.q);
  } else if (req.q !== undefined) {
    throw invalidQuery('q is only used with fn=percentile', 'q');
  }
  if (req.groupBy !== undefined) checkGroupBy(req.groupBy);
  return req;
}

/**
 * Validates the JSON body of POST /query:
 * {"select","start","end","fn","q","step","groupBy"}; start and end are integer ms (start
 * inclusive, end exclusive), step a duration ("5m") or integer ms. Unknown fields are rejected.
 */
export function parseQueryRequest(body: unknown): QueryRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new CountError(
      'invalid_body',
      'the query body must be a JSON object such as {"select":"cpu{host=\\"h1\\"}","start":0,"end":60000}',
    );
  }
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) {
    if (!BODY_FIELDS.has(k)) {
      throw invalidQuery(
        `unknown field ${JSON.stringify(k)} in the query body; allowed: ${[...BODY_FIELDS].join(', ')}`,
        k,
      );
    }
  }
  if (b.select === undefined) {
    throw new CountError('invalid_selector', 'select is required, e.g. "cpu{host=\\"h1\\"}"', {
      field: 'select',
    });
  }
  const selector = parseSelector(b.select as string, 'select');
  for (const f of ['start', 'end'] as const) {
    if (b[f] === undefined) {
      throw invalidParameter(`${f} is required (integer milliseconds since the epoch)`, f);
    }
  }
  const req: QueryRequest = { selector, start: b.start as number, end: b.end as number };
  if (b.fn !== undefined) req.fn = parseAggregateFn(b.fn);
  if (b.q !== undefined) {
    if (req.fn !== 'percentile') throw invalidQuery('q is only used with fn=percentile', 'q');
    req.q = parseQuantile(b.q);
  }
  if (b.step !== undefined) {
    if (typeof b.step !== 'string' && typeof b.step !== 'number') {
      throw invalidParameter('step must be a duration such as "5m" or integer ms', 'step');
    }
    req.step = parseStep(b.step);
  }
  if (b.groupBy !== undefined) req.groupBy = checkGroupBy(b.groupBy);
  return validateQueryRequest(req);
}

/** Keeps only points with start <= t < end (sources should already, this is cheap insurance). */
function clip(s: Samples, start: number, end: number): Samples {
  const ts = s.timestamps;
  const n = ts.length;
  if (n === 0 || (ts[0] >= start && ts[n - 1] < end)) return s;
  let lo = 0;
  while (lo < n && ts[lo] < start) lo++;
  let hi = n;
  while (hi > lo && ts[hi - 1] >= end) hi--;
  return { timestamps: ts.subarray(lo, hi), values: s.values.subarray(lo, hi) };
}

/**
 * Runs a query. Results are sorted by series key, or by group values in groupBy order; series
 * (and groups) without points in the range are left out. Throws CountError('invalid_query')
 * past `maxSeries` selected series or `maxPoints` points read.
 */
export async function executeQuery(
  source: SeriesSource,
  req: QueryRequest,
  limits: QueryLimits = {},
): Promise<QueryResult[]> {
  validateQueryRequest(req);
  const maxSeries = limits.maxSeries ?? DEFAULT_MAX_SERIES;
  const maxPoints = limits.maxPoints ?? DEFAULT_MAX_POINTS;
  const keys = [...(await source.select(req.selector))].sort();
  if (keys.length > maxSeries) {
    throw invalidQuery(
      `the selector matches ${keys.length} series; a query may read at most ${maxSeries}; narrow the selector`,
      'select',
      { series: keys.length, limit: maxSeries },
    );
  }
  const { start, end, fn } = req;
  const results: QueryResult[] = [];
  const groups = req.groupBy === undefined ? null : new SeriesGroups<Samples[]>(req.groupBy);
  let points = 0;

  const take = (key: string, s: Samples) => {
    if (s.timestamps.length === 0) return;
    if (fn === undefined) {
      results.push({ series: key, points: s });
    } else if (req.groupBy === undefined) {
      const buckets = aggregate([s], { fn, start, end, step: req.step, q: req.q });
      if (buckets.length > 0) results.push({ series: key, buckets });
    } else {
      groups?.add(key, [s], (parts, more) => {
        parts.push(...more);
        return parts;
      });
    }
  };

  for (let at = 0; at < keys.length; at += READ_CONCURRENCY) {
    const wave = keys.slice(at, at + READ_CONCURRENCY);
    const read = await Promise.all(wave.map((k) => readOrEmpty(source, k, start, end)));
    for (let k = 0; k < wave.length; k++) {
      const s = clip(read[k], start, end);
      points += s.timestamps.length;
      if (points > maxPoints) {
        throw invalidQuery(
          `the query reads more than ${maxPoints} points; narrow the selector or the time range`,
          undefined,
          { limit: maxPoints },
        );
      }
      take(wave[k], s);
    }
  }

  if (fn === undefined || groups === null) return results;
  return groups.results((parts) => aggregate(parts, { fn, start, end, step: req.step, q: req.q }));
}

/** A series deleted between select and read has no points rather than failing the query. */
async function readOrEmpty(
  source: SeriesSource,
  key: string,
  start: number,
  end: number,
): Promise<Samples> {
  try {
    return await source.readRange(key, start, end);
  } catch (e) {
    if (isCountError(e) && e.code === 'series_not_found') {
      return { timestamps: new Float64Array(0), values: new Float64Array(0) };
    }
    throw e;
  }
}
