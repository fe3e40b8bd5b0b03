/**
 * Simulator speed: `node dist/bench/sim.js [seeds] [rounds]` runs the same seeds (a 5-node
 * group under the default faults and workload) `rounds` times and prints, per round and as
 * medians, simulated seconds per wall second and per CPU second, events per second and seeds
 * per minute. CPU time is shown because wall time on a shared machine measures the neighbours;
 * the 1-minute load average at the end of each round says how crowded the machine was.
 */
import { loadavg } from 'node:os';
import { DEFAULT_SIMULATION, runSimulation } from '../sim/simulation.js';

interface Round {
  wallMs: number;
  cpuMs: number;
  virtualMs: number;
  events: number;
  seeds: number;
  load: number;
}

export async function runSimBench(seeds = 20, rounds = 5): Promise<void> {
  // One untimed seed first, so the JIT has warmed up before the first round.
  await runSimulation({ ...DEFAULT_SIMULATION, seed: 0 });
  const results: Round[] = [];
  console.log(
    'round  seeds  simulated s  wall s  cpu s  sim/wall  sim/cpu  events/cpu s  seeds/min  load',
  );
  for (let r = 0; r < rounds; r++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let virtualMs = 0;
    let events = 0;
    for (let seed = 1; seed <= seeds; seed++) {
      const res = await runSimulation({ ...DEFAULT_SIMULATION, seed });
      virtualMs += res.virtualMs;
      events += res.eventsRun;
    }
    const wallMs = performance.now() - t0;
    const c = process.cpuUsage(cpu0);
    const cpuMs = (c.user + c.system) / 1000;
    const round = { wallMs, cpuMs, virtualMs, events, seeds, load: loadavg()[0] };
    results.push(round);
    console.log(row(String(r + 1), round));
  }
  const median = (f: (x: Round) => number): number => {
    const xs = results.map(f).sort((a, b) => a - b);
    return xs[xs.length >> 1];
  };
  console.log(
    row('median', {
      wallMs: median((x) => x.wallMs),
      cpuMs: median((x) => x.cpuMs),
      virtualMs: median((x) => x.virtualMs),
      events: median((x) => x.events),
      seeds,
      load: median((x) => x.load),
    }),
  );
}

function row(label: string, r: Round): string {
  return [
    label.padEnd(6),
    String(r.seeds).padStart(5),
    (r.virtualMs / 1000).toFixed(0).padStart(11),
    (r.wallMs / 1000).toFixed(1).padStart(7),
    (r.cpuMs / 1000).toFixed(1).padStart(6),
    `${Math.round(r.virtualMs / r.wallMs)}x`.padStart(9),
    `${Math.round(r.virtualMs / r.cpuMs)}x`.padStart(8),
    Math.round(r.events / (r.cpuMs / 1000))
      .toString()
      .padStart(13),
    ((r.seeds / r.wallMs) * 60_000).toFixed(0).padStart(10),
    r.load.toFixed(1).padStart(5),
  ].join(' ');
}

if (process.argv[1]?.endsWith('sim.js')) {
  const [seeds, rounds] = process.argv.slice(2).map(Number);
  await runSimBench(seeds || 20, rounds || 5);
}
