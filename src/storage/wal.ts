import type { Env, TimerHandle } from '../env/env.js';
import { assert } from '../model/assert.js';
import { CountError } from '../model/errors.js';
import type { FsyncMode } from './engine.js';
import type { VfsFile } from './vfs.js';
import { joinPath } from './vfs.js';
import {
  encodeRecord,
  isSegmentHeader,
  parseSegmentName,
  RECORD_HEADER_BYTES,
  recordChecksum,
  SEGMENT_HEADER_BYTES,
  segmentHeader,
  segmentName,
} from './wal-format.js';

/**
 * Wal: the write-ahead log, a directory of numbered segment files of checksummed records
 * (format in wal-format.ts, design in docs/wal.md). Payloads are opaque bytes.
 *
 * One writer loop issues every write and fsync in order. An append is framed and queued at
 * once (so its segment is fixed when `append` is called), and resolves when it is as durable
 * as the fsync mode promises. A failed write or fsync fails every append it covers and every
 * later one: after an fsync error the kernel may have dropped the dirty pages, so retrying it
 * could falsely report success (PostgreSQL's "fsyncgate").
 */
export interface WalOptions {
  /** Directory of the segment files, relative to the vfs root. */
  dir: string;
  fsync: FsyncMode;
  /** For `interval`: the longest an acknowledged record stays unsynced. */
  fsyncIntervalMs: number;
  /** A segment is closed and a new one started before a record would take it past this. */
  segmentBytes: number;
  /** Largest payload accepted (and believed on replay); default 64 MiB. */
  maxRecordBytes?: number;
  /** Bound on framed bytes queued but not yet written; past it append rejects `overloaded`. */
  maxPendingBytes?: number;
  /** Called with the duration of every segment fsync, for the fsync latency histogram. */
  onFsync?: (ms: number) => void;
}

export interface WalReplayStats {
  /** Segments read. */
  segments: number;
  /** Intact records delivered. */
  records: number;
  /** Payload bytes delivered. */
  bytes: number;
  /** The last segment ended in a torn or corrupt tail, which was cut off. */
  tornTail: boolean;
  /** Records found damaged (bad checksum or length, or a torn end of an earlier segment). */
  corruptRecords: number;
}

export const DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_PENDING_BYTES = 64 * 1024 * 1024;
/** Replay reads segments in chunks of this size (more when one record is bigger). */
const REPLAY_CHUNK_BYTES = 1024 * 1024;
/** Batches up to this size are copied into one reusable buffer for a single write. */
const SCRATCH_KEEP_BYTES = 4 * 1024 * 1024;

interface RecordItem {
  kind: 'record';
  segment: number;
  frame: Uint8Array;
  resolve: () => void;
  reject: (e: unknown) => void;
}

interface BarrierItem {
  /** `sync`: fsync everything before it; `rotate`: also close the open segment. */
  kind: 'sync' | 'rotate';
  resolve: () => void;
  reject: (e: unknown) => void;
}

type QueueItem = RecordItem | BarrierItem;

type Phase = 'opened' | 'running' | 'closing' | 'closed';

export class Wal {
  private readonly maxRecordBytes: number;
  private readonly maxPendingBytes: number;
  private phase: Phase = 'opened';

  /** Sizes of the segment files that exist, by number (in insertion = ascending order). */
  private readonly segmentSizes = new Map<number, number>();
  /** The segment the next append goes to, and the bytes already assigned to it. */
  private tailSegment: number;
  private tailBytes = SEGMENT_HEADER_BYTES;

  private readonly queue: QueueItem[] = [];
  private pendingBytes = 0;
  private draining = false;
  /** Records written but not yet acknowledged (waiting for their fsync). */
  private inflight: RecordItem[] = [];
  private failure: CountError | null = null;

  private openFile: VfsFile | null = null;
  private openSegment = 0;
  /** The open segment has bytes written since its last fsync. */
  private dirty = false;
  private timer: TimerHandle | null = null;
  private scratch = new Uint8Array(0);
  private closePromise: Promise<void> | null = null;

  private constructor(
    private readonly env: Env,
    private readonly options: WalOptions,
    existing: ReadonlyMap<number, number>,
  ) {
    assert(options.segmentBytes > SEGMENT_HEADER_BYTES, 'WalOptions.segmentBytes is too small');
    assert(
      options.fsync !== 'interval' || options.fsyncIntervalMs > 0,
      'WalOptions.fsyncIntervalMs must be positive in interval mode',
    );
    this.maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
    this.maxPendingBytes = options.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;
    let last = 0;
    for (const [n, size] of existing) {
      this.segmentSizes.set(n, size);
      last = Math.max(last, n);
    }
    this.tailSegment = last + 1;
  }

  /** Opens (creating) the WAL directory and finds its segments; does not replay. */
  static async open(env: Env, options: WalOptions): Promise<Wal> {
    const vfs = env.vfs;
    await vfs.mkdir(options.dir);
    const numbers: number[] = [];
    for (const name of await vfs.list(options.dir)) {
      const n = parseSegmentName(name);
      if (n !== undefined) numbers.push(n);
    }
    numbers.sort((a, b) => a - b);
    const sizes = new Map<number, number>();
    for (const n of numbers) {
      const f = await vfs.open(joinPath(options.dir, segmentName(n)), 'read');
      try {
        sizes.set(n, f.size());
      } finally {
        await f.close();
      }
    }
    return new Wal(env, options, sizes);
  }

  // ---- replay ----

  /**
   * Delivers every intact record of segments >= fromSegment, in order. `payload` is a view the
   * WAL never overwrites. A torn or corrupt tail of the last segment is cut off; damage inside
   * an earlier segment ends that segment and replay goes on with the next. Must come before the
   * first append; appends then go to a new segment numbered after every existing one (and at
   * least `fromSegment`).
   */
  async replay(
    fromSegment: number,
    onRecord: (payload: Uint8Array, segment: number) => void,
  ): Promise<WalReplayStats> {
    assert(this.phase === 'opened', 'Wal.replay must be called before the first append');
    const stats: WalReplayStats = {
      segments: 0,
      records: 0,
      bytes: 0,
      tornTail: false,
      corruptRecords: 0,
    };
    const all = this.segments();
    const last = all.length > 0 ? all[all.length - 1] : 0;
    for (const segment of all) {
      if (segment < fromSegment) continue;
      stats.segments++;
      const path = this.segmentPath(segment);
      const file = await this.env.vfs.open(path, 'read');
      let scan: SegmentScan;
      try {
        scan = await scanSegment(file, this.maxRecordBytes, segment, onRecord, stats);
      } finally {
        await file.close();
      }
      if (scan.damage === 'none') continue;
      if (scan.damage === 'corrupt') stats.corruptRecords++;
      if (segment === last) {
        // The crash point: cut the damaged tail so new appends never follow garbage.
        await this.env.vfs.truncate(path, scan.validBytes);
        this.segmentSizes.set(segment, scan.validBytes);
        stats.tornTail = true;
      } else if (scan.damage === 'torn') {
        // An earlier segment was synced and closed whole; a short one is damage too.
        stats.corruptRecords++;
      }
    }
    this.tailSegment = Math.max(this.tailSegment, fromSegment);
    return stats;
  }

  // ---- appending ----

  /**
   * Queues one record; resolves when it is as durable as the fsync mode promises (`always`,
   * `batch`: after an fsync that covers it; `interval`: once written, an env timer fsyncs).
   * Rejects with `overloaded` when the queue is full, `body_too_large` past maxRecordBytes,
   * `shutting_down` after close, and with the WAL's failure after a write or fsync error.
   */
  append(payload: Uint8Array): Promise<void> {
    const refused = this.appendRefusal(payload.length);
    if (refused !== null) return Promise.reject(refused);
    const frameBytes = RECORD_HEADER_BYTES + payload.length;
    this.phase = 'running';
    if (
      this.tailBytes > SEGMENT_HEADER_BYTES &&
      this.tailBytes + frameBytes > this.options.segmentBytes
    ) {
      this.tailSegment++;
      this.tailBytes = SEGMENT_HEADER_BYTES;
    }
    this.tailBytes += frameBytes;
    this.pendingBytes += frameBytes;
    const frame = encodeRecord(payload);
    return new Promise<void>((resolve, reject) => {
      this.enqueue({ kind: 'record', segment: this.tailSegment, frame, resolve, reject });
    });
  }

  /**
   * Starts a new segment n: every append called before goes to segments < n, every append
   * after to segments >= n. Resolves with n once the older segments are synced and closed.
   */
  rotate(): Promise<number> {
    const refused = this.refusal();
    if (refused !== null) return Promise.reject(refused);
    this.phase = 'running';
    if (this.tailBytes > SEGMENT_HEADER_BYTES) {
      this.tailSegment++;
      this.tailBytes = SEGMENT_HEADER_BYTES;
    }
    const n = this.tailSegment;
    return new Promise<void>((resolve, reject) => {
      this.enqueue({ kind: 'rotate', resolve, reject });
    }).then(() => n);
  }

  /** Resolves once every record appended before the call is fsynced. */
  sync(): Promise<void> {
    const refused = this.refusal();
    if (refused !== null) return Promise.reject(refused);
    this.phase = 'running';
    return new Promise<void>((resolve, reject) => {
      this.enqueue({ kind: 'sync', resolve, reject });
    });
  }

  /** The segment the next append goes to. */
  currentSegment(): number {
    return this.tailSegment;
  }

  /**
   * The segment an append of a `payloadBytes` payload made now would go to (the current one, or
   * the next when it would overflow the current). Records that refer to earlier records of
   * their segment (the engine's segment-scoped series refs) are sized against this.
   */
  segmentFor(payloadBytes: number): number {
    const frameBytes = RECORD_HEADER_BYTES + payloadBytes;
    return this.tailBytes > SEGMENT_HEADER_BYTES &&
      this.tailBytes + frameBytes > this.options.segmentBytes
      ? this.tailSegment + 1
      : this.tailSegment;
  }

  /** Numbers of the segment files that exist, ascending. */
  segments(): number[] {
    return [...this.segmentSizes.keys()].sort((a, b) => a - b);
  }

  /** Bytes in all segment files (written, not only synced). */
  sizeBytes(): number {
    let total = 0;
    for (const size of this.segmentSizes.values()) total += size;
    return total;
  }

  /**
   * Deletes the segments numbered below `segment` (after a checkpoint made them redundant),
   * never one that is open or still has queued records.
   */
  async removeSegmentsBefore(segment: number): Promise<void> {
    assert(segment <= this.tailSegment, 'Wal.removeSegmentsBefore: beyond the current segment');
    let live = segment;
    if (this.openFile !== null) live = Math.min(live, this.openSegment);
    for (const item of this.queue) {
      if (item.kind === 'record') {
        live = Math.min(live, item.segment);
        break;
      }
    }
    const doomed = this.segments().filter((n) => n < live);
    if (doomed.length === 0) return;
    for (const n of doomed) {
      await this.env.vfs.remove(this.segmentPath(n));
      this.segmentSizes.delete(n);
    }
    await this.env.vfs.syncDir(this.options.dir);
  }

  /** Syncs and closes; later appends reject with `shutting_down`. Rejects if the WAL failed. */
  close(): Promise<void> {
    if (this.closePromise === null) this.closePromise = this.shutdown();
    return this.closePromise;
  }

  private async shutdown(): Promise<void> {
    const wasUsed = this.phase === 'running';
    this.phase = 'closing';
    try {
      if (wasUsed && this.failure === null) {
        await new Promise<void>((resolve, reject) => {
          this.enqueue({ kind: 'rotate', resolve, reject });
        });
      }
    } finally {
      this.phase = 'closed';
      this.timer?.cancel();
      this.timer = null;
      const file = this.openFile;
      this.openFile = null;
      await file?.close().catch(() => {});
    }
    if (this.failure !== null) throw this.failure;
  }

  /**
   * The error `append` of a payload this long would reject with right now, or null. Callers
   * that change state beside the log (the engine's head) check first, so a refused append
   * changes nothing.
   */
  appendRefusal(payloadBytes: number): CountError | null {
    const refused = this.refusal();
    if (refused !== null) return refused;
    if (payloadBytes > this.maxRecordBytes) {
      return new CountError(
        'body_too_large',
        `WAL record of ${payloadBytes} bytes exceeds the limit of ${this.maxRecordBytes}`,
      );
    }
    const frameBytes = RECORD_HEADER_BYTES + payloadBytes;
    // An empty queue always takes one record, so a record as large as the bound still fits.
    if (this.pendingBytes > 0 && this.pendingBytes + frameBytes > this.maxPendingBytes) {
      return new CountError('overloaded', 'WAL write queue is full; retry later', {
        retryAfterSeconds: 1,
        details: { pendingBytes: this.pendingBytes, maxPendingBytes: this.maxPendingBytes },
      });
    }
    return null;
  }

  /** Why a new operation must be refused now, or null. */
  private refusal(): CountError | null {
    if (this.failure !== null) return this.failure;
    if (this.phase === 'closing' || this.phase === 'closed') {
      return new CountError('shutting_down', 'the WAL is closed');
    }
    return null;
  }

  // ---- the writer loop ----

  private enqueue(item: QueueItem): void {
    this.queue.push(item);
    if (!this.draining) {
      this.draining = true;
      void this.drain();
    }
  }

  private async drain(): Promise<void> {
    // Let appends issued in the same turn join the first batch.
    await Promise.resolve();
    try {
      while (this.queue.length > 0) {
        const head = this.queue[0];
        if (head.kind !== 'record') {
          // Records before the barrier are already synced except in interval mode. The barrier
          // stays queued until done, so a failure here rejects it with the rest.
          await this.syncOpen();
          if (head.kind === 'rotate') await this.closeOpen();
          this.queue.shift();
          head.resolve();
          continue;
        }
        const batch = this.takeBatch();
        await this.ensureSegment(batch[0].segment);
        await this.writeBatch(batch);
        if (this.options.fsync === 'interval') {
          this.ack();
          this.armTimer();
        } else {
          await this.syncOpen();
          this.ack();
        }
      }
    } catch (e) {
      this.fail(e);
    } finally {
      this.draining = false;
    }
  }

  /** Takes the next records bound for one segment: one in `always` mode, all of them else. */
  private takeBatch(): RecordItem[] {
    const first = this.queue[0];
    assert(first.kind === 'record', 'Wal.takeBatch: queue head is not a record');
    const limit = this.options.fsync === 'always' ? 1 : this.queue.length;
    let n = 0;
    while (n < limit) {
      const item = this.queue[n];
      if (item === undefined || item.kind !== 'record' || item.segment !== first.segment) break;
      n++;
    }
    const batch = this.queue.splice(0, n) as RecordItem[];
    this.inflight = batch;
    return batch;
  }

  private async writeBatch(batch: RecordItem[]): Promise<void> {
    let bytes = 0;
    for (const r of batch) bytes += r.frame.length;
    let data: Uint8Array;
    if (batch.length === 1) {
      data = batch[0].frame;
    } else {
      if (this.scratch.length < bytes) {
        this.scratch = new Uint8Array(
          Math.max(bytes, Math.min(this.scratch.length * 2, SCRATCH_KEEP_BYTES)),
        );
      }
      data = this.scratch.subarray(0, bytes);
      let at = 0;
      for (const r of batch) {
        data.set(r.frame, at);
        at += r.frame.length;
      }
    }
    const file = this.openFile;
    assert(file !== null, 'Wal.writeBatch: no open segment');
    this.dirty = true;
    try {
      await file.append(data);
    } finally {
      this.pendingBytes -= bytes;
      assert(this.pendingBytes >= 0, 'Wal: pending byte count went negative');
      if (this.scratch.length > SCRATCH_KEEP_BYTES) this.scratch = new Uint8Array(0);
    }
    this.segmentSizes.set(this.openSegment, file.size());
  }

  private ack(): void {
    const done = this.inflight;
    this.inflight = [];
    for (const r of done) r.resolve();
  }

  /** Opens segment `segment` for writing, closing the previous one first. */
  private async ensureSegment(segment: number): Promise<void> {
    if (this.openFile !== null && this.openSegment === segment) return;
    assert(segment > this.openSegment, 'Wal: segments must be written in ascending order');
    await this.closeOpen();
    const vfs = this.env.vfs;
    const file = await vfs.open(this.segmentPath(segment), 'create');
    this.openFile = file;
    this.openSegment = segment;
    this.segmentSizes.set(segment, 0);
    this.dirty = true;
    await file.append(segmentHeader());
    this.segmentSizes.set(segment, file.size());
    // The new entry must be durable before any record in it is acknowledged.
    await vfs.syncDir(this.options.dir);
  }

  private async syncOpen(): Promise<void> {
    const file = this.openFile;
    if (file === null || !this.dirty) return;
    const start = this.env.monotonic();
    await file.sync();
    this.dirty = false;
    const onFsync = this.options.onFsync;
    if (onFsync !== undefined) {
      try {
        onFsync(this.env.monotonic() - start);
      } catch {
        // A broken metrics hook must not fail durable writes (it would poison the WAL).
      }
    }
  }

  private async closeOpen(): Promise<void> {
    const file = this.openFile;
    if (file === null) return;
    await this.syncOpen();
    this.openFile = null;
    await file.close();
  }

  private armTimer(): void {
    if (this.timer !== null || this.phase === 'closed') return;
    this.timer = this.env.setTimer(this.options.fsyncIntervalMs, () => {
      this.timer = null;
      if (this.phase !== 'running' || this.failure !== null) return;
      // A failure is recorded by the writer loop and reported by the next append or close.
      this.enqueue({ kind: 'sync', resolve: () => {}, reject: () => {} });
    });
  }

  /** Records a write or fsync failure: everything unacknowledged fails, now and later. */
  private fail(cause: unknown): void {
    const message = cause instanceof Error ? cause.message : String(cause);
    this.failure = new CountError('internal', `WAL write failed, refusing appends: ${message}`, {
      cause,
    });
    const failed = [...this.inflight, ...this.queue.splice(0)];
    this.inflight = [];
    for (const item of failed) {
      if (item.kind === 'record') this.pendingBytes -= item.frame.length;
      item.reject(this.failure);
    }
    this.pendingBytes = Math.max(0, this.pendingBytes);
    this.timer?.cancel();
    this.timer = null;
  }

  private segmentPath(segment: number): string {
    return joinPath(this.options.dir, segmentName(segment));
  }
}

// ---- replay scanning ----

interface SegmentScan {
  damage: 'none' | 'torn' | 'corrupt';
  /** Length of the intact prefix (header and whole records). */
  validBytes: number;
}

/** Reads one segment, delivering its intact records until the end or the first damage. */
async function scanSegment(
  file: VfsFile,
  maxRecordBytes: number,
  segment: number,
  onRecord: (payload: Uint8Array, segment: number) => void,
  stats: WalReplayStats,
): Promise<SegmentScan> {
  const reader = new SegmentReader(file);
  if (reader.remaining() === 0) return { damage: 'none', validBytes: 0 };
  if (!(await reader.ensure(SEGMENT_HEADER_BYTES))) return { damage: 'torn', validBytes: 0 };
  if (!isSegmentHeader(reader.view(0, SEGMENT_HEADER_BYTES))) {
    return { damage: 'corrupt', validBytes: 0 };
  }
  reader.skip(SEGMENT_HEADER_BYTES);
  while (reader.remaining() > 0) {
    const validBytes = reader.offset();
    if (!(await reader.ensure(RECORD_HEADER_BYTES))) return { damage: 'torn', validBytes };
    const length = reader.u32(0);
    if (length > maxRecordBytes) return { damage: 'corrupt', validBytes };
    if (!(await reader.ensure(RECORD_HEADER_BYTES + length))) return { damage: 'torn', validBytes };
    if (reader.checksum(length) !== reader.u32(4)) return { damage: 'corrupt', validBytes };
    onRecord(reader.view(RECORD_HEADER_BYTES, length), segment);
    stats.records++;
    stats.bytes += length;
    reader.skip(RECORD_HEADER_BYTES + length);
  }
  return { damage: 'none', validBytes: reader.offset() };
}

/**
 * Sequential reader over a file in chunks. Every refill builds a new buffer, so views handed
 * out earlier stay valid.
 */
class SegmentReader {
  private buf = new Uint8Array(0);
  private view32 = new DataView(this.buf.buffer);
  /** File offset of buf[0]. */
  private base = 0;
  /** Read position within buf. */
  private at = 0;
  private readonly size: number;

  constructor(private readonly file: VfsFile) {
    this.size = file.size();
  }

  offset(): number {
    return this.base + this.at;
  }

  remaining(): number {
    return this.size - this.offset();
  }

  /** Makes `n` bytes available at the read position; false if the file ends first. */
  async ensure(n: number): Promise<boolean> {
    const have = this.buf.length - this.at;
    if (have >= n) return true;
    if (this.remaining() < n) return false;
    const want = Math.min(this.remaining(), Math.max(n, REPLAY_CHUNK_BYTES));
    const more = await this.file.read(this.offset() + have, want - have);
    if (more.length < want - have) return false;
    const next = new Uint8Array(want);
    next.set(this.buf.subarray(this.at), 0);
    next.set(more, have);
    this.base = this.offset();
    this.buf = next;
    this.view32 = new DataView(next.buffer);
    this.at = 0;
    return true;
  }

  skip(n: number): void {
    assert(this.at + n <= this.buf.length, 'SegmentReader.skip past the buffer');
    this.at += n;
  }

  u32(rel: number): number {
    return this.view32.getUint32(this.at + rel, true);
  }

  view(rel: number, length: number): Uint8Array {
    return this.buf.subarray(this.at + rel, this.at + rel + length);
  }

  checksum(length: number): number {
    return recordChecksum(this.buf, this.at, length);
  }
}
