import { afterEach, describe, expect, it } from 'vitest';
import { applyCommand, type ClusterCommand } from '../../src/cluster/cluster-commands.js';
import type { ClusterState } from '../../src/cluster/cluster-state.js';
import { affectedGroups } from '../../src/cluster/operations.js';
import { Ring, tokenOf } from '../../src/cluster/ring.js';
import { batchOf, NOW, TestCluster } from '../distributed/test-cluster.js';

/**
 * The stale read a one-step finish allows (reads and writes switching together): a coordinator
 * and old owners still on the last waited-for epoch read a quorum of old owners that misses a
 * write the new owners acknowledged right after finish. With the mid step (reads move first,
 * writes to old and new until finish waits for it), a majority of the old owners has seen the
 * read switch, refuses the stale coordinator, and the re-planned read finds the write.
 */

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

/**
 * Commits the remaining steps the driver would (a step the state machine does not know is
 * skipped, so the same test runs against a ring without a mid step). Each committed step but
 * the last reaches only what the driver waits for: a bare majority of every affected group,
 * leaving the `laggards` (first = stays behind longest) on the older epoch. The last step
 * (finish) nothing waits for: it reaches only `finishSeenBy`.
 */
function driveSteps(
  c: TestCluster,
  laggards: readonly string[],
  finishSeenBy: readonly string[],
): void {
  for (const type of ['start', 'mid', 'finish'] as const) {
    const before = c.truth.state;
    const op = before.operation;
    if (op === null) return;
    const r = applyCommand(before, { type, opId: op.id } as ClusterCommand);
    if (!r.ok || !r.changed) continue;
    c.truth.state = r.state;
    const seers = new Set<string>();
    if (r.state.operation === null) {
      for (const id of finishSeenBy) seers.add(id);
    } else if (r.state.operation.step === 'started') {
      // The streaming step: every node sees it (not what this test is about).
      for (const id of c.nodes.keys()) seers.add(id);
    } else {
      const rank = (id: string) => laggards.indexOf(id);
      for (const group of affectedGroups(before)) {
        // Non-laggards first, then the laggard that may stay behind the least.
        const ranked = [
          ...group.filter((id) => rank(id) === -1),
          ...group.filter((id) => rank(id) !== -1).sort((a, b) => rank(b) - rank(a)),
        ];
        const need = Math.floor(group.length / 2) + 1;
        let have = group.filter((id) => seers.has(id)).length;
        for (const id of ranked) {
          if (have >= need) break;
          if (!seers.has(id)) {
            seers.add(id);
            have++;
          }
        }
      }
    }
    for (const id of seers) c.nodes.get(id)?.metadata.apply(r.state);
  }
}

describe('staged join: reads move before writes stop reaching the old owners', () => {
  it('a coordinator one step behind does not read a quorum of old owners missing a write acknowledged after finish', async () => {
    const c = await TestCluster.start(4, 3);
    cluster = c;
    const prepared = applyCommand(c.truth.state, {
      type: 'prepare-join',
      node: { id: 'n5', httpAddress: 'n5:80', peerAddress: 'n5:90' },
    });
    expect(prepared.ok).toBe(true);
    c.truth.state = prepared.state;
    for (const n of c.nodes.values()) n.metadata.apply(prepared.state);
    await c.addNode('n5');
    // A series the join moves: old owners [.., kept, dropped], new owners [.., kept, n5].
    const before = Ring.from(prepared.state);
    const after = Ring.from(finished(prepared.state));
    let k = '';
    for (let i = 0; i < 100_000 && k === ''; i++) {
      const key = `cpu{host="m${i}"}`;
      const t = tokenOf(key);
      if (after.readReplicas(t).includes('n5')) k = key;
    }
    expect(k).not.toBe('');
    const oldOwners = before.readReplicas(tokenOf(k));
    const newOwners = after.readReplicas(tokenOf(k));
    const dropped = oldOwners.find((id) => !newOwners.includes(id))!;
    const kept = oldOwners.filter((id) => newOwners.includes(id));
    expect(kept.length).toBe(2);
    // `stale` (an old owner that stays one) misses the write; `acker` acknowledges it.
    const [acker, stale] = kept;
    // The dropped owner coordinates the read and lags the longest; `stale` next.
    driveSteps(c, [dropped, stale], ['n5', acker]);
    expect(c.truth.state.operation).toBeNull();
    expect(c.node(dropped).metadata.state.operation).not.toBeNull();

    // Right after finish: n5 writes at quorum to the new owners; `stale` is unreachable.
    c.net.setDown(stale, true);
    const w = await c.node('n5').coordinator.write(batchOf([[k, NOW, 42]]), 'quorum');
    expect(w.acknowledged).toBeGreaterThanOrEqual(2);
    c.net.setDown(stale, false);

    // The dropped owner, still on its older epoch, reads at quorum while the acker is down.
    c.net.setDown(acker, true);
    c.node(dropped).liveness.set(acker, false);
    const read = await c.node(dropped).coordinator.readRange(k, 0, NOW + 10, 'quorum');
    expect(Array.from(read.points.values)).toEqual([42]);
  });
});

/** The state once the operation in flight finished (for the new owners). */
function finished(s: ClusterState): ClusterState {
  const op = s.operation!;
  const node = s.nodes[op.node];
  return { ...s, operation: null, nodes: { ...s.nodes, [op.node]: { ...node, state: 'normal' } } };
}
