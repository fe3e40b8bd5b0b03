import { performance } from 'node:perf_hooks';
import type { Env, TimerHandle } from './env.js';
import { NodeVfs } from './node-vfs.js';

/**
 * The production Env: the wall clock, a monotonic clock, real timers, Math.random (the
 * simulator is where randomness must be seeded; here any uniform source will do) and the disk
 * under `dataDir`. Timers are not unref'd: a pending timer keeps the process alive, as callers
 * cancel theirs on close.
 */
export function createRealEnv(dataDir: string): Env {
  return {
    now: () => Date.now(),
    monotonic: () => performance.now(),
    setTimer(delayMs: number, fn: () => void): TimerHandle {
      const t = setTimeout(fn, Math.max(0, delayMs));
      return { cancel: () => clearTimeout(t) };
    },
    random: () => Math.random(),
    vfs: new NodeVfs(dataDir),
  };
}
