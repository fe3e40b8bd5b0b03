import type { Env, TimerHandle } from '../../src/env/env.js';
import { PointBatch } from '../../src/model/batch.js';
import type { Vfs } from '../../src/storage/vfs.js';
import { seeded } from './seeded-random.js';

/**
 * A manual Env for engine tests: the clock moves only when the test says so and timers fire
 * only from `fireDue()`, so maintenance runs exactly when a test calls it.
 */
export class ManualEnv implements Env {
  private time: number;
  /** Deterministic per env. */
  private readonly rand = seeded(12345);
  private timers: Array<{ due: number; fn: () => void; live: boolean }> = [];

  constructor(
    public vfs: Vfs,
    start = 1_700_000_000_000,
  ) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  monotonic(): number {
    return this.time;
  }

  advance(ms: number): void {
    this.time += ms;
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const t = { due: this.time + delayMs, fn, live: true };
    this.timers.push(t);
    return {
      cancel: () => {
        t.live = false;
      },
    };
  }

  /** Runs the timers due now; returns how many ran. */
  fireDue(): number {
    const due = this.timers.filter((t) => t.live && t.due <= this.time);
    this.timers = this.timers.filter((t) => t.live && t.due > this.time);
    for (const t of due) t.fn();
    return due.length;
  }

  random(): number {
    return this.rand();
  }
}

export function batchOf(points: Array<[string, number, number]>): PointBatch {
  const b = new PointBatch(points.length);
  for (const [k, t, v] of points) b.add(k, t, v);
  return b;
}

export const HOUR = 3600_000;
