import { type FaultEvent, type FaultSchedule, generateFaultSchedule } from './fault-schedule.js';
import {
  DEFAULT_NETWORK_FAULTS,
  type NetworkFaults,
  type Packet,
  type SimNetwork,
} from './network.js';
import type { SimRandom } from './random.js';
import type { Scheduler } from './scheduler.js';
import type { ClockDrift } from './sim-env.js';
import type { Trace } from './trace.js';

/**
 * What the Raft simulation (simulation.ts) and the cluster simulation (cluster-simulation.ts)
 * do alike around their nodes: clock drift per node, the fault schedule on the timeline, the
 * network faults and recovery, and the figures every result carries. Each call draws from the
 * random streams in the order the two simulations always did, so trace hashes are unchanged.
 */

/** The network a `network lossy` fault switches to. */
export const LOSSY_NETWORK: NetworkFaults = {
  ...DEFAULT_NETWORK_FAULTS,
  dropRate: 0.25,
  duplicateRate: 0.05,
  longDelayRate: 0.1,
  longDelayMs: 600,
};

/** A node's clock: drift in rate, and up to 5 s of wall-clock offset. */
export function nodeDrift(clocks: SimRandom, maxDriftRate: number): ClockDrift {
  return {
    rate: (clocks.next() - 0.5) * 2 * maxDriftRate,
    offsetMs: clocks.int(-5000, 5000),
  };
}

/**
 * The run's fault schedule (the given one when shrinking, else the seed's), each event put on
 * the timeline before `faultMs`. Returns the schedule, for the result.
 */
export function scheduleFaults(
  seed: number,
  o: { readonly schedule?: FaultSchedule; readonly faultMs: number },
  nodes: readonly string[],
  meanGapMs: number,
  scheduler: Scheduler,
  apply: (event: FaultEvent) => void,
): FaultSchedule {
  const schedule =
    o.schedule ?? generateFaultSchedule(seed, { nodes, startMs: 500, endMs: o.faultMs, meanGapMs });
  for (const event of schedule) {
    if (event.at >= o.faultMs) continue;
    scheduler.scheduleAt(event.at, () => apply(event));
  }
  return schedule;
}

/** Applies the fault events that act on the network alone; false for the others. */
export function applyNetworkFault<M extends Packet>(
  event: FaultEvent,
  network: SimNetwork<M>,
  scheduler: Scheduler,
  trace: Trace,
): boolean {
  switch (event.kind) {
    case 'partition':
      network.partition(event.partition);
      return true;
    case 'heal':
      network.heal();
      return true;
    case 'network':
      network.faults = event.quality === 'lossy' ? LOSSY_NETWORK : DEFAULT_NETWORK_FAULTS;
      trace.record(scheduler.now, 'network', event.quality);
      return true;
    default:
      return false;
  }
}

/** The end of the faults: traced, the network healed and back to normal. */
export function recoverNetwork<M extends Packet>(
  network: SimNetwork<M>,
  scheduler: Scheduler,
  trace: Trace,
): void {
  trace.record(scheduler.now, 'recover', '');
  network.heal();
  network.faults = DEFAULT_NETWORK_FAULTS;
}

/** The figures every run's result carries. */
export interface RunFigures {
  readonly seed: number;
  /** SHA-256 of the event trace: equal for equal seeds, always. */
  readonly hash: string;
  readonly traceEvents: number;
  readonly eventsRun: number;
  readonly virtualMs: number;
  readonly wallMs: number;
}

/** Call after the trace's last record. */
export function runFigures(
  seed: number,
  scheduler: Scheduler,
  trace: Trace,
  started: number,
): RunFigures {
  return {
    seed,
    hash: trace.digest(),
    traceEvents: trace.count,
    eventsRun: scheduler.eventsRun,
    virtualMs: scheduler.now,
    wallMs: performance.now() - started,
  };
}
