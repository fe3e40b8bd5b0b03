import { ALL_SERIES } from '../cluster/anti-entropy.js';
import type { Token } from '../cluster/cluster-state.js';
import { samplesDigest } from '../cluster/merkle.js';
import { writeRepair } from '../cluster/repair-write.js';
import { rangeContains } from '../cluster/ring.js';
import { decodeBatch, encodeBatch, encodeSamples } from '../cluster/samples-codec.js';
import type { ClusterEnv } from '../env/cluster-env.js';
import { PointBatch } from '../model/batch.js';
import { CountError } from '../model/errors.js';
import { NAME_LABEL, type Selector } from '../model/selector.js';
import { isCanonical, parseSeriesKey } from '../model/series.js';
import { isMergeable } from '../query/partial-aggregate.js';
import { validateSelector } from '../query/selectors.js';
import type { StorageEngine } from '../storage/engine.js';
import { InFlightLimit } from './admission.js';
import type { MetadataSource } from './cluster-view.js';
import {
  DATA_QUERY,
  DATA_READ,
  DATA_STREAM,
  DATA_WRITE,
  type EpochAnswer,
  type QueryAnswer,
  type ReadAnswer,
  requireNumber,
  requireObject,
  type StreamAnswer,
  staleEpoch,
} from './data-messages.js';
import { encodePartial, partialOfSeries } from './partial-codec.js';
import type { TokenCache } from './token-cache.js';

/** Series read at once while answering a query or a stream page. */
const READ_CONCURRENCY = 16;
const END_OF_TIME = 2 ** 53;
/** The first time window a stream page reads of a series; each next one is 4 times wider. */
const FIRST_STREAM_WINDOW_MS = 60_000;
/** Largest stream page a peer may ask for. */
export const MAX_STREAM_PAGE_POINTS = 100_000;

export interface ReplicaServiceOptions {
  /** Data requests handled at once; past it, 'overloaded'. */
  maxInFlight: number;
}

/**
 * The replica side of the data plane: handlers of the 'data.*' requests other coordinators
 * send, served from the local engine. Writes, reads and queries refuse a coordinator behind
 * this node (stale_epoch with this node's epoch, so it catches up and re-plans); repair writes
 * and streams are served at any epoch (their data belongs here either way). Every handler runs
 * inside the in-flight bound.
 */
export class ReplicaService {
  readonly limit: InFlightLimit;

  constructor(
    env: ClusterEnv,
    private readonly engine: StorageEngine,
    private readonly metadata: MetadataSource,
    private readonly tokens: TokenCache,
    options: ReplicaServiceOptions,
  ) {
    this.limit = new InFlightLimit(options.maxInFlight, `replica ${env.nodeId}`);
    const net = env.net;
    net.on(DATA_WRITE, (from, p) => this.limit.run(() => this.onWrite(from, p)));
    net.on(DATA_READ, (from, p) => this.limit.run(() => this.onRead(from, p)));
    net.on(DATA_QUERY, (from, p) => this.limit.run(() => this.onQuery(from, p)));
    net.on(DATA_STREAM, (from, p) => this.limit.run(() => this.onStream(from, p)));
  }

  /**
   * Refuses a request from a coordinator behind this node; starts catching up when the
   * coordinator is ahead (this node serves meanwhile: its data does not depend on the epoch).
   */
  private checkEpoch(from: string, p: Record<string, unknown>, channel: string, refuse: boolean) {
    const theirs = requireNumber(p, 'epoch', channel);
    const mine = this.metadata.epoch();
    if (theirs < mine && refuse) throw staleEpoch(mine, theirs);
    if (theirs > mine) void this.metadata.catchUp(theirs, from).catch(() => undefined);
  }

  private async onWrite(from: string, payload: unknown): Promise<EpochAnswer> {
    const p = requireObject(payload, DATA_WRITE);
    const repair = p.repair === true;
    this.checkEpoch(from, p, DATA_WRITE, !repair);
    const batch = decodeBatch(p.batch);
    if (repair) await writeRepair(this.engine, batch);
    else await this.engine.write(batch);
    return { epoch: this.metadata.epoch() };
  }

  private async onRead(from: string, payload: unknown): Promise<ReadAnswer> {
    const p = requireObject(payload, DATA_READ);
    this.checkEpoch(from, p, DATA_READ, true);
    const series = p.series;
    if (typeof series !== 'string' || !isCanonical(series)) {
      throw new CountError('invalid_series', `${DATA_READ}: series must be a canonical key`);
    }
    const start = requireNumber(p, 'start', DATA_READ);
    const end = requireNumber(p, 'end', DATA_READ);
    const points = await this.engine.readRange(series, start, end);
    const found = points.timestamps.length > 0 || (await seriesExists(this.engine, series));
    return { epoch: this.metadata.epoch(), found, points: encodeSamples(points) };
  }

  private onQuery(from: string, payload: unknown): Promise<QueryAnswer> {
    const p = requireObject(payload, DATA_QUERY);
    this.checkEpoch(from, p, DATA_QUERY, true);
    return this.query(p);
  }

  /** Answers a query for the given token ranges from the local engine (also used locally). */
  async query(p: Record<string, unknown>): Promise<QueryAnswer> {
    const selector = validateSelector(p.selector, 'select');
    const start = requireNumber(p, 'start', DATA_QUERY);
    const end = requireNumber(p, 'end', DATA_QUERY);
    const maxSeries = requireNumber(p, 'maxSeries', DATA_QUERY);
    const maxPoints = requireNumber(p, 'maxPoints', DATA_QUERY);
    const ranges = checkRanges(p.ranges);
    const fn = p.fn;
    if (fn !== undefined && (typeof fn !== 'string' || !isMergeable(fn as never))) {
      throw new CountError('invalid_query', `${DATA_QUERY}: fn must be a mergeable function`);
    }
    const step = p.step === undefined ? undefined : requireNumber(p, 'step', DATA_QUERY);
    const keys = (await this.engine.select(selector)).filter((k) => {
      const t = this.tokens.tokenOf(k);
      return ranges.some((r) => rangeContains(r, t));
    });
    if (keys.length > maxSeries) {
      throw new CountError(
        'invalid_query',
        `the selector matches more than ${maxSeries} series; narrow the selector`,
        { field: 'select', details: { limit: maxSeries } },
      );
    }
    const answer: QueryAnswer = { epoch: 0, series: [], digests: [] };
    if (fn === undefined) answer.points = [];
    else answer.partials = [];
    let points = 0;
    for (let at = 0; at < keys.length; at += READ_CONCURRENCY) {
      const wave = keys.slice(at, at + READ_CONCURRENCY);
      const read = await Promise.all(wave.map((k) => this.engine.readRange(k, start, end)));
      for (let k = 0; k < wave.length; k++) {
        const s = read[k];
        if (s.timestamps.length === 0) continue;
        points += s.timestamps.length;
        if (points > maxPoints) {
          throw new CountError(
            'invalid_query',
            `the query reads more than ${maxPoints} points; narrow the selector or the time range`,
            { details: { limit: maxPoints } },
          );
        }
        const d = samplesDigest(wave[k], s);
        answer.series.push(wave[k]);
        answer.digests.push(d.hi, d.lo);
        if (fn === undefined) answer.points!.push(encodeSamples(s));
        else {
          answer.partials!.push(encodePartial(partialOfSeries(s, fn as never, start, end, step)));
        }
      }
    }
    answer.epoch = this.metadata.epoch();
    return answer;
  }

  private async onStream(from: string, payload: unknown): Promise<StreamAnswer> {
    const p = requireObject(payload, DATA_STREAM);
    this.checkEpoch(from, p, DATA_STREAM, false);
    const [range] = checkRanges([p.range]);
    const maxPoints = Math.min(
      MAX_STREAM_PAGE_POINTS,
      Math.max(1, requireNumber(p, 'maxPoints', DATA_STREAM)),
    );
    const afterSeries = typeof p.afterSeries === 'string' ? p.afterSeries : null;
    let after = requireNumber(p, 'afterTimestamp', DATA_STREAM);
    // Sorted keys of the range: the cursor is (series, timestamp), so pages resume exactly.
    const keys = (await this.engine.select(ALL_SERIES))
      .filter((k) => rangeContains(range, this.tokens.tokenOf(k)))
      .sort();
    let i = afterSeries === null ? 0 : lowerBound(keys, afterSeries);
    if (afterSeries === null || keys[i] !== afterSeries) after = -1;
    const batch = new PointBatch(Math.min(maxPoints, 1024));
    let series = 0;
    let next: StreamAnswer['next'] = null;
    for (; i < keys.length && next === null; i++) {
      const key = keys[i];
      let id = -1;
      // Geometric time windows from the cursor: a page reads about what it sends even for a
      // dense series, and a series' empty tail costs a few dozen cheap reads.
      let from = after + 1;
      after = -1;
      for (let width = FIRST_STREAM_WINDOW_MS; from < END_OF_TIME; width *= 4) {
        const to = Math.min(END_OF_TIME, from + width);
        const s = await this.engine.readRange(key, from, to);
        const room = maxPoints - batch.length;
        const take = Math.min(room, s.timestamps.length);
        if (take > 0 && id < 0) {
          id = batch.seriesId(key);
          series++;
        }
        for (let j = 0; j < take; j++) batch.addById(id, s.timestamps[j], s.values[j]);
        if (take < s.timestamps.length) {
          next = { series: key, after: s.timestamps[take - 1] };
          break;
        }
        from = to;
        if (batch.length >= maxPoints) {
          // Full at a window boundary: resume this series there, or the next one.
          if (from < END_OF_TIME) next = { series: key, after: from - 1 };
          else if (i + 1 < keys.length) next = { series: keys[i + 1], after: -1 };
          break;
        }
      }
    }
    return { epoch: this.metadata.epoch(), batch: encodeBatch(batch), series, next };
  }
}

function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const TOKEN_RE = /^[0-9a-f]{16}$/;

function checkRanges(ranges: unknown): { start: Token; end: Token }[] {
  if (!Array.isArray(ranges) || ranges.length === 0) {
    throw new CountError('invalid_body', 'data message: ranges must be a non-empty list');
  }
  return ranges.map((r) => {
    if (!Array.isArray(r) || !TOKEN_RE.test(r[0]) || !TOKEN_RE.test(r[1])) {
      throw new CountError('invalid_body', 'data message: a range is [startToken, endToken]');
    }
    return { start: r[0] as Token, end: r[1] as Token };
  });
}

/** True when the engine knows the series (it may have no points in a given range). */
export async function seriesExists(engine: StorageEngine, series: string): Promise<boolean> {
  const key = parseSeriesKey(series);
  const selector: Selector = [
    { name: NAME_LABEL, op: '=', value: key.name },
    ...key.labels.map(([name, value]) => ({ name, op: '=' as const, value })),
  ];
  return (await engine.select(selector)).includes(series);
}
