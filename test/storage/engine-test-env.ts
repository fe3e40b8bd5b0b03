import type { Env, TimerHandle } from '../../src/env/env.js';
import { PointBatch } from '../../src/model/batch.js';
import type { Vfs } from '../../src/storage/vfs.js';

/**
 * A manual Env for engine tests: the clock moves only when the test says so and timers fire
 * only from `fireDue()`, so maintenance runs exactly when a test calls it.
 */
export class ManualEnv implements Env {
  private time: number;
  private seed = 12345;
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
    // mulberry32: deterministic per env.
    this.seed = (this.seed + 0x6d2b79f5) | 0;
    let t = this.seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

export function batchOf(points: Array<[string, number, number]>): PointBatch {
  const b = new PointBatch(points.length);
  for (const [k, t, v] of points) b.add(k, t, v);
  return b;
}

export const HOUR = 3600_000;
