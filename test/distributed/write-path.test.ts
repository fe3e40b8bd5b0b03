import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { applyCommand } from '../../src/cluster/cluster-commands.js';
import { Ring } from '../../src/cluster/ring.js';
import { encodeBatch } from '../../src/cluster/samples-codec.js';
import { TokenCache } from '../../src/distributed/token-cache.js';
import { groupByReplicas } from '../../src/distributed/write-path.js';
import { PointBatch } from '../../src/model/batch.js';
import { CountError } from '../../src/model/errors.js';
import { batchOf, clusterState, localPoints, NOW, TestCluster, waitFor } from './test-cluster.js';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

describe('groupByReplicas', () => {
  it('puts every point in exactly one group, the one of its replica set', () => {
    const ring = Ring.from(clusterState(['a', 'b', 'c', 'd', 'e'], 3, 8));
    const tokens = new TokenCache();
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 1e6 })), {
          minLength: 1,
          maxLength: 300,
        }),
        (pts) => {
          const batch = new PointBatch(4);
          for (const [s, t] of pts) batch.add(`m{k="${s}"}`, t, s + t / 1e7);
          const groups = groupByReplicas(batch, ring, tokens);
          let total = 0;
          const seen: string[] = [];
          for (const g of groups) {
            total += g.batch.length;
            for (let i = 0; i < g.batch.length; i++) {
              const key = g.batch.series[g.batch.seriesIndex[i]];
              expect([...ring.readReplicas(tokens.tokenOf(key))].sort()).toEqual(
                [...g.owners].sort(),
              );
              seen.push(`${key}@${g.batch.timestamps[i]}=${g.batch.values[i]}`);
            }
          }
          expect(total).toBe(batch.length);
          const want = pts.map(([s, t]) => `m{k="${s}"}@${t}=${s + t / 1e7}`);
          expect(seen.sort()).toEqual(want.sort());
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe('groupByReplicas during a started join', () => {
  it('gives each series its owners and pending owners, as the ring does per token', () => {
    const base = clusterState(['a', 'b', 'c', 'd'], 3, 8);
    const prepared = applyCommand(base, {
      type: 'prepare-join',
      node: { id: 'e', httpAddress: 'e:1', peerAddress: 'e:2' },
    });
    expect(prepared.ok).toBe(true);
    const opId = prepared.state.operation?.id ?? -1;
    const started = applyCommand(prepared.state, { type: 'start', opId });
    expect(started.ok).toBe(true);
    const ring = Ring.from(started.state);
    const tokens = new TokenCache();
    const batch = new PointBatch(4);
    for (let s = 0; s < 400; s++) batch.add(`j{k="${s}"}`, s, s);
    const groups = groupByReplicas(batch, ring, tokens);
    expect(groups.length).toBeGreaterThan(1);
    expect(groups.some((g) => g.pending.length > 0)).toBe(true);
    let total = 0;
    for (const g of groups) {
      total += g.batch.length;
      for (let i = 0; i < g.batch.length; i++) {
        const token = tokens.tokenOf(g.batch.series[g.batch.seriesIndex[i]]);
        const owners = ring.readReplicas(token);
        const pending = ring.writeReplicas(token).filter((id) => !owners.includes(id));
        expect([...g.owners].sort()).toEqual([...owners].sort());
        expect([...g.pending].sort()).toEqual(pending.sort());
      }
    }
    expect(total).toBe(400);
  });
});

describe('replicated writes', () => {
  it('writes every point to all of its replicas and to no other node', async () => {
    cluster = await TestCluster.start(4, 3);
    const keys = Array.from({ length: 20 }, (_, i) => `cpu{host="h${i}"}`);
    const batch = batchOf(keys.map((k, i) => [k, NOW + i, i]));
    const out = await cluster.node('n1').coordinator.write(batch, 'quorum');
    expect(out).toMatchObject({ written: 20, required: 2 });
    expect(out.acknowledged).toBeGreaterThanOrEqual(2);
    // The write answered at quorum; the third replica's copy may still be on its way.
    const c = cluster;
    await waitFor(async () => {
      for (const k of keys) {
        for (const id of c.replicasOf(k))
          if ((await localPoints(c.node(id), k)).length === 0) return false;
      }
      return true;
    }, 'every replica to hold its points');
    for (const [i, k] of keys.entries()) {
      const replicas = cluster.replicasOf(k);
      expect(replicas).toHaveLength(3);
      for (const n of cluster.nodes.values()) {
        const pts = await localPoints(n, k);
        expect(pts).toEqual(replicas.includes(n.id) ? [[NOW + i, i]] : []);
      }
    }
  });

  it('meets one and quorum with a replica down, refuses all with the count of acks, and hints the dead replica', async () => {
    cluster = await TestCluster.start(3, 3);
    cluster.kill('n3');
    const coord = cluster.node('n1').coordinator;
    const k = 'mem{host="a"}';
    expect(await coord.write(batchOf([[k, NOW, 1]]), 'one')).toMatchObject({ required: 1 });
    expect(await coord.write(batchOf([[k, NOW + 1, 2]]), 'quorum')).toMatchObject({
      acknowledged: 2,
      required: 2,
    });
    const err = await coord.write(batchOf([[k, NOW + 2, 3]]), 'all').catch((e) => e);
    expect(err).toBeInstanceOf(CountError);
    expect(err.code).toBe('consistency_unavailable');
    expect(err.status).toBe(503);
    expect(err.details).toMatchObject({ acknowledged: 2, required: 3 });
    await cluster.settle();
    expect(coord.handoff.pending('n3')).toBe(3);
    expect(await localPoints(cluster.node('n3'), k)).toEqual([]);
    // quorum with two replicas down: 503 with one ack
    cluster.kill('n2');
    const err2 = await coord.write(batchOf([[k, NOW + 3, 4]]), 'quorum').catch((e) => e);
    expect(err2.code).toBe('consistency_unavailable');
    expect(err2.details).toMatchObject({ acknowledged: 1, required: 2 });
  });

  it('replays hints, throttled, when gossip sees the replica alive again', async () => {
    cluster = await TestCluster.start(3, 3);
    cluster.kill('n2');
    const coord = cluster.node('n1').coordinator;
    const k = 'disk{host="b"}';
    for (let i = 0; i < 5; i++) await coord.write(batchOf([[k, NOW + i, i]]), 'quorum');
    await cluster.settle();
    expect(coord.handoff.pending('n2')).toBe(5);
    cluster.revive('n2');
    await cluster.settle();
    expect(coord.handoff.pending('n2')).toBe(0);
    expect(coord.dataStats().hints).toMatchObject({ stored: 5, replayed: 5, pending: 0 });
    expect(await localPoints(cluster.node('n2'), k)).toEqual(
      Array.from({ length: 5 }, (_, i) => [NOW + i, i]),
    );
  });

  it("replays a hint of points far older than the target's out-of-order window", async () => {
    cluster = await TestCluster.start(3, 3);
    const coord = cluster.node('n1').coordinator;
    const k = 'late{k="1"}';
    const old = NOW - 5 * 86_400_000;
    // A read repair that could not reach n3 hints old points like these.
    expect(await coord.handoff.hint('n3', encodeBatch(batchOf([[k, old, 1]])))).toBe(true);
    expect(await coord.handoff.replay('n3')).toBe(1);
    expect(coord.dataStats().hints).toMatchObject({ replayed: 1, dropped: 0, pending: 0 });
    expect(await localPoints(cluster.node('n3'), k)).toEqual([[old, 1]]);
  });

  it('replays hints on the periodic check when no liveness event came (a healed partition)', async () => {
    cluster = await TestCluster.start(3, 3, {
      handoff: { replayPauseMs: 1, checkIntervalMs: 20, hintsPerRound: 1000 },
    });
    cluster.net.partition('n1', 'n2');
    const coord = cluster.node('n1').coordinator;
    await coord.write(batchOf([['part{a="1"}', NOW, 1]]), 'quorum');
    await cluster.settle();
    expect(coord.handoff.pending('n2')).toBe(1);
    cluster.net.heal();
    await waitFor(() => coord.handoff.pending('n2') === 0, 'the periodic replay');
    expect(await localPoints(cluster.node('n2'), 'part{a="1"}')).toEqual([[NOW, 1]]);
  });

  it('hints a replica that times out, after answering the client at quorum', async () => {
    cluster = await TestCluster.start(3, 3, { requestTimeoutMs: 600 });
    cluster.net.setHung('n3', true);
    const coord = cluster.node('n1').coordinator;
    const k = 'net{host="c"}';
    const t0 = performance.now();
    await coord.write(batchOf([[k, NOW, 7]]), 'quorum');
    // Answered before the hung replica's deadline; its hint follows the deadline.
    expect(performance.now() - t0).toBeLessThan(600);
    expect(coord.handoff.pending('n3')).toBe(0);
    await waitFor(() => coord.handoff.pending('n3') === 1, 'the hint of the hung replica');
  });

  it('a replica ahead refuses a stale coordinator, which catches up and retries', async () => {
    cluster = await TestCluster.start(3, 3);
    const next = { ...cluster.truth.state, epoch: 2 };
    cluster.truth.state = next;
    cluster.node('n2').metadata.state = next;
    cluster.node('n3').metadata.state = next;
    const n1 = cluster.node('n1');
    const out = await n1.coordinator.write(batchOf([['x{a="1"}', NOW, 1]]), 'all');
    expect(out.acknowledged).toBe(3);
    expect(n1.metadata.epoch()).toBe(2);
    expect(n1.metadata.catchUps).toBeGreaterThanOrEqual(1);
    expect(n1.coordinator.handoff.pending('n2') + n1.coordinator.handoff.pending('n3')).toBe(0);
  });

  it('hints a replica whose stale_epoch refusal arrives after the write was answered', async () => {
    cluster = await TestCluster.start(3, 3);
    const next = { ...cluster.truth.state, epoch: 2 };
    cluster.truth.state = next;
    cluster.node('n2').metadata.state = next;
    cluster.net.setDelay('n2', 100);
    const n1 = cluster.node('n1');
    const out = await n1.coordinator.write(batchOf([['late{a="1"}', NOW, 1]]), 'quorum');
    expect(out.acknowledged).toBe(2);
    await waitFor(() => n1.coordinator.handoff.pending('n2') === 1, 'a hint for n2');
    cluster.net.setDelay('n2', 0);
    expect(await n1.coordinator.handoff.replay('n2')).toBe(1);
    expect(await localPoints(cluster.node('n2'), 'late{a="1"}')).toEqual([[NOW, 1]]);
  });

  it('propagates a refusal of the batch itself (timestamp out of window) as that error', async () => {
    cluster = await TestCluster.start(3, 3);
    const err = await cluster
      .node('n1')
      .coordinator.write(batchOf([['y', NOW + 10 * 86_400_000, 1]]), 'quorum')
      .catch((e) => e);
    expect(err.code).toBe('timestamp_out_of_window');
  });
});
