import {
  type ClusterBug,
  type ClusterChecker,
  type ClusterSimulationOptions,
  type ClusterSimulationResult,
  DEFAULT_CLUSTER_SIMULATION,
  runClusterSimulation,
} from './cluster-simulation.js';
import type { FaultSchedule } from './fault-schedule.js';
import { type SeedSweepResult, sweepSeeds } from './seed-sweep.js';
import type { Knobs } from './simulation.js';

/**
 * The cluster simulation's sweep: seeds one after another, stopping at the first failure,
 * which it shrinks (same seed, fewer fault events, same checker failing). The CLI's
 * `--cluster --seeds A..B` and the tests run this very loop.
 */
export interface ClusterSweepOptions {
  readonly from: number;
  /** Inclusive; Infinity sweeps until stopped (soak). */
  readonly to: number;
  readonly nodes: number;
  readonly rf: number;
  readonly bugs: readonly ClusterBug[];
  readonly knobs?: Partial<Knobs>;
  readonly checkers?: readonly ClusterChecker[];
  readonly faultMs?: number;
  readonly recoverMs?: number;
  /** Replays allowed when shrinking a failure's schedule; 0 skips shrinking. */
  readonly shrinkAttempts: number;
  readonly onSeed?: (result: ClusterSimulationResult) => void;
  readonly stopped?: () => boolean;
}

export type ClusterSweepResult = SeedSweepResult<ClusterSimulationResult>;

export function clusterSimulationOptions(
  seed: number,
  o: ClusterSweepOptions,
): ClusterSimulationOptions {
  return {
    ...DEFAULT_CLUSTER_SIMULATION,
    seed,
    nodes: o.nodes,
    rf: o.rf,
    bugs: o.bugs,
    faultMs: o.faultMs ?? DEFAULT_CLUSTER_SIMULATION.faultMs,
    recoverMs: o.recoverMs ?? DEFAULT_CLUSTER_SIMULATION.recoverMs,
    ...(o.knobs === undefined ? {} : { knobs: o.knobs }),
    ...(o.checkers === undefined ? {} : { checkers: o.checkers }),
  };
}

export function clusterSweep(o: ClusterSweepOptions): Promise<ClusterSweepResult> {
  return sweepSeeds(o, clusterSeedRunner(o));
}

/** How the sweep, the shrinker and the CLI run one seed of `o`. */
export function clusterSeedRunner(
  o: ClusterSweepOptions,
): (
  seed: number,
  schedule?: FaultSchedule,
  keepTrace?: boolean,
) => Promise<ClusterSimulationResult> {
  return (seed, schedule, keepTrace = false) =>
    runClusterSimulation({
      ...clusterSimulationOptions(seed, o),
      keepTrace,
      ...(schedule === undefined ? {} : { schedule }),
    });
}
