import { describe, expect, it } from 'vitest';
import { encodeConfChange } from '../../raft/conf-change.js';
import { MemoryLogStore } from '../../raft/memory-log-store.js';
import type { Entry, Message } from '../../raft/types.js';
import { RaftInvariants } from '../../sim/checkers/raft-invariants.js';

const enc = new TextEncoder();
const entry = (index: number, term: number, data = `e${index}`): Entry => ({
  index,
  term,
  type: 'normal',
  data: enc.encode(data),
});
const conf = (index: number, term: number, node: string): Entry => ({
  index,
  term,
  type: 'conf',
  data: encodeConfChange({ type: 'removeNode', node, context: '' }),
});
const heartbeat = (from: string, term: number): Message => ({
  type: 'heartbeat',
  from,
  to: 'x',
  term,
  commit: 0,
  ctx: null,
});
const vote = (from: string, to: string, term: number, pre = false): Message => ({
  type: 'voteResp',
  from,
  to,
  term,
  pre,
  granted: true,
});

describe('RaftInvariants', () => {
  it('one leader per term', () => {
    const inv = new RaftInvariants(() => 0);
    inv.onSend(heartbeat('n1', 1));
    inv.onSend(heartbeat('n1', 1));
    inv.onSend(heartbeat('n2', 2));
    expect(inv.failed).toBeNull();
    inv.onSend(heartbeat('n3', 2));
    expect(inv.failed).toMatchObject({ invariant: 'one-leader-per-term' });
  });

  it('one vote per term (pre-votes do not count)', () => {
    const inv = new RaftInvariants(() => 0);
    inv.onSend(vote('n1', 'n2', 3));
    inv.onSend(vote('n1', 'n2', 3));
    inv.onSend(vote('n1', 'n3', 3, true));
    inv.onSend(vote('n1', 'n3', 4));
    expect(inv.failed).toBeNull();
    inv.onSend(vote('n1', 'n3', 3));
    expect(inv.failed).toMatchObject({ invariant: 'one-vote-per-term' });
  });

  it('applies move forward and agree on every index', () => {
    const inv = new RaftInvariants(() => 0);
    inv.onApply('n1', entry(2, 1));
    inv.onApply('n2', entry(2, 1));
    inv.onRestart('n1', 1);
    inv.onApply('n1', entry(2, 1));
    expect(inv.failed).toBeNull();
    inv.onApply('n2', entry(3, 2, 'x'));
    inv.onApply('n1', entry(3, 2, 'y'));
    expect(inv.failed).toMatchObject({ invariant: 'same-applied-prefix' });
    const back = new RaftInvariants(() => 0);
    back.onApply('n1', entry(3, 1));
    back.onApply('n1', entry(2, 1));
    expect(back.failed).toMatchObject({ invariant: 'same-applied-prefix' });
  });

  it('a rewrite at or below the node’s own commit index loses a committed entry', () => {
    const inv = new RaftInvariants(() => 0);
    const termAt = (i: number) => (i <= 5 ? 1 : null);
    // Above its commit index a node may replace entries (log repair).
    inv.onPersist('n1', [entry(5, 2)], 4, termAt);
    expect(inv.failed).toBeNull();
    inv.onPersist('n1', [entry(4, 2)], 4, termAt);
    expect(inv.failed).toMatchObject({ invariant: 'committed-entry-kept' });
  });

  it('a leader of the newest term must hold every committed entry at the end', () => {
    const inv = new RaftInvariants(() => 0);
    inv.onApply('n1', entry(2, 1));
    inv.onApply('n1', entry(3, 1));
    const log = new MemoryLogStore();
    log.appendEntries([entry(1, 1), entry(2, 1)]);
    inv.finalCheck([{ id: 'n2', log, commit: 2, leader: false }]);
    expect(inv.failed).toBeNull();
    inv.finalCheck([{ id: 'n2', log, commit: 2, leader: true }]);
    expect(inv.failed).toMatchObject({ invariant: 'committed-entry-kept' });
  });

  it('at most one membership change in flight at a leader', () => {
    const inv = new RaftInvariants(() => 0);
    const log = new MemoryLogStore();
    log.appendEntries([entry(1, 1), conf(2, 1, 'n4'), entry(3, 1)]);
    inv.onLeaderAppend('n1', log, 1);
    expect(inv.failed).toBeNull();
    log.appendEntries([conf(4, 1, 'n5')]);
    inv.onLeaderAppend('n1', log, 2);
    expect(inv.failed).toBeNull();
    inv.onLeaderAppend('n1', log, 1);
    expect(inv.failed).toMatchObject({ invariant: 'one-conf-change-in-flight' });
  });

  it('a leader advances commit only to an entry of its own term', () => {
    const inv = new RaftInvariants(() => 0);
    inv.onLeaderCommit('n1', 3, 10, 2); // inherited when it became leader: fine
    inv.onLeaderCommit('n1', 3, 12, 3);
    expect(inv.failed).toBeNull();
    inv.onLeaderCommit('n2', 4, 12, 3);
    inv.onLeaderCommit('n2', 4, 13, 3);
    expect(inv.failed).toMatchObject({ invariant: 'leader-commits-own-term' });
  });

  it('ReadIndex reads only after an own-term commit; rule checks can be switched off', () => {
    const inv = new RaftInvariants(() => 0);
    inv.onReadServed('n1', 5, 5);
    expect(inv.failed).toBeNull();
    inv.onReadServed('n1', 5, 4);
    expect(inv.failed).toMatchObject({ invariant: 'read-after-own-term-commit' });
    const endToEnd = new RaftInvariants(() => 0, false);
    endToEnd.onReadServed('n1', 5, 4);
    endToEnd.onSend(vote('n1', 'n2', 3));
    endToEnd.onSend(vote('n1', 'n3', 3));
    expect(endToEnd.failed).toBeNull();
    endToEnd.onSend(heartbeat('n1', 1));
    endToEnd.onSend(heartbeat('n2', 1));
    expect(endToEnd.failed).toMatchObject({ invariant: 'one-leader-per-term' });
  });
});
