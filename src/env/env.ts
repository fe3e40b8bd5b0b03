import type { Vfs } from '../storage/vfs.js';

/**
 * Env: everything deterministic code (raft/, src/cluster, src/distributed, src/storage) may use
 * of the outside world. Production wires RealEnv (real-env.ts); the simulator wires SimEnv
 * (sim/), where time is virtual, randomness is seeded and the disk can crash.
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Env {
  /** Wall-clock milliseconds since the Unix epoch (may drift per node in the simulator). */
  now(): number;
  /** Monotonic milliseconds, for measuring durations and timeouts. */
  monotonic(): number;
  /** Runs `fn` once after `delayMs`; a delay of 0 runs it on a later turn, never synchronously. */
  setTimer(delayMs: number, fn: () => void): TimerHandle;
  /** Uniform random number in [0, 1), from a seeded source in the simulator. */
  random(): number;
  /** The node's disk. */
  readonly vfs: Vfs;
}
