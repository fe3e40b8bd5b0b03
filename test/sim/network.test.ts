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

  it('with a numeric encoder: the same deliveries and drops, lines that name each packet, and a hash that sees the fields', async () => {
    const faults = { ...clean, dropRate: 0.1, duplicateRate: 0.1 };
    const run = async (encoded: boolean, keep: boolean, bump = 0) => {
      const s = new Scheduler();
      const trace = new Trace(keep);
      const net = new SimNetwork<Msg>(
        s,
        nodes,
        SimRandom.stream(3, 'net'),
        trace,
        (m) => `${m.from}>${m.to}#${m.n}`,
        faults,
      );
      // n = 7 cannot be carried as numbers: it is traced by its line.
      if (encoded) {
        net.encodeWith((m, out, o) => {
          if (m.n === 7) return -1;
          out[o] = m.n + bump;
          return o + 1;
        });
      }
      const got: number[] = [];
      for (const n of nodes) net.attach(n, (m) => got.push(m.n));
      net.detach('c');
      for (let i = 0; i < 300; i++) net.send({ from: nodes[i % 3], to: nodes[(i + 1) % 3], n: i });
      await s.run(1000);
      return { got, dropped: net.dropped, hash: trace.digest(), lines: trace.ndjson() };
    };
    const plain = await run(false, false);
    const numeric = await run(true, false);
    const kept = await run(true, true);
    expect(numeric.got).toEqual(plain.got);
    expect(numeric.dropped).toBe(plain.dropped);
    expect(kept.hash).toBe(numeric.hash);
    expect(numeric.hash).not.toBe(plain.hash);
    expect((await run(true, false, 1)).hash).not.toBe(numeric.hash);
    const lines = (kept.lines ?? '')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).d as string);
    expect(lines[0]).toMatch(/^#0 a>b#0 \+\d+$/);
    expect(lines.some((l) => /^#\d+ b>c#\d+ down$/.test(l))).toBe(true);
    expect(lines.some((l) => l.startsWith('#7 b>c#7'))).toBe(true);
  });
});
