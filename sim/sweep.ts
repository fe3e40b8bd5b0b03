import type { BugName } from '../raft/types.js';
import type { FaultSchedule } from './fault-schedule.js';
import { type SeedSweepResult, sweepSeeds } from './seed-sweep.js';
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

export type SweepResult = SeedSweepResult<SimulationResult>;

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

export function sweep(o: SweepOptions): Promise<SweepResult> {
  return sweepSeeds(o, seedRunner(o));
}

/** How the sweep, the shrinker and the CLI run one seed of `o`. */
export function seedRunner(
  o: SweepOptions,
): (seed: number, schedule?: FaultSchedule, keepTrace?: boolean) => Promise<SimulationResult> {
  return (seed, schedule, keepTrace = false) =>
    runSimulation({
      ...simulationOptions(seed, o),
      keepTrace,
      ...(schedule === undefined ? {} : { schedule }),
    });
}
