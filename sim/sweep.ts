import type { BugName } from '../raft/types.js';
import type { FaultSchedule } from './fault-schedule.js';
import { shrinkSchedule } from './shrink.js';
import {
  DEFAULT_SIMULATION,
  type Knobs,
  runSimulation,
  type SimulationOptions,
  type SimulationResult,
} from './simulation.js';

/**
 * Runs seeds one after another and stops at the first failure, which it shrinks. Shared by the
 * CLI and the tests, so the test that "a planted bug is caught within N seeds" exercises the
 * very loop `npm run sim -- --seeds A..B --bug X` runs.
 */
export interface SweepOptions {
  readonly from: number;
  /** Inclusive; Infinity sweeps until stopped (soak). */
  readonly to: number;
  readonly nodes: number;
  readonly bugs: readonly BugName[];
  readonly knobs?: Partial<Knobs>;
  readonly ruleChecks?: boolean;
  readonly faultMs?: number;
  readonly recoverMs?: number;
  /** Replays allowed when shrinking a failure's schedule; 0 skips shrinking. */
  readonly shrinkAttempts: number;
  /** Called after each seed (progress lines). */
  readonly onSeed?: (result: SimulationResult) => void;
  /** Polled between seeds; true stops the sweep (soak mode, Ctrl-C). */
  readonly stopped?: () => boolean;
}

export interface SweepFailure {
  readonly result: SimulationResult;
  readonly shrunk: FaultSchedule;
  readonly shrinkReplays: number;
}

export interface SweepResult {
  readonly seedsRun: number;
  readonly virtualMs: number;
  /** Time spent running seeds (shrinking excluded). */
  readonly wallMs: number;
  readonly failure: SweepFailure | null;
}

export function simulationOptions(seed: number, o: SweepOptions): SimulationOptions {
  return {
    ...DEFAULT_SIMULATION,
    seed,
    nodes: o.nodes,
    bugs: o.bugs,
    faultMs: o.faultMs ?? DEFAULT_SIMULATION.faultMs,
    recoverMs: o.recoverMs ?? DEFAULT_SIMULATION.recoverMs,
    ...(o.knobs === undefined ? {} : { knobs: o.knobs }),
    ...(o.ruleChecks === undefined ? {} : { ruleChecks: o.ruleChecks }),
  };
}

export async function sweep(o: SweepOptions): Promise<SweepResult> {
  const started = performance.now();
  let seedsRun = 0;
  let virtualMs = 0;
  for (let seed = o.from; seed <= o.to; seed++) {
    if (o.stopped?.() === true) break;
    const result = await runSimulation(simulationOptions(seed, o));
    seedsRun++;
    virtualMs += result.virtualMs;
    o.onSeed?.(result);
    if (result.failure !== null) {
      const wallMs = performance.now() - started;
      const { schedule, attempts } = await shrinkFailure(result, o);
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
export function shrinkFailure(
  result: SimulationResult,
  o: SweepOptions,
): Promise<{ schedule: FaultSchedule; attempts: number }> {
  const checker = result.failure?.checker;
  return shrinkSchedule(
    result.schedule,
    async (candidate) => {
      const replay = await runSimulation({
        ...simulationOptions(result.seed, o),
        schedule: candidate,
      });
      return replay.failure?.checker === checker;
    },
    o.shrinkAttempts,
  );
}
