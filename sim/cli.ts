#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { BUG_NAMES, type BugName } from '../raft/types.js';
import { runClusterCli } from './cluster-cli.js';
import { bugFlags, runSeedCli } from './seed-cli.js';
import type { SimulationResult } from './simulation.js';
import { seedRunner } from './sweep.js';

/**
 * Deterministic simulation replay (`npm run sim -- ...`):
 *   --seed N            run one seed, print its trace hash (same seed, same hash, always)
 *   --seeds A..B        sweep; stop at the first failure, print it with a shrunk schedule
 *   --soak              sweep from --seed (or a clock-derived start) until stopped
 *   --bug NAME          plant a known Raft bug; a sweep that finds it exits non-zero
 *   --trace FILE        write the (failing) run's full event trace as NDJSON
 *   --cluster           simulate the cluster (metadata, gossip, data plane) instead of the
 *                       Raft group alone; --bug then names a cluster bug (cluster-cli.ts)
 * Exit codes: 0 all seeds passed, 1 a checker failed, 2 bad usage.
 */
interface CliOptions {
  seed?: number;
  seeds?: [number, number];
  soak?: boolean;
  bug: BugName[];
  nodes: number;
  cluster?: boolean;
  rf: number;
  trace?: string;
  shrink: number;
  faultMs: number;
  recoverMs: number;
}

function parseIntArg(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`not an integer: ${v}`);
  return n;
}

function parseRange(v: string): [number, number] {
  const m = /^(-?\d+)\.\.(-?\d+)$/.exec(v);
  if (m === null) throw new InvalidArgumentError(`expected A..B, got ${v}`);
  const a = Number(m[1]);
  const b = Number(m[2]);
  if (b < a) throw new InvalidArgumentError(`empty range ${v}`);
  return [a, b];
}

/** Bug names are checked after parsing: the Raft and the cluster simulations know different ones. */
function parseBug(v: string, prev: BugName[]): BugName[] {
  return [...prev, v as BugName];
}

function summary(r: SimulationResult): string {
  const speed = r.wallMs > 0 ? Math.round(r.virtualMs / r.wallMs) : 0;
  return (
    `${r.failure === null ? 'ok  ' : 'FAIL'} hash ${r.hash}  ` +
    `(${r.virtualMs} ms simulated, ${r.eventsRun} events, ` +
    `ops ${r.ops.ok} ok/${r.ops.fail} fail/${r.ops.info} info, ${r.wallMs.toFixed(0)} ms, ${speed}x)`
  );
}

async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name('sim')
    .description('Count deterministic simulator: Raft metadata group under faults')
    .option('--seed <n>', 'run one seed (or the first seed of --soak)', parseIntArg)
    .option('--seeds <a..b>', 'sweep seeds a to b inclusive', parseRange)
    .option('--soak', 'sweep until stopped, printing progress')
    .option('--bug <name>', `plant a known bug (${BUG_NAMES.join(', ')})`, parseBug, [])
    .option(
      '--nodes <n>',
      'nodes in the Raft group (5), or founding cluster nodes (4)',
      parseIntArg,
    )
    .option('--cluster', 'simulate the cluster: metadata, gossip and data plane')
    .option('--rf <n>', 'replication factor (--cluster)', parseIntArg, 3)
    .option('--trace <file>', 'write the (first failing) run trace as NDJSON')
    .option('--shrink <n>', 'replays allowed for shrinking a failure', parseIntArg, 60)
    .option('--fault-ms <n>', 'virtual ms of faults per seed', parseIntArg, 8000)
    .option('--recover-ms <n>', 'virtual ms of quiet after the faults', parseIntArg, 3000)
    .exitOverride();
  try {
    program.parse(argv);
  } catch (e) {
    return (e as { exitCode?: number }).exitCode === 0 ? 0 : 2;
  }
  const o = program.opts<CliOptions>();
  const modes = [o.seed !== undefined && o.soak !== true, o.seeds !== undefined, o.soak === true];
  if (modes.filter(Boolean).length !== 1) {
    console.error('give exactly one of --seed N, --seeds A..B, --soak');
    return 2;
  }
  if (o.cluster === true) return runClusterCli({ ...o, nodes: o.nodes ?? 4 });
  o.nodes ??= 5;
  for (const b of o.bug) {
    if (!(BUG_NAMES as readonly string[]).includes(b)) {
      console.error(`unknown bug ${b}; known: ${BUG_NAMES.join(', ')}`);
      return 2;
    }
  }
  if (o.nodes < 2 || o.nodes > 9) {
    console.error('--nodes must be between 2 and 9');
    return 2;
  }
  const nodes = o.nodes;
  return runSeedCli(o, {
    run: seedRunner({
      from: 0,
      to: 0,
      nodes,
      bugs: o.bug,
      faultMs: o.faultMs,
      recoverMs: o.recoverMs,
      shrinkAttempts: o.shrink,
    }),
    summary,
    sweepLabel: 'seeds',
    seedsPerMinuteDigits: 0,
    soakSpeed: true,
    replay: (seed) =>
      `npm run sim -- --seed ${seed}${bugFlags(o.bug)}${nodes === 5 ? '' : ` --nodes ${nodes}`}`,
  });
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  },
);
