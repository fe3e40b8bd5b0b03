import { afterAll, describe, expect, it } from 'vitest';
import { type Ring, tokenOf } from '../../src/cluster/ring.js';
import { Coordinator } from '../../src/distributed/coordinator.js';
import { PointBatch } from '../../src/model/batch.js';
import { openEngine, type StorageEngine } from '../../src/storage/engine.js';
import { MetaCluster } from './meta-harness.js';

/**
 * The metadata layer with the real data plane (Coordinator + engine per node, on the in-memory
 * network and virtual time): a fourth node joins while a writer writes at quorum; afterwards
 * the new node holds every acknowledged point of the ranges it owns, and a node decommissioned
 * afterwards hands its ranges over the same way.
 */
const data = new Map<string, { engine: StorageEngine; coordinator: Coordinator }>();
let cluster: MetaCluster | null = null;

afterAll(async () => {
  await cluster?.stopAll();
  for (const d of data.values()) await d.coordinator.close();
});

const alive = { isAlive: () => true, onLivenessChange: () => {} };

describe('join and decommission with data', () => {
  it('no acknowledged write is lost while a node joins, then while another leaves', async () => {
    const c = new MetaCluster({
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
    cluster = c;
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

    /** Runs `operation` while a writer writes at quorum through the live nodes. */
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

    /** Nodes that became replicas of a key hold every acknowledged point of it. */
    const gainersHaveEverything = async (before: Ring, after: Ring): Promise<number> => {
      let checked = 0;
      for (const [key, ts] of acked) {
        const t = tokenOf(key);
        for (const owner of after.readReplicas(t)) {
          if (before.readReplicas(t).includes(owner)) continue;
          const got = await c.until(data.get(owner)!.engine.readRange(key, 0, 2 ** 53));
          const have = new Set(Array.from(got.timestamps));
          expect(ts.filter((x) => !have.has(x))).toEqual([]);
          checked++;
        }
      }
      return checked;
    };

    const readBackAll = async (via: string): Promise<void> => {
      for (const [key, ts] of acked) {
        const r = await c.until(data.get(via)!.coordinator.readRange(key, 0, 2 ** 53, 'quorum'));
        const have = new Set(Array.from(r.points.timestamps));
        expect(ts.filter((t) => !have.has(t))).toEqual([]);
      }
    };

    // n4 joins (its join streams the existing data to it) while writes continue.
    const ring0 = n1.metadata.ring();
    await underLoad(['n1', 'n2', 'n3'], async () => {
      await c.join('n4', 'n3');
      await c.waitFor(() => c.get('n4').metadata.state().nodes.n4?.state === 'normal');
    });
    expect(n1.driver.progress()).toMatchObject({ phase: 'done', kind: 'join' });
    expect(n1.driver.progress()!.points).toBeGreaterThan(0);
    expect(await gainersHaveEverything(ring0, n1.metadata.ring())).toBeGreaterThan(0);
    await readBackAll('n4');

    // n2 is decommissioned while writes continue; the remaining nodes take its ranges.
    const ring1 = n1.metadata.ring();
    await underLoad(['n1', 'n3', 'n4'], async () => {
      await c.until(c.get('n4').service.operate('decommission', 'n2'));
      await c.waitFor(() => n1.metadata.state().nodes.n2?.state === 'left');
    });
    expect(await gainersHaveEverything(ring1, n1.metadata.ring())).toBeGreaterThan(0);
    await readBackAll('n3');
    expect(acked.size).toBe(97);
  });
});
