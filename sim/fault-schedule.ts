import { assert } from '../src/model/assert.js';
import { makePartition, PARTITION_SHAPES, type Partition } from './partitions.js';
import { SimRandom } from './random.js';

/**
 * The fault schedule: what the nemesis does and when, generated from the seed before the run
 * starts. It is plain data, so a failing run's schedule can be printed, and shrunk by removing
 * events and replaying the same seed.
 */
export type FaultEvent =
  | { readonly at: number; readonly kind: 'partition'; readonly partition: Partition }
  | { readonly at: number; readonly kind: 'heal' }
  /** Power cut: the node's un-fsynced writes are lost (with `tear`, partly kept). */
  | { readonly at: number; readonly kind: 'crash'; readonly node: string; readonly tear: boolean }
  | { readonly at: number; readonly kind: 'restart'; readonly node: string }
  /** Membership: remove the node from the group (then wipe it). */
  | { readonly at: number; readonly kind: 'remove'; readonly node: string }
  /** Membership: add the node back, empty, as a learner, then promote it to voter. */
  | { readonly at: number; readonly kind: 'add'; readonly node: string }
  /** Ask the leader to hand leadership to `node`. */
  | { readonly at: number; readonly kind: 'transfer'; readonly node: string }
  /** Network quality for a while: `lossy` drops and delays far more. */
  | { readonly at: number; readonly kind: 'network'; readonly quality: 'lossy' | 'normal' };

export type FaultSchedule = readonly FaultEvent[];

export interface FaultScheduleOptions {
  readonly nodes: readonly string[];
  /** Faults are injected in [startMs, endMs); the run heals everything at endMs. */
  readonly startMs: number;
  readonly endMs: number;
  /** Mean pause between the starts of two faults. */
  readonly meanGapMs: number;
}

/** Bound on faults per run, so a long schedule cannot grow without limit. */
const MAX_FAULTS = 10_000;

export function generateFaultSchedule(seed: number, options: FaultScheduleOptions): FaultSchedule {
  const { nodes, startMs, endMs, meanGapMs } = options;
  assert(
    nodes.length >= 1 && endMs > startMs && meanGapMs > 0,
    'generateFaultSchedule: bad options',
  );
  const random = SimRandom.stream(seed, 'faults');
  const events: FaultEvent[] = [];
  // Membership state as the schedule sees it: one node at a time may be out of the group.
  let removed: string | null = null;
  let t = startMs + random.int(0, meanGapMs);
  while (t < endMs && events.length < MAX_FAULTS) {
    const at = Math.round(t);
    const roll = random.next();
    if (roll < 0.3) {
      const shape = random.pick(PARTITION_SHAPES);
      const partition = makePartition(shape, nodes, random);
      events.push({ at, kind: 'partition', partition });
      events.push({ at: at + random.int(100, 1500), kind: 'heal' });
    } else if (roll < 0.5) {
      // A crash with a slow restart: the others must carry on without it.
      const node = random.pick(nodes);
      events.push({ at, kind: 'crash', node, tear: random.chance(0.5) });
      events.push({ at: at + random.int(50, 1200), kind: 'restart', node });
    } else if (roll < 0.65) {
      // A quick bounce, often during an election: what catches votes that were not fsynced.
      const node = random.pick(nodes);
      events.push({ at, kind: 'crash', node, tear: random.chance(0.5) });
      events.push({ at: at + random.int(1, 40), kind: 'restart', node });
    } else if (roll < 0.77 && nodes.length >= 3) {
      if (removed === null) {
        removed = random.pick(nodes);
        events.push({ at, kind: 'remove', node: removed });
      } else {
        events.push({ at, kind: 'add', node: removed });
        removed = null;
      }
    } else if (roll < 0.87) {
      events.push({ at, kind: 'transfer', node: random.pick(nodes) });
    } else {
      events.push({ at, kind: 'network', quality: 'lossy' });
      events.push({ at: at + random.int(100, 1000), kind: 'network', quality: 'normal' });
    }
    t += random.int(meanGapMs >> 1, meanGapMs + (meanGapMs >> 1));
  }
  // Stable sort by time: events at the same instant keep their generation order.
  return events
    .map((e, i) => ({ e, i }))
    .sort((a, b) => a.e.at - b.e.at || a.i - b.i)
    .map((x) => x.e);
}

export function describeFault(e: FaultEvent): string {
  switch (e.kind) {
    case 'partition':
      return `${e.at}ms partition ${e.partition.shape}: ${e.partition.description}`;
    case 'heal':
      return `${e.at}ms heal`;
    case 'crash':
      return `${e.at}ms crash ${e.node}${e.tear ? ' (torn writes)' : ''}`;
    case 'restart':
      return `${e.at}ms restart ${e.node}`;
    case 'remove':
      return `${e.at}ms remove ${e.node} from the group`;
    case 'add':
      return `${e.at}ms add ${e.node} back (learner, then voter)`;
    case 'transfer':
      return `${e.at}ms transfer leadership to ${e.node}`;
    case 'network':
      return `${e.at}ms network ${e.quality}`;
  }
}
