import { describe, expect, it } from 'vitest';
import { writeRepair } from '../../src/cluster/repair-write.js';
import type { DataPlaneBug } from '../../src/distributed/coordinator.js';
import { CountError } from '../../src/model/errors.js';
import type { RangeRead } from '../../src/server/data-service.js';
import { clusterPerTest, lcg } from './cluster-per-test.js';
import { batchOf, localPoints, NOW, type TestCluster } from './test-cluster.js';

/**
 * The data plane's end-to-end checks, each shown to catch a planted bug:
 * - lost writes: every write acknowledged at quorum is returned by every later quorum read,
 *   whichever nodes are down in between;
 * - read repair: after a quorum read, a quorum of the series' replicas holds what it returned.
 */
const clusters = clusterPerTest();

const IDS = ['n1', 'n2', 'n3'];
const SERIES = Array.from({ length: 4 }, (_, i) => `req{svc="s${i}"}`);

function setDown(c: TestCluster, down: Set<string>): void {
  for (const id of IDS) {
    if (down.has(id)) c.kill(id);
    else c.revive(id);
  }
}

/** Runs a random schedule of outages, quorum writes and quorum reads; returns lost writes. */
async function lostWrites(seed: number, bugs: DataPlaneBug[]): Promise<string[]> {
  const c = await clusters.start(3, 3, { bugs });
  const rnd = lcg(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
  const outage = () => new Set(IDS.filter(() => rnd() < 0.45).slice(0, 2));
  const acked = new Map<string, [number, number][]>();
  const lost: string[] = [];
  for (let round = 0; round < 12; round++) {
    let down = outage();
    setDown(c, down);
    for (let w = 0; w < 3; w++) {
      const coord = pick(IDS.filter((id) => !down.has(id)));
      const series = pick(SERIES);
      const t = NOW + round * 100 + w;
      const v = Math.floor(rnd() * 1000);
      try {
        await c.node(coord).coordinator.write(batchOf([[series, t, v]]), 'quorum');
        acked.set(series, [...(acked.get(series) ?? []), [t, v]]);
      } catch (e) {
        if (!(e instanceof CountError) || e.code !== 'consistency_unavailable') throw e;
      }
    }
    down = outage();
    setDown(c, down);
    const coord = pick(IDS.filter((id) => !down.has(id)));
    for (const [series, points] of acked) {
      let read: RangeRead;
      try {
        read = await c.node(coord).coordinator.readRange(series, 0, 2 ** 53, 'quorum');
      } catch (e) {
        if (e instanceof CountError && e.code === 'consistency_unavailable') continue;
        throw e;
      }
      const have = new Set(Array.from(read.points.timestamps));
      for (const [t] of points) {
        if (!have.has(t))
          lost.push(`seed ${seed} round ${round}: ${series}@${t} read via ${coord}`);
      }
    }
  }
  await c.settle();
  await clusters.close();
  return lost;
}

describe('lost-write check', () => {
  it('finds no acknowledged write missing from later quorum reads', async () => {
    for (const seed of [1, 2, 3, 4]) expect(await lostWrites(seed, [])).toEqual([]);
  });

  it('catches a coordinator that acknowledges quorum writes after one replica (planted bug)', async () => {
    const lost: string[] = [];
    for (const seed of [1, 2, 3, 4]) lost.push(...(await lostWrites(seed, ['quorum-of-one'])));
    expect(lost.length).toBeGreaterThan(0);
  });
});

/** Plants divergence, reads every series at quorum, returns series a quorum does not hold. */
async function unrepaired(bugs: DataPlaneBug[]): Promise<string[]> {
  const c = await clusters.start(3, 3, { bugs });
  const bad: string[] = [];
  for (const [i, series] of SERIES.entries()) {
    // Each replica holds a different part of the series.
    for (const [j, id] of IDS.entries()) {
      await writeRepair(c.node(id).engine, batchOf([[series, NOW + j, i * 10 + j]]));
    }
    const read = await c.node(IDS[i % 3]).coordinator.readRange(series, 0, 2 ** 53, 'quorum');
    const returned = JSON.stringify(
      Array.from(read.points.timestamps, (t, k) => [t, read.points.values[k]]),
    );
    let holders = 0;
    for (const id of IDS) {
      if (JSON.stringify(await localPoints(c.node(id), series)) === returned) holders++;
    }
    if (holders < 2) bad.push(`${series}: ${holders} replica(s) hold the read's answer`);
  }
  return bad;
}

describe('read-repair check', () => {
  it('after a quorum read, a quorum of replicas holds what it returned', async () => {
    expect(await unrepaired([])).toEqual([]);
  });

  it('catches a read path that skips the repair (planted bug)', async () => {
    expect((await unrepaired(['no-read-repair'])).length).toBe(SERIES.length);
  });
});
