import { assert } from '../src/model/assert.js';
import { EventQueue, type SimEvent } from './event-queue.js';

/**
 * Virtual time for the whole simulation: one clock and one event queue shared by every node,
 * the network, the fault schedule and the clients. `run` pops the next event, advances the
 * clock to it, runs it, then lets the promise chains it started settle before the next event,
 * so an fsync's continuation runs "at" the virtual instant of the event that started it.
 * Nothing here reads a real clock; the order of events is (time, scheduling order).
 */
export class Scheduler {
  private readonly queue: EventQueue;
  private clock = 0;
  /** Events run so far, for the figures. */
  eventsRun = 0;

  constructor(capacity?: number) {
    this.queue = new EventQueue(capacity);
  }

  /** Virtual milliseconds since the start of the simulation. */
  get now(): number {
    return this.clock;
  }

  /** Runs `fn` `delayMs` from now; a delay of 0 runs it after the events already due now. */
  schedule(delayMs: number, fn: () => void): SimEvent {
    assert(delayMs >= 0 && Number.isFinite(delayMs), 'Scheduler.schedule: bad delay');
    return this.queue.push(this.clock + delayMs, fn);
  }

  scheduleAt(at: number, fn: () => void): SimEvent {
    assert(at >= this.clock, 'Scheduler.scheduleAt: time in the past');
    return this.queue.push(at, fn);
  }

  get pending(): number {
    return this.queue.size;
  }

  /**
   * Runs events up to and including virtual time `until` (or until `stop()` returns true after
   * an event). Between events it waits one macrotask turn, which drains every microtask the
   * event queued: the simulated disk resolves its promises in microtasks only.
   */
  async run(until: number, stop: () => boolean = () => false): Promise<void> {
    for (;;) {
      const next = this.queue.peek();
      if (next === undefined || next.at > until) break;
      this.queue.pop();
      if (next.cancelled) continue;
      this.clock = next.at;
      next.run();
      this.eventsRun++;
      await settle();
      if (stop()) return;
    }
    if (this.clock < until) this.clock = until;
  }
}

/** One macrotask turn: every pending microtask (and those they queue) runs before it ends. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
