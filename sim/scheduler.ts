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
   * an event). After each event every microtask it queued (and those they queue) runs before
   * the next event: the simulated disk resolves its promises in microtasks only.
   *
   * The drain costs one microtask and one `process.nextTick` per event instead of a macrotask
   * turn: Node runs a tick only once the microtask queue is empty, so a tick queued from a
   * microtask queued after the event runs after every promise chain the event started. (This
   * holds as long as the simulated code does not queue ticks itself; nothing in it does.)
   * Every `YIELD_EVERY` events the loop takes one real macrotask turn so timers and I/O
   * outside the simulation (test timeouts, progress lines) are not starved; at that point the
   * microtask queue is empty, so the turn cannot change what the simulation does.
   */
  run(until: number, stop: () => boolean = () => false): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let sinceYield = 0;
      const finish = (): void => {
        if (this.clock < until) this.clock = until;
        resolve();
      };
      const step = (): void => {
        try {
          for (;;) {
            const next = this.queue.peek();
            if (next === undefined || next.at > until) {
              finish();
              return;
            }
            this.queue.pop();
            if (next.cancelled) continue;
            this.clock = next.at;
            next.run();
            this.eventsRun++;
            break;
          }
        } catch (e) {
          reject(e);
          return;
        }
        // A bare promise reaction: queueMicrotask would wrap each callback in an async scope.
        void RESOLVED.then(drained);
      };
      const drained = (): void => {
        process.nextTick(afterEvent);
      };
      const afterEvent = (): void => {
        try {
          if (stop()) {
            resolve();
            return;
          }
        } catch (e) {
          reject(e);
          return;
        }
        if (++sinceYield >= YIELD_EVERY) {
          sinceYield = 0;
          setImmediate(step);
        } else {
          step();
        }
      };
      step();
    });
  }
}

const RESOLVED = Promise.resolve();

/** Events between two real macrotask turns of `Scheduler.run`. */
const YIELD_EVERY = 256;
