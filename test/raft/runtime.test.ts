import { describe, expect, it } from 'vitest';
import { isRaftError } from '../../raft/errors.js';
import { FileLogStore } from '../../raft/file-log-store.js';
import { settle, VirtualCluster } from './cluster-harness.js';

const enc = (s: string) => new TextEncoder().encode(s);

describe('RaftRuntime', () => {
  it('elects a leader, applies proposals everywhere and resolves with the result', async () => {
    const c = new VirtualCluster(['a', 'b', 'c']);
    await c.start();
    const leader = await c.waitForLeader();
    expect(await c.until(c.nodes.get(leader)!.propose(enc('x=1')))).toBe('1');
    await c.clock.advance(50);
    for (const id of c.ids) expect(c.machines.get(id)!.map.get('x')).toBe('1');
    expect(c.fatal).toEqual([]);
  });

  it('resolves every one of many concurrent proposals (made while a save is in flight)', async () => {
    const c = new VirtualCluster(['a', 'b', 'c']);
    await c.start();
    const rt = c.nodes.get(await c.waitForLeader())!;
    const all = Array.from({ length: 50 }, (_, i) => rt.propose(enc(`k${i}=${i}`)));
    const results = await c.until(Promise.allSettled(all));
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(results.map((r) => (r as PromiseFulfilledResult<unknown>).value)).toEqual(
      all.map((_, i) => String(i)),
    );
  });

  it('refuses proposals and reads on a follower, naming the leader', async () => {
    const c = new VirtualCluster(['a', 'b', 'c']);
    await c.start();
    const leader = await c.waitForLeader();
    const follower = c.ids.find((id) => id !== leader)!;
    const err = await c.nodes
      .get(follower)!
      .propose(enc('x=1'))
      .catch((e: unknown) => e);
    expect(isRaftError(err) && err.code === 'not_leader' && err.leader === leader).toBe(true);
    const readErr = await c.nodes
      .get(follower)!
      .read()
      .catch((e: unknown) => e);
    expect(isRaftError(readErr) && readErr.code === 'not_leader').toBe(true);
  });

  it('a linearizable read on the leader sees every acknowledged write', async () => {
    const c = new VirtualCluster(['a', 'b', 'c']);
    await c.start();
    const leader = await c.waitForLeader();
    const rt = c.nodes.get(leader)!;
    await c.until(rt.propose(enc('k=v1')));
    await c.until(rt.read());
    expect(c.machines.get(leader)!.map.get('k')).toBe('v1');
  });

  it('after the leader crashes, a new one is elected and nothing acknowledged is lost', async () => {
    const c = new VirtualCluster(['a', 'b', 'c']);
    await c.start();
    const first = await c.waitForLeader();
    for (let i = 0; i < 5; i++) await c.until(c.nodes.get(first)!.propose(enc(`k${i}=${i}`)));
    c.crash(first);
    const second = await c.waitForLeader();
    expect(second).not.toBe(first);
    await c.until(c.nodes.get(second)!.propose(enc('after=1')));
    // The old leader restarts from its disk and catches up.
    await c.boot(first);
    await c.clock.advance(500);
    const m = c.machines.get(first)!;
    expect([...m.map.keys()].sort()).toEqual(['after', 'k0', 'k1', 'k2', 'k3', 'k4']);
    expect(c.fatal).toEqual([]);
  });

  it('snapshots and compacts; a node that was down gets the snapshot', async () => {
    const c = new VirtualCluster(['a', 'b', 'c'], { snapshotEvery: 5, keepEntries: 2 });
    await c.start();
    const leader = await c.waitForLeader();
    const down = c.ids.find((id) => id !== leader)!;
    c.isolate(down);
    for (let i = 0; i < 30; i++) await c.until(c.nodes.get(leader)!.propose(enc(`k${i}=${i}`)));
    expect(c.nodes.get(leader)!.status().firstIndex).toBeGreaterThan(20);
    c.heal();
    await c.clock.advance(500);
    const m = c.machines.get(down)!;
    // Once at boot (the bootstrap snapshot), once from the leader.
    expect(m.restores).toBe(2);
    expect(m.map.size).toBe(30);
    expect(c.nodes.get(down)!.status().commit).toBe(c.nodes.get(leader)!.status().commit);
    expect(c.fatal).toEqual([]);
  });

  it('adds a member as a learner, then promotes it', async () => {
    const c = new VirtualCluster(['a', 'b', 'c']);
    await c.start();
    const leader = await c.waitForLeader();
    const rt = c.nodes.get(leader)!;
    await c.until(rt.propose(enc('x=1')));
    const conf = await c.until(
      rt.proposeConfChange({ type: 'addLearner', node: 'd', context: '' }),
    );
    expect(conf).toEqual({ voters: ['a', 'b', 'c'], learners: ['d'] });
    const err = await rt
      .proposeConfChange({ type: 'addVoter', node: 'd', context: '' })
      .catch((e: unknown) => e);
    expect(isRaftError(err) && err.code === 'learner_behind').toBe(true);
  });

  it('a proposal cut off with its old leader is rejected as dropped once overwritten', async () => {
    const c = new VirtualCluster(['a', 'b', 'c']);
    await c.start();
    const old = await c.waitForLeader();
    c.isolate(old);
    const lost = c.nodes.get(old)!.propose(enc('lost=1'));
    const outcome = lost.then(
      () => 'applied',
      (e: unknown) => (isRaftError(e) ? e.code : 'other'),
    );
    const next = await c.waitForLeader();
    expect(next).not.toBe(old);
    for (let i = 0; i < 3; i++) await c.until(c.nodes.get(next)!.propose(enc(`k${i}=${i}`)));
    c.heal();
    expect(await c.until(outcome)).toBe('dropped');
    expect(c.machines.get(old)!.map.has('lost')).toBe(false);
  });

  it.each([
    { bug: false, voteAfterCrash: 'a' },
    { bug: true, voteAfterCrash: null },
  ])(
    'a vote survives a crash unless no-vote-fsync is planted ($bug)',
    async ({ bug, voteAfterCrash }) => {
      const c = new VirtualCluster(['a', 'b', 'c'], { bugs: bug ? ['no-vote-fsync'] : [] });
      await c.start();
      c.isolate('a');
      c.isolate('c');
      // 'a' asks b for its vote directly.
      const b = c.nodes.get('b')!;
      b.receive({
        type: 'vote',
        from: 'a',
        to: 'b',
        term: 7,
        pre: false,
        lastIndex: 1,
        lastTerm: 1,
        transfer: false,
      });
      await settle();
      expect(b.status()).toMatchObject({ term: 7, vote: 'a' });
      c.crash('b');
      const store = await FileLogStore.open(c.disks.get('b')!.view(), 'raft');
      expect(store.initialState().hardState.vote).toBe(voteAfterCrash);
    },
  );
});
