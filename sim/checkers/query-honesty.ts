import { tokenOf } from '../../src/cluster/ring.js';
import { EMPTY_SAMPLES, type Samples } from '../../src/model/point.js';
import { type ClusterHistory, lackedPoint } from '../cluster-history.js';

/**
 * Query honesty: a multi-series query answered at quorum with `partial: false` holds every
 * point acknowledged (at quorum or all) before it was invoked, for every selected series; one
 * marked partial names missing token ranges ("start..end", start exclusive, end inclusive)
 * that cover every series it lacks points of. Never silently incomplete.
 */
export interface QueryAnswer {
  readonly invokedAt: number;
  readonly coordinator: string;
  readonly start: number;
  readonly end: number;
  /** Series the query selects (the workload's selector matches every series it writes). */
  readonly selected: readonly string[];
  readonly results: ReadonlyMap<string, Samples>;
  readonly partial: boolean;
  readonly missing: readonly string[];
}

export function checkQueryAnswer(history: ClusterHistory, q: QueryAnswer): string | null {
  const where = `query invoked at ${q.invokedAt}ms via ${q.coordinator}`;
  if (q.partial && q.missing.length === 0) return `${where}: partial but names no missing range`;
  if (!q.partial && q.missing.length > 0) {
    return `${where}: names missing ranges ${q.missing.join(', ')} but is not marked partial`;
  }
  const ranges = q.missing.map(parseRange);
  for (const series of q.selected) {
    const samples = q.results.get(series) ?? EMPTY_SAMPLES;
    const why = lackedPoint(history, series, samples, q.start, q.end, q.invokedAt);
    if (why === null) continue;
    if (!q.partial) return `${where}: not partial, but ${why}`;
    const token = tokenOf(series);
    if (!ranges.some((r) => r !== null && inRange(token, r.start, r.end))) {
      return `${where}: partial, but ${series} (token ${token}) is outside the missing ranges [${q.missing.join(', ')}] and ${why}`;
    }
  }
  return null;
}

/**
 * An aggregated quorum query (`count` or `max` per series over the whole window, pushed down
 * to the replicas as partial aggregates) is exact when not partial: the count lies between the
 * distinct timestamps acknowledged before it and those ever sent; the max between the largest
 * acknowledged value and the largest ever sent. A series outside those bounds must be in a
 * missing range of a partial answer.
 */
export interface AggregateAnswer extends Omit<QueryAnswer, 'results'> {
  readonly fn: 'count' | 'max';
  /** Per series, the aggregate over the window (absent: no bucket). */
  readonly values: ReadonlyMap<string, number>;
}

export function checkAggregateAnswer(history: ClusterHistory, q: AggregateAnswer): string | null {
  const where = `${q.fn} query invoked at ${q.invokedAt}ms via ${q.coordinator}`;
  if (q.partial !== q.missing.length > 0) {
    return `${where}: partial is ${q.partial} with missing [${q.missing.join(', ')}]`;
  }
  const ranges = q.missing.map(parseRange);
  for (const series of q.selected) {
    const acked = history
      .ackedOf(series)
      .filter((p) => p.ackedAt < q.invokedAt && p.timestamp >= q.start && p.timestamp < q.end);
    if (acked.length === 0) continue;
    const sent = history.sentOf(series);
    const got = q.values.get(series);
    let why: string | null = null;
    if (got === undefined) why = `${series} has no result`;
    else if (q.fn === 'count') {
      const low = new Set(acked.map((p) => p.timestamp)).size;
      if (got < low || got > sent.timestamps) {
        why = `${series} count ${got} outside [${low}, ${sent.timestamps}]`;
      }
    } else {
      const low = Math.max(...acked.map((p) => p.value));
      if (got < low || got > sent.max) why = `${series} max ${got} outside [${low}, ${sent.max}]`;
    }
    if (why === null) continue;
    if (!q.partial) return `${where}: not partial, but ${why}`;
    const token = tokenOf(series);
    if (!ranges.some((r) => r !== null && inRange(token, r.start, r.end))) {
      return `${where}: partial, but ${series} (token ${token}) is outside the missing ranges and ${why}`;
    }
  }
  return null;
}

function parseRange(name: string): { start: string; end: string } | null {
  const m = /^([0-9a-f]{16})\.\.([0-9a-f]{16})$/.exec(name);
  return m === null ? null : { start: m[1], end: m[2] };
}

/** Token in (start, end], wrapping past the top of the ring; start === end is the whole ring. */
function inRange(t: string, start: string, end: string): boolean {
  if (start < end) return t > start && t <= end;
  return t > start || t <= end;
}
