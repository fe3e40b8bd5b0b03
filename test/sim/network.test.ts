import { describe, expect, it } from 'vitest';
import { type NetworkFaults, SimNetwork } from '../../sim/network.js';
import { makePartition } from '../../sim/partitions.js';
import { SimRandom } from '../../sim/random.js';
import { Scheduler } from '../../sim/scheduler.js';
import { Trace } from '../../sim/trace.js';

interface Msg {
  from: string;
  to: string;
  n: number;
}
const nodes = ['a', 'b', 'c'];
const clean: NetworkFaults = {
  minDelayMs: 1,
  maxDelayMs: 20,
  dropRate: 0,
  duplicateRate: 0,
  longDelayRate: 0,
  longDelayMs: 20,
};

function setup(faults: NetworkFaults, seed = 1) {
  const s = new Scheduler();
  const trace = new Trace(false);
  const net = new SimNetwork<Msg>(
    s,
    nodes,
    SimRandom.stream(seed, 'net'),
    trace,
    (m) => `${m.from}>${m.to}#${m.n}`,
    faults,
  );
  const got: Record<string, number[]> = { a: [], b: [], c: [] };
  for (const n of nodes) net.attach(n, (m) => got[n].push(m.n));
  return { s, net, got, trace };
}

describe('SimNetwork', () => {
  it('delivers everything on a clean network, reordered by random delays', async () => {
    const { s, net, got } = setup(clean);
    for (let i = 0; i < 100; i++) net.send({ from: 'a', to: 'b', n: i });
    await s.run(1000);
    expect([...got.b].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(got.b).not.toEqual([...got.b].sort((x, y) => x - y));
  });

  it('drops and duplicates at the configured rates', async () => {
    const { s, net, got } = setup({ ...clean, dropRate: 0.2, duplicateRate: 0.2 });
    for (let i = 0; i < 2000; i++) net.send({ from: 'a', to: 'b', n: i });
    await s.run(1000);
    const distinct = new Set(got.b).size;
    expect(distinct).toBeGreaterThan(1450);
    expect(distinct).toBeLessThan(1750);
    expect(got.b.length - distinct).toBeGreaterThan(200);
  });

  it('partitions cut links (also for packets already in flight) and heal restores them', async () => {
    const { s, net, got } = setup(clean);
    net.send({ from: 'a', to: 'b', n: 1 });
    net.partition({
      shape: 'isolate-one',
      blocked: [
        ['a', 'b'],
        ['b', 'a'],
      ],
      description: 'a | b',
    });
    net.send({ from: 'a', to: 'b', n: 2 });
    net.send({ from: 'a', to: 'c', n: 3 });
    await s.run(100);
    expect(got.b).toEqual([]);
    expect(got.c).toEqual([3]);
    net.heal();
    net.send({ from: 'a', to: 'b', n: 4 });
    await s.run(200);
    expect(got.b).toEqual([4]);
  });

  it('an asymmetric partition lets packets through one way only', async () => {
    const { s, net, got } = setup(clean);
    const p = makePartition('asymmetric', nodes, SimRandom.stream(2, 'p'));
    net.partition(p);
    for (const [from, to] of p.blocked) net.send({ from, to, n: 1 });
    for (const [from, to] of p.blocked) net.send({ from: to, to: from, n: 2 });
    await s.run(100);
    const all = [...got.a, ...got.b, ...got.c];
    expect(all.filter((x) => x === 1)).toHaveLength(0);
    expect(all.filter((x) => x === 2)).toHaveLength(p.blocked.length);
  });

  it('drops packets to a detached (crashed) node', async () => {
    const { s, net, got } = setup(clean);
    net.detach('b');
    net.send({ from: 'a', to: 'b', n: 1 });
    await s.run(100);
    expect(got.b).toEqual([]);
    expect(net.dropped).toBe(1);
  });

  it('the same seed gives the same trace hash; another seed a different one', async () => {
    const run = async (seed: number) => {
      const { s, net, trace } = setup({ ...clean, dropRate: 0.1, duplicateRate: 0.1 }, seed);
      for (let i = 0; i < 200; i++) net.send({ from: nodes[i % 3], to: nodes[(i + 1) % 3], n: i });
      await s.run(1000);
      return trace.digest();
    };
    expect(await run(5)).toBe(await run(5));
    expect(await run(5)).not.toBe(await run(6));
  });
});
