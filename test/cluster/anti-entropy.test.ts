import { describe, expect, it } from 'vitest';
import {
  type AntiEntropyBug,
  differingEntries,
  windowsBySeries,
} from '../../src/cluster/anti-entropy.js';
import { writeRepair } from '../../src/cluster/repair-write.js';
import { Ring } from '../../src/cluster/ring.js';
import { mergeSamples } from '../../src/query/merge.js';
import { clusterPerTest, lcg } from '../distributed/cluster-per-test.js';
import { batchOf, type TestCluster as Cluster, NOW } from '../distributed/test-cluster.js';

const clusters = clusterPerTest();

/**
 * Two replicas (RF=2 on 2 nodes) that diverged: each missed some writes, and some timestamps
 * hold different values on each side. Returns what every series should converge to.
 */
async function diverge(c: Cluster, seed: number): Promise<Map<string, [number, number][]>> {
  const rnd = lcg(seed);
  const a: Array<[string, number, number]> = [];
  const b: Array<[string, number, number]> = [];
  for (let h = 0; h < 30; h++) {
    const key = `load{host="h${h}"}`;
    for (let i = 0; i < 40; i++) {
      // A month back: far older than the engines' out-of-order window (repair writes allowOld).
      const t = NOW - 30 * 86_400_000 + i * 3_600_000;
      const v = Math.floor(rnd() * 100);
      const r = rnd();
      if (r < 0.7) {
        a.push([key, t, v]);
        b.push([key, t, v]);
      } else if (r < 0.8) a.push([key, t, v]);
      else if (r < 0.9) b.push([key, t, v]);
      else {
        a.push([key, t, v]);
        b.push([key, t, v + 1 + Math.floor(rnd() * 5)]);
      }
    }
  }
  await writeRepair(c.node('n1').engine, batchOf(a));
  await writeRepair(c.node('n2').engine, batchOf(b));
  const want = new Map<string, [number, number][]>();
  for (let h = 0; h < 30; h++) {
    const key = `load{host="h${h}"}`;
    const sa = await c.node('n1').engine.readRange(key, 0, 2 ** 53);
    const sb = await c.node('n2').engine.readRange(key, 0, 2 ** 53);
    const m = mergeSamples([sa, sb]);
    want.set(
      key,
      Array.from(m.timestamps, (t, i) => [t, m.values[i]]),
    );
  }
  return want;
}

/** The convergence check: both replicas hold exactly the converged points, trees equal. */
async function divergence(c: Cluster, want: Map<string, [number, number][]>): Promise<string[]> {
  const bad: string[] = [];
  for (const [key, pts] of want) {
    for (const id of ['n1', 'n2']) {
      const s = await c.node(id).engine.readRange(key, 0, 2 ** 53);
      const got = Array.from(s.timestamps, (t, i) => [t, s.values[i]]);
      if (JSON.stringify(got) !== JSON.stringify(pts)) bad.push(`${id} ${key}`);
    }
  }
  const ae1 = c.node('n1').coordinator.antiEntropy;
  const ae2 = c.node('n2').coordinator.antiEntropy;
  const all = { start: 0, end: 2 ** 53 };
  for (const range of Ring.from(c.truth.state).ranges()) {
    const t1 = await ae1.tree(range, all, ae1.options.bucketMs, ae1.options.depth);
    const t2 = await ae2.tree(range, all, ae2.options.bucketMs, ae2.options.depth);
    if (!t1.rootEquals(t2)) bad.push(`tree ${range.start}..${range.end}`);
  }
  return bad;
}

async function twoReplicas(bugs: AntiEntropyBug[] = []): Promise<Cluster> {
  return clusters.start(2, 2, { antiEntropy: { intervalMs: 0, bugs } });
}

describe('anti-entropy', () => {
  it('converges two diverged replicas: equal points and equal Merkle trees', async () => {
    const c = await twoReplicas();
    const want = await diverge(c, 7);
    expect((await divergence(c, want)).length).toBeGreaterThan(0);
    // Each range is initiated by its first live replica: run it on both nodes.
    await c.node('n1').coordinator.antiEntropy.runOnce();
    await c.node('n2').coordinator.antiEntropy.runOnce();
    expect(await divergence(c, want)).toEqual([]);
    for (const id of ['n1', 'n2']) {
      const totals = c.node(id).coordinator.antiEntropy.totals;
      expect(totals.pulled).toBeGreaterThan(0);
      expect(totals.pushed).toBeGreaterThan(0);
    }
    // A second run finds nothing to do.
    const ranges = Ring.from(c.truth.state).ranges();
    for (const r of ranges) {
      expect(await c.node('n2').coordinator.antiEntropy.repairRange(r, 'n1')).toEqual({
        slots: 0,
        entries: 0,
        pulled: 0,
        pushed: 0,
      });
    }
  });

  it('the convergence check catches one-way anti-entropy (planted bug)', async () => {
    const c = await twoReplicas(['one-way']);
    const want = await diverge(c, 7);
    await c.node('n1').coordinator.antiEntropy.runOnce();
    await c.node('n2').coordinator.antiEntropy.runOnce();
    const bad = await divergence(c, want);
    expect(bad.some((b) => b.startsWith('n2 '))).toBe(true);
    expect(bad.some((b) => b.startsWith('n1 '))).toBe(true);
  });

  it('repairs only the differing entries of a range and skips peers gossip sees dead', async () => {
    const c = await twoReplicas();
    const key = 'x{k="1"}';
    await c.node('n1').coordinator.write(batchOf([[key, NOW, 1]]), 'all');
    await writeRepair(c.node('n2').engine, batchOf([[key, NOW - 600_000, 5]]));
    c.node('n1').liveness.set('n2', false);
    await c.node('n1').coordinator.antiEntropy.runOnce();
    expect(c.net.count('repair.tree')).toBe(0);
    c.node('n1').liveness.set('n2', true);
    let total = 0;
    for (const r of Ring.from(c.truth.state).ranges()) {
      total += (await c.node('n1').coordinator.antiEntropy.repairRange(r, 'n2')).pulled;
    }
    expect(total).toBe(1);
    const s = await c.node('n1').engine.readRange(key, 0, 2 ** 53);
    expect(Array.from(s.values)).toEqual([5, 1]);
  });

  it('differingEntries names entries that differ or exist on one side only', () => {
    const e = (series: string, bucket: number, hi: number) => ({
      series,
      bucket,
      hi,
      lo: 0,
      count: 1,
    });
    const got = differingEntries(
      [e('a', 1, 1), e('b', 1, 1), e('c', 2, 1)],
      [e('a', 1, 1), e('b', 1, 2), e('d', 3, 1)],
    );
    expect(got.map((x) => x.series).sort()).toEqual(['b', 'c', 'd']);
  });
});

describe('windowsBySeries', () => {
  it('joins adjacent buckets and clips to the window', () => {
    const got = windowsBySeries(
      [
        { series: 'b', bucket: 3 },
        { series: 'a', bucket: 5 },
        { series: 'a', bucket: 1 },
        { series: 'a', bucket: 2 },
      ],
      10,
      { start: 15, end: 1000 },
    );
    expect([...got]).toEqual([
      [
        'a',
        [
          { start: 15, end: 30 },
          { start: 50, end: 60 },
        ],
      ],
      ['b', [{ start: 30, end: 40 }]],
    ]);
  });
});
