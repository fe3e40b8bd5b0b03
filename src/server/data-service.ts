import type { PointBatch } from '../model/batch.js';
import type { Samples } from '../model/point.js';
import type { QueryRequest, QueryResult } from '../query/execute.js';
import type { EngineStats } from '../storage/engine.js';

/**
 * What the HTTP API asks of the data layer. The single-node server wires LocalDataService (one
 * storage engine); the distributed coordinator implements the same interface later, so the
 * routes do not change when the cluster arrives.
 */
export type Consistency = 'one' | 'quorum' | 'all';

export const CONSISTENCY_LEVELS: readonly Consistency[] = ['one', 'quorum', 'all'];

/** How a request was met: replicas that acknowledged out of those asked. */
export interface ReplicaCount {
  acknowledged: number;
  required: number;
}

export interface WriteOutcome extends ReplicaCount {
  written: number;
}

/** Token ranges (or other units) that had no reachable replica, for partial answers. */
export interface PartialInfo {
  partial: boolean;
  missing?: string[];
  warnings?: string[];
}

export interface RangeRead extends PartialInfo {
  /** False when no replica knows the series (404 series_not_found). */
  found: boolean;
  points: Samples;
}

export interface QueryOutcome extends PartialInfo {
  results: QueryResult[];
}

export interface DataService {
  /**
   * Writes a validated batch; resolves once `consistency` is met and the write is durable as the
   * fsync mode promises. Rejects with CountError (memory_limit_exceeded, consistency_unavailable,
   * timestamp_out_of_window, ...) having written nothing on validation errors.
   */
  write(batch: PointBatch, consistency: Consistency): Promise<WriteOutcome>;
  /** Points of one canonical series with start <= t < end. */
  readRange(
    series: string,
    start: number,
    end: number,
    consistency: Consistency,
  ): Promise<RangeRead>;
  query(request: QueryRequest, consistency: Consistency): Promise<QueryOutcome>;
  /** Writes the memory head out to blocks now. */
  flush(): Promise<void>;
  /** Storage figures of this node, for /metrics and /admin/status. */
  stats(): EngineStats;
  /** Syncs and releases storage; called once at shutdown after the last request finished. */
  close(): Promise<void>;
}
