import { writeFileSync } from 'node:fs';
import {
  CLUSTER_BUGS,
  type ClusterBug,
  type ClusterSimulationResult,
  runClusterSimulation,
} from './cluster-simulation.js';
import {
  type ClusterSweepOptions,
  clusterSimulationOptions,
  clusterSweep,
  shrinkClusterFailure,
} from './cluster-sweep.js';
import { describeFault, type FaultSchedule } from './fault-schedule.js';

/**
 * `npm run sim -- --cluster ...`: the cluster simulation with the Raft simulator's modes
 * (--seed N prints the trace hash; --seeds A..B sweeps and shrinks the first failure; --soak;
 * --bug NAME plants a cluster bug; --trace FILE). Returns the exit code (0 ok, 1 a checker
 * failed, 2 bad usage).
 */
export interface ClusterCliOptions {
  readonly seed?: number;
  readonly seeds?: [number, number];
  readonly soak?: boolean;
  readonly bug: readonly string[];
  readonly nodes: number;
  readonly rf: number;
  readonly trace?: string;
  readonly shrink: number;
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

function printFailure(
  r: ClusterSimulationResult,
  o: ClusterCliOptions,
  shrunk: FaultSchedule,
  replays: number,
): void {
  const f = r.failure!;
  const flags = `${o.bug.map((b) => ` --bug ${b}`).join('')} --nodes ${o.nodes} --rf ${o.rf}`;
  console.log(
    `\nFAIL seed ${r.seed}${o.bug.length > 0 ? ` [bug ${o.bug.join(', ')}]` : ''}: ${f.checker}`,
  );
  console.log(`  ${f.explanation.replace(/\n/g, '\n  ')}`);
  console.log(`  knobs: ${JSON.stringify(r.knobs)}`);
  console.log(`  replay: npm run sim -- --cluster --seed ${r.seed}${flags}`);
  console.log(
    `  shrunk fault schedule (${shrunk.length} of ${r.schedule.length} events, ${replays} replays):`,
  );
  for (const e of shrunk) console.log(`    ${describeFault(e)}`);
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
  const base: ClusterSweepOptions = {
    from: 0,
    to: 0,
    nodes: o.nodes,
    rf: o.rf,
    bugs: o.bug as ClusterBug[],
    faultMs: o.faultMs,
    recoverMs: o.recoverMs,
    shrinkAttempts: o.shrink,
  };
  if (o.seed !== undefined && o.soak !== true) {
    const r = await runClusterSimulation({
      ...clusterSimulationOptions(o.seed, base),
      keepTrace: o.trace !== undefined,
    });
    console.log(`seed ${o.seed}: ${summary(r)}`);
    if (o.trace !== undefined) {
      writeFileSync(o.trace, r.trace ?? '');
      console.log(`trace: ${r.traceEvents} events written to ${o.trace}`);
    }
    if (r.failure === null) return 0;
    const { schedule, attempts } = await shrinkClusterFailure(r, base);
    printFailure(r, o, schedule, attempts);
    return 1;
  }
  let stop = false;
  process.on('SIGINT', () => {
    stop = true;
  });
  const [from, to] = o.seeds ?? [
    o.seed ?? Math.floor(Date.now() / 1000) % 1_000_000_000,
    Number.POSITIVE_INFINITY,
  ];
  const started = performance.now();
  let lastProgress = started;
  let done = 0;
  const result = await clusterSweep({
    ...base,
    from,
    to,
    stopped: () => stop,
    onSeed: (r) => {
      done++;
      const now = performance.now();
      if (o.soak === true && now - lastProgress >= 5000) {
        lastProgress = now;
        const minutes = (now - started) / 60_000;
        console.log(
          `soak: seed ${r.seed}, ${done} seeds ok, ${(done / minutes).toFixed(0)} seeds/min`,
        );
      }
    },
  });
  const minutes = result.wallMs / 60_000;
  const last = from + result.seedsRun - 1;
  console.log(
    `cluster seeds ${from}..${last}: ${result.seedsRun - (result.failure === null ? 0 : 1)} ok, ` +
      `${result.failure === null ? 0 : 1} failed in ${(result.wallMs / 1000).toFixed(1)} s ` +
      `(${(result.seedsRun / minutes).toFixed(1)} seeds/min, ` +
      `${Math.round(result.virtualMs / result.wallMs)}x simulated/wall)`,
  );
  if (result.failure === null) return 0;
  const f = result.failure;
  if (o.trace !== undefined) {
    const again = await runClusterSimulation({
      ...clusterSimulationOptions(f.result.seed, base),
      keepTrace: true,
    });
    writeFileSync(o.trace, again.trace ?? '');
    console.log(
      `trace of seed ${f.result.seed}: ${again.traceEvents} events written to ${o.trace}`,
    );
  }
  printFailure(f.result, o, f.shrunk, f.shrinkReplays);
  return 1;
}
