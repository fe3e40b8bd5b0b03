import { createHash, type Hash } from 'node:crypto';

/**
 * The event trace: every event of a run (send, deliver, drop, timer, crash, restart, partition,
 * client invoke/complete, apply) becomes one canonical line that feeds a running SHA-256. Two
 * runs of the same seed must give the same hash; the lines themselves are kept only when asked
 * for (--trace), since a sweep would otherwise hold millions of strings.
 */
export class Trace {
  private readonly hash: Hash = createHash('sha256');
  private readonly lines: string[] | undefined;
  count = 0;

  constructor(keepLines: boolean) {
    this.lines = keepLines ? [] : undefined;
  }

  /** Records one event at virtual time `at`; `fields` must be JSON-serialisable and ordered. */
  record(at: number, kind: string, fields: Record<string, unknown>): void {
    const line = JSON.stringify({ t: at, k: kind, ...fields });
    this.hash.update(line);
    this.hash.update('\n');
    this.count++;
    this.lines?.push(line);
  }

  /** Hex digest of everything recorded; call once, at the end. */
  digest(): string {
    return this.hash.digest('hex');
  }

  /** The recorded lines as NDJSON, or undefined when lines were not kept. */
  ndjson(): string | undefined {
    return this.lines === undefined ? undefined : `${this.lines.join('\n')}\n`;
  }
}
