import type { PointBatch } from '../model/batch.js';
import type { Samples } from '../model/point.js';
import type { Selector } from '../model/selector.js';

/** When a write is acknowledged relative to the WAL fsync that covers it. */
export type FsyncMode =
  /** every write fsyncs before it is acknowledged (one fsync per write) */
  | 'always'
  /** a write is acknowledged after the fsync that covers it; concurrent writers share one */
  | 'batch'
  /** acknowledged at once; the WAL is fsynced every `fsyncIntervalMs` (may lose that much) */
  | 'interval';

export interface EngineOptions {
  fsync: FsyncMode;
  fsyncIntervalMs: number;
  /** Time window of one block, and the head's span before it is cut to disk. */
  blockRangeMs: number;
  /** Points up to this much older than the head's newest point are accepted. */
  outOfOrderWindowMs: number;
  /** Blocks whose whole window is older than this are deleted; 0 keeps everything. */
  retentionMs: number;
  /** Past this estimate of head memory, writes fail with memory_limit_exceeded. */
  headMemoryLimitBytes: number;
  /** A head chunk is cut after this many points. */
  maxPointsPerChunk: number;
  walSegmentBytes: number;
}

export const DEFAULT_ENGINE_OPTIONS: EngineOptions = {
  fsync: 'batch',
  fsyncIntervalMs: 1000,
  blockRangeMs: 2 * 3600_000,
  outOfOrderWindowMs: 3600_000,
  retentionMs: 0,
  headMemoryLimitBytes: 1024 * 1024 * 1024,
  maxPointsPerChunk: 120,
  walSegmentBytes: 64 * 1024 * 1024,
};

export interface EngineStats {
  headSeries: number;
  headPoints: number;
  headBytes: number;
  blocks: number;
  blockBytes: number;
  walSegments: number;
  walBytes: number;
  compactions: number;
  series: number;
}

/**
 * The storage engine of one node: WAL + memory head + immutable blocks. All methods that take
 * input validate it whole first and throw CountError without changing anything on bad input.
 */
export interface StorageEngine {
  /**
   * Writes a validated batch. Resolves once the batch is as durable as the fsync mode promises;
   * rejects with memory_limit_exceeded (retryable) past the head memory limit, or with
   * timestamp_out_of_window for points older than the out-of-order window.
   */
  write(batch: PointBatch): Promise<void>;
  /** Points of one series with start <= t < end, merged over head and blocks, deduplicated. */
  readRange(series: string, start: number, end: number): Promise<Samples>;
  /** Canonical keys of the series the selector picks, sorted. */
  select(selector: Selector): Promise<string[]>;
  /** Deletes a series and all its points; durable (a tombstone) before it resolves. */
  deleteSeries(series: string): Promise<boolean>;
  /** Writes the whole memory head out to blocks now and truncates the WAL. */
  flush(): Promise<void>;
  /** Merges adjacent blocks into larger windows. */
  compact(): Promise<void>;
  /** Deletes blocks past retention; returns how many. */
  applyRetention(): Promise<number>;
  stats(): EngineStats;
  /** Syncs the WAL and releases files; further calls fail. */
  close(): Promise<void>;
}
