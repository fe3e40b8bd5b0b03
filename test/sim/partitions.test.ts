import { describe, expect, it } from 'vitest';
import { makePartition, PARTITION_SHAPES } from '../../sim/partitions.js';
import { SimRandom } from '../../sim/random.js';

const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'];

/** Who node `to` hears from under a partition (including itself). */
function hears(blocked: readonly (readonly [string, string])[], to: string): Set<string> {
  const cut = new Set(blocked.filter(([, t]) => t === to).map(([f]) => f));
  return new Set(nodes.filter((n) => !cut.has(n)));
}

describe('makePartition', () => {
  it('isolate-one cuts exactly one node off both ways', () => {
    const p = makePartition('isolate-one', nodes, SimRandom.stream(1, 'p'));
    const alone = nodes.filter((n) => hears(p.blocked, n).size === 1);
    expect(alone).toHaveLength(1);
    expect(p.blocked).toHaveLength(2 * 4);
  });

  it('majority-minority leaves exactly one side with a quorum', () => {
    for (let seed = 0; seed < 20; seed++) {
      const p = makePartition('majority-minority', nodes, SimRandom.stream(seed, 'p'));
      const sizes = nodes.map((n) => hears(p.blocked, n).size).sort();
      expect(sizes).toEqual([2, 2, 3, 3, 3]);
    }
  });

  it('bridge: one node hears everyone, the halves do not hear each other', () => {
    const p = makePartition('bridge', nodes, SimRandom.stream(3, 'p'));
    const sizes = nodes.map((n) => hears(p.blocked, n).size).sort();
    expect(sizes).toEqual([3, 3, 3, 3, 5]);
  });

  it('majorities-ring: every node hears a majority, and no two the same one', () => {
    const p = makePartition('majorities-ring', nodes, SimRandom.stream(4, 'p'));
    const views = nodes.map((n) => [...hears(p.blocked, n)].sort().join(','));
    for (const n of nodes) expect(hears(p.blocked, n).size).toBe(3);
    expect(new Set(views).size).toBe(5);
  });

  it('asymmetric drops one direction only', () => {
    const p = makePartition('asymmetric', nodes, SimRandom.stream(5, 'p'));
    const links = new Set(p.blocked.map(([f, t]) => `${f}>${t}`));
    expect(links.size).toBeGreaterThan(0);
    for (const [f, t] of p.blocked) expect(links.has(`${t}>${f}`)).toBe(false);
  });

  it('is a function of the random stream', () => {
    for (const shape of PARTITION_SHAPES) {
      const a = makePartition(shape, nodes, SimRandom.stream(9, 'p'));
      const b = makePartition(shape, nodes, SimRandom.stream(9, 'p'));
      expect(a).toEqual(b);
    }
  });
});
