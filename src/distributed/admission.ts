import { assert } from '../model/assert.js';
import { CountError } from '../model/errors.js';

/**
 * Backpressure: a bound on requests in flight. Past it, a request is refused at once with
 * CountError('overloaded') (HTTP 429 with Retry-After; a coordinator counts a refusing replica
 * as failed and hints it) instead of queuing without bound.
 */
export class InFlightLimit {
  private inFlight = 0;
  private refusedCount = 0;

  constructor(
    readonly max: number,
    private readonly what: string,
    private readonly retryAfterSeconds = 1,
  ) {
    assert(Number.isInteger(max) && max >= 1, `InFlightLimit(${what}): max must be >= 1`);
  }

  get current(): number {
    return this.inFlight;
  }

  get refused(): number {
    return this.refusedCount;
  }

  /** Runs `fn` inside the bound, or throws overloaded without running it. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.inFlight >= this.max) {
      this.refusedCount++;
      throw new CountError(
        'overloaded',
        `${this.what}: ${this.inFlight} requests in flight (limit ${this.max}); retry later`,
        {
          retryAfterSeconds: this.retryAfterSeconds,
          details: { inFlight: this.inFlight, limit: this.max },
        },
      );
    }
    this.inFlight++;
    try {
      return await fn();
    } finally {
      this.inFlight--;
    }
  }
}
