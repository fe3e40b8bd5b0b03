import { decodeChunk, encodeChunk } from '../compression/chunk.js';
import { assert } from '../model/assert.js';
import { convergeValue, type Samples } from '../model/point.js';
import { lowerBound, sliceSamples } from '../query/samples-range.js';

/**
 * The memory head: the write buffer in front of the blocks. Per series, in-order points go to
 * an open chunk of raw columns, compressed and closed after `maxPointsPerChunk` points or when
 * a point crosses a block-window boundary (so every closed chunk lies in one window). Points
 * older than the series' newest go to a small sorted out-of-order buffer, itself compressed
 * into a chunk when full. Every part is sorted and duplicate-free; duplicates are resolved with
 * convergeValue where they meet (open chunk, out-of-order buffer) or at merge time.
 */
export interface HeadChunk {
  bytes: Uint8Array;
  minTime: number;
  maxTime: number;
  count: number;
}

/** Data of one series taken out of the head: compressed chunks plus raw runs. */
export interface SeriesParts {
  chunks: HeadChunk[];
  raws: Samples[];
}

export interface HeadOptions {
  blockRangeMs: number;
  maxPointsPerChunk: number;
}

/** Bookkeeping bytes charged per series and per closed chunk, beside the data itself. */
export const SERIES_OVERHEAD_BYTES = 320;
const CHUNK_OVERHEAD_BYTES = 64;
const INITIAL_OPEN_CAPACITY = 32;

export class HeadSeries {
  readonly chunks: HeadChunk[] = [];
  readonly oooChunks: HeadChunk[] = [];
  openTs: Float64Array;
  openVals: Float64Array;
  openLen = 0;
  openWindow = -1;
  oooTs: Float64Array = new Float64Array(0);
  oooVals: Float64Array = new Float64Array(0);
  oooLen = 0;
  /** Newest in-order timestamp; older points are out of order. */
  lastTime = Number.NEGATIVE_INFINITY;
  minTime = Number.POSITIVE_INFINITY;
  points = 0;
  bytes: number;
  /** The key in UTF-8, for WAL records. */
  readonly keyBytes: Uint8Array;
  /** The series' ref in WAL segment `walRefSegment` (engine.ts: refs are scoped to a segment). */
  walRef = 0;
  walRefSegment = -1;
  /** Set once the head dropped the series: holders of the object must look the key up again. */
  removed = false;

  constructor(
    readonly key: string,
    openCapacity: number,
  ) {
    this.keyBytes = new TextEncoder().encode(key);
    this.openTs = new Float64Array(openCapacity);
    this.openVals = new Float64Array(openCapacity);
    this.bytes = SERIES_OVERHEAD_BYTES + key.length * 2 + openCapacity * 16;
  }

  get isEmpty(): boolean {
    return this.points === 0;
  }
}

function chunkOf(ts: Float64Array, vs: Float64Array, from: number, to: number): HeadChunk {
  return {
    bytes: encodeChunk(ts, vs, from, to),
    minTime: ts[from],
    maxTime: ts[to - 1],
    count: to - from,
  };
}

/** A head chunk of a whole sorted raw run. */
export function headChunkOf(run: Samples): HeadChunk {
  return chunkOf(run.timestamps, run.values, 0, run.timestamps.length);
}

/**
 * A closed in-order chunk whose compression is deferred. Series written in step all fill their
 * open chunk in the same write, so compressing at close made one write in every
 * `maxPointsPerChunk` stall (~120 ms for 10,000 series); instead the head queues the chunk, and
 * the engine has a budget of queued points compressed after each write once the raw ones pass
 * a share of the memory limit (`Head.compressSome`). `bytes`
 * compresses on demand; readers take `chunkSamples`, which skips the encode/decode round trip
 * while the chunk is still raw (a head cut writing it into a block usually finds it so).
 */
class DeferredChunk implements HeadChunk {
  private encoded: Uint8Array | null = null;
  private ts: Float64Array | null;
  private vs: Float64Array | null;
  readonly minTime: number;
  readonly maxTime: number;
  readonly count: number;
  /** Memory charged for it to its series: the raw columns until the head compressed it. */
  charged: number;
  /** The series whose chunk list holds it; null once a cut took it out. */
  owner: HeadSeries | null;

  constructor(ts: Float64Array, vs: Float64Array, owner: HeadSeries) {
    this.ts = ts;
    this.vs = vs;
    this.count = ts.length;
    this.minTime = ts[0];
    this.maxTime = ts[ts.length - 1];
    this.charged = ts.length * 16 + CHUNK_OVERHEAD_BYTES;
    this.owner = owner;
  }

  get bytes(): Uint8Array {
    if (this.encoded === null) {
      this.encoded = encodeChunk(this.ts!, this.vs!);
      this.ts = null;
      this.vs = null;
    }
    return this.encoded;
  }

  /** The points; the raw columns (never written again) while not yet compressed. */
  samples(): Samples {
    if (this.ts !== null) return { timestamps: this.ts, values: this.vs! };
    return decodeChunk(this.encoded!);
  }
}

/** The points of a head chunk, decoded (or raw while its compression is deferred). */
export function chunkSamples(c: HeadChunk): Samples {
  return c instanceof DeferredChunk ? c.samples() : decodeChunk(c.bytes);
}

/** Compresses every deferred chunk of `chunks` now (a checkpoint needs their bytes). */
export function compressChunks(chunks: readonly HeadChunk[]): void {
  for (const c of chunks) if (c instanceof DeferredChunk) c.bytes;
}

/** Memory a head chunk is accounted at. */
export function chunkMemory(c: HeadChunk): number {
  return c instanceof DeferredChunk ? c.charged : c.bytes.length + CHUNK_OVERHEAD_BYTES;
}

function chunkBytes(c: HeadChunk): number {
  return chunkMemory(c);
}

export class Head {
  private readonly seriesByKey = new Map<string, HeadSeries>();
  /** Closed chunks waiting for compression, in close order. */
  private readonly deferred: DeferredChunk[] = [];
  private deferredPoints = 0;
  private readonly range: number;
  private readonly maxPoints: number;
  /** Estimated memory of all series (data + bookkeeping). */
  bytes = 0;
  points = 0;
  minTime = Number.POSITIVE_INFINITY;
  maxTime = Number.NEGATIVE_INFINITY;

  constructor(options: HeadOptions) {
    assert(options.blockRangeMs > 0, 'Head: blockRangeMs must be positive');
    assert(options.maxPointsPerChunk >= 2, 'Head: maxPointsPerChunk must be >= 2');
    this.range = options.blockRangeMs;
    this.maxPoints = options.maxPointsPerChunk;
  }

  get seriesCount(): number {
    return this.seriesByKey.size;
  }

  get(key: string): HeadSeries | undefined {
    return this.seriesByKey.get(key);
  }

  keys(): IterableIterator<string> {
    return this.seriesByKey.keys();
  }

  /** Bytes a new series costs before its first point (for the memory check). */
  newSeriesBytes(key: string): number {
    return (
      SERIES_OVERHEAD_BYTES + key.length * 2 + Math.min(INITIAL_OPEN_CAPACITY, this.maxPoints) * 16
    );
  }

  getOrCreate(key: string): HeadSeries {
    let s = this.seriesByKey.get(key);
    if (s === undefined) {
      s = new HeadSeries(key, Math.min(INITIAL_OPEN_CAPACITY, this.maxPoints));
      this.seriesByKey.set(key, s);
      this.bytes += s.bytes;
    }
    return s;
  }

  /** Drops a series and all its head data; returns whether it had any. */
  remove(key: string): boolean {
    const s = this.seriesByKey.get(key);
    if (s === undefined) return false;
    this.seriesByKey.delete(key);
    s.removed = true;
    this.bytes -= s.bytes;
    this.points -= s.points;
    return !s.isEmpty;
  }

  append(s: HeadSeries, t: number, v: number): void {
    if (t > s.lastTime) {
      const w = Math.floor(t / this.range);
      if (s.openLen > 0 && (s.openLen >= this.maxPoints || w !== s.openWindow)) this.closeOpen(s);
      if (s.openLen === 0) s.openWindow = w;
      if (s.openLen === s.openTs.length) this.growOpen(s);
      s.openTs[s.openLen] = t;
      s.openVals[s.openLen] = v;
      s.openLen++;
      s.lastTime = t;
      s.points++;
      this.points++;
    } else if (t === s.lastTime && s.openLen > 0) {
      const i = s.openLen - 1;
      s.openVals[i] = convergeValue(s.openVals[i], v);
    } else {
      this.insertOutOfOrder(s, t, v);
    }
    if (t < s.minTime) s.minTime = t;
    if (t < this.minTime) this.minTime = t;
    if (t > this.maxTime) this.maxTime = t;
  }

  private growOpen(s: HeadSeries): void {
    const cap = Math.min(this.maxPoints, s.openTs.length * 2);
    assert(cap > s.openTs.length, 'Head: open chunk cannot grow past maxPointsPerChunk');
    const ts = new Float64Array(cap);
    ts.set(s.openTs);
    const vs = new Float64Array(cap);
    vs.set(s.openVals);
    this.charge(s, (cap - s.openTs.length) * 16);
    s.openTs = ts;
    s.openVals = vs;
  }

  private closeOpen(s: HeadSeries): void {
    // Copies of the columns: the open buffers are reused for the next chunk.
    const c = new DeferredChunk(s.openTs.slice(0, s.openLen), s.openVals.slice(0, s.openLen), s);
    s.chunks.push(c);
    this.charge(s, c.charged);
    this.deferred.push(c);
    this.deferredPoints += c.count;
    s.openLen = 0;
  }

  /** Points in closed chunks still waiting for compression. */
  get uncompressedPoints(): number {
    return this.deferredPoints;
  }

  /**
   * Compresses queued chunks, newest first, until about `budgetPoints` points are done (at least
   * one chunk). Newest first: they stay in the head longest, while the oldest are the next cut's,
   * which writes them to blocks raw (one compression instead of two). Chunks a cut took out or
   * whose series was deleted are dropped from the queue.
   */
  compressSome(budgetPoints: number): void {
    const q = this.deferred;
    let done = 0;
    while (q.length > 0 && done < budgetPoints) {
      const c = q.pop()!;
      this.deferredPoints -= c.count;
      const owner = c.owner;
      if (owner === null || owner.removed) continue;
      const now = c.bytes.length + CHUNK_OVERHEAD_BYTES;
      this.charge(owner, now - c.charged);
      c.charged = now;
      done += c.count;
    }
  }

  /** Forgets queued chunks a cut took out or whose series is gone (they pin raw columns). */
  private pruneDeferred(): void {
    let kept = 0;
    let points = 0;
    for (const c of this.deferred) {
      if (c.owner === null || c.owner.removed) continue;
      this.deferred[kept++] = c;
      points += c.count;
    }
    this.deferred.length = kept;
    this.deferredPoints = points;
  }

  private insertOutOfOrder(s: HeadSeries, t: number, v: number): void {
    const i = lowerBound(s.oooTs, s.oooLen, t);
    if (i < s.oooLen && s.oooTs[i] === t) {
      s.oooVals[i] = convergeValue(s.oooVals[i], v);
      return;
    }
    if (s.oooLen === s.oooTs.length) {
      const cap = Math.min(this.maxPoints, Math.max(8, s.oooTs.length * 2));
      const ts = new Float64Array(cap);
      ts.set(s.oooTs);
      const vs = new Float64Array(cap);
      vs.set(s.oooVals);
      this.charge(s, (cap - s.oooTs.length) * 16);
      s.oooTs = ts;
      s.oooVals = vs;
    }
    s.oooTs.copyWithin(i + 1, i, s.oooLen);
    s.oooVals.copyWithin(i + 1, i, s.oooLen);
    s.oooTs[i] = t;
    s.oooVals[i] = v;
    s.oooLen++;
    s.points++;
    this.points++;
    if (s.oooLen === this.maxPoints) {
      const c = chunkOf(s.oooTs, s.oooVals, 0, s.oooLen);
      s.oooChunks.push(c);
      this.charge(s, chunkBytes(c));
      s.oooLen = 0;
    }
  }

  private charge(s: HeadSeries, delta: number): void {
    s.bytes += delta;
    this.bytes += delta;
  }

  /** All head data of `key` with start <= t < end, as sorted duplicate-free parts. */
  read(key: string, start: number, end: number): Samples[] {
    const s = this.seriesByKey.get(key);
    if (s === undefined) return [];
    const parts: Samples[] = [];
    readChunks(s.chunks, start, end, parts);
    readChunks(s.oooChunks, start, end, parts);
    pushSlice(parts, s.openTs, s.openVals, s.openLen, start, end);
    pushSlice(parts, s.oooTs, s.oooVals, s.oooLen, start, end);
    return parts;
  }

  /**
   * Takes every point with t < boundary out of the head and returns it per series. Series
   * left empty are dropped. Synchronous, so it sees one consistent state of the head.
   */
  cut(boundary: number): Map<string, SeriesParts> {
    const out = new Map<string, SeriesParts>();
    let minTime = Number.POSITIVE_INFINITY;
    for (const s of [...this.seriesByKey.values()]) {
      if (s.minTime < boundary) {
        const parts: SeriesParts = { chunks: [], raws: [] };
        const before = s.points;
        this.cutChunks(s, s.chunks, boundary, parts);
        this.cutChunks(s, s.oooChunks, boundary, parts);
        s.openLen = cutRaw(s.openTs, s.openVals, s.openLen, boundary, parts);
        s.oooLen = cutRaw(s.oooTs, s.oooVals, s.oooLen, boundary, parts);
        s.points = countPoints(s);
        this.points -= before - s.points;
        s.minTime = seriesMinTime(s);
        if (parts.chunks.length > 0 || parts.raws.length > 0) out.set(s.key, parts);
        if (s.isEmpty) this.remove(s.key);
      }
      if (s.minTime < minTime && !s.isEmpty) minTime = s.minTime;
    }
    this.minTime = minTime;
    this.pruneDeferred();
    if (this.seriesByKey.size === 0) this.maxTime = Number.NEGATIVE_INFINITY;
    assert(this.points >= 0 && this.bytes >= 0, 'Head.cut: point or byte accounting went negative');
    assert(
      this.seriesByKey.size > 0 || (this.points === 0 && this.bytes === 0),
      'Head.cut: an empty head still accounts data',
    );
    return out;
  }

  private cutChunks(
    s: HeadSeries,
    chunks: HeadChunk[],
    boundary: number,
    parts: SeriesParts,
  ): void {
    const keep: HeadChunk[] = [];
    for (const c of chunks) {
      if (c.maxTime < boundary) {
        parts.chunks.push(c);
        this.charge(s, -chunkBytes(c));
        if (c instanceof DeferredChunk) c.owner = null;
      } else if (c.minTime >= boundary) {
        keep.push(c);
      } else {
        // Only out-of-order chunks can straddle a window boundary: split them.
        const d = chunkSamples(c);
        const k = lowerBound(d.timestamps, d.timestamps.length, boundary);
        parts.raws.push({
          timestamps: d.timestamps.subarray(0, k),
          values: d.values.subarray(0, k),
        });
        const rest = chunkOf(d.timestamps, d.values, k, d.timestamps.length);
        keep.push(rest);
        this.charge(s, chunkBytes(rest) - chunkBytes(c));
      }
    }
    chunks.length = 0;
    chunks.push(...keep);
  }

  /** Copies of everything in the head, for a checkpoint; in-order data first per series. */
  snapshot(): Array<{ key: string; parts: SeriesParts }> {
    const out: Array<{ key: string; parts: SeriesParts }> = [];
    for (const s of this.seriesByKey.values()) {
      if (s.isEmpty) continue;
      const parts: SeriesParts = { chunks: [...s.chunks], raws: [] };
      if (s.openLen > 0) {
        parts.raws.push({
          timestamps: s.openTs.slice(0, s.openLen),
          values: s.openVals.slice(0, s.openLen),
        });
      }
      parts.chunks.push(...s.oooChunks);
      if (s.oooLen > 0) {
        parts.raws.push({
          timestamps: s.oooTs.slice(0, s.oooLen),
          values: s.oooVals.slice(0, s.oooLen),
        });
      }
      out.push({ key: s.key, parts });
    }
    return out;
  }
}

function countPoints(s: HeadSeries): number {
  let n = s.openLen + s.oooLen;
  for (const c of s.chunks) n += c.count;
  for (const c of s.oooChunks) n += c.count;
  return n;
}

function seriesMinTime(s: HeadSeries): number {
  let m = Number.POSITIVE_INFINITY;
  if (s.chunks.length > 0) m = s.chunks[0].minTime;
  else if (s.openLen > 0) m = s.openTs[0];
  for (const c of s.oooChunks) if (c.minTime < m) m = c.minTime;
  if (s.oooLen > 0 && s.oooTs[0] < m) m = s.oooTs[0];
  return m;
}

/** Moves the points < boundary of a sorted raw run into `parts`; returns the new length. */
function cutRaw(
  ts: Float64Array,
  vs: Float64Array,
  len: number,
  boundary: number,
  parts: SeriesParts,
): number {
  const k = lowerBound(ts, len, boundary);
  if (k === 0) return len;
  parts.raws.push({ timestamps: ts.slice(0, k), values: vs.slice(0, k) });
  ts.copyWithin(0, k, len);
  vs.copyWithin(0, k, len);
  return len - k;
}

function readChunks(chunks: HeadChunk[], start: number, end: number, parts: Samples[]): void {
  for (const c of chunks) {
    if (c.maxTime < start || c.minTime >= end) continue;
    const d = sliceSamples(chunkSamples(c), start, end);
    if (d.timestamps.length > 0) parts.push(d);
  }
}

function pushSlice(
  parts: Samples[],
  ts: Float64Array,
  vs: Float64Array,
  len: number,
  start: number,
  end: number,
): void {
  if (len === 0) return;
  const a = lowerBound(ts, len, start);
  const b = lowerBound(ts, len, end);
  // Copies: the head's buffers change after the caller's next await.
  if (b > a) parts.push({ timestamps: ts.slice(a, b), values: vs.slice(a, b) });
}

/** Reads the parts of a series taken out by cut(), for queries while its block is written. */
export function readParts(parts: SeriesParts, start: number, end: number): Samples[] {
  const out: Samples[] = [];
  readChunks(parts.chunks, start, end, out);
  for (const r of parts.raws) {
    const d = sliceSamples(r, start, end);
    if (d.timestamps.length > 0) out.push(d);
  }
  return out;
}

/** Decodes all parts of a series (any order, may overlap) into a list of sorted runs. */
export function partsToSamples(parts: SeriesParts): Samples[] {
  const out: Samples[] = parts.raws.filter((r) => r.timestamps.length > 0);
  for (const c of parts.chunks) out.push(chunkSamples(c));
  return out;
}
