import { describe, expect, it } from 'vitest';
import { applyCommand, initialClusterState } from '../../src/cluster/cluster-commands.js';
import { linkMetadataToGossip } from '../../src/cluster/metadata-gossip.js';
import { addr, FakeMetadataView } from './fake-metadata-view.js';

/** Records catch-ups and holds each until the test releases it. */
class FakeMetadata extends FakeMetadataView {
  catchUps: [number, string | undefined][] = [];
  release: (() => void)[] = [];
  override catchUp(epoch: number, hint?: string) {
    this.catchUps.push([epoch, hint]);
    return new Promise<void>((r) => this.release.push(r));
  }
}

describe('linkMetadataToGossip', () => {
  it('gossip follows the members and the epoch; a peer ahead triggers one catch-up', async () => {
    const s0 = initialClusterState({ nodes: ['a', 'b', 'c'].map(addr), rf: 3 });
    const m = new FakeMetadata(s0);
    const calls: string[] = [];
    let seen: (id: string, epoch: number) => void = () => {};
    linkMetadataToGossip('a', m, {
      setLocalEpoch: (e) => calls.push(`epoch ${e}`),
      addMember: (id, p, h) => calls.push(`add ${id} ${p} ${h}`),
      removeMember: (id) => calls.push(`remove ${id}`),
      onEpochSeen: (l) => {
        seen = l;
      },
    });
    expect(calls).toEqual(['add b p-b h-b', 'add c p-c h-c', 'epoch 1']);
    calls.length = 0;
    const r = applyCommand(s0, { type: 'prepare-leave', node: 'c', kind: 'remove' });
    expect(r.ok).toBe(true);
    const s2 = applyCommand(
      applyCommand(applyCommand(r.state, { type: 'start', opId: 2 }).state, {
        type: 'mid',
        opId: 2,
      }).state,
      {
        type: 'finish',
        opId: 2,
      },
    );
    m.set(s2.state);
    expect(calls).toEqual(['add b p-b h-b', 'remove c', 'epoch 5']);
    seen('b', 9);
    seen('c', 9);
    seen('b', 12);
    expect(m.catchUps).toEqual([[9, 'b']]);
    m.release[0]();
    await new Promise((r) => setTimeout(r, 0));
    // Still behind the highest epoch heard (12): the next report catches up to it.
    seen('b', 3);
    expect(m.catchUps).toEqual([
      [9, 'b'],
      [12, 'b'],
    ]);
  });
});
