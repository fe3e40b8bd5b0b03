import { afterEach, describe, expect, it } from 'vitest';
import { writeRepair } from '../../src/cluster/repair-write.js';
import { CountError } from '../../src/model/errors.js';
import { parseSelector } from '../../src/query/selectors.js';
import { buildHttpServer } from '../../src/server/http-server.js';
import { createRootLogger, parseLogLevels } from '../../src/server/logger.js';
import { ServerMetrics } from '../../src/server/metrics.js';
import { batchOf, localPoints, NOW, TestCluster } from './test-cluster.js';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

describe('coordinator', () => {
  it('keeps its hints across a crash and replays them when the replica comes back', async () => {
    cluster = await TestCluster.start(3, 3);
    cluster.kill('n3');
    const k = 'boot{host="x"}';
    for (let i = 0; i < 4; i++) {
      await cluster.node('n1').coordinator.write(batchOf([[k, NOW + i, i]]), 'quorum');
    }
    await cluster.settle();
    const n1 = await cluster.restart('n1');
    expect(n1.coordinator.handoff.pending('n3')).toBe(4);
    cluster.revive('n3');
    await cluster.settle();
    expect(await localPoints(cluster.node('n3'), k)).toEqual([0, 1, 2, 3].map((i) => [NOW + i, i]));
    expect(n1.coordinator.handoff.pending('n3')).toBe(0);
  });

  it('hints its own replica when the local engine refuses a write, and replays it locally', async () => {
    cluster = await TestCluster.start(3, 3);
    const n1 = cluster.node('n1');
    const write = n1.engine.write.bind(n1.engine);
    n1.engine.write = async () => {
      throw new CountError('memory_limit_exceeded', 'full (test)');
    };
    const out = await n1.coordinator.write(batchOf([['self', NOW, 9]]), 'quorum');
    expect(out.acknowledged).toBe(2);
    await cluster.settle();
    expect(n1.coordinator.handoff.pending('n1')).toBe(1);
    n1.engine.write = write;
    expect(await n1.coordinator.handoff.replay('n1')).toBe(1);
    expect(await localPoints(n1, 'self')).toEqual([[NOW, 9]]);
  });

  it('drops the hints of a node that left the cluster', async () => {
    cluster = await TestCluster.start(3, 3);
    cluster.kill('n3');
    await cluster.node('n1').coordinator.write(batchOf([['z', NOW, 1]]), 'quorum');
    await cluster.settle();
    expect(cluster.node('n1').coordinator.handoff.pending('n3')).toBe(1);
    const s = cluster.truth.state;
    const left = {
      ...s,
      epoch: s.epoch + 1,
      nodes: { ...s.nodes, n3: { ...s.nodes.n3, state: 'left' as const } },
    };
    cluster.truth.state = left;
    cluster.node('n1').metadata.apply(left);
    await cluster.settle();
    expect(cluster.node('n1').coordinator.handoff.pending('n3')).toBe(0);
    expect(await cluster.node('n1').vfs.list('hints')).toEqual([]);
  });

  it('reads and queries from a stale coordinator are refused by replicas ahead, then retried', async () => {
    cluster = await TestCluster.start(3, 3);
    const k = 'ep{x="1"}';
    await cluster.node('n1').coordinator.write(batchOf([[k, NOW, 1]]), 'all');
    await writeRepair(cluster.node('n2').engine, batchOf([[k, NOW + 1, 2]]));
    const next = { ...cluster.truth.state, epoch: 5 };
    cluster.truth.state = next;
    for (const id of ['n2', 'n3']) cluster.node(id).metadata.apply(next);
    const n1 = cluster.node('n1');
    const read = await n1.coordinator.readRange(k, 0, 2 ** 53, 'all');
    expect(Array.from(read.points.values)).toEqual([1, 2]);
    expect(n1.metadata.epoch()).toBe(5);

    n1.metadata.apply({ ...next, epoch: 4 });
    const q = await n1.coordinator.query(
      { selector: parseSelector('ep'), start: 0, end: NOW + 10, fn: 'sum' },
      'all',
    );
    expect(q).toMatchObject({ partial: false, results: [{ series: k, buckets: [{ value: 3 }] }] });
    expect(n1.metadata.epoch()).toBe(5);
  });

  it('repair() runs anti-entropy now for the ranges this node initiates and says what moved', async () => {
    cluster = await TestCluster.start(3, 2);
    const k = cluster.seriesWhere((r) => r[0] === 'n1', 'rep');
    const other = cluster.replicasOf(k)[1];
    await writeRepair(cluster.node('n1').engine, batchOf([[k, NOW, 1]]));
    await writeRepair(cluster.node(other).engine, batchOf([[k, NOW + 1, 2]]));
    const r = await cluster.node('n1').coordinator.repair();
    expect(r.pushed).toBeGreaterThanOrEqual(1);
    expect(r.pulled).toBeGreaterThanOrEqual(1);
    for (const id of ['n1', other]) {
      expect(await localPoints(cluster.node(id), k)).toEqual([
        [NOW, 1],
        [NOW + 1, 2],
      ]);
    }
  });

  it('over HTTP: writes at each level with a replica down; all is 503 saying how many answered', async () => {
    cluster = await TestCluster.start(3, 3);
    cluster.kill('n3');
    const n1 = cluster.node('n1');
    const server = await buildHttpServer({
      service: n1.coordinator,
      metrics: new ServerMetrics(() => n1.engine.stats(), { nodeId: 'n1' }),
      logger: createRootLogger(parseLogLevels('silent'), {}),
      nodeId: 'n1',
      bodyLimitBytes: 1024 * 1024,
      maxInflightWrites: 16,
    });
    try {
      const insert = (level: string, t: number) =>
        server.app.inject({
          method: 'POST',
          url: `/insert?consistency=${level}`,
          payload: { series: 'http{a="1"}', timestamp: t, value: 1 },
        });
      expect((await insert('one', NOW)).statusCode).toBe(200);
      expect((await insert('quorum', NOW + 1)).statusCode).toBe(200);
      const all = await insert('all', NOW + 2);
      expect(all.statusCode).toBe(503);
      expect(all.headers['retry-after']).toBe('1');
      expect(all.json().error).toMatchObject({
        code: 'consistency_unavailable',
        details: { acknowledged: 2, required: 3 },
      });
      expect(all.json().error.message).toMatch(/needs 3 replica\(s\); 2 answered/);
    } finally {
      await server.app.close();
    }
  });

  it('answers 503 consistency_unavailable while the cluster has no owners', async () => {
    cluster = await TestCluster.start(1, 1);
    const empty = { ...cluster.truth.state, nodes: {} };
    cluster.node('n1').metadata.apply(empty);
    const err = await cluster
      .node('n1')
      .coordinator.write(batchOf([['a', NOW, 1]]), 'one')
      .catch((e) => e);
    expect(err.code).toBe('consistency_unavailable');
    const q = await cluster
      .node('n1')
      .coordinator.query({ selector: parseSelector('a'), start: 0, end: 1 }, 'one')
      .catch((e) => e);
    expect(q.code).toBe('consistency_unavailable');
  });
});
