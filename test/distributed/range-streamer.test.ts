import { afterEach, describe, expect, it } from 'vitest';
import { ALL_SERIES } from '../../src/cluster/anti-entropy.js';
import { Ring, rangeContains, tokenOf } from '../../src/cluster/ring.js';
import { batchOf, NOW, TestCluster } from './test-cluster.js';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

describe('streamRange', () => {
  it('pulls every series and point of a range from a peer, page by page, and nothing else', async () => {
    cluster = await TestCluster.start(2, 1);
    const points: Array<[string, number, number]> = [];
    for (let h = 0; h < 40; h++) {
      for (let i = 0; i < 1 + (h % 7) * 3; i++) points.push([`s{h="${h}"}`, NOW + i, h * 100 + i]);
    }
    await cluster.node('n1').coordinator.write(batchOf(points), 'all');
    // A fourth node outside the ring pulls n1's first range, 5 points per page.
    const n9 = await cluster.addNode('n9', { stream: { pagePoints: 5 } });
    const range = Ring.from(cluster.truth.state)
      .ranges()
      .filter((r) => r.replicas[0] === 'n1')
      .sort((a, b) => count(b) - count(a))[0];
    function count(r: { start: string; end: string }) {
      return points.filter(([k]) => rangeContains(r, tokenOf(k))).length;
    }
    const want = points.filter(([k]) => rangeContains(range, tokenOf(k)));
    expect(want.length).toBeGreaterThan(5);
    const got = await n9.coordinator.streamRange(range, 'n1');
    expect(got.points).toBe(want.length);
    expect(got.series).toBe(new Set(want.map(([k]) => k)).size);
    const keys = await n9.engine.select(ALL_SERIES);
    expect(keys.sort()).toEqual([...new Set(want.map(([k]) => k))].sort());
    for (const key of keys) {
      const s = await n9.engine.readRange(key, 0, 2 ** 53);
      const exp = want.filter(([k]) => k === key);
      expect(Array.from(s.timestamps)).toEqual(exp.map(([, t]) => t));
      expect(Array.from(s.values)).toEqual(exp.map(([, , v]) => v));
    }
    expect(cluster.net.count('data.stream')).toBeGreaterThanOrEqual(Math.ceil(want.length / 5));
  });

  it('pages through sparse and dense series alike (windows and page ends anywhere)', async () => {
    cluster = await TestCluster.start(1, 1);
    const points: Array<[string, number, number]> = [];
    // Sparse: one point a week from 90 days back (older than the window: repair writes); dense:
    // one per ms; a single point.
    for (let i = 0; i < 8; i++)
      points.push(['sparse', NOW - 90 * 86_400_000 + i * 7 * 86_400_000, i]);
    for (let i = 0; i < 500; i++) points.push(['dense', NOW - 1000 + i, i]);
    points.push(['single', NOW - 30 * 60_000, 42]);
    await cluster.node('n1').coordinator.write(batchOf(points), 'all');
    const token = Ring.from(cluster.truth.state).ranges()[0].end;
    for (const pagePoints of [1, 7, 1000]) {
      const sink = await cluster.addNode(`sink${pagePoints}`, { stream: { pagePoints } });
      const got = await sink.coordinator.streamRange({ start: token, end: token }, 'n1');
      expect(got).toEqual({ series: 3, points: points.length });
      for (const key of ['sparse', 'dense', 'single']) {
        const s = await sink.engine.readRange(key, 0, 2 ** 53);
        const exp = points.filter(([k]) => k === key);
        expect(Array.from(s.timestamps)).toEqual(exp.map(([, t]) => t));
      }
    }
  });
});
