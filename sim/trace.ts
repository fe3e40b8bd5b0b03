import { createHash, type Hash } from 'node:crypto';

/**
 * The event trace: every event of a run (send, deliver, drop, timer, crash, restart, partition,
 * client invoke/complete, apply) becomes one canonical line that feeds a running SHA-256. Two
 * runs of the same seed must give the same hash; the lines themselves are kept only when asked
 * for (--trace), since a sweep would otherwise hold millions of strings.
 */
/**
 * Lines are hashed in batches of about 4 KiB: one crypto call per line costs more than the
 * hash, while a large batch is a long rope of small strings that outlives young-generation
 * collections and is slow to flatten (64 KiB batches took twice the hashing time of 4 KiB).
 */
const HASH_BATCH_CHARS = 4 * 1024;

export class Trace {
  private readonly hash: Hash = createHash('sha256');
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

  private flush(): void {
    // Lines are ASCII-safe JSON and node ids; latin1 skips the UTF-8 encoder.
    this.hash.update(this.pending, 'latin1');
    this.pending = '';
  }

  /** Hex digest of everything recorded; call once, at the end. */
  digest(): string {
    this.flush();
    return this.hash.digest('hex');
  }

  /** The recorded lines as NDJSON, or undefined when lines were not kept. */
  ndjson(): string | undefined {
    return this.lines === undefined ? undefined : `${this.lines.join('\n')}\n`;
  }
}
