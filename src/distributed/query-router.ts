import type { TokenRange } from '../cluster/ring.js';
import { rangeContains } from '../cluster/ring.js';
import { decodeSamples } from '../cluster/samples-codec.js';
import { CountError } from '../model/errors.js';
import { EMPTY_SAMPLES, type Samples } from '../model/point.js';
import type { Selector } from '../model/selector.js';
import {
  DEFAULT_MAX_POINTS,
  DEFAULT_MAX_SERIES,
  executeQuery,
  type QueryRequest,
  type QueryResult,
  validateQueryRequest,
} from '../query/execute.js';
import { SeriesGroups } from '../query/group-by.js';
import { mergeSamples } from '../query/merge.js';
import {
  finishPartial,
  isMergeable,
  type MergeableFn,
  mergePartials,
  type PartialAggregate,
  partialAggregate,
} from '../query/partial-aggregate.js';
import type { Consistency, QueryOutcome } from '../server/data-service.js';
import { type LivenessSource, type MetadataSource, rangeName } from './cluster-view.js';
import { consistencyUnavailable, requiredReplicas } from './consistency.js';
import { DATA_QUERY, type QueryAnswer, staleEpochOf } from './data-messages.js';
import { decodePartial } from './partial-codec.js';
import type { ReadPath } from './read-path.js';
import type { ReplicaClient } from './replica-client.js';
import { preferredOrder } from './replica-fanout.js';
import type { ReplicaService } from './replica-service.js';
import type { TokenCache } from './token-cache.js';
import { MAX_EPOCH_RETRIES } from './write-path.js';

/** Series read at once when replicas disagree on pushed-down partials. */
const READ_CONCURRENCY = 16;

export interface QueryRouterLimits {
  maxSeries: number;
  maxPoints: number;
}

/** One range's progress: replicas asked, and those whose answer covers it. */
interface RangeState {
  range: TokenRange;
  required: number;
  candidates: string[];
  next: number;
  answered: string[];
}

/** What one replica said about one series. */
interface SeriesEntry {
  replica: string;
  hi: number;
  lo: number;
  points?: Samples;
  partial?: Record<string, Uint8Array>;
}

interface SeriesState {
  range: RangeState;
  entries: SeriesEntry[];
}

/**
 * Multi-series queries across the cluster: every token range is asked of enough replicas for
 * the level (one request per replica covering all the ranges it was given, failures replaced by
 * the range's next replica), the answers merged per series, and the result aggregated here.
 *
 * Mergeable functions (sum, count, min, max, mean, stddev) are pushed down: replicas answer a
 * partial aggregate per series plus an order-independent digest of its points. Replicas of a
 * range that agree on a series' digest hold the same points, so one partial is exact; where they
 * disagree the coordinator reads the points and merges them by the convergence rule first.
 *
 * A range that no replica answered (or fewer than the level needs) is named in `missing` with
 * a warning and the answer is `partial: true`: never silently incomplete.
 */
export class QueryRouter {
  constructor(
    private readonly metadata: MetadataSource,
    private readonly client: ReplicaClient,
    private readonly liveness: LivenessSource,
    private readonly local: ReplicaService,
    private readonly readPath: ReadPath,
    private readonly tokens: TokenCache,
    private readonly limits: Partial<QueryRouterLimits> = {},
  ) {}

  async query(req: QueryRequest, level: Consistency): Promise<QueryOutcome> {
    validateQueryRequest(req);
    const maxSeries = this.limits.maxSeries ?? DEFAULT_MAX_SERIES;
    const maxPoints = this.limits.maxPoints ?? DEFAULT_MAX_POINTS;
    const pushdown =
      req.fn !== undefined && isMergeable(req.fn) ? (req.fn as MergeableFn) : undefined;
    for (let attempt = 0; ; attempt++) {
      const ring = this.metadata.ring();
      const ranges = ring.ranges();
      if (ranges.length === 0) throw consistencyUnavailable('a query', level, 0, 1);
      const states = ranges.map<RangeState>((range) => ({
        range,
        required: requiredReplicas(level, range.replicas.length),
        candidates: preferredOrder(range.replicas, this.client.self, this.liveness),
        next: 0,
        answered: [],
      }));
      const message: Record<string, unknown> = {
        // Replacements asked in later rounds carry the plan's epoch too.
        epoch: ring.epoch,
        selector: req.selector,
        start: req.start,
        end: req.end,
        maxSeries,
        maxPoints,
      };
      if (pushdown !== undefined) message.fn = pushdown;
      if (pushdown !== undefined && req.step !== undefined) message.step = req.step;
      const { series, stale, failures } = await this.fanOut(states, message, maxSeries);
      // A stale refusal means the plan is old, even when other replicas filled in for the
      // refusing one: they may no longer own the range. Re-plan with the newer ring.
      if (stale && attempt < MAX_EPOCH_RETRIES) continue;
      const short = states.filter((s) => s.answered.length < s.required);

      const degraded: { range: RangeState; why: string }[] = [];
      const results =
        pushdown === undefined
          ? await this.finishRaw(req, series, maxSeries, maxPoints)
          : await this.finishPushdown(req, pushdown, series, degraded, ring.epoch);
      const missing: string[] = [];
      const warnings: string[] = [];
      for (const { range, why } of degraded) {
        if (short.includes(range)) continue;
        if (!missing.includes(rangeName(range.range))) missing.push(rangeName(range.range));
        warnings.push(
          `token range ${rangeName(range.range)} fell short of consistency ${level}: ${why}`,
        );
      }
      for (const s of short) {
        missing.push(rangeName(s.range));
        const tried = s.candidates.slice(0, s.next);
        const why = tried.map((r) => `${r}: ${describe(failures.get(r))}`).join('; ');
        warnings.push(
          s.answered.length === 0
            ? `token range ${rangeName(s.range)} had no reachable replica (${why || 'no replicas'})`
            : `token range ${rangeName(s.range)} was answered by ${s.answered.length} of the ${s.required} replicas consistency ${level} needs (${why})`,
        );
      }
      const outcome: QueryOutcome = { results, partial: missing.length > 0 };
      if (missing.length > 0) {
        outcome.missing = missing;
        outcome.warnings = warnings;
      }
      return outcome;
    }
  }

  /**
   * Sends each replica one request for the ranges assigned to it, in rounds: a range whose
   * replica failed is given to its next candidate. At most rf rounds.
   */
  private async fanOut(
    states: RangeState[],
    message: Record<string, unknown>,
    maxSeries: number,
  ): Promise<{ series: Map<string, SeriesState>; stale: boolean; failures: Map<string, unknown> }> {
    const series = new Map<string, SeriesState>();
    const failures = new Map<string, unknown>();
    let stale = false;
    for (let round = 0; round < 16; round++) {
      const assigned = new Map<string, RangeState[]>();
      for (const s of states) {
        let want = s.required - s.answered.length;
        while (want > 0 && s.next < s.candidates.length) {
          const r = s.candidates[s.next++];
          if (failures.has(r)) continue;
          let list = assigned.get(r);
          if (list === undefined) {
            list = [];
            assigned.set(r, list);
          }
          list.push(s);
          want--;
        }
      }
      if (assigned.size === 0) break;
      await Promise.all(
        [...assigned].map(async ([replica, list]) => {
          const payload = { ...message, ranges: list.map((s) => [s.range.start, s.range.end]) };
          try {
            const answer =
              replica === this.client.self
                ? await this.local.query(payload)
                : await this.client.call<QueryAnswer>(replica, DATA_QUERY, payload);
            this.collect(replica, list, answer, series, maxSeries);
            for (const s of list) s.answered.push(replica);
          } catch (e) {
            if (e instanceof CountError && e.code === 'invalid_query') throw e;
            if (staleEpochOf(e) !== undefined) stale = true;
            failures.set(replica, e);
          }
        }),
      );
    }
    return { series, stale, failures };
  }

  private collect(
    replica: string,
    ranges: RangeState[],
    answer: QueryAnswer,
    series: Map<string, SeriesState>,
    maxSeries: number,
  ): void {
    if (!Array.isArray(answer.series) || !Array.isArray(answer.digests)) {
      throw new CountError('internal', `malformed query answer from ${replica}`);
    }
    for (let i = 0; i < answer.series.length; i++) {
      const key = answer.series[i];
      const token = this.tokens.tokenOf(key);
      const range = ranges.find((s) => rangeContains(s.range, token));
      if (range === undefined) continue; // not asked of this replica: ignore
      let st = series.get(key);
      if (st === undefined) {
        if (series.size >= maxSeries) {
          throw new CountError(
            'invalid_query',
            `the selector matches more than ${maxSeries} series; a query may read at most ${maxSeries}; narrow the selector`,
            { field: 'select', details: { limit: maxSeries } },
          );
        }
        st = { range, entries: [] };
        series.set(key, st);
      }
      const entry: SeriesEntry = {
        replica,
        hi: answer.digests[2 * i],
        lo: answer.digests[2 * i + 1],
      };
      if (answer.points !== undefined) entry.points = decodeSamples(answer.points[i]);
      if (answer.partials !== undefined) entry.partial = answer.partials[i];
      st.entries.push(entry);
    }
  }

  /** Raw points (and functions that need them): merge per series, then run the query here. */
  private async finishRaw(
    req: QueryRequest,
    series: Map<string, SeriesState>,
    maxSeries: number,
    maxPoints: number,
  ): Promise<QueryResult[]> {
    const merged = new Map<string, Samples>();
    for (const [key, st] of series) {
      merged.set(key, mergeSamples(st.entries.map((e) => e.points ?? EMPTY_SAMPLES)));
    }
    const source = {
      select: async (_selector: Selector) => [...merged.keys()],
      readRange: async (key: string) => merged.get(key) ?? EMPTY_SAMPLES,
    };
    return executeQuery(source, req, { maxSeries, maxPoints });
  }

  /** Partial aggregates: one per series where its replicas agree, else merged points. */
  private async finishPushdown(
    req: QueryRequest,
    fn: MergeableFn,
    series: Map<string, SeriesState>,
    degraded: { range: RangeState; why: string }[],
    epoch: number,
  ): Promise<QueryResult[]> {
    const { start, end, step } = req;
    const partials = new Map<string, PartialAggregate>();
    const disagreeing: string[] = [];
    for (const key of [...series.keys()].sort()) {
      const st = series.get(key)!;
      const first = st.entries[0];
      const agree =
        st.entries.length === st.range.answered.length &&
        st.entries.every((e) => e.hi === first.hi && e.lo === first.lo);
      if (agree) partials.set(key, decodePartial(first.partial, fn, start, end, step));
      else disagreeing.push(key);
    }
    // Replicas differ on these: merge their points by the convergence rule (and repair them),
    // a bounded number of series at a time.
    for (let at = 0; at < disagreeing.length; at += READ_CONCURRENCY) {
      await Promise.all(
        disagreeing.slice(at, at + READ_CONCURRENCY).map(async (key) => {
          const st = series.get(key)!;
          const read = await Promise.all(
            st.range.answered.map(async (r) => {
              try {
                return [r, await this.readPath.readOne(r, key, start, end, epoch)] as const;
              } catch (e) {
                // The replica answered the fan-out but not this read: the range falls short.
                degraded.push({
                  range: st.range,
                  why: `${r} failed reading ${key}: ${describe(e)}`,
                });
                return undefined;
              }
            }),
          );
          const answers = read.filter((a) => a !== undefined);
          if (answers.length === 0) return;
          const points = mergeSamples(answers.map(([, a]) => a.points));
          await this.readPath.repair(
            key,
            points,
            answers.map(([r, a]) => [r, a]),
          );
          partials.set(key, partialAggregate([points], { fn, start, end, step }));
        }),
      );
    }
    const results: QueryResult[] = [];
    // Sorted by series key, as a single node answers (and a deterministic merge order).
    const sorted = [...partials].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    if (req.groupBy === undefined) {
      for (const [key, p] of sorted) {
        const buckets = finishPartial(p);
        if (buckets.length > 0) results.push({ series: key, buckets });
      }
      return results;
    }
    const groups = new SeriesGroups<PartialAggregate>(req.groupBy);
    for (const [key, p] of sorted) groups.add(key, p, mergePartials);
    return groups.results(finishPartial);
  }
}

function describe(e: unknown): string {
  if (e === undefined) return 'not asked';
  if (e instanceof Error) return e.message;
  return String(e);
}
