import {
  CLUSTER_BUGS,
  type ClusterBug,
  type ClusterSimulationResult,
} from './cluster-simulation.js';
import { clusterSeedRunner } from './cluster-sweep.js';
import { bugFlags, runSeedCli, type SeedCliOptions } from './seed-cli.js';

/**
 * `npm run sim -- --cluster ...`: the cluster simulation with the Raft simulator's modes
 * (--seed N prints the trace hash; --seeds A..B sweeps and shrinks the first failure; --soak;
 * --bug NAME plants a cluster bug; --trace FILE). Returns the exit code (0 ok, 1 a checker
 * failed, 2 bad usage).
 */
export interface ClusterCliOptions extends SeedCliOptions {
  readonly nodes: number;
  readonly rf: number;
  readonly faultMs: number;
  readonly recoverMs: number;
}

function summary(r: ClusterSimulationResult): string {
  const s = r.stats;
  const speed = r.wallMs > 0 ? Math.round(r.virtualMs / r.wallMs) : 0;
  return (
    `${r.failure === null ? 'ok  ' : 'FAIL'} hash ${r.hash}  (${r.virtualMs.toFixed(0)} ms simulated, ` +
    `${r.eventsRun} events, writes ${s.writes} (${s.acked} acked at quorum/all), reads ${s.reads}, ` +
    `queries ${s.queries} (${s.partial} partial), ${s.failed} failed/${s.unknown} unknown, ` +
    `${r.wallMs.toFixed(0)} ms, ${speed}x)`
  );
}

export async function runClusterCli(o: ClusterCliOptions): Promise<number> {
  for (const b of o.bug) {
    if (!(CLUSTER_BUGS as readonly string[]).includes(b)) {
      console.error(`unknown cluster bug ${b}; known: ${CLUSTER_BUGS.join(', ')}`);
      return 2;
    }
  }
  if (o.nodes < 3 || o.nodes > 7 || o.rf < 1 || o.rf > o.nodes) {
    console.error('--cluster needs 3 <= --nodes <= 7 and 1 <= --rf <= --nodes');
    return 2;
  }
  return runSeedCli(o, {
    run: clusterSeedRunner({
      from: 0,
      to: 0,
      nodes: o.nodes,
      rf: o.rf,
      bugs: o.bug as ClusterBug[],
      faultMs: o.faultMs,
      recoverMs: o.recoverMs,
      shrinkAttempts: o.shrink,
    }),
    summary,
    sweepLabel: 'cluster seeds',
    seedsPerMinuteDigits: 1,
    soakSpeed: false,
    replay: (seed) =>
      `npm run sim -- --cluster --seed ${seed}${bugFlags(o.bug)} --nodes ${o.nodes} --rf ${o.rf}`,
  });
}
