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
  /** Power cut of whichever node leads at that moment, restarted `downMs` later. */
  | {
      readonly at: number;
      readonly kind: 'crash-leader';
      readonly downMs: number;
      readonly tear: boolean;
    }
  /**
   * Arms a trap: the next time `node` sends a message of type `message`, it loses power right
   * after the send and restarts `downMs` later. Aimed at "persist before send" (a vote granted
   * but not durable, an append acknowledged but not durable).
   */
  | {
      readonly at: number;
      readonly kind: 'crash-on-send';
      readonly node: string;
      readonly message: CrashTrigger;
      readonly downMs: number;
    }
  /** Membership: remove the node from the group (then stop it). */
  | { readonly at: number; readonly kind: 'remove'; readonly node: string }
  /** Membership: restart the node from its disk and add it back as a learner, then a voter. */
  | { readonly at: number; readonly kind: 'add'; readonly node: string }
  /**
   * Vote amnesia: for `durationMs`, every node that grants a vote loses power right after and
   * is back `downMs` later; the leader is bounced at the start so an election follows. A voter
   * that did not make its vote durable then votes again in the same term: two leaders.
   */
  | {
      readonly at: number;
      readonly kind: 'vote-amnesia';
      readonly durationMs: number;
      readonly downMs: number;
    }
  /** Ask the leader to hand leadership to `node`. */
  | { readonly at: number; readonly kind: 'transfer'; readonly node: string }
  /** Network quality for a while: `lossy` drops and delays far more. */
  | { readonly at: number; readonly kind: 'network'; readonly quality: 'lossy' | 'normal' };

export type FaultSchedule = readonly FaultEvent[];

/**
 * Message types a crash-on-send trap fires on: a granted vote and an acknowledged append are
 * sent after persisting; an append carrying entries, sent by a leader, leaves the entries on
 * one follower only when the leader dies right after (partial replication, as in Figure 8).
 */
export type CrashTrigger = 'voteResp' | 'appendResp' | 'append';

export interface FaultScheduleOptions {
  readonly nodes: readonly string[];
  /** Faults are injected in [startMs, endMs); the run heals everything at endMs. */
  readonly startMs: number;
  readonly endMs: number;
  /** Mean pause between the starts of two faults. */
  readonly meanGapMs: number;
}

/** In a crash-on-send event, the node that leads when the trap is armed. */
export const LEADER = '<leader>';

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
    if (roll < 0.25 && nodes.length >= 2) {
      const shape = random.pick(PARTITION_SHAPES);
      const partition = makePartition(shape, nodes, random);
      events.push({ at, kind: 'partition', partition });
      events.push({ at: at + random.int(100, 1500), kind: 'heal' });
    } else if (roll < 0.37) {
      // A crash with a slow restart: the others must carry on without it.
      const node = random.pick(nodes);
      events.push({ at, kind: 'crash', node, tear: random.chance(0.5) });
      events.push({ at: at + random.int(50, 1200), kind: 'restart', node });
    } else if (roll < 0.55) {
      // Killing the leader, often with entries only partly replicated (Raft's Figure 8).
      events.push({
        at,
        kind: 'crash-leader',
        downMs: random.int(20, 2500),
        tear: random.chance(0.5),
      });
    } else if (roll < 0.68) {
      const message = random.pick<CrashTrigger>(['voteResp', 'voteResp', 'appendResp', 'append']);
      events.push({
        at,
        kind: 'crash-on-send',
        // Appends with entries come from leaders: aim at whoever leads when the trap is armed.
        node: message === 'append' ? LEADER : random.pick(nodes),
        message,
        downMs: message === 'append' ? random.int(0, 400) : random.int(0, 5),
      });
    } else if (roll < 0.74 && nodes.length >= 3) {
      events.push({
        at,
        kind: 'vote-amnesia',
        durationMs: random.int(500, 3000),
        downMs: random.int(0, 5),
      });
    } else if (roll < 0.8 && nodes.length >= 3) {
      if (removed === null) {
        removed = random.pick(nodes);
        events.push({ at, kind: 'remove', node: removed });
      } else {
        events.push({ at, kind: 'add', node: removed });
        removed = null;
      }
    } else if (roll < 0.86) {
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
    case 'crash-leader':
      return `${e.at}ms crash the leader for ${e.downMs}ms${e.tear ? ' (torn writes)' : ''}`;
    case 'crash-on-send':
      return `${e.at}ms crash ${e.node} right after it next sends ${e.message}, for ${e.downMs}ms`;
    case 'remove':
      return `${e.at}ms remove ${e.node} from the group`;
    case 'add':
      return `${e.at}ms add ${e.node} back (learner, then voter)`;
    case 'vote-amnesia':
      return `${e.at}ms vote amnesia for ${e.durationMs}ms: bounce the leader, crash every voter right after it votes, for ${e.downMs}ms`;
    case 'transfer':
      return `${e.at}ms transfer leadership to ${e.node}`;
    case 'network':
      return `${e.at}ms network ${e.quality}`;
  }
}
