import { CountError } from '../model/errors.js';

/**
 * A bound on concurrent work of one kind (writes, queries). Past it a request is refused at
 * once with 429 overloaded and Retry-After, rather than queueing without limit and holding its
 * body or its answer in memory.
 */
export class Admission {
  private active = 0;

  constructor(
    readonly kind: string,
    readonly limit: number,
    private readonly onChange: (active: number) => void = () => {},
  ) {}

  get inFlight(): number {
    return this.active;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) {
      throw new CountError(
        'overloaded',
        `too many concurrent ${this.kind} (${this.active}, the limit is ${this.limit}); retry shortly`,
        { retryAfterSeconds: 1 },
      );
    }
    this.active++;
    this.onChange(this.active);
    try {
      return await work();
    } finally {
      this.active--;
      this.onChange(this.active);
    }
  }
}
