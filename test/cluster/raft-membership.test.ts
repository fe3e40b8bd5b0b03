import { describe, expect, it } from 'vitest';
import type { Progress, Status } from '../../raft/index.js';
import { applyCommand, initialClusterState } from '../../src/cluster/cluster-commands.js';
import type { ClusterState } from '../../src/cluster/cluster-state.js';
import { nextConfChange } from '../../src/cluster/raft-membership.js';

const addr = (id: string) => ({ id, httpAddress: `h-${id}`, peerAddress: `p-${id}` });

function status(
  voters: string[],
  learners: string[],
  match: Record<string, number> = {},
  commit = 10,
): Status {
  const progress = new Map<string, Progress>();
  for (const id of [...voters, ...learners]) {
    progress.set(id, {
      match: match[id] ?? commit,
      next: commit + 1,
      state: 'replicate',
      inflight: 0,
      learner: learners.includes(id),
      recentActive: true,
    });
  }
  return {
    id: voters[0],
    role: 'leader',
    leader: voters[0],
    term: 2,
    vote: voters[0],
    commit,
    applied: commit,
    lastIndex: commit,
    firstIndex: 1,
    conf: { voters, learners },
    progress,
    transferee: null,
  };
}

function cluster(ids: string[], voters = 3): ClusterState {
  return initialClusterState({ nodes: ids.map(addr), rf: 3, voters });
}

function leave(s: ClusterState, id: string, finish: boolean): ClusterState {
  let r = applyCommand(s, { type: 'prepare-leave', node: id, kind: 'decommission' });
  if (!finish || !r.ok) return r.state;
  const op = r.state.operation!.id;
  r = applyCommand(r.state, { type: 'start', opId: op });
  r = applyCommand(r.state, { type: 'mid', opId: op });
  return applyCommand(r.state, { type: 'finish', opId: op }).state;
}

describe('nextConfChange', () => {
  it('adds new members as learners, then promotes caught-up normal learners up to the target', () => {
    const s = cluster(['a', 'b', 'c', 'd']);
    expect(nextConfChange(s, status(['a'], []))).toEqual({
      type: 'addLearner',
      node: 'b',
      context: 'p-b',
    });
    expect(nextConfChange(s, status(['a'], ['b', 'c', 'd'], { b: 4, c: 10, d: 10 }))).toEqual({
      type: 'addVoter',
      node: 'c',
      context: '',
    });
    // Nobody caught up: wait rather than be refused.
    expect(nextConfChange(s, status(['a'], ['b', 'c'], { b: 4, c: 9 }))).toEqual({
      type: 'addLearner',
      node: 'd',
      context: 'p-d',
    });
    expect(nextConfChange(s, status(['a', 'b'], ['c', 'd'], { c: 2, d: 3 }))).toBeNull();
    expect(nextConfChange(s, status(['a', 'b', 'c'], ['d']))).toBeNull();
  });

  it('five voters when configured', () => {
    const s = cluster(['a', 'b', 'c', 'd', 'e', 'f'], 5);
    expect(nextConfChange(s, status(['a', 'b', 'c'], ['d', 'e', 'f']))).toMatchObject({
      type: 'addVoter',
      node: 'd',
    });
    expect(nextConfChange(s, status(['a', 'b', 'c', 'd', 'e'], ['f']))).toBeNull();
  });

  it('replaces a leaving voter: promote a learner first, then remove the voter', () => {
    const s = leave(cluster(['a', 'b', 'c', 'd']), 'b', false);
    expect(s.nodes.b.state).toBe('leaving');
    expect(nextConfChange(s, status(['a', 'b', 'c'], ['d']))).toMatchObject({
      type: 'addVoter',
      node: 'd',
    });
    expect(nextConfChange(s, status(['a', 'b', 'c', 'd'], []))).toEqual({
      type: 'removeNode',
      node: 'b',
      context: '',
    });
  });

  it('removes voters and learners that left, even without a replacement', () => {
    const s = leave(cluster(['a', 'b', 'c', 'd']), 'd', true);
    expect(nextConfChange(s, status(['a', 'b', 'c'], ['d']))).toEqual({
      type: 'removeNode',
      node: 'd',
      context: '',
    });
    const s2 = leave(cluster(['a', 'b', 'c', 'd']), 'c', true);
    expect(nextConfChange(s2, status(['a', 'b', 'c'], ['d'], { d: 3 }))).toEqual({
      type: 'removeNode',
      node: 'c',
      context: '',
    });
  });
});
