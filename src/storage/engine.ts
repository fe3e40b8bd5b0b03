import { decodeChunk } from '../compression/chunk.js';
import type { Env, TimerHandle } from '../env/env.js';
import { assert } from '../model/assert.js';
import type { PointBatch } from '../model/batch.js';
import { CountError } from '../model/errors.js';
import { EMPTY_SAMPLES, MAX_TIMESTAMP_EXCLUSIVE, type Samples } from '../model/point.js';
import type { Selector } from '../model/selector.js';
import { isCanonical } from '../model/series.js';
import { mergeSamples } from '../query/merge.js';
import { lowerBound } from '../query/samples-range.js';
import { Block } from './block-reader.js';
import { BlockWriter } from './block-writer.js';
import { loadLatestCheckpoint, removeCheckpointsBefore, writeCheckpoint } from './checkpoint.js';
import { planCompaction, writeMergedBlock } from './compaction.js';
import {
  chunkMemory,
  chunkSamples,
  compressChunks,
  Head,
  type HeadSeries,
  headChunkOf,
  partsToSamples,
  readParts,
  type SeriesParts,
} from './head.js';
import { blocksPastRetention } from './retention.js';
import { SeriesIndex } from './series-index.js';
import { Tombstones } from './tombstones.js';
import { joinPath } from './vfs.js';
import { DEFAULT_MAX_RECORD_BYTES, Wal } from './wal.js';
import {
  decodeRefSamplesRecord,
  decodeSamplesRecord,
  decodeTombstoneRecord,
  encodeRefSamplesRecord,
  encodeTombstoneRecord,
  RefTable,
  refDefBytes,
  refSamplesRecordBytes,
  WAL_RECORD_REF_SAMPLES,
  WAL_RECORD_SAMPLES,
  WAL_RECORD_TOMBSTONE,
  walRecordKind,
} from './wal-records.js';

const utf8 = new TextEncoder();

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
  /** Points more than this far ahead of env.now() are rejected (timestamp_out_of_window); 0 disables. */
  maxFutureMs: number;
  /** Chunks in blocks hold up to this many points (long chunks compress best). */
  blockChunkMaxPoints: number;
  /**
   * Window sizes compaction merges blocks into, ascending; each a multiple of blockRangeMs.
   * Empty: 3 x and 12 x blockRangeMs (2h -> 6h -> 24h with the default range).
   */
  compactionRangesMs: readonly number[];
  /** How often the head-cut / compaction / retention task runs. */
  maintenanceIntervalMs: number;
  /**
   * Past this many WAL bytes, maintenance checkpoints the head (without cutting it) so the WAL
   * can be truncated: bounds the WAL, and replay time, under fast ingest.
   */
  walCheckpointBytes: number;
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
  maxFutureMs: 24 * 3600_000,
  blockChunkMaxPoints: 4096,
  compactionRangesMs: [],
  maintenanceIntervalMs: 30_000,
  walCheckpointBytes: 512 * 1024 * 1024,
};

/** Options of one write. */
export interface WriteOptions {
  /**
   * Accept points older than the out-of-order window. For the cluster's repair paths only
   * (hinted handoff, read repair, anti-entropy, range streaming: src/cluster/repair-write.ts),
   * which write data that is old by nature; client writes never set it (the window keeps them
   * near "now"). Everything else still applies: valid timestamps, `maxFutureMs`, the memory
   * limit, WAL first. Old points go through the head like late ones and are cut into blocks of
   * their own windows (a second block beside one already there, merged by compaction).
   */
  allowOld?: boolean;
}

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
   * timestamp_out_of_window for points older than the out-of-order window (unless
   * `options.allowOld`: see WriteOptions).
   */
  write(batch: PointBatch, options?: WriteOptions): Promise<void>;
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

// ---------------------------------------------------------------------------------------------
// The engine: WAL + head + blocks. Layout under env.vfs (docs/storage.md):
//   wal/           WAL segments (wal.ts), records from wal-records.ts
//   blocks/<id>/   immutable blocks (block-format.ts)
//   checkpoints/   the head's content at the last cut (checkpoint.ts)
//   tombstones     series deletions (tombstones.ts)

export const BLOCKS_DIR = 'blocks';
export const WAL_DIR = 'wal';
const TMP_SUFFIX = '.tmp';
/** A block is renamed to this first when removed, so a crash mid-removal leaves no half block. */
const DELETING_SUFFIX = '.del';
/** Past this share of the memory limit, maintenance writes the whole head out. */
const MEMORY_PRESSURE_SHARE = 0.6;
/** Windows a head cut writes at once (each an open block writer); more take several passes. */
const MAX_WINDOWS_PER_PASS = 16;
/**
 * Background work (a head cut's block writes, checkpoint encoding) yields to the event loop
 * after running this long, so requests are served between slices instead of waiting out a
 * whole cut (~1 s of CPU with 10,000 series).
 */
const SLICE_MS = 10;
/**
 * Closed head chunks may stay uncompressed up to this share of headMemoryLimitBytes (16 bytes a
 * point, against ~1-2 compressed): below it a point is compressed once, at the block write.
 */
const RAW_CHUNK_SHARE = 0.25;
/** Bound on compaction rounds per run (each round merges every group it planned). */
const MAX_COMPACTION_ROUNDS = 16;

/** Data taken out of the head, queryable until its blocks are loaded. */
interface PendingCut {
  data: Map<string, SeriesParts>;
  /** Block window index -> the seq reserved for its block at cut time. */
  seqs: Map<number, number>;
  firstSeq: number;
  bytes: number;
  points: number;
}

export function resolveEngineOptions(options: Partial<EngineOptions> = {}): EngineOptions {
  const o: EngineOptions = { ...DEFAULT_ENGINE_OPTIONS };
  for (const [k, v] of Object.entries(options)) {
    if (v !== undefined) (o as unknown as Record<string, unknown>)[k] = v;
  }
  const positive = (name: keyof EngineOptions, min = 1) => {
    const v = o[name];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
      throw new CountError(
        'invalid_parameter',
        `storage option ${name} must be a number >= ${min}`,
        {
          field: name,
        },
      );
    }
  };
  positive('blockRangeMs');
  positive('outOfOrderWindowMs', 0);
  positive('retentionMs', 0);
  positive('headMemoryLimitBytes', 1024);
  positive('maxPointsPerChunk', 2);
  positive('walSegmentBytes', 1024);
  positive('fsyncIntervalMs');
  positive('maxFutureMs', 0);
  positive('blockChunkMaxPoints', 2);
  positive('maintenanceIntervalMs');
  positive('walCheckpointBytes', 1024);
  if (o.compactionRangesMs.length === 0) {
    o.compactionRangesMs = [3 * o.blockRangeMs, 12 * o.blockRangeMs];
  }
  let prev = o.blockRangeMs;
  for (const r of o.compactionRangesMs) {
    if (!(r > prev) || r % o.blockRangeMs !== 0) {
      throw new CountError(
        'invalid_parameter',
        'storage option compactionRangesMs must ascend in multiples of blockRangeMs',
        { field: 'compactionRangesMs' },
      );
    }
    prev = r;
  }
  return o;
}

/** Opens (recovering) the storage engine whose files live under env.vfs. */
export async function openEngine(
  env: Env,
  options: Partial<EngineOptions> = {},
): Promise<StorageEngine & LocalEngineExtras> {
  const opts = resolveEngineOptions(options);
  const vfs = env.vfs;
  await vfs.mkdir(BLOCKS_DIR);
  const tombstones = await Tombstones.load(vfs);
  const blocks: Block[] = [];
  let removedUnfinished = false;
  for (const name of await vfs.list(BLOCKS_DIR)) {
    const dir = joinPath(BLOCKS_DIR, name);
    const leftover = name.endsWith(TMP_SUFFIX) || name.endsWith(DELETING_SUFFIX);
    const block = leftover ? undefined : await Block.open(vfs, dir);
    if (block === undefined) {
      // A block directory without a complete meta is a write that never finished; one being
      // deleted was already out of the live set.
      await vfs.remove(dir);
      removedUnfinished = true;
    } else {
      blocks.push(block);
    }
  }
  if (removedUnfinished) await vfs.syncDir(BLOCKS_DIR);
  const checkpoint = await loadLatestCheckpoint(vfs);
  const wal = await Wal.open(env, {
    dir: WAL_DIR,
    fsync: opts.fsync,
    fsyncIntervalMs: opts.fsyncIntervalMs,
    segmentBytes: opts.walSegmentBytes,
  });
  const engine = new LocalStorageEngine(env, opts, wal, tombstones);
  try {
    await engine.recover(blocks, checkpoint);
  } catch (e) {
    for (const b of blocks) b.retire();
    await wal.close().catch(() => undefined);
    throw e;
  }
  return engine;
}

/** What the engine offers beyond StorageEngine, for tests, benchmarks and the server. */
export interface LocalEngineExtras {
  /** The last error the background maintenance task hit (it retries on its next run). */
  readonly lastMaintenanceError: unknown;
  /** Runs one round of background maintenance now (head cut if due, compaction, retention). */
  maintain(): Promise<void>;
}

class LocalStorageEngine implements StorageEngine, LocalEngineExtras {
  private readonly head: Head;
  private readonly index = new SeriesIndex();
  /** Replay's table of the segment-scoped series refs of REF_SAMPLES records. */
  private readonly replayRefs = new RefTable();
  /** Blocks sorted by window start. Replaced, never mutated, so readers can hold a copy. */
  private blocks: Block[] = [];
  /** Per series: how many loaded blocks hold its data visibly (not tombstoned). */
  private readonly blockSeries = new Map<string, number>();
  private pending: PendingCut[] = [];
  private pendingBytes = 0;
  private pendingPoints = 0;
  private nextSeq = 0;
  /** Newest timestamp accepted so far: the out-of-order window counts back from it. */
  private highWatermark = Number.NEGATIVE_INFINITY;
  private compactions = 0;
  private closed = false;
  private closing: Promise<void> | null = null;
  private chain: Promise<void> = Promise.resolve();
  private timer: TimerHandle | null = null;
  private soonTimer: TimerHandle | null = null;
  private queuedFlush: Promise<void> | null = null;
  /** A write was refused for memory since the last full cut: the next round frees the head. */
  private memoryRefused = false;
  /** The WAL segment the series refs below belong to, and the next ref free in it. */
  private walRefSegment = -1;
  private nextWalRef = 0;
  /** Scratch for planning a write's record: per batch key its ref; the defs; per point a ref. */
  private batchRefs = new Uint32Array(1024);
  private defRefs = new Uint32Array(1024);
  private defKeys: Uint8Array[] = [];
  private pointRefs = new Uint32Array(16 * 1024);
  /** The head series of the last batch's keys, by position: the first guess for the next one. */
  private lastBatchSeries: ReadonlyArray<HeadSeries | undefined> = [];
  lastMaintenanceError: unknown = undefined;
  /** Points closed head chunks may hold uncompressed (RAW_CHUNK_SHARE of the memory limit). */
  private readonly rawChunkPoints: number;
  /** When the current slice of background work started (env.monotonic). */
  private sliceStart = 0;

  constructor(
    private readonly env: Env,
    private readonly opts: EngineOptions,
    private readonly wal: Wal,
    private readonly tombstones: Tombstones,
  ) {
    this.rawChunkPoints = Math.floor((opts.headMemoryLimitBytes * RAW_CHUNK_SHARE) / 16);
    this.head = new Head({
      blockRangeMs: opts.blockRangeMs,
      maxPointsPerChunk: opts.maxPointsPerChunk,
    });
  }

  // ---- recovery ----

  async recover(
    blocks: Block[],
    checkpoint: Awaited<ReturnType<typeof loadLatestCheckpoint>>,
  ): Promise<void> {
    let maxSeq = this.tombstones.maxBlockSeq();
    let watermark = Number.NEGATIVE_INFINITY;
    if (checkpoint !== undefined) {
      maxSeq = Math.max(maxSeq, checkpoint.state.nextBlockSeq - 1);
      watermark = checkpoint.state.highWatermark;
      for (const { key, chunks } of checkpoint.series) {
        const s = this.head.getOrCreate(key);
        for (const c of chunks) {
          const d = decodeChunk(c);
          for (let i = 0; i < d.timestamps.length; i++) {
            this.head.append(s, d.timestamps[i], d.values[i]);
          }
        }
      }
    }
    await this.wal.replay(checkpoint?.state.walSegment ?? 0, (payload, segment) =>
      this.replayRecord(payload, segment),
    );
    for (const b of blocks) {
      maxSeq = Math.max(maxSeq, b.meta.seq);
      if (b.meta.points > 0) watermark = Math.max(watermark, b.meta.maxTime);
    }
    // Replay may have added tombstones; no new block may get a seq one of them covers.
    maxSeq = Math.max(maxSeq, this.tombstones.maxBlockSeq());
    this.nextSeq = maxSeq + 1;
    this.highWatermark = Math.max(watermark, this.head.maxTime);
    blocks.sort(compareBlocks);
    for (const b of blocks) this.countBlockSeries(b, 1);
    this.blocks = blocks;
    for (const key of this.head.keys()) if (!this.head.get(key)!.isEmpty) this.index.add(key);
    this.scheduleTick(this.opts.maintenanceIntervalMs);
    if (this.cutDue() !== undefined) this.scheduleSoon();
  }

  private replayRecord(payload: Uint8Array, segment: number): void {
    this.replayRefs.enterSegment(segment);
    const kind = walRecordKind(payload);
    if (kind === WAL_RECORD_REF_SAMPLES) {
      const r = decodeRefSamplesRecord(payload);
      for (let d = 0; d < r.defKeys.length; d++) this.replayRefs.define(r.defRefs[d], r.defKeys[d]);
      // Resolved per record: a tombstone between records may have dropped a head series.
      const series = new Map<number, HeadSeries>();
      for (let i = 0; i < r.timestamps.length; i++) {
        const ref = r.refs[i];
        let s = series.get(ref);
        if (s === undefined) {
          s = this.head.getOrCreate(this.replayRefs.key(ref));
          series.set(ref, s);
        }
        this.head.append(s, r.timestamps[i], r.values[i]);
      }
    } else if (kind === WAL_RECORD_SAMPLES) {
      const r = decodeSamplesRecord(payload);
      const series: Array<HeadSeries | undefined> = new Array(r.keys.length);
      for (let i = 0; i < r.timestamps.length; i++) {
        const k = r.seriesIds[i];
        let s = series[k];
        if (s === undefined) {
          s = this.head.getOrCreate(r.keys[k]);
          series[k] = s;
        }
        this.head.append(s, r.timestamps[i], r.values[i]);
      }
    } else if (kind === WAL_RECORD_TOMBSTONE) {
      const t = decodeTombstoneRecord(payload);
      this.tombstones.add(t.key, t.maxBlockSeq);
      this.head.remove(t.key);
    } else {
      throw new CountError('corrupt_data', `WAL record of unknown kind ${kind}`);
    }
  }

  // ---- writes ----

  private checkOpen(): void {
    if (this.closed) throw new CountError('shutting_down', 'the storage engine is closed');
  }

  async write(batch: PointBatch, options?: WriteOptions): Promise<void> {
    this.checkOpen();
    const n = batch.length;
    if (n === 0) return;
    const ts = batch.timestamps;
    // Validate the whole batch before changing anything.
    const now = this.env.now();
    const oldest =
      options?.allowOld === true
        ? Number.NEGATIVE_INFINITY
        : this.windowAnchor(now) - this.opts.outOfOrderWindowMs;
    const newest =
      this.opts.maxFutureMs > 0 ? now + this.opts.maxFutureMs : Number.POSITIVE_INFINITY;
    let batchMax = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < n; i++) {
      const t = ts[i];
      // Batches arrive validated; this cheap check keeps a NaN or fraction out of the head,
      // where it would fail every later chunk encoding.
      if (!(t >= 0 && t < MAX_TIMESTAMP_EXCLUSIVE && Math.floor(t) === t)) {
        throw new CountError('invalid_timestamp', `points[${i}].timestamp ${t} is not valid`, {
          field: `points[${i}].timestamp`,
        });
      }
      if (t < oldest || t > newest) throw this.outOfWindow(batch, i, oldest, newest);
      if (t > batchMax) batchMax = t;
    }
    const m = batch.series.length;
    // The head series of each batch key (undefined: new), looked up once for the whole write.
    const known: Array<HeadSeries | undefined> = new Array(m);
    let newSeriesBytes = 0;
    const guess = this.lastBatchSeries;
    for (let k = 0; k < m; k++) {
      const key = batch.series[k];
      // Clients tend to send the same series in the same order every interval: try the series
      // at this position in the previous batch (string identity makes the compare cheap) before
      // the map lookup, which costs ~100 ns at 10,000s of series (cache misses).
      const g = k < guess.length ? guess[k] : undefined;
      const existing = g !== undefined && !g.removed && g.key === key ? g : this.head.get(key);
      known[k] = existing;
      if (existing !== undefined) continue;
      if (!isCanonical(key)) {
        throw new CountError('invalid_series', `series key is not canonical: ${key}`, {
          field: 'series',
        });
      }
      newSeriesBytes += this.head.newSeriesBytes(key);
    }
    const used = this.head.bytes + this.pendingBytes;
    // Upper estimate of what the batch adds: raw columns plus their compressed copy when a chunk
    // closes, and a possible growth of each series' open chunk.
    const adds = newSeriesBytes + n * 24 + m * 1024;
    if (used + adds > this.opts.headMemoryLimitBytes) {
      this.memoryRefused = true;
      this.scheduleSoon();
      throw new CountError(
        'memory_limit_exceeded',
        `the memory head is full (${used} of ${this.opts.headMemoryLimitBytes} bytes); retry after it is written to disk`,
        {
          retryAfterSeconds: 1,
          details: { headBytes: used, limit: this.opts.headMemoryLimitBytes },
        },
      );
    }
    // One WAL record per batch, appended before the head changes so WAL order = apply order.
    // Series are named by segment-scoped refs: a key is (re)defined the first time a record of
    // the segment uses it. If the record would not fit the current segment it goes to the next
    // one, where every key needs defining again.
    let segment = this.wal.currentSegment();
    let plan = this.planRefs(batch, known, segment);
    let recordBytes = refSamplesRecordBytes(plan.defBytes, n);
    const fits = this.wal.segmentFor(recordBytes);
    if (fits !== segment) {
      segment = fits;
      plan = this.planRefs(batch, known, segment);
      recordBytes = refSamplesRecordBytes(plan.defBytes, n);
    }
    if (recordBytes > DEFAULT_MAX_RECORD_BYTES) {
      throw new CountError(
        'body_too_large',
        `a batch of ${n} points is too large for one WAL record; split it`,
        { details: { recordBytes, limit: DEFAULT_MAX_RECORD_BYTES } },
      );
    }
    // A refusal known now (WAL failed, queue full) must leave the head (and the refs) as they were.
    const refused = this.wal.appendRefusal(recordBytes);
    if (refused !== null) throw refused;
    const si = batch.seriesIndex;
    const batchRefs = this.batchRefs;
    if (this.pointRefs.length < n)
      this.pointRefs = new Uint32Array(Math.max(n, 2 * this.pointRefs.length));
    const pointRefs = this.pointRefs;
    for (let i = 0; i < n; i++) pointRefs[i] = batchRefs[si[i]];
    const record = encodeRefSamplesRecord(
      this.defRefs,
      this.defKeys,
      plan.defCount,
      plan.defBytes,
      pointRefs,
      ts,
      batch.values,
      n,
    );
    const appended = this.wal.append(record);
    assert(
      this.wal.currentSegment() === segment,
      'engine write: the WAL record went to another segment than its refs were planned for',
    );
    this.walRefSegment = segment;
    this.nextWalRef = plan.nextRef;
    const vs = batch.values;
    const series: Array<HeadSeries | undefined> = new Array(m);
    for (let i = 0; i < n; i++) {
      const k = si[i];
      let s = series[k];
      if (s === undefined) {
        // Series are created on their first point, so a key without points creates nothing.
        s = known[k];
        if (s === undefined || s.isEmpty) {
          const key = batch.series[k];
          s = this.head.getOrCreate(key);
          this.index.add(key);
        }
        s.walRef = batchRefs[k];
        s.walRefSegment = segment;
        series[k] = s;
        known[k] = s;
      }
      this.head.append(s, ts[i], vs[i]);
    }
    this.lastBatchSeries = known;
    // Closed head chunks stay raw up to a share of the memory limit (a cut then compresses them
    // once, into long block chunks); past it, each write compresses up to twice the points it
    // wrote, so no write pays for the thousands of chunks that close together.
    const excess = this.head.uncompressedPoints - this.rawChunkPoints;
    if (excess > 0) this.head.compressSome(Math.min(excess, 2 * n));
    if (batchMax > this.highWatermark) this.highWatermark = batchMax;
    if (this.cutDue() !== undefined || this.underMemoryPressure() || this.walTooLarge()) {
      this.scheduleSoon();
    }
    await appended;
  }

  /**
   * Assigns each batch key its ref in WAL segment `segment` (into batchRefs) and lists the keys
   * that record must define (defRefs/defKeys): those without a head series or whose ref belongs
   * to an earlier segment. Changes no series: the refs are committed only once the record is
   * appended.
   */
  private planRefs(
    batch: PointBatch,
    known: ReadonlyArray<HeadSeries | undefined>,
    segment: number,
  ): { defCount: number; defBytes: number; nextRef: number } {
    const m = batch.series.length;
    if (this.batchRefs.length < m)
      this.batchRefs = new Uint32Array(Math.max(m, 2 * this.batchRefs.length));
    if (this.defRefs.length < m)
      this.defRefs = new Uint32Array(Math.max(m, 2 * this.defRefs.length));
    const batchRefs = this.batchRefs;
    const defRefs = this.defRefs;
    const defKeys = this.defKeys;
    let nextRef = segment === this.walRefSegment ? this.nextWalRef : 0;
    let defCount = 0;
    let defBytes = 0;
    for (let k = 0; k < m; k++) {
      const s = known[k];
      if (s !== undefined && s.walRefSegment === segment) {
        batchRefs[k] = s.walRef;
        continue;
      }
      const kb = s !== undefined ? s.keyBytes : utf8.encode(batch.series[k]);
      batchRefs[k] = nextRef;
      defRefs[defCount] = nextRef;
      defKeys[defCount] = kb;
      defCount++;
      defBytes += refDefBytes(kb.length);
      nextRef++;
    }
    assert(nextRef <= 0xffffffff, 'engine write: WAL refs of one segment exhausted');
    // Drop references to keys of earlier, larger batches (the scratch is kept).
    if (defKeys.length > defCount + 4096) defKeys.length = defCount;
    return { defCount, defBytes, nextRef };
  }

  /**
   * Where the out-of-order window counts back from: the newest point accepted, but never later
   * than the clock, so one point from a clock hours ahead cannot refuse the present.
   */
  private windowAnchor(now: number): number {
    return Math.min(this.highWatermark, now);
  }

  private outOfWindow(batch: PointBatch, i: number, oldest: number, newest: number): CountError {
    const t = batch.timestamps[i];
    const why =
      t < oldest
        ? `is older than the out-of-order window allows (oldest accepted ${oldest})`
        : `is too far in the future (newest accepted ${newest})`;
    return new CountError(
      'timestamp_out_of_window',
      `points[${i}].timestamp ${t} of ${batch.series[batch.seriesIndex[i]]} ${why}`,
      { field: `points[${i}].timestamp`, details: { timestamp: t, oldest, newest } },
    );
  }

  async deleteSeries(series: string): Promise<boolean> {
    this.checkOpen();
    const existed = this.isVisible(series);
    const maxBlockSeq = this.nextSeq - 1;
    const record = encodeTombstoneRecord({ key: series, maxBlockSeq });
    const refused = this.wal.appendRefusal(record.length);
    if (refused !== null) throw refused;
    // Throws (changing nothing) when the tombstone set is at its bound.
    this.tombstones.add(series, maxBlockSeq);
    const appended = this.wal.append(record);
    this.head.remove(series);
    this.blockSeries.delete(series);
    this.index.remove(series);
    await appended;
    if (this.opts.fsync === 'interval') await this.wal.sync();
    await this.tombstones.persist();
    return existed;
  }

  // ---- reads ----

  async readRange(series: string, start: number, end: number): Promise<Samples> {
    this.checkOpen();
    if (!(start < end)) return EMPTY_SAMPLES;
    // Everything in memory is captured now, synchronously; blocks are held while read.
    const parts = this.head.read(series, start, end);
    for (const cut of this.pending) {
      const p = cut.data.get(series);
      if (p !== undefined && !this.tombstones.hides(series, cut.firstSeq)) {
        parts.push(...readParts(p, start, end));
      }
    }
    const blocks = this.blocks.filter(
      (b) => b.has(series) && b.overlaps(start, end) && !this.tombstones.hides(series, b.meta.seq),
    );
    for (const b of blocks) b.acquire();
    try {
      for (const b of blocks) {
        const s = await b.read(series, start, end);
        if (s.timestamps.length > 0) parts.push(s);
      }
    } finally {
      for (const b of blocks) b.release();
    }
    if (parts.length === 0) return EMPTY_SAMPLES;
    return parts.length === 1 ? parts[0] : mergeSamples(parts);
  }

  async select(selector: Selector): Promise<string[]> {
    this.checkOpen();
    return this.index.select(selector);
  }

  private isVisible(key: string): boolean {
    const s = this.head.get(key);
    if (s !== undefined && !s.isEmpty) return true;
    if ((this.blockSeries.get(key) ?? 0) > 0) return true;
    for (const cut of this.pending) {
      if (cut.data.has(key) && !this.tombstones.hides(key, cut.firstSeq)) return true;
    }
    return false;
  }

  stats(): EngineStats {
    let blockBytes = 0;
    for (const b of this.blocks) blockBytes += b.sizeBytes;
    return {
      headSeries: this.head.seriesCount,
      headPoints: this.head.points + this.pendingPoints,
      headBytes: this.head.bytes + this.pendingBytes,
      blocks: this.blocks.length,
      blockBytes,
      walSegments: this.wal.segments().length,
      walBytes: this.wal.sizeBytes(),
      compactions: this.compactions,
      series: this.index.size,
    };
  }

  // ---- maintenance ----

  /** Runs `fn` after every maintenance task before it; never two at once. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  flush(): Promise<void> {
    this.checkOpen();
    // Flushes that queue up behind a running task share one run: the queue stays bounded.
    if (this.queuedFlush === null) {
      this.queuedFlush = this.exclusive(() => {
        this.queuedFlush = null;
        return this.cutAndCheckpoint(Number.POSITIVE_INFINITY);
      });
    }
    return this.queuedFlush;
  }

  compact(): Promise<void> {
    this.checkOpen();
    return this.exclusive(() => this.compactBlocks(true));
  }

  applyRetention(): Promise<number> {
    this.checkOpen();
    return this.exclusive(() => this.retain());
  }

  maintain(): Promise<void> {
    this.checkOpen();
    return this.exclusive(() => this.maintenanceRound());
  }

  private async maintenanceRound(): Promise<void> {
    if (this.underMemoryPressure() || this.memoryRefused) {
      this.memoryRefused = false;
      await this.cutAndCheckpoint(Number.POSITIVE_INFINITY);
    } else {
      const boundary = this.cutDue();
      if (boundary !== undefined || this.pending.length > 0 || this.walTooLarge()) {
        await this.cutAndCheckpoint(boundary ?? Number.NEGATIVE_INFINITY);
      }
    }
    await this.compactBlocks(false);
    await this.retain();
  }

  private walTooLarge(): boolean {
    return this.wal.sizeBytes() > this.opts.walCheckpointBytes;
  }

  private underMemoryPressure(): boolean {
    return (
      this.head.bytes + this.pendingBytes > this.opts.headMemoryLimitBytes * MEMORY_PRESSURE_SHARE
    );
  }

  /**
   * Prometheus' rule: once the head spans more than 1.5 block ranges, cut the windows that end
   * at least half a range before its newest point. Returns that boundary, or undefined.
   */
  private cutDue(): number | undefined {
    const range = this.opts.blockRangeMs;
    const { minTime, maxTime } = this.head;
    if (!(maxTime - minTime > 1.5 * range)) return undefined;
    const boundary = Math.ceil((maxTime - 1.5 * range) / range) * range;
    return minTime < boundary ? boundary : undefined;
  }

  private scheduleTick(delayMs: number): void {
    this.timer?.cancel();
    this.timer = this.env.setTimer(delayMs, () => {
      this.timer = null;
      void this.backgroundRound().finally(() => {
        if (!this.closed) this.scheduleTick(this.opts.maintenanceIntervalMs);
      });
    });
  }

  private scheduleSoon(): void {
    if (this.soonTimer !== null || this.closed) return;
    this.soonTimer = this.env.setTimer(0, () => {
      void this.backgroundRound().finally(() => {
        this.soonTimer = null;
      });
    });
  }

  private async backgroundRound(): Promise<void> {
    if (this.closed) return;
    try {
      await this.exclusive(() => this.maintenanceRound());
      this.lastMaintenanceError = undefined;
    } catch (e) {
      // Kept for stats and retried next round; acknowledged data stays in the WAL meanwhile.
      this.lastMaintenanceError = e;
    }
  }

  /**
   * Cuts head data older than `boundary` into blocks and checkpoints the rest, then drops the
   * WAL segments both cover. Invariant: every acknowledged point is at all times in a durable
   * block, checkpoint or WAL segment.
   */
  private async cutAndCheckpoint(boundary: number): Promise<void> {
    // Synchronously: rotate (appends before -> segments < n), take the head's state.
    const rotation = this.wal.rotate();
    const data = this.head.cut(boundary);
    if (data.size > 0) this.addPending(data);
    const snapshot = this.head.snapshot();
    const state = { nextBlockSeq: this.nextSeq, highWatermark: this.highWatermark };
    const segment = await rotation;
    this.sliceStart = this.env.monotonic();
    while (this.pending.length > 0) await this.writePending(this.pending[0]);
    // The snapshot's raw runs (open chunks) are compressed here, in slices, rather than in one
    // go inside writeCheckpoint: same chunks in the same order, without the stall.
    for (const { parts } of snapshot) {
      // Deferred chunks compress on first access to their bytes: do it here, in slices.
      compressChunks(parts.chunks);
      if (parts.raws.length === 0) {
        await this.yieldIfDue();
        continue;
      }
      for (const r of parts.raws) {
        if (r.timestamps.length > 0) parts.chunks.push(headChunkOf(r));
      }
      parts.raws = [];
      await this.yieldIfDue();
    }
    // Tombstones first: once the checkpoint exists, replay skips the segments holding the
    // tombstone records of deletes the snapshot already reflects.
    await this.tombstones.persist();
    const name = await writeCheckpoint(this.env.vfs, { walSegment: segment, ...state }, snapshot);
    await this.wal.removeSegmentsBefore(segment);
    await removeCheckpointsBefore(this.env.vfs, name);
  }

  private addPending(data: Map<string, SeriesParts>): void {
    const range = this.opts.blockRangeMs;
    const windows = new Set<number>();
    let bytes = 0;
    let points = 0;
    for (const parts of data.values()) {
      for (const c of parts.chunks) {
        bytes += chunkMemory(c);
        points += c.count;
        const a = Math.floor(c.minTime / range);
        const b = Math.floor(c.maxTime / range);
        if (a === b) windows.add(a);
        else for (const t of chunkSamples(c).timestamps) windows.add(Math.floor(t / range));
      }
      for (const r of parts.raws) {
        bytes += r.timestamps.length * 16;
        points += r.timestamps.length;
        for (const t of r.timestamps) windows.add(Math.floor(t / range));
      }
    }
    // Seqs are reserved now: a delete from here on must hide these blocks too.
    const seqs = new Map<number, number>();
    for (const w of [...windows].sort((x, y) => x - y)) seqs.set(w, this.nextSeq++);
    const firstSeq = seqs.values().next().value as number;
    this.pending.push({ data, seqs, firstSeq, bytes, points });
    this.pendingBytes += bytes;
    this.pendingPoints += points;
  }

  /** Writes one pending cut as one block per window, then swaps it for the blocks. */
  private async writePending(cut: PendingCut): Promise<void> {
    const range = this.opts.blockRangeMs;
    const keys = [...cut.data.keys()].sort();
    const windows = [...cut.seqs.keys()];
    const written: Block[] = [];
    try {
      for (let from = 0; from < windows.length; from += MAX_WINDOWS_PER_PASS) {
        const pass = windows.slice(from, from + MAX_WINDOWS_PER_PASS);
        const writers = new Map<number, BlockWriter>();
        try {
          for (const w of pass) {
            const seq = cut.seqs.get(w)!;
            const window = { start: w * range, end: (w + 1) * range };
            writers.set(
              w,
              await BlockWriter.create(
                this.env.vfs,
                BLOCKS_DIR,
                seq,
                window,
                0,
                this.opts.blockChunkMaxPoints,
              ),
            );
          }
          const passStart = pass[0] * range;
          const passEnd = (pass[pass.length - 1] + 1) * range;
          for (const key of keys) {
            const runs = partsToSamples(cut.data.get(key)!);
            const merged = runs.length === 1 ? runs[0] : mergeSamples(runs);
            const mts = merged.timestamps;
            let i = lowerBound(mts, mts.length, passStart);
            const stop = lowerBound(mts, mts.length, passEnd);
            while (i < stop) {
              const w = Math.floor(mts[i] / range);
              const j = lowerBound(mts, stop, (w + 1) * range);
              const writer = writers.get(w);
              assert(writer !== undefined, 'head cut: point outside the reserved windows');
              await writer.addSeries(key, {
                timestamps: mts.subarray(i, j),
                values: merged.values.subarray(i, j),
              });
              i = j;
            }
            await this.yieldIfDue();
          }
          for (const [w, writer] of writers) {
            await writer.finish();
            writers.delete(w);
            const block = await Block.open(this.env.vfs, joinPath(BLOCKS_DIR, writer.id));
            assert(block !== undefined, `block ${writer.id} unreadable right after writing it`);
            written.push(block);
          }
        } finally {
          for (const writer of writers.values()) await writer.abort().catch(() => undefined);
        }
      }
    } catch (e) {
      // Nothing was published: drop what this attempt finished, keep the cut for a retry.
      for (const b of written) b.retire();
      await this.removeBlockDirs(written).catch(() => undefined);
      throw e;
    }
    // Publish: the blocks replace the pending cut in one synchronous step.
    this.blocks = [...this.blocks, ...written].sort(compareBlocks);
    for (const b of written) this.countBlockSeries(b, 1);
    this.pending = this.pending.filter((c) => c !== cut);
    this.pendingBytes -= cut.bytes;
    this.pendingPoints -= cut.points;
  }

  /** Lets the event loop run (one timer turn) once the current slice has run SLICE_MS. */
  private async yieldIfDue(): Promise<void> {
    if (this.env.monotonic() - this.sliceStart < SLICE_MS) return;
    await new Promise<void>((resolve) => {
      this.env.setTimer(0, resolve);
    });
    this.sliceStart = this.env.monotonic();
  }

  /** Adds (+1) or removes (-1) a block's visible series from the per-series block counts. */
  private countBlockSeries(b: Block, delta: 1 | -1): void {
    for (const key of b.seriesKeys) {
      if (this.tombstones.hides(key, b.meta.seq)) continue;
      const n = (this.blockSeries.get(key) ?? 0) + delta;
      assert(n >= 0, `block series count of ${key} went negative`);
      if (n > 0) {
        this.blockSeries.set(key, n);
        if (delta > 0) this.index.add(key);
      } else {
        this.blockSeries.delete(key);
        if (!this.isVisible(key)) this.index.remove(key);
      }
    }
  }

  private async compactBlocks(force: boolean): Promise<void> {
    for (let round = 0; round < MAX_COMPACTION_ROUNDS; round++) {
      const fresh = force
        ? Number.POSITIVE_INFINITY
        : Math.floor(
            (this.windowAnchor(this.env.now()) - this.opts.outOfOrderWindowMs) /
              this.opts.blockRangeMs,
          ) * this.opts.blockRangeMs;
      const groups = planCompaction(
        this.blocks.map((b) => b.meta),
        this.opts.compactionRangesMs,
        fresh,
      );
      if (groups.length === 0) break;
      for (const g of groups) {
        const inputs = this.blocks.filter((b) => g.inputs.includes(b.meta.id));
        const seq = this.nextSeq++;
        const writer = await BlockWriter.create(
          this.env.vfs,
          BLOCKS_DIR,
          seq,
          { start: g.start, end: g.end },
          g.level,
          this.opts.blockChunkMaxPoints,
        );
        const meta = await writeMergedBlock(writer, inputs, this.tombstones);
        const block = await Block.open(this.env.vfs, joinPath(BLOCKS_DIR, meta.id));
        assert(block !== undefined, `block ${meta.id} unreadable right after writing it`);
        // Publish the new block before removing the inputs, so no read sees neither.
        this.blocks = [...this.blocks, block].sort(compareBlocks);
        this.countBlockSeries(block, 1);
        await this.removeBlocks(inputs);
        if (meta.points === 0) await this.removeBlocks([block]);
        this.compactions++;
      }
    }
    await this.pruneTombstones();
  }

  private async retain(): Promise<number> {
    const doomed = blocksPastRetention(
      this.blocks.map((b) => b.meta),
      this.env.now(),
      this.opts.retentionMs,
    );
    if (doomed.length === 0) return 0;
    await this.removeBlocks(this.blocks.filter((b) => doomed.includes(b.meta.id)));
    await this.pruneTombstones();
    return doomed.length;
  }

  private async removeBlocks(victims: Block[]): Promise<void> {
    if (victims.length === 0) return;
    const set = new Set(victims);
    this.blocks = this.blocks.filter((b) => !set.has(b));
    for (const b of victims) {
      this.countBlockSeries(b, -1);
      b.retire();
    }
    await this.removeBlockDirs(victims);
  }

  /** Renames the directories out of the live set (durably), then deletes them. */
  private async removeBlockDirs(victims: readonly Block[]): Promise<void> {
    const vfs = this.env.vfs;
    for (const b of victims) await vfs.rename(b.dir, `${b.dir}${DELETING_SUFFIX}`);
    await vfs.syncDir(BLOCKS_DIR);
    for (const b of victims) await vfs.remove(`${b.dir}${DELETING_SUFFIX}`);
  }

  /** Drops tombstones no block or pending cut they hide still needs, durably. */
  private async pruneTombstones(): Promise<void> {
    const pruned = this.tombstones.prune((key, maxSeq) => {
      for (const b of this.blocks) if (b.meta.seq <= maxSeq && b.has(key)) return true;
      for (const c of this.pending) if (c.firstSeq <= maxSeq && c.data.has(key)) return true;
      return false;
    });
    if (pruned > 0) await this.tombstones.persist();
  }

  // ---- shutdown ----

  close(): Promise<void> {
    if (this.closing === null) this.closing = this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    this.soonTimer?.cancel();
    this.timer = null;
    await this.chain;
    try {
      await this.wal.close();
    } finally {
      for (const b of this.blocks) b.retire();
      this.blocks = [];
    }
  }
}

function compareBlocks(a: Block, b: Block): number {
  return a.meta.start - b.meta.start || a.meta.seq - b.meta.seq;
}
