import type { FaultSchedule } from './fault-schedule.js';
import { shrinkSchedule } from './shrink.js';

/**
 * The sweep both simulations share: seeds one after another, stopping at the first failure,
 * which it shrinks (same seed, fewer fault events, same checker failing). What a seed runs is
 * the caller's `run`; the Raft sweep (sweep.ts) and the cluster sweep (cluster-sweep.ts) only
 * say how a seed becomes simulation options.
 */
export interface SeedRun {
  readonly seed: number;
  readonly virtualMs: number;
  readonly schedule: FaultSchedule;
  readonly failure: { readonly checker: string } | null;
}

/** Runs one seed; `schedule` replaces the seed's own fault schedule (shrinking replays). */
export type RunSeed<R extends SeedRun> = (seed: number, schedule?: FaultSchedule) => Promise<R>;

export interface SeedSweepOptions<R extends SeedRun> {
  readonly from: number;
  /** Inclusive; Infinity sweeps until stopped (soak). */
  readonly to: number;
  /** Replays allowed when shrinking a failure's schedule; 0 skips shrinking. */
  readonly shrinkAttempts: number;
  /** Called after each seed (progress lines). */
  readonly onSeed?: (result: R) => void;
  /** Polled between seeds; true stops the sweep (soak mode, Ctrl-C). */
  readonly stopped?: () => boolean;
}

export interface SeedSweepFailure<R> {
  readonly result: R;
  readonly shrunk: FaultSchedule;
  readonly shrinkReplays: number;
}

export interface SeedSweepResult<R> {
  readonly seedsRun: number;
  readonly virtualMs: number;
  /** Time spent running seeds (shrinking excluded). */
  readonly wallMs: number;
  readonly failure: SeedSweepFailure<R> | null;
}

export async function sweepSeeds<R extends SeedRun>(
  o: SeedSweepOptions<R>,
  run: RunSeed<R>,
): Promise<SeedSweepResult<R>> {
  const started = performance.now();
  let seedsRun = 0;
  let virtualMs = 0;
  for (let seed = o.from; seed <= o.to; seed++) {
    if (o.stopped?.() === true) break;
    const result = await run(seed);
    seedsRun++;
    virtualMs += result.virtualMs;
    o.onSeed?.(result);
    if (result.failure !== null) {
      const wallMs = performance.now() - started;
      const { schedule, attempts } = await shrinkRun(result, run, o.shrinkAttempts);
      return {
        seedsRun,
        virtualMs,
        wallMs,
        failure: { result, shrunk: schedule, shrinkReplays: attempts },
      };
    }
  }
  return { seedsRun, virtualMs, wallMs: performance.now() - started, failure: null };
}

/** Removes fault events while the same seed still fails the same checker. */
export function shrinkRun<R extends SeedRun>(
  result: R,
  run: RunSeed<R>,
  attempts: number,
): Promise<{ schedule: FaultSchedule; attempts: number }> {
  const checker = result.failure?.checker;
  return shrinkSchedule(
    result.schedule,
    async (candidate) => (await run(result.seed, candidate)).failure?.checker === checker,
    attempts,
  );
}
