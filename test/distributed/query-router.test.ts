import { afterEach, describe, expect, it } from 'vitest';
import { writeRepair } from '../../src/cluster/repair-write.js';
import { Ring, tokenOf } from '../../src/cluster/ring.js';
import { rangeName } from '../../src/distributed/cluster-view.js';
import type { AggregateFn } from '../../src/query/aggregate.js';
import { executeQuery, type QueryRequest, type QueryResult } from '../../src/query/execute.js';
import { parseSelector } from '../../src/query/selectors.js';
import { buildHttpServer } from '../../src/server/http-server.js';
import { createRootLogger, parseLogLevels } from '../../src/server/logger.js';
import { ServerMetrics } from '../../src/server/metrics.js';
import { openEngine, type StorageEngine } from '../../src/storage/engine.js';
import { MemoryVfs } from '../../src/storage/memory-vfs.js';
import { ManualEnv } from '../storage/engine-test-env.js';
import { batchOf, NOW, staleReplanCluster, TestCluster } from './test-cluster.js';

let cluster: TestCluster | undefined;
let reference: StorageEngine | undefined;
afterEach(async () => {
  await cluster?.close();
  await reference?.close();
  cluster = undefined;
  reference = undefined;
});

/** 40 series over two metrics and four regions, 30 points each, with NaN and -0 among them. */
function dataset(): Array<[string, number, number]> {
  const out: Array<[string, number, number]> = [];
  for (let h = 0; h < 20; h++) {
    for (const m of ['cpu', 'mem']) {
      const key = `${m}{host="h${h}",region="r${h % 4}"}`;
      for (let i = 0; i < 30; i++) {
        const v = i === 7 && h % 5 === 0 ? Number.NaN : i === 3 ? -0 : ((h * 31 + i * 17) % 97) / 7;
        out.push([key, NOW + i * 1000, v]);
      }
    }
  }
  return out;
}

function plain(results: QueryResult[]): unknown {
  return results.map((r) => ({
    ...r,
    ...('points' in r
      ? { points: [Array.from(r.points.timestamps), Array.from(r.points.values)] }
      : {}),
  }));
}

async function setup(nodes: number, rf: number) {
  cluster = await TestCluster.start(nodes, rf);
  const data = dataset();
  await cluster.node('n1').coordinator.write(batchOf(data), 'all');
  reference = await openEngine(new ManualEnv(new MemoryVfs(), NOW));
  await reference.write(batchOf(data));
  return cluster;
}

describe('query router', () => {
  it('re-plans on a stale_epoch refusal even when no range fell short under the old plan', async () => {
    const s = await staleReplanCluster('staleq');
    cluster = s.c;
    const q = await cluster
      .node('n1')
      .coordinator.query(
        { selector: parseSelector('staleq'), start: 0, end: NOW + 10, fn: 'sum' },
        'quorum',
      );
    expect(q).toMatchObject({
      partial: false,
      results: [{ series: s.k, buckets: [{ value: 7 }] }],
    });
  });

  it('answers every kind of query exactly as one engine holding all the data would', async () => {
    const c = await setup(4, 2);
    const base = { start: NOW, end: NOW + 30_000 };
    const requests: QueryRequest[] = [
      { selector: parseSelector('cpu'), ...base },
      { selector: parseSelector('{region="r1"}'), ...base },
    ];
    const fns: AggregateFn[] = ['sum', 'mean', 'min', 'max', 'count', 'stddev', 'median'];
    for (const fn of fns) {
      requests.push({ selector: parseSelector('cpu'), ...base, fn, step: 10_000 });
      requests.push({ selector: parseSelector('mem'), ...base, fn, groupBy: ['region'] });
    }
    requests.push({ selector: parseSelector('cpu'), ...base, fn: 'percentile', q: 0.9 });
    for (const req of requests) {
      for (const level of ['one', 'quorum', 'all'] as const) {
        const got = await c.node('n2').coordinator.query(req, level);
        const want = await executeQuery(reference!, req);
        expect(got.partial).toBe(false);
        const grouped = req.groupBy !== undefined;
        if (!grouped) {
          expect(plain(got.results)).toEqual(plain(want));
        } else {
          // Merged partials differ from one pooled pass only in rounding (sums) and in which of
          // 0 and -0 a min/max keeps: equal as numbers, to 1e-12.
          expect(got.results.length).toBe(want.length);
          got.results.forEach((r, i) => {
            const w = want[i] as { group: unknown; buckets: { start: number; value: number }[] };
            expect((r as { group: unknown }).group).toEqual(w.group);
            const b = (r as { buckets: { start: number; value: number }[] }).buckets;
            expect(b.map((x) => x.start)).toEqual(w.buckets.map((x) => x.start));
            b.forEach((x, j) => {
              const y = w.buckets[j].value;
              if (Number.isNaN(y)) expect(x.value).toBeNaN();
              else
                expect(Math.abs(x.value - y)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(y)));
            });
          });
        }
      }
    }
  });

  it('pushes mergeable aggregates down: agreeing replicas answer partials and no points are read', async () => {
    const c = await setup(3, 3);
    const reads = c.net.count('data.read');
    const got = await c
      .node('n1')
      .coordinator.query(
        { selector: parseSelector('cpu'), start: NOW, end: NOW + 30_000, fn: 'max' },
        'quorum',
      );
    expect(got.results).toHaveLength(20);
    expect(c.net.count('data.read')).toBe(reads);
  });

  it('merges replicas that disagree on a series by the convergence rule, and repairs them', async () => {
    const c = await setup(3, 3);
    const planted = [
      'cpu{host="h1",region="r1"}',
      'cpu{host="h13",region="r1"}',
      'cpu{host="h2",region="r2"}',
    ];
    for (const [i, key] of planted.entries()) {
      const [, other] = c.replicasOf(key).filter((r) => r !== 'n1');
      // One replica holds a larger value at one timestamp: the converged max includes it.
      const p = batchOf([[key, NOW + 5000, 1000 + i]]);
      await writeRepair(c.node(other).engine, p);
      await reference!.write(p);
    }
    const req: QueryRequest = {
      selector: parseSelector('cpu'),
      start: NOW,
      end: NOW + 30_000,
      fn: 'max',
    };
    const reads = c.net.count('data.read');
    const got = await c.node('n1').coordinator.query(req, 'all');
    expect(plain(got.results)).toEqual(plain(await executeQuery(reference!, req)));
    expect(
      got.results.filter((r) => (r as { buckets: { value: number }[] }).buckets[0].value >= 1000),
    ).toHaveLength(3);
    // Only the three disagreeing series were read as points (from the two remote replicas).
    expect(c.net.count('data.read') - reads).toBe(6);
    for (const key of planted) {
      for (const id of c.replicasOf(key)) {
        const s = await c.node(id).engine.readRange(key, NOW + 5000, NOW + 5001);
        expect(s.values[0]).toBeGreaterThanOrEqual(1000);
      }
    }
  });

  it('a replica that fails the follow-up read of a disagreeing series makes its range missing', async () => {
    const c = await setup(3, 3);
    const key = 'cpu{host="h3",region="r3"}';
    const [other] = c.replicasOf(key).filter((r) => r !== 'n1');
    await writeRepair(c.node(other).engine, batchOf([[key, NOW + 5000, 1000]]));
    // `other` answers the fan-out, then fails every later read.
    const engine = c.node(other).engine;
    const read = engine.readRange.bind(engine);
    let calls = 0;
    engine.readRange = async (...args) => {
      if (++calls > 1) throw new Error('disk gone (test)');
      return read(...args);
    };
    const got = await c
      .node('n1')
      .coordinator.query(
        { selector: parseSelector('cpu{host="h3"}'), start: NOW, end: NOW + 30_000, fn: 'max' },
        'quorum',
      );
    const range = Ring.from(c.truth.state).rangeOf(tokenOf(key));
    expect(got.partial).toBe(true);
    expect(got.missing).toEqual([rangeName(range)]);
    expect(got.warnings![0]).toMatch(/failed reading/);
    // What the healthy replica holds is still answered.
    expect(got.results).toHaveLength(1);
  });

  it('with a node down at RF=1, answers partial with exactly its ranges missing; partial=deny is 503', async () => {
    const c = await setup(3, 1);
    c.kill('n3');
    const ring = Ring.from(c.truth.state);
    const lost = ring
      .ranges()
      .filter((r) => r.replicas[0] === 'n3')
      .map(rangeName);
    expect(lost.length).toBeGreaterThan(0);
    const req: QueryRequest = { selector: parseSelector('cpu'), start: NOW, end: NOW + 30_000 };
    const got = await c.node('n1').coordinator.query(req, 'one');
    expect(got.partial).toBe(true);
    expect(got.missing!.sort()).toEqual(lost.sort());
    expect(got.warnings!.length).toBe(lost.length);
    expect(got.warnings![0]).toMatch(/no reachable replica/);
    const series = got.results.map((r) => (r as { series: string }).series);
    const want = (await executeQuery(reference!, req))
      .map((r) => (r as { series: string }).series)
      .filter((s) => c.replicasOf(s)[0] !== 'n3');
    expect(series).toEqual(want);

    // Over HTTP: partial=allow (default) is 200 with the missing ranges; partial=deny is 503.
    const server = await buildHttpServer({
      service: c.node('n1').coordinator,
      metrics: new ServerMetrics(() => c.node('n1').engine.stats(), { nodeId: 'n1' }),
      logger: createRootLogger(parseLogLevels('silent'), {}),
      nodeId: 'n1',
      bodyLimitBytes: 1024 * 1024,
      maxInflightWrites: 16,
    });
    try {
      const body = { select: 'cpu', start: NOW, end: NOW + 30_000 };
      const allow = await server.app.inject({
        method: 'POST',
        url: '/query?consistency=one',
        payload: body,
      });
      expect(allow.statusCode).toBe(200);
      expect(allow.json()).toMatchObject({ partial: true, missing: expect.any(Array) });
      const deny = await server.app.inject({
        method: 'POST',
        url: '/query?consistency=one&partial=deny',
        payload: body,
      });
      expect(deny.statusCode).toBe(503);
      expect(deny.json().error.code).toBe('partial_result');
    } finally {
      await server.app.close();
    }
  });

  it('a range answered by fewer replicas than the level needs is reported missing too', async () => {
    const c = await setup(3, 3);
    c.kill('n2');
    c.kill('n3');
    const got = await c
      .node('n1')
      .coordinator.query(
        { selector: parseSelector('cpu'), start: NOW, end: NOW + 30_000, fn: 'count' },
        'quorum',
      );
    expect(got.partial).toBe(true);
    expect(got.missing!.length).toBe(Ring.from(c.truth.state).ranges().length);
    expect(got.warnings![0]).toMatch(/answered by 1 of the 2 replicas/);
    // What n1 holds is still returned (all 20 series: every range has n1 at RF=3 on 3 nodes).
    expect(got.results).toHaveLength(20);
  });
});
