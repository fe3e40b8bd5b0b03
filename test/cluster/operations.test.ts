import { describe, expect, it } from 'vitest';
import { applyCommand, initialClusterState } from '../../src/cluster/cluster-commands.js';
import type { ClusterState } from '../../src/cluster/cluster-state.js';
import type { ClusterMetadata } from '../../src/cluster/metadata.js';
import { affectedGroups, OperationDriver, streamPlan } from '../../src/cluster/operations.js';
import type { ClusterEnv } from '../../src/env/cluster-env.js';
import { PeerError } from '../../src/net/peer-transport.js';

const addr = (id: string) => ({ id, httpAddress: `h-${id}`, peerAddress: `p-${id}` });

function staged(kind: 'join' | 'decommission' | 'remove', node: string): ClusterState {
  const s = initialClusterState({ nodes: ['a', 'b', 'c', 'd'].map(addr), rf: 3 });
  const r =
    kind === 'join'
      ? applyCommand(s, { type: 'prepare-join', node: addr(node) })
      : applyCommand(s, { type: 'prepare-leave', node, kind });
  if (!r.ok) throw new Error(r.message);
  return r.state;
}

describe('streamPlan', () => {
  it('each new replica pulls from a majority of the old ones', () => {
    const tasks = streamPlan(staged('join', 'e'));
    expect(tasks.length).toBeGreaterThan(0);
    for (const t of tasks) {
      expect(t.to).toBe('e');
      expect(t.sources.length).toBe(3);
      expect(t.need).toBe(2);
    }
    // The planted bug pulls from one.
    for (const t of streamPlan(staged('join', 'e'), new Set(['single-source-stream']))) {
      expect(t.need).toBe(1);
    }
  });

  it('a decommissioned node is the first source; a removed one is never a source', () => {
    const dec = streamPlan(staged('decommission', 'b'));
    expect(dec.length).toBeGreaterThan(0);
    for (const t of dec) {
      expect(t.sources[0]).toBe('b');
      expect(t.to).not.toBe('b');
    }
    const rem = streamPlan(staged('remove', 'b'));
    for (const t of rem) {
      expect(t.sources).not.toContain('b');
      expect(t.need).toBe(2);
    }
  });

  it('affected groups: old and new replicas of each moved range, never a removed node', () => {
    const groups = affectedGroups(staged('remove', 'c'));
    expect(groups.length).toBeGreaterThan(0);
    for (const g of groups) expect(g).not.toContain('c');
    const join = affectedGroups(staged('join', 'e'));
    expect(join).toContainEqual(['e']);
    expect(join.some((g) => g.length === 3 && !g.includes('e'))).toBe(true);
  });
});

describe('waitEpochSeen', () => {
  const env = {
    nodeId: 'self',
    monotonic: () => 0,
    setTimer: (_ms: number, fn: () => void) => {
      fn();
      return { cancel: () => {} };
    },
    net: {
      request: async () => {
        throw new PeerError('unreachable', 'down');
      },
    },
  } as unknown as ClusterEnv;
  const metadata = { epoch: () => 5 } as unknown as ClusterMetadata;
  const stream = async () => ({ series: 0, points: 0 });

  it('fails when a group has no majority; the skip-epoch-wait bug does not wait at all', async () => {
    const d = new OperationDriver(env, metadata, stream, { epochWaitMs: 0 });
    await expect(d.waitEpochSeen(5, [['self', 'x', 'y']])).rejects.toMatchObject({
      code: 'consistency_unavailable',
    });
    await expect(d.waitEpochSeen(5, [['self', 'x']])).rejects.toThrow(/only 1 of 2/);
    const bug = new OperationDriver(env, metadata, stream, {
      epochWaitMs: 0,
      bugs: new Set(['skip-epoch-wait']),
    });
    await expect(bug.waitEpochSeen(5, [['self', 'x', 'y']])).resolves.toBeUndefined();
  });
});

describe('meta.stream', () => {
  it('the pending owner catches up to the driver epoch before it pulls (its cleanup must see it as a write replica)', async () => {
    const handlers = new Map<string, (from: string, p: unknown) => unknown>();
    let targetEpoch = 7;
    const pulledAt: number[] = [];
    const targetEnv = {
      nodeId: 'd',
      net: { on: (ch: string, h: (from: string, p: unknown) => unknown) => handlers.set(ch, h) },
    } as unknown as ClusterEnv;
    const targetMetadata = {
      epoch: () => targetEpoch,
      state: () => ({ epoch: targetEpoch }),
      catchUp: async (epoch: number) => {
        targetEpoch = Math.max(targetEpoch, epoch);
      },
    } as unknown as ClusterMetadata;
    new OperationDriver(targetEnv, targetMetadata, async () => {
      pulledAt.push(targetEpoch);
      return { series: 1, points: 2 };
    }).listen();
    const leaderEnv = {
      nodeId: 'a',
      net: {
        request: async (_to: string, ch: string, p: unknown) => handlers.get(ch)!('a', p),
      },
    } as unknown as ClusterEnv;
    const leaderMetadata = {
      epoch: () => 9,
      state: () => ({ epoch: 9 }),
    } as unknown as ClusterMetadata;
    const leader = new OperationDriver(leaderEnv, leaderMetadata, async () => ({
      series: 0,
      points: 0,
    }));
    const pull = (
      leader as unknown as {
        pull(t: unknown, from: string): Promise<{ series: number; points: number }>;
      }
    ).pull.bind(leader);
    const task = {
      range: { start: '0'.repeat(16), end: 'f'.repeat(16) },
      to: 'd',
      sources: ['b'],
      need: 1,
    };
    expect(await pull(task, 'b')).toEqual({ series: 1, points: 2 });
    expect(pulledAt).toEqual([9]);
  });
});
