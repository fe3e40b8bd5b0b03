import { describe, expect, it } from 'vitest';
import { applyCommand, initialClusterState } from '../../src/cluster/cluster-commands.js';
import type { ClusterState } from '../../src/cluster/cluster-state.js';
import { RangeCleanup, rangesLost } from '../../src/cluster/range-cleanup.js';
import { Ring, tokenOf } from '../../src/cluster/ring.js';
import type { ClusterEnv } from '../../src/env/cluster-env.js';
import { MemoryVfs } from '../../src/storage/memory-vfs.js';
import { addr, FakeMetadataView } from './fake-metadata-view.js';
import { VirtualClock } from './meta-harness.js';

function ok(s: ClusterState, cmd: Parameters<typeof applyCommand>[1]): ClusterState {
  const r = applyCommand(s, cmd);
  if (!r.ok) throw new Error(r.message);
  return r.state;
}

describe('RangeCleanup', () => {
  it('after a join finishes, an old owner drops exactly the series it no longer replicates', async () => {
    const clock = new VirtualClock();
    const s0 = initialClusterState({ nodes: ['a', 'b', 'c'].map(addr), rf: 2 });
    const view = new FakeMetadataView(s0);
    const keys = new Set(Array.from({ length: 400 }, (_, i) => `cpu{host=h${i}}`));
    const mine = [...keys].filter((k) => Ring.from(s0).readReplicas(tokenOf(k)).includes('a'));
    const store = new Set(mine);
    const env = {
      nodeId: 'a',
      setTimer: (ms: number, fn: () => void) => clock.setTimer(ms, fn),
      vfs: new MemoryVfs(),
    } as unknown as ClusterEnv;
    const cleanup = new RangeCleanup(
      env,
      view,
      {
        select: async () => [...store].sort(),
        deleteSeries: async (k: string) => store.delete(k),
      },
      { delayMs: 1000 },
    );
    cleanup.start();
    const s1 = ok(s0, { type: 'prepare-join', node: addr('d') });
    view.set(s1);
    const s2 = ok(s1, { type: 'start', opId: s1.operation!.id });
    view.set(s2);
    await clock.advance(5000);
    // Nothing is lost before ownership switches.
    expect(store.size).toBe(mine.length);
    const s3 = ok(ok(s2, { type: 'mid', opId: s1.operation!.id }), {
      type: 'finish',
      opId: s1.operation!.id,
    });
    view.set(s3);
    expect(rangesLost(s2, s3, 'a').length).toBeGreaterThan(0);
    await clock.advance(500);
    expect(store.size).toBe(mine.length);
    await clock.advance(1000);
    const ring = Ring.from(s3);
    const kept = mine.filter((k) => ring.readReplicas(tokenOf(k)).includes('a'));
    expect([...store].sort()).toEqual(kept.sort());
    expect(cleanup.dropped).toBe(mine.length - kept.length);
    expect(cleanup.dropped).toBeGreaterThan(0);
    cleanup.stop();
  });

  it('a range that came back before the delay is kept', async () => {
    const clock = new VirtualClock();
    const s0 = initialClusterState({ nodes: ['a', 'b', 'c'].map(addr), rf: 1 });
    const view = new FakeMetadataView(s0);
    const store = new Set(
      Array.from({ length: 200 }, (_, i) => `m{i=${i}}`).filter((k) =>
        Ring.from(s0).readReplicas(tokenOf(k)).includes('a'),
      ),
    );
    const before = store.size;
    const original = [...store];
    const env = {
      nodeId: 'a',
      setTimer: (ms: number, fn: () => void) => clock.setTimer(ms, fn),
    } as unknown as ClusterEnv;
    const cleanup = new RangeCleanup(
      env,
      view,
      {
        select: async () => [...store],
        deleteSeries: async (k: string) => store.delete(k),
      },
      { delayMs: 1000 },
    );
    cleanup.start();
    // a is decommissioned, then joins again before the grace delay is over.
    let s = ok(s0, { type: 'prepare-leave', node: 'a', kind: 'decommission' });
    s = ok(s, { type: 'start', opId: s.operation!.id });
    s = ok(s, { type: 'mid', opId: s.operation!.id });
    const finished = ok(s, { type: 'finish', opId: s.operation!.id });
    view.set(s);
    view.set(finished);
    // Before the delay, a comes back and owns the ranges again (a newer state).
    const back = ok(finished, { type: 'prepare-join', node: addr('a') });
    const backStarted = ok(back, { type: 'start', opId: back.operation!.id });
    view.set(back);
    view.set(backStarted);
    await clock.advance(2000);
    // Series a writes to again (as a pending owner) are kept; the others are dropped.
    const ring = Ring.from(backStarted);
    const expected = original.filter((k) => ring.writeReplicas(tokenOf(k)).includes('a'));
    expect(expected.length).toBeGreaterThan(0);
    expect(expected.length).toBeLessThan(before);
    expect([...store].sort()).toEqual(expected.sort());
    expect(cleanup.dropped).toBe(before - expected.length);
    cleanup.stop();
  });
  it('a range this node writes to again while a drain runs is kept (the ring is read at each deletion)', async () => {
    const clock = new VirtualClock();
    const s0 = initialClusterState({ nodes: ['a', 'b', 'c'].map(addr), rf: 1 });
    const view = new FakeMetadataView(s0);
    const original = Array.from({ length: 200 }, (_, i) => `m{i=${i}}`).filter((k) =>
      Ring.from(s0).readReplicas(tokenOf(k)).includes('a'),
    );
    const store = new Set(original);
    let s = ok(s0, { type: 'prepare-leave', node: 'a', kind: 'decommission' });
    s = ok(s, { type: 'start', opId: s.operation!.id });
    s = ok(s, { type: 'mid', opId: s.operation!.id });
    const finished = ok(s, { type: 'finish', opId: s.operation!.id });
    const back = ok(finished, { type: 'prepare-join', node: addr('a') });
    const backStarted = ok(back, { type: 'start', opId: back.operation!.id });
    const env = {
      nodeId: 'a',
      setTimer: (ms: number, fn: () => void) => clock.setTimer(ms, fn),
    } as unknown as ClusterEnv;
    let firstDelete = true;
    const cleanup = new RangeCleanup(
      env,
      view,
      {
        select: async () => [...store].sort(),
        deleteSeries: async (k: string) => {
          if (firstDelete) {
            // a catches up while the drain runs: it is a pending owner again and data streams in.
            firstDelete = false;
            view.set(back);
            view.set(backStarted);
          }
          return store.delete(k);
        },
      },
      { delayMs: 1000 },
    );
    cleanup.start();
    view.set(s);
    view.set(finished);
    await clock.advance(2000);
    const ring = Ring.from(backStarted);
    const owned = original.filter((k) => ring.writeReplicas(tokenOf(k)).includes('a'));
    expect(owned.length).toBeGreaterThan(1);
    // At most the one series deleted before the catch-up is gone of those a owns again.
    expect(owned.filter((k) => !store.has(k)).length).toBeLessThanOrEqual(1);
    cleanup.stop();
  });
});
