import { parseSeriesKey } from '../model/series.js';
import type { Bucket } from './aggregate.js';
import type { QueryResult } from './execute.js';
import { labelValue } from './selectors.js';

/**
 * Grouping for `groupBy` queries, shared by the single-node executor and the cluster's query
 * router: series with the same values of the groupBy labels form one group, and the groups are
 * answered sorted by those values.
 */
export class SeriesGroups<T> {
  private readonly groups = new Map<string, { values: string[]; acc: T }>();

  constructor(private readonly groupBy: readonly string[]) {}

  /** Adds a series' contribution to its group (`merge` folds it into the group's so far). */
  add(seriesKey: string, item: T, merge: (acc: T, item: T) => T): void {
    const parsed = parseSeriesKey(seriesKey);
    const values = this.groupBy.map((l) => labelValue(parsed, l));
    const id = JSON.stringify(values);
    const g = this.groups.get(id);
    if (g === undefined) this.groups.set(id, { values, acc: item });
    else g.acc = merge(g.acc, item);
  }

  /** One result per group with buckets, sorted by the groupBy values. */
  results(bucketsOf: (acc: T) => Bucket[]): QueryResult[] {
    const results: QueryResult[] = [];
    const sorted = [...this.groups.values()].sort((a, b) => compareTuples(a.values, b.values));
    for (const g of sorted) {
      const buckets = bucketsOf(g.acc);
      if (buckets.length === 0) continue;
      const group: Record<string, string> = {};
      this.groupBy.forEach((label, k) => {
        group[label] = g.values[k];
      });
      results.push({ group, buckets });
    }
    return results;
  }
}

function compareTuples(a: readonly string[], b: readonly string[]): number {
  for (let k = 0; k < a.length; k++) {
    if (a[k] !== b[k]) return a[k] < b[k] ? -1 : 1;
  }
  return 0;
}
