import { afterEach, describe, expect, it } from 'vitest';
import { writeRepair } from '../../src/cluster/repair-write.js';
import { CountError } from '../../src/model/errors.js';
import { batchOf, localPoints, NOW, TestCluster } from '../distributed/test-cluster.js';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const DAY = 24 * 3600_000;

describe('repair writes of old data', () => {
  it('anti-entropy repairs points two days old into a replica whose window refuses them to clients', async () => {
    const c = await TestCluster.start(2, 2);
    cluster = c;
    const key = 'temp{room="attic"}';
    // Both replicas take a point now: their out-of-order windows count back from the present.
    await c.node('n1').coordinator.write(batchOf([[key, NOW, 20]]), 'all');
    // Only n2 holds two days of old data (say it was restored there from a backup).
    const old: Array<[string, number, number]> = [];
    for (let i = 0; i < 48; i++) old.push([key, NOW - 2 * DAY + i * 3600_000, i]);
    await writeRepair(c.node('n2').engine, batchOf(old));
    // A client write of those points is refused by n1's engine...
    const refused = await c
      .node('n1')
      .engine.write(batchOf(old))
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CountError);
    expect((refused as CountError).code).toBe('timestamp_out_of_window');
    expect(await localPoints(c.node('n1'), key)).toEqual([[NOW, 20]]);
    // ...but the repair path lands them.
    await c.node('n1').coordinator.antiEntropy.runOnce();
    expect(c.node('n1').coordinator.antiEntropy.totals.pulled).toBe(48);
    const want: Array<[number, number]> = [...old.map(([, t, v]) => [t, v] as [number, number])];
    want.push([NOW, 20]);
    expect(await localPoints(c.node('n1'), key)).toEqual(want);
    // Durable: they survive a flush and a power cut of n1.
    await c.node('n1').engine.flush();
    await c.restart('n1');
    expect(await localPoints(c.node('n1'), key)).toEqual(want);
    // A second run finds nothing left to repair.
    await c.node('n1').coordinator.antiEntropy.runOnce();
    expect(c.node('n1').coordinator.antiEntropy.totals.pulled).toBe(0);
  });
});
