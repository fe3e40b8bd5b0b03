import type { Env, TimerHandle } from '../src/env/env.js';
import { assert } from '../src/model/assert.js';
import type { Vfs } from '../src/storage/vfs.js';
import { FencedVfs } from './fenced-vfs.js';
import type { SimRandom } from './random.js';
import type { Scheduler } from './scheduler.js';
import type { Trace } from './trace.js';

/** The virtual epoch: simulated wall clocks start at 2026-01-01T00:00:00Z. */
export const SIM_EPOCH_MS = 1_767_225_600_000;

/**
 * A node's clock. `rate` is the drift (0.001 = the node's clock runs 0.1% fast, so its timers
 * fire early in global time); `offsetMs` shifts its wall clock only.
 */
export interface ClockDrift {
  readonly rate: number;
  readonly offsetMs: number;
}

/**
 * SimEnv: the `Env` one incarnation of a simulated node runs with. Time and timers come from the
 * simulation's single event queue, scaled by the node's drift; randomness from the node's
 * seeded stream; the disk is the node's MemoryVfs behind a fence. `kill()` models the process
 * dying: its timers never fire again and its disk handle refuses further use.
 */
export class SimEnv implements Env {
  readonly vfs: FencedVfs;
  private alive = true;
  private timerCount = 0;

  constructor(
    readonly node: string,
    private readonly scheduler: Scheduler,
    private readonly drift: ClockDrift,
    private readonly rng: SimRandom,
    disk: Vfs,
    private readonly trace: Trace | null,
  ) {
    assert(drift.rate > -0.5 && drift.rate < 0.5, 'SimEnv: drift rate out of range');
    this.vfs = new FencedVfs(disk);
  }

  now(): number {
    return Math.floor(SIM_EPOCH_MS + this.drift.offsetMs + this.monotonic());
  }

  monotonic(): number {
    return this.scheduler.now * (1 + this.drift.rate);
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    // The node asks for delayMs of its own time; in global time that is delay / (1 + rate).
    const global = Math.max(0, delayMs) / (1 + this.drift.rate);
    const id = this.timerCount++;
    const ev = this.scheduler.schedule(global, () => {
      if (!this.alive) return;
      this.trace?.record(this.scheduler.now, 'timer', `${this.node} ${id}`);
      fn();
    });
    return {
      cancel: () => {
        ev.cancelled = true;
      },
    };
  }

  random(): number {
    return this.rng.next();
  }

  get isAlive(): boolean {
    return this.alive;
  }

  /** The process died: no more timers, no more disk access from this incarnation. */
  kill(): void {
    this.alive = false;
    this.vfs.fence();
  }
}
