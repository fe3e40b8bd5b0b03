import { writeFileSync } from 'node:fs';
import { describeFault, type FaultSchedule } from './fault-schedule.js';
import { type SeedRun, shrinkRun, sweepSeeds } from './seed-sweep.js';

/**
 * The modes both simulators share on the command line (`--seed N`, `--seeds A..B`, `--soak`,
 * `--trace FILE`): run, sweep, shrink and print. The Raft mode (cli.ts) and the cluster mode
 * (cluster-cli.ts) validate their own flags and say how a seed runs and how a run is summed up.
 * Returns the exit code: 0 ok, 1 a checker failed.
 */
export interface SeedCliOptions {
  readonly seed?: number;
  readonly seeds?: [number, number];
  readonly soak?: boolean;
  readonly bug: readonly string[];
  readonly trace?: string;
  readonly shrink: number;
}

export interface TracedRun extends SeedRun {
  readonly knobs: unknown;
  readonly wallMs: number;
  readonly failure: { readonly checker: string; readonly explanation: string } | null;
  readonly trace: string | undefined;
  readonly traceEvents: number;
}

export interface SeedCliMode<R extends TracedRun> {
  /** Runs one seed; `schedule` replaces its own (shrinking), `keepTrace` keeps the NDJSON. */
  run(seed: number, schedule?: FaultSchedule, keepTrace?: boolean): Promise<R>;
  /** One line after `seed N: `. */
  summary(r: R): string;
  /** Starts the sweep's closing line: "seeds" or "cluster seeds". */
  readonly sweepLabel: string;
  /** Decimals of seeds/min in the sweep's closing line. */
  readonly seedsPerMinuteDigits: number;
  /** Soak progress lines also give the simulated/wall speed. */
  readonly soakSpeed: boolean;
  /** The command that replays `seed`, flags included. */
  replay(seed: number): string;
}

export async function runSeedCli<R extends TracedRun>(
  o: SeedCliOptions,
  mode: SeedCliMode<R>,
): Promise<number> {
  const run = (seed: number, schedule?: FaultSchedule) => mode.run(seed, schedule);
  if (o.seed !== undefined && o.soak !== true) {
    const r = await mode.run(o.seed, undefined, o.trace !== undefined);
    console.log(`seed ${o.seed}: ${mode.summary(r)}`);
    if (o.trace !== undefined) {
      writeFileSync(o.trace, r.trace ?? '');
      console.log(`trace: ${r.traceEvents} events written to ${o.trace}`);
    }
    if (r.failure === null) return 0;
    const { schedule, attempts } = await shrinkRun(r, run, o.shrink);
    printFailure(r, o, mode, schedule, attempts);
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
  let virtualMs = 0;
  const result = await sweepSeeds<R>(
    {
      from,
      to,
      shrinkAttempts: o.shrink,
      stopped: () => stop,
      onSeed: (r) => {
        done++;
        virtualMs += r.virtualMs;
        const now = performance.now();
        if (o.soak === true && now - lastProgress >= 5000) {
          lastProgress = now;
          const minutes = (now - started) / 60_000;
          const speed = mode.soakSpeed
            ? `, ${Math.round(virtualMs / (now - started))}x simulated/wall`
            : '';
          console.log(
            `soak: seed ${r.seed}, ${done} seeds ok, ${(done / minutes).toFixed(0)} seeds/min${speed}`,
          );
        }
      },
    },
    run,
  );
  const minutes = result.wallMs / 60_000;
  const last = from + result.seedsRun - 1;
  console.log(
    `${mode.sweepLabel} ${from}..${last}: ${result.seedsRun - (result.failure === null ? 0 : 1)} ok, ` +
      `${result.failure === null ? 0 : 1} failed in ${(result.wallMs / 1000).toFixed(1)} s ` +
      `(${(result.seedsRun / minutes).toFixed(mode.seedsPerMinuteDigits)} seeds/min, ` +
      `${Math.round(result.virtualMs / result.wallMs)}x simulated/wall)`,
  );
  if (result.failure === null) return 0;
  const f = result.failure;
  if (o.trace !== undefined) {
    const again = await mode.run(f.result.seed, undefined, true);
    writeFileSync(o.trace, again.trace ?? '');
    console.log(
      `trace of seed ${f.result.seed}: ${again.traceEvents} events written to ${o.trace}`,
    );
  }
  printFailure(f.result, o, mode, f.shrunk, f.shrinkReplays);
  return 1;
}

/** ` --bug a --bug b`: the bug flags of a replay command. */
export function bugFlags(bugs: readonly string[]): string {
  return bugs.map((b) => ` --bug ${b}`).join('');
}

function printFailure<R extends TracedRun>(
  r: R,
  o: SeedCliOptions,
  mode: SeedCliMode<R>,
  shrunk: FaultSchedule,
  replays: number,
): void {
  const f = r.failure!;
  console.log(
    `\nFAIL seed ${r.seed}${o.bug.length > 0 ? ` [bug ${o.bug.join(', ')}]` : ''}: ${f.checker}`,
  );
  console.log(`  ${f.explanation.replace(/\n/g, '\n  ')}`);
  console.log(`  knobs: ${JSON.stringify(r.knobs)}`);
  console.log(`  replay: ${mode.replay(r.seed)}`);
  console.log(
    `  shrunk fault schedule (${shrunk.length} of ${r.schedule.length} events, ${replays} replays):`,
  );
  for (const e of shrunk) console.log(`    ${describeFault(e)}`);
}
