import { afterEach, describe, expect, it } from 'vitest';
import { pointsLacking } from '../../src/cluster/points-lacking.js';
import { writeRepair } from '../../src/cluster/repair-write.js';
import {
  batchOf,
  leaveUnderReads,
  localPoints,
  NOW,
  staleReplanCluster,
  TestCluster,
} from './test-cluster.js';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const samples = (pts: [number, number][]) => ({
  timestamps: Float64Array.from(pts, (p) => p[0]),
  values: Float64Array.from(pts, (p) => p[1]),
});

describe('pointsLacking', () => {
  it('names missing points and points whose bits differ (NaN payloads, -0)', () => {
    const merged = samples([
      [1, 1],
      [2, 0],
      [3, 5],
      [4, Number.NaN],
    ]);
    const replica = samples([
      [2, -0],
      [3, 5],
      [4, Number.NaN],
    ]);
    const b = pointsLacking('s', merged, replica);
    expect(Array.from(b.timestamps.subarray(0, b.length))).toEqual([1, 2]);
    expect(pointsLacking('s', merged, merged).length).toBe(0);
  });
});

describe('quorum reads', () => {
  it('a replacement replica is asked under the plan epoch, so one no longer owning the series refuses', async () => {
    // y and z know y left; x holds the point and goes down (gossip has not noticed).
    const { c, k, x, next } = await leaveUnderReads('planep', ['y', 'z']);
    cluster = c;
    c.net.setDown(x, true);
    // n1 plans on the old ring [n1, x, y]; it learns the new epoch while x's request fails.
    const reading = c.node('n1').coordinator.readRange(k, 0, NOW + 10, 'quorum');
    c.node('n1').metadata.apply(next);
    const read = await reading;
    expect(Array.from(read.points.values)).toEqual([7]);
  });

  it('re-plans on a stale_epoch refusal even when the old plan found enough other replicas', async () => {
    const s = await staleReplanCluster('stalerd');
    cluster = s.c;
    const read = await cluster.node('n1').coordinator.readRange(s.k, 0, NOW + 10, 'quorum');
    expect(Array.from(read.points.values)).toEqual([7]);
    expect(cluster.node('n1').metadata.epoch()).toBe(cluster.truth.state.epoch);
  });

  it('merge replicas by the convergence rule and repair the replica that lacked points before answering', async () => {
    cluster = await TestCluster.start(3, 3);
    const k = 'temp{room="a"}';
    // The coordinator asks itself and the next replica in ring order.
    const [other, third] = cluster.replicasOf(k).filter((r) => r !== 'n1');
    // Plant divergence directly in the engines: n1 lacks t=2, `other` holds a smaller value at t=1.
    await writeRepair(cluster.node('n1').engine, batchOf([[k, NOW + 1, 10]]));
    await writeRepair(
      cluster.node(other).engine,
      batchOf([
        [k, NOW + 1, 3],
        [k, NOW + 2, 20],
      ]),
    );
    await writeRepair(cluster.node(third).engine, batchOf([[k, NOW + 2, 20]]));
    const read = await cluster.node('n1').coordinator.readRange(k, NOW, NOW + 10, 'quorum');
    // n1 (local) and one more replica answered; the merge keeps the larger value at t=1.
    expect(Array.from(read.points.timestamps)).toEqual([NOW + 1, NOW + 2]);
    expect(Array.from(read.points.values)).toEqual([10, 20]);
    expect(read).toMatchObject({ found: true, partial: false });
    // The repair was blocking: both queried replicas hold the merge now.
    const want = [
      [NOW + 1, 10],
      [NOW + 2, 20],
    ];
    expect(await localPoints(cluster.node('n1'), k)).toEqual(want);
    expect(await localPoints(cluster.node(other), k)).toEqual(want);
    expect(await localPoints(cluster.node(third), k)).toEqual([[NOW + 2, 20]]);
    expect(cluster.node('n1').coordinator.reads.stats.repairs).toBe(2);
    // An 'all' read repairs the third replica too.
    const all = await cluster.node(third).coordinator.readRange(k, NOW, NOW + 10, 'all');
    expect(Array.from(all.points.values)).toEqual([10, 20]);
    expect(await localPoints(cluster.node(third), k)).toEqual(want);
  });

  it("repair points far older than the engines' out-of-order window", async () => {
    cluster = await TestCluster.start(3, 3);
    const k = 'old{room="c"}';
    const old = NOW - 10 * 86_400_000;
    await cluster.node('n1').coordinator.write(batchOf([[k, NOW, 1]]), 'all');
    await writeRepair(cluster.node('n2').engine, batchOf([[k, old, 7]]));
    const read = await cluster.node('n3').coordinator.readRange(k, 0, 2 ** 53, 'all');
    expect(Array.from(read.points.timestamps)).toEqual([old, NOW]);
    for (const id of ['n1', 'n2', 'n3']) {
      expect(await localPoints(cluster.node(id), k)).toEqual([
        [old, 7],
        [NOW, 1],
      ]);
    }
  });

  it('replace a failed replica by the next one, and answer 503 with the count when too few answer', async () => {
    cluster = await TestCluster.start(3, 3);
    const k = 'hum{room="b"}';
    await cluster.node('n2').coordinator.write(batchOf([[k, NOW, 1]]), 'all');
    cluster.kill('n1');
    const read = await cluster.node('n2').coordinator.readRange(k, NOW, NOW + 1, 'quorum');
    expect(Array.from(read.points.values)).toEqual([1]);
    cluster.kill('n3');
    const err = await cluster
      .node('n2')
      .coordinator.readRange(k, NOW, NOW + 1, 'quorum')
      .catch((e) => e);
    expect(err.code).toBe('consistency_unavailable');
    expect(err.details).toMatchObject({ acknowledged: 1, required: 2 });
    const one = await cluster.node('n2').coordinator.readRange(k, NOW, NOW + 1, 'one');
    expect(Array.from(one.points.values)).toEqual([1]);
  });

  it('a coordinator that is not a replica reads remotely; an unknown series is not found', async () => {
    cluster = await TestCluster.start(4, 2);
    const k = cluster.seriesWhere((r) => !r.includes('n4'));
    await cluster.node('n1').coordinator.write(batchOf([[k, NOW, 4]]), 'all');
    const read = await cluster.node('n4').coordinator.readRange(k, NOW, NOW + 1, 'all');
    expect(Array.from(read.points.values)).toEqual([4]);
    const none = await cluster.node('n4').coordinator.readRange('nope', 0, NOW, 'quorum');
    expect(none.found).toBe(false);
  });
});
