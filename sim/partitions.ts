import { assert } from '../src/model/assert.js';
import type { SimRandom } from './random.js';

/**
 * Network partitions in the shapes Jepsen's nemeses produce. A partition is a set of directed
 * links that drop every packet ("grudges"), decided when the fault schedule is generated so the
 * schedule is concrete data: a shrunk schedule replays the very same cuts.
 */
export type PartitionShape =
  /** one node cut off from all others */
  | 'isolate-one'
  /** a random majority and minority, each side fully connected */
  | 'majority-minority'
  /** two halves joined only through one bridge node that sees both */
  | 'bridge'
  /** every node sees a majority, but no two nodes see the same majority */
  | 'majorities-ring'
  /** one side's packets reach the other, but not back */
  | 'asymmetric';

export const PARTITION_SHAPES: readonly PartitionShape[] = [
  'isolate-one',
  'majority-minority',
  'bridge',
  'majorities-ring',
  'asymmetric',
];

export interface Partition {
  readonly shape: PartitionShape;
  /** Directed links [from, to] whose packets are dropped. */
  readonly blocked: readonly (readonly [string, string])[];
  /** Human-readable description, e.g. "n1 | n2 n3 n4 n5". */
  readonly description: string;
}

export function makePartition(
  shape: PartitionShape,
  nodes: readonly string[],
  random: SimRandom,
): Partition {
  assert(nodes.length >= 2, 'makePartition: need at least two nodes');
  const order = random.shuffled(nodes);
  const n = order.length;
  const blocked: [string, string][] = [];
  const cutBetween = (a: readonly string[], b: readonly string[]): void => {
    for (const x of a)
      for (const y of b) {
        blocked.push([x, y], [y, x]);
      }
  };
  switch (shape) {
    case 'isolate-one': {
      const [alone, ...rest] = order;
      cutBetween([alone], rest);
      return { shape, blocked, description: `${alone} | ${rest.join(' ')}` };
    }
    case 'majority-minority': {
      const minority = order.slice(0, Math.floor((n - 1) / 2) || 1);
      const majority = order.slice(minority.length);
      cutBetween(minority, majority);
      return { shape, blocked, description: `${minority.join(' ')} | ${majority.join(' ')}` };
    }
    case 'bridge': {
      const [bridge, ...rest] = order;
      const half = Math.ceil(rest.length / 2);
      const left = rest.slice(0, half);
      const right = rest.slice(half);
      cutBetween(left, right);
      return {
        shape,
        blocked,
        description: `${left.join(' ')} <${bridge}> ${right.join(' ')}`,
      };
    }
    case 'majorities-ring': {
      // Node i accepts packets only from the majority window starting at its ring position.
      const majority = Math.floor(n / 2) + 1;
      const views: string[] = [];
      for (let i = 0; i < n; i++) {
        const sees = new Set<string>();
        for (let k = 0; k < majority; k++) sees.add(order[(i + k) % n]);
        for (const from of order) if (!sees.has(from)) blocked.push([from, order[i]]);
        views.push(`${order[i]}<-{${[...sees].join(',')}}`);
      }
      return { shape, blocked, description: views.join(' ') };
    }
    case 'asymmetric': {
      const cut = random.int(1, n - 1);
      const senders = order.slice(0, cut);
      const receivers = order.slice(cut);
      // receivers -> senders is dropped; senders -> receivers still flows.
      for (const r of receivers) for (const s of senders) blocked.push([r, s]);
      return {
        shape,
        blocked,
        description: `${senders.join(' ')} -> ${receivers.join(' ')} (one way)`,
      };
    }
  }
}
