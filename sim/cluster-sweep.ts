import {
  type ClusterBug,
  type ClusterChecker,
  type ClusterSimulationOptions,
  type ClusterSimulationResult,
  DEFAULT_CLUSTER_SIMULATION,
  runClusterSimulation,
} from './cluster-simulation.js';
import type { FaultSchedule } from './fault-schedule.js';
import { shrinkSchedule } from './shrink.js';
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

export interface ClusterSweepResult {
  readonly seedsRun: number;
  readonly virtualMs: number;
  /** Time spent running seeds (shrinking excluded). */
  readonly wallMs: number;
  readonly failure: {
    readonly result: ClusterSimulationResult;
    readonly shrunk: FaultSchedule;
    readonly shrinkReplays: number;
  } | null;
}

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

export async function clusterSweep(o: ClusterSweepOptions): Promise<ClusterSweepResult> {
  const started = performance.now();
  let seedsRun = 0;
  let virtualMs = 0;
  for (let seed = o.from; seed <= o.to; seed++) {
    if (o.stopped?.() === true) break;
    const result = await runClusterSimulation(clusterSimulationOptions(seed, o));
    seedsRun++;
    virtualMs += result.virtualMs;
    o.onSeed?.(result);
    if (result.failure !== null) {
      const wallMs = performance.now() - started;
      const { schedule, attempts } = await shrinkClusterFailure(result, o);
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
export function shrinkClusterFailure(
  result: ClusterSimulationResult,
  o: ClusterSweepOptions,
): Promise<{ schedule: FaultSchedule; attempts: number }> {
  const checker = result.failure?.checker;
  return shrinkSchedule(
    result.schedule,
    async (candidate) => {
      const replay = await runClusterSimulation({
        ...clusterSimulationOptions(result.seed, o),
        schedule: candidate,
      });
      return replay.failure?.checker === checker;
    },
    o.shrinkAttempts,
  );
}
