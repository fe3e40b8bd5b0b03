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

function parseRange(name: string): { start: string; end: string } | null {
  const m = /^([0-9a-f]{16})\.\.([0-9a-f]{16})$/.exec(name);
  return m === null ? null : { start: m[1], end: m[2] };
}

/** Token in (start, end], wrapping past the top of the ring; start === end is the whole ring. */
function inRange(t: string, start: string, end: string): boolean {
  if (start < end) return t > start && t <= end;
  return t > start || t <= end;
}
