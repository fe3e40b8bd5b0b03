import { afterEach, describe, expect, it } from 'vitest';
import { InFlightLimit } from '../../src/distributed/admission.js';
import { buildHttpServer } from '../../src/server/http-server.js';
import { createRootLogger, parseLogLevels } from '../../src/server/logger.js';
import { ServerMetrics } from '../../src/server/metrics.js';
import { batchOf, NOW, TestCluster, waitFor } from './test-cluster.js';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

describe('backpressure', () => {
  it('InFlightLimit refuses past its bound without running the work, then admits again', async () => {
    const limit = new InFlightLimit(2, 'test');
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let ran = 0;
    const work = () =>
      limit.run(async () => {
        ran++;
        await gate;
      });
    const a = work();
    const b = work();
    const err = await work().catch((e) => e);
    expect(err.code).toBe('overloaded');
    expect(err.status).toBe(429);
    expect(err.retryAfterSeconds).toBe(1);
    expect(ran).toBe(2);
    release();
    await Promise.all([a, b]);
    await work();
    expect(ran).toBe(3);
    expect(limit.refused).toBe(1);
  });

  it('an overloaded coordinator answers 429 with Retry-After over HTTP instead of queuing', async () => {
    cluster = await TestCluster.start(3, 3, { maxInFlight: 1, requestTimeoutMs: 200 });
    const n1 = cluster.node('n1');
    await n1.coordinator.write(batchOf([['q', NOW, 1]]), 'all');
    // Replicas that never answer keep the one slot busy until the deadline.
    cluster.net.setHung('n2', true);
    cluster.net.setHung('n3', true);
    const server = await buildHttpServer({
      service: n1.coordinator,
      metrics: new ServerMetrics(() => n1.engine.stats(), { nodeId: 'n1' }),
      logger: createRootLogger(parseLogLevels('silent'), {}),
      nodeId: 'n1',
      bodyLimitBytes: 1024 * 1024,
      maxInflightWrites: 16,
    });
    try {
      const url = `/query/range/q?start=0&end=${NOW + 1}&consistency=all`;
      const slow = server.app.inject({ method: 'GET', url });
      await waitFor(() => n1.coordinator.limit.current === 1, 'the first read to hold the slot');
      const refused = await server.app.inject({ method: 'GET', url });
      expect(refused.statusCode).toBe(429);
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.json().error.code).toBe('overloaded');
      expect((await slow).statusCode).toBe(503);
    } finally {
      await server.app.close();
    }
  });

  it('an overloaded replica refuses with overloaded; the coordinator hints it', async () => {
    cluster = await TestCluster.start(3, 3, { replicaMaxInFlight: 1 });
    const n2 = cluster.node('n2');
    // Make n2's engine slow so its one replica slot stays busy.
    const write = n2.engine.write.bind(n2.engine);
    n2.engine.write = async (b) => {
      await new Promise((r) => setTimeout(r, 50));
      return write(b);
    };
    const results = await Promise.all(
      [0, 1, 2].map((i) =>
        cluster!.node('n1').coordinator.write(batchOf([[`o{i="${i}"}`, NOW, i]]), 'quorum'),
      ),
    );
    for (const r of results) expect(r.acknowledged).toBeGreaterThanOrEqual(2);
    await cluster.settle();
    expect(n2.coordinator.replica.limit.refused).toBeGreaterThanOrEqual(1);
    expect(cluster.node('n1').coordinator.handoff.pending('n2')).toBeGreaterThanOrEqual(1);
  });
});
