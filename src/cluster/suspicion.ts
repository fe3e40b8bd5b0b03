import type { Env, TimerHandle } from '../env/env.js';
import { assert } from '../model/assert.js';

/**
 * Lifeguard's suspicion timer: a suspected member is declared dead when the timer fires. It
 * starts at `maxMs` and shrinks towards `minMs` as independent confirmations arrive (other nodes
 * whose own probes failed), following max - (max - min) * log(c + 1) / log(k + 1) for c of the
 * k expected confirmations. One node's lossy link alone thus waits long; several witnesses
 * agree fast. With k = 0 (too few nodes to confirm) the timeout is `minMs` from the start.
 */
export class Suspicion {
  private readonly confirmedBy = new Set<string>();
  private confirmations = 0;
  private readonly startedAt: number;
  private timer: TimerHandle;
  private fired = false;

  constructor(
    private readonly env: Env,
    /** The node whose suspicion started this timer; it does not count as a confirmation. */
    from: string,
    private readonly expected: number,
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly onTimeout: () => void,
  ) {
    assert(Number.isInteger(expected) && expected >= 0, 'Suspicion: bad expected confirmations');
    assert(minMs > 0 && maxMs >= minMs, 'Suspicion: need 0 < minMs <= maxMs');
    this.confirmedBy.add(from);
    this.startedAt = env.monotonic();
    this.timer = env.setTimer(this.timeoutMs(), () => this.fire());
  }

  /** The timeout after `c` confirmations of `k` expected. */
  static timeoutMs(c: number, k: number, minMs: number, maxMs: number): number {
    if (k < 1) return minMs;
    const frac = Math.log(Math.min(c, k) + 1) / Math.log(k + 1);
    return Math.max(minMs, Math.floor(maxMs - (maxMs - minMs) * frac));
  }

  get confirmationCount(): number {
    return this.confirmations;
  }

  /** Current total timeout (from the start of the suspicion). */
  timeoutMs(): number {
    return Suspicion.timeoutMs(this.confirmations, this.expected, this.minMs, this.maxMs);
  }

  /**
   * Records an independent confirmation from `from`; true when it was new (the caller then
   * re-gossips the suspicion so others can count it too). Shortens the remaining time.
   */
  confirm(from: string): boolean {
    if (this.fired || this.confirmations >= this.expected || this.confirmedBy.has(from)) {
      return false;
    }
    this.confirmedBy.add(from);
    this.confirmations++;
    this.timer.cancel();
    const elapsed = this.env.monotonic() - this.startedAt;
    const remaining = Math.max(0, this.timeoutMs() - elapsed);
    this.timer = this.env.setTimer(remaining, () => this.fire());
    return true;
  }

  cancel(): void {
    this.fired = true;
    this.timer.cancel();
  }

  private fire(): void {
    if (this.fired) return;
    this.fired = true;
    this.onTimeout();
  }
}
