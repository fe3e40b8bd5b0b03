/**
 * Virtual time for tests that run nodes in one process: a timer queue the test advances. Ties
 * run in the order the timers were set; after each timer `settle` lets the promise chains it
 * started run (each harness says how far: the Raft runtime needs only microtasks, the
 * metadata nodes also a macrotask turn).
 */
export class VirtualClock {
  now = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  constructor(private readonly settle: () => Promise<void>) {}

  setTimer(delayMs: number, fn: () => void): { cancel(): void } {
    const id = this.seq++;
    this.timers.set(id, { at: this.now + Math.max(1, delayMs), fn });
    return { cancel: () => this.timers.delete(id) };
  }

  /** Runs every timer due within `ms`, in time order, letting promises settle in between. */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      let nextId = -1;
      let nextAt = Infinity;
      for (const [id, t] of this.timers) {
        if (t.at < nextAt || (t.at === nextAt && id < nextId)) {
          nextAt = t.at;
          nextId = id;
        }
      }
      if (nextId < 0 || nextAt > end) break;
      const t = this.timers.get(nextId)!;
      this.timers.delete(nextId);
      this.now = t.at;
      t.fn();
      await this.settle();
    }
    this.now = end;
    await this.settle();
  }
}
