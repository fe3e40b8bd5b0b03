import { afterEach, describe, expect, it } from 'vitest';
import type { OperationBug } from '../../src/cluster/operations.js';
import { type Ring, tokenOf } from '../../src/cluster/ring.js';
import { Coordinator } from '../../src/distributed/coordinator.js';
import { PointBatch } from '../../src/model/batch.js';
import { openEngine, type StorageEngine } from '../../src/storage/engine.js';
import { MetaCluster } from './meta-harness.js';

/**
 * The metadata layer with the real data plane (Coordinator + engine per node, on the in-memory
 * network and virtual time): a fourth node joins while a writer writes at quorum; afterwards
 * every node that became a replica of a series holds every acknowledged point of it, and a
 * node decommissioned afterwards hands its ranges over the same way.
 */
const alive = { isAlive: () => true, onLivenessChange: () => {} };
let teardown: (() => Promise<void>) | null = null;

afterEach(async () => {
  await teardown?.();
  teardown = null;
});

async function scenario(bugs: OperationBug[] = []) {
  const data = new Map<string, { engine: StorageEngine; coordinator: Coordinator }>();
  const c = new MetaCluster({
    bugs,
    stream: (node, range, from) => data.get(node)!.coordinator.streamRange(range, from),
    onBoot: async (node) => {
      const engine = await openEngine(node.env, { maintenanceIntervalMs: 3_600_000 });
      const coordinator = new Coordinator(node.env, {
        engine,
        metadata: node.metadata,
        gossip: alive,
        options: { requestTimeoutMs: 1000, antiEntropy: { intervalMs: 0 } },
      });
      await coordinator.ready();
      data.set(node.id, { engine, coordinator });
    },
  });
  teardown = async () => {
    await c.stopAll();
    for (const d of data.values()) await d.coordinator.close();
  };
  const n1 = await c.bootstrap('n1', 3);
  await c.waitFor(() => n1.metadata.isLeader());
  for (const id of ['n2', 'n3']) {
    await c.join(id, 'n1');
    await c.waitFor(() => n1.metadata.state().operation === null);
  }
  const acked = new Map<string, number[]>();
  const t0 = n1.env.now();
  let seq = 0;
  const writeSome = async (via: string, n: number): Promise<void> => {
    const b = new PointBatch(n);
    const pts: [string, number][] = [];
    for (let i = 0; i < n; i++) {
      const key = `cpu{host="h${seq % 97}"}`;
      const t = t0 + seq;
      seq++;
      b.add(key, t, seq);
      pts.push([key, t]);
    }
    try {
      await data.get(via)!.coordinator.write(b, 'quorum');
      for (const [k, t] of pts) acked.set(k, [...(acked.get(k) ?? []), t]);
    } catch {
      // Not acknowledged: may or may not be there.
    }
  };
  for (let i = 0; i < 10; i++) await c.until(writeSome('n2', 50));

  /** Runs `operation` while a writer writes at quorum through `via`. */
  const underLoad = async (via: string[], operation: () => Promise<void>): Promise<void> => {
    let writing = true;
    const writer = (async () => {
      while (writing) {
        await writeSome(via[seq % via.length], 20);
        await new Promise<void>((r) => c.clock.setTimer(5, r));
      }
    })();
    await operation();
    writing = false;
    await c.until(writer);
  };

  /** Acknowledged points missing on nodes that became replicas of their series. */
  const missingAtGainers = async (before: Ring, after: Ring): Promise<number> => {
    let missing = 0;
    let checked = 0;
    for (const [key, ts] of acked) {
      const t = tokenOf(key);
      for (const owner of after.readReplicas(t)) {
        if (before.readReplicas(t).includes(owner)) continue;
        const got = await c.until(data.get(owner)!.engine.readRange(key, 0, 2 ** 53));
        const have = new Set(Array.from(got.timestamps));
        missing += ts.filter((x) => !have.has(x)).length;
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(0);
    return missing;
  };

  const missingAtQuorum = async (via: string): Promise<number> => {
    let missing = 0;
    for (const [key, ts] of acked) {
      const r = await c.until(data.get(via)!.coordinator.readRange(key, 0, 2 ** 53, 'quorum'));
      const have = new Set(Array.from(r.points.timestamps));
      missing += ts.filter((t) => !have.has(t)).length;
    }
    return missing;
  };

  const join = async () => {
    const before = n1.metadata.ring();
    await underLoad(['n1', 'n2', 'n3'], async () => {
      await c.join('n4', 'n3');
      await c.waitFor(() => c.get('n4').metadata.state().nodes.n4?.state === 'normal');
    });
    return { gainers: await missingAtGainers(before, n1.metadata.ring()) };
  };

  const decommission = async (id: string, via: string[]) => {
    const before = n1.metadata.ring();
    await underLoad(via, async () => {
      await c.until(c.get(via[via.length - 1]).service.operate('decommission', id));
      await c.waitFor(() => n1.metadata.state().nodes[id]?.state === 'left');
    });
    return { gainers: await missingAtGainers(before, n1.metadata.ring()) };
  };

  return { c, n1, acked, join, decommission, missingAtQuorum };
}

describe('join and decommission with data', () => {
  it('no acknowledged write is lost while a node joins, then while another leaves', async () => {
    const s = await scenario();
    expect((await s.join()).gainers).toBe(0);
    expect(s.n1.driver.progress()).toMatchObject({ phase: 'done', kind: 'join' });
    expect(s.n1.driver.progress()!.points).toBeGreaterThan(0);
    expect(await s.missingAtQuorum('n4')).toBe(0);
    expect((await s.decommission('n2', ['n1', 'n3', 'n4'])).gainers).toBe(0);
    expect(await s.missingAtQuorum('n3')).toBe(0);
    expect(s.acked.size).toBe(97);
  });

  it('the check catches the planted finish-without-stream bug', async () => {
    const s = await scenario(['finish-without-stream']);
    expect((await s.join()).gainers).toBeGreaterThan(0);
  });
});
