import { createHash, type Hash } from 'node:crypto';
import { assert } from '../src/model/assert.js';

/**
 * The event trace: every event of a run (send, deliver, drop, timer, crash, restart, partition,
 * client invoke/complete, apply) becomes one canonical line that feeds a running SHA-256, or,
 * for packets, a record of numbers that feeds a second one; the hash is that of both. Two
 * runs of the same seed must give the same hash; the lines themselves are kept only when asked
 * for (--trace), since a sweep would otherwise hold millions of strings.
 */
/**
 * Lines are hashed in batches of about 4 KiB: one crypto call per line costs more than the
 * hash, while a large batch is a long rope of small strings that outlives young-generation
 * collections and is slow to flatten (64 KiB batches took twice the hashing time of 4 KiB).
 */
const HASH_BATCH_CHARS = 4 * 1024;
/** Numbers per batch of numeric records (8 KiB). */
const NUMBER_BATCH = 2048;
/** The time as its two float64 halves, so a fractional (drifted) instant is hashed exactly. */
const TIME = new Float64Array(1);
const TIME_WORDS = new Int32Array(TIME.buffer);

export class Trace {
  private readonly hash: Hash = createHash('sha256');
  /**
   * Numeric records (packets: nine events in ten) go to a second SHA-256 as int32s, so no
   * string is built for them unless lines are kept. Each carries the event's sequence number,
   * which fixes its place among the text lines. (Int32, not float64: the hash's cost is its
   * bytes, and every field but the time is a small integer.)
   */
  private readonly numberHash: Hash = createHash('sha256');
  private readonly numbers = new Int32Array(NUMBER_BATCH);
  private filled = 0;
  private readonly lines: string[] | undefined;
  private pending = '';
  count = 0;

  constructor(keepLines: boolean) {
    this.lines = keepLines ? [] : undefined;
  }

  /**
   * Records one event at virtual time `at`. The hash covers the canonical line
   * "<t> <kind> <detail>"; the NDJSON form is built only when lines are kept.
   */
  record(at: number, kind: string, detail: string): void {
    this.pending += `${at} ${kind} ${detail}\n`;
    if (this.pending.length >= HASH_BATCH_CHARS) this.flush();
    this.count++;
    this.lines?.push(JSON.stringify({ t: at, k: kind, d: detail }));
  }

  /** True when lines are kept: callers of `recordNumbers` then pass the line's detail. */
  get keepsLines(): boolean {
    return this.lines !== undefined;
  }

  /**
   * Records one event as numbers: the hash covers (sequence number, `at`, `values[0..count)`),
   * where `values[0]` is the caller's event code; values must be int32 integers. `detail` is
   * the NDJSON detail, required when lines are kept and ignored otherwise.
   */
  recordNumbers(
    at: number,
    kind: string,
    values: Int32Array,
    count: number,
    detail?: string,
  ): void {
    if (this.filled + count + 3 > NUMBER_BATCH) this.flushNumbers();
    const buf = this.numbers;
    let o = this.filled;
    TIME[0] = at;
    buf[o++] = this.count;
    buf[o++] = TIME_WORDS[0];
    buf[o++] = TIME_WORDS[1];
    for (let i = 0; i < count; i++) buf[o++] = values[i];
    this.filled = o;
    this.count++;
    if (this.lines !== undefined) {
      assert(detail !== undefined, 'Trace.recordNumbers: lines are kept but no detail given');
      this.lines.push(JSON.stringify({ t: at, k: kind, d: detail }));
    }
  }

  private flushNumbers(): void {
    this.numberHash.update(new Uint8Array(this.numbers.buffer, 0, this.filled * 4));
    this.filled = 0;
  }

  private flush(): void {
    // Lines are ASCII-safe JSON and node ids; latin1 skips the UTF-8 encoder.
    this.hash.update(this.pending, 'latin1');
    this.pending = '';
  }

  /** Hex digest of everything recorded; call once, at the end. */
  digest(): string {
    this.flush();
    this.flushNumbers();
    return createHash('sha256')
      .update(this.hash.digest())
      .update(this.numberHash.digest())
      .digest('hex');
  }

  /** The recorded lines as NDJSON, or undefined when lines were not kept. */
  ndjson(): string | undefined {
    return this.lines === undefined ? undefined : `${this.lines.join('\n')}\n`;
  }
}
