import { describe, expect, it } from 'vitest';
import type { BugName } from '../../raft/types.js';
import { VirtualCluster } from './cluster-harness.js';

/**
 * The runtime with FileLogStore on MemoryVfs under random power cuts (torn unsynced tails) and
 * partitions, on virtual time: every write a client saw acknowledged survives, and after
 * healing all replicas hold the same state.
 */

function lcg(seed: number): () => number {
  let x = (seed | 1) >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

async function run(seed: number, bugs: BugName[] = []): Promise<void> {
  const rnd = lcg(seed);
  const ids = ['a', 'b', 'c'];
  const c = new VirtualCluster(ids, { snapshotEvery: 8, keepEntries: 3, bugs });
  await c.start();
  const acked = new Map<string, string>();
  let n = 0;
  for (let step = 0; step < 60; step++) {
    const r = rnd();
    if (r < 0.1) {
      const victim = ids[Math.floor(rnd() * ids.length)];
      if (!c.nodes.get(victim)!.isStopped()) c.crash(victim);
    } else if (r < 0.25) {
      for (const id of ids) if (c.nodes.get(id)!.isStopped()) await c.boot(id);
    } else if (r < 0.32) {
      c.heal();
      if (rnd() < 0.6) c.isolate(ids[Math.floor(rnd() * ids.length)]);
    } else {
      // A few clients write through whoever looks like a leader.
      for (const [id, rt] of c.nodes) {
        if (rt.isStopped() || rt.status().role !== 'leader') continue;
        const key = `k${n++}`;
        rt.propose(new TextEncoder().encode(`${key}=${id}`)).then(
          (v) => acked.set(key, String(v)),
          () => {},
        );
      }
    }
    await c.clock.advance(Math.floor(rnd() * 200));
  }
  c.heal();
  for (const id of ids) if (c.nodes.get(id)!.isStopped()) await c.boot(id);
  await c.waitForLeader(10_000);
  // One more write forces everything before it to commit everywhere.
  const leader = c.leader()!;
  await c.until(c.nodes.get(leader)!.propose(new TextEncoder().encode('final=1')), 10_000);
  await c.clock.advance(1000);
  expect(c.fatal).toEqual([]);
  const maps = ids.map((id) => c.machines.get(id)!.map);
  for (const [key, value] of acked) for (const m of maps) expect(m.get(key)).toBe(value);
  for (const m of maps) expect([...m].sort()).toEqual([...maps[0]].sort());
}

describe('runtime under crashes and partitions', () => {
  it('keeps every acknowledged write and converges (20 seeds)', async () => {
    for (let seed = 1; seed <= 20; seed++) await run(seed);
  });

  it('the same check catches a planted stale-vote bug', async () => {
    let caught = 0;
    for (let seed = 1; seed <= 60 && caught === 0; seed++) {
      try {
        await run(seed, ['stale-vote']);
      } catch {
        caught = seed;
      }
    }
    expect(caught).toBeGreaterThan(0);
  });
});
