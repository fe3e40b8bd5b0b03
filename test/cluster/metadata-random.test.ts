import { afterEach, describe, expect, it } from 'vitest';
import { encodeClusterState } from '../../src/cluster/cluster-state.js';
import { MetaCluster, type TestNode } from './meta-harness.js';

/**
 * Random runs of the metadata layer: joins, decommissions, removes, cancels and resumes while
 * nodes are cut off, crash and restart from their disks, and leadership moves. Checked all
 * along: a node's epoch never goes back, and two nodes at the same epoch hold the same state.
 * At the end, after healing: every node reaches the same state and the Raft group has the
 * voters it should.
 */
let cluster: MetaCluster | null = null;
afterEach(async () => {
  await cluster?.stopAll();
  cluster = null;
});

function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

async function run(seed: number): Promise<void> {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const c = new MetaCluster({ epochWaitMs: 2000 });
  cluster = c;
  const byEpoch = new Map<number, string>();
  const watch = (n: TestNode) =>
    n.metadata.onChange((s) => {
      const json = new TextDecoder().decode(encodeClusterState(s));
      const seen = byEpoch.get(s.epoch);
      if (seen === undefined) byEpoch.set(s.epoch, json);
      else expect(json).toBe(seen);
    });
  watch(await c.bootstrap('n1', 2));
  await c.waitFor(() => c.get('n1').metadata.isLeader());
  for (const id of ['n2', 'n3']) {
    watch(await c.join(id, 'n1'));
    await c.waitFor(() => c.get('n1').metadata.state().operation === null);
  }
  let next = 4;
  for (let round = 0; round < 12; round++) {
    const live = [...c.nodes.keys()].filter((id) => !c.net.down.has(id));
    const members = () =>
      Object.values(c.get('n1').metadata.state().nodes)
        .filter((n) => n.state === 'normal')
        .map((n) => n.id);
    const r = rnd();
    try {
      if (r < 0.2 && next <= 6) {
        const id = `n${next++}`;
        const node = c.join(id, pick(live));
        watch(await node);
      } else if (r < 0.35) {
        await c.until(c.get(pick(live)).service.operate('decommission', pick(members())), 5000);
      } else if (r < 0.45) {
        await c.until(c.get(pick(live)).service.operate('cancel', null), 5000);
      } else if (r < 0.55) {
        await c.until(c.get(pick(live)).service.operate('resume', null), 5000);
      } else if (r < 0.7) {
        const id = pick([...c.nodes.keys()]);
        c.net.isolate(id);
        await c.clock.advance(200 + Math.floor(rnd() * 2000));
        c.net.heal();
      } else if (r < 0.85) {
        const id = pick(live);
        watch(await c.restart(id));
      } else {
        const leader = c.leader();
        const voters = leader?.metadata.raftStatus().voters ?? [];
        if (leader !== null && voters.length > 1) {
          leader.metadata.transferLeader(pick(voters.filter((v) => v !== leader.id)));
        }
      }
    } catch {
      // Refusals (conflict, no leader yet, not enough nodes) are part of the game.
    }
    await c.clock.advance(Math.floor(rnd() * 1500));
    for (const n of c.nodes.values()) {
      for (let i = 1; i < n.epochs.length; i++)
        expect(n.epochs[i]).toBeGreaterThan(n.epochs[i - 1]);
    }
  }
  // Heal and settle: resume (or cancel) whatever is left, then everyone converges.
  c.net.heal();
  await c.waitFor(() => c.leader() !== null);
  for (let i = 0; i < 5 && c.leader()!.metadata.state().operation !== null; i++) {
    await c.until(c.leader()!.service.operate('resume', null), 20_000).catch(() => {});
    await c.waitFor(() => c.leader()?.metadata.state().operation === null, 20_000).catch(() => {});
  }
  if (c.leader()!.metadata.state().operation !== null) {
    await c.until(c.leader()!.service.operate('cancel', null));
  }
  const leader = c.leader()!;
  const members = Object.values(leader.metadata.state().nodes).filter((n) => n.state !== 'left');
  await c.waitFor(
    () => members.every((m) => c.get(m.id).metadata.epoch() === leader.metadata.epoch()),
    30_000,
  );
  const normal = members.filter((n) => n.state === 'normal').map((n) => n.id);
  await c.waitFor(() => {
    const v = c.leader()?.metadata.raftStatus().voters ?? [];
    return v.length === Math.min(3, normal.length) && v.every((id) => normal.includes(id));
  }, 30_000);
}

describe('metadata under random faults', () => {
  for (const seed of (process.env.META_SEEDS ?? '1,2,3,4').split(',').map(Number)) {
    it(`seed ${seed}`, async () => {
      await run(seed);
    });
  }
});
