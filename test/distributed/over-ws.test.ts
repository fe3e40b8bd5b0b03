import { afterEach, describe, expect, it } from 'vitest';
import { Ring } from '../../src/cluster/ring.js';
import { Coordinator } from '../../src/distributed/coordinator.js';
import { clusterEnvOf } from '../../src/env/cluster-env.js';
import type { TimerHandle } from '../../src/env/env.js';
import { PeerTransport } from '../../src/net/peer-transport.js';
import { parseSelector } from '../../src/query/selectors.js';
import { openEngine } from '../../src/storage/engine.js';
import { MemoryVfs } from '../../src/storage/memory-vfs.js';
import {
  batchOf,
  clusterState,
  MetadataTruth,
  NOW,
  TestLiveness,
  TestMetadata,
} from './test-cluster.js';

/** The data plane over the real ws + msgpackr transport on loopback (two nodes, RF=2). */
const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await x.close();
});

async function twoNodes() {
  const ids = ['a', 'b'];
  const truth = new MetadataTruth(clusterState(ids, 2));
  const transports = await Promise.all(
    ids.map((id) => PeerTransport.listen({ nodeId: id, host: '127.0.0.1', port: 0 })),
  );
  open.push(...transports);
  for (const t of transports) {
    for (const [i, id] of ids.entries()) t.addPeer(id, `127.0.0.1:${transports[i].port}`);
  }
  return Promise.all(
    ids.map(async (id, i) => {
      const base = {
        now: () => Date.now(),
        monotonic: () => performance.now(),
        random: () => Math.random(),
        setTimer: (ms: number, fn: () => void): TimerHandle => {
          const t = setTimeout(fn, ms);
          t.unref?.();
          return { cancel: () => clearTimeout(t) };
        },
        vfs: new MemoryVfs(),
      };
      const env = clusterEnvOf(base, id, transports[i]);
      const engine = await openEngine(env, { maintenanceIntervalMs: 3600_000 });
      const metadata = new TestMetadata(truth, truth.state);
      const coordinator = new Coordinator(env, {
        engine,
        metadata,
        gossip: new TestLiveness(),
        options: { antiEntropy: { intervalMs: 0 }, requestTimeoutMs: 2000 },
      });
      open.push(coordinator);
      return { id, engine, metadata, coordinator, truth };
    }),
  );
}

describe('data plane over the ws transport', () => {
  it('writes, reads, queries, catches up on stale_epoch and streams over real sockets', async () => {
    const [a, b] = await twoNodes();
    const k = 'ws{x="1"}';
    const out = await a.coordinator.write(
      batchOf([
        [k, NOW, Number.NaN],
        [k, NOW + 1, -0],
        [k, NOW + 2, 1.5],
      ]),
      'all',
    );
    expect(out.acknowledged).toBe(2);
    const read = await b.coordinator.readRange(k, 0, 2 ** 53, 'all');
    expect(Array.from(read.points.values)).toEqual([Number.NaN, -0, 1.5]);

    // b moves to a newer epoch; a is refused, catches up (from the shared truth) and retries.
    const next = { ...a.truth.state, epoch: 3 };
    a.truth.state = next;
    b.metadata.apply(next);
    const q = await a.coordinator.query(
      { selector: parseSelector('ws'), start: 0, end: NOW + 10, fn: 'count' },
      'all',
    );
    expect(q).toMatchObject({ partial: false, results: [{ series: k, buckets: [{ value: 3 }] }] });
    expect(a.metadata.epoch()).toBe(3);

    // The whole ring (start === end) streamed from a into b (which already holds it: idempotent).
    const token = Ring.from(next).ranges()[0].end;
    const streamed = await b.coordinator.streamRange({ start: token, end: token }, 'a');
    expect(streamed).toEqual({ series: 1, points: 3 });
  });
});
