import type { RangeBounds } from '../cluster/cluster-state.js';
import { writeRepair } from '../cluster/repair-write.js';
import { decodeBatch } from '../cluster/samples-codec.js';
import { CountError } from '../model/errors.js';
import type { StorageEngine } from '../storage/engine.js';
import { DATA_STREAM, type StreamAnswer } from './data-messages.js';
import type { ReplicaClient } from './replica-client.js';

export interface StreamOptions {
  /** Points per page: the memory a stream holds at once. */
  pagePoints: number;
  /** Bound on pages (a guard against a peer that never says "done"). */
  maxPages: number;
  pageTimeoutMs: number;
}

export const DEFAULT_STREAM_OPTIONS: StreamOptions = {
  pagePoints: 50_000,
  maxPages: 1_000_000,
  pageTimeoutMs: 30_000,
};

/**
 * Pulls every series and point of a token range from a peer into the local engine, page by
 * page (cursor = series key and last timestamp), so memory stays bounded by one page. Used by
 * join and decommission (the new owner pulls from a current one). Writes are repair writes:
 * streamed points may be older than the engine's out-of-order window.
 */
export async function streamRange(
  engine: StorageEngine,
  client: ReplicaClient,
  range: RangeBounds,
  fromPeer: string,
  options: Partial<StreamOptions> = {},
): Promise<{ series: number; points: number }> {
  const opts = { ...DEFAULT_STREAM_OPTIONS, ...options };
  let afterSeries: string | null = null;
  let afterTimestamp = -1;
  /** The series a page continues (cut mid-series by the previous page), counted already. */
  let continuing: string | null = null;
  let series = 0;
  let points = 0;
  for (let page = 0; page < opts.maxPages; page++) {
    const answer: StreamAnswer = await client.call<StreamAnswer>(
      fromPeer,
      DATA_STREAM,
      { range: [range.start, range.end], afterSeries, afterTimestamp, maxPoints: opts.pagePoints },
      opts.pageTimeoutMs,
    );
    const batch = decodeBatch(answer.batch);
    await writeRepair(engine, batch);
    points += batch.length;
    // A series split over pages is counted once: only where it starts.
    series += batch.series.filter((k) => k !== continuing).length;
    if (answer.next === null) return { series, points };
    afterSeries = answer.next.series;
    afterTimestamp = answer.next.after;
    continuing = afterTimestamp >= 0 ? afterSeries : null;
  }
  throw new CountError(
    'internal',
    `streamRange: more than ${opts.maxPages} pages from ${fromPeer}`,
  );
}
