import { describe, expect, it } from 'vitest';
import { encodeConfChange } from '../../raft/conf-change.js';
import { RaftCore } from '../../raft/raft.js';
import { RaftLog } from '../../raft/raft-log.js';
import type { AppendMessage, ConfChange, Message } from '../../raft/types.js';
import { commands, drain, makeNode, Network, type NodeOptions } from './harness.js';

/** Scenarios beyond the paper's basics, as etcd's raft_test covers them. */

const enc = (s: string) => new TextEncoder().encode(s);

function leaderOf(nt: Network): string | null {
  for (const [id, n] of nt.nodes) if (n.core.status().role === 'leader') return id;
  return null;
}

function changeConf(nt: Network, leader: string, change: ConfChange): void {
  const r = nt.core(leader).proposeConfChange(change);
  expect(r).toMatchObject({ ok: true });
  nt.settle();
  nt.tickAll(1);
}

describe('pre-vote and check-quorum', () => {
  it.each([
    { preVote: true, disrupted: false },
    { preVote: false, disrupted: true },
  ])(
    'an isolated follower rejoining (preVote=$preVote) disrupts the leader: $disrupted',
    ({ preVote, disrupted }) => {
      const nt = Network.of(['a', 'b', 'c'], { preVote, checkQuorum: true });
      nt.campaign('a');
      const term = nt.core('a').status().term;
      nt.isolate('c');
      nt.tick('c', 60);
      if (preVote) expect(nt.core('c').status().term).toBe(term);
      else expect(nt.core('c').status().term).toBeGreaterThan(term + 1);
      nt.heal();
      nt.tickAll(3);
      expect(nt.core('a').status().role === 'leader' && nt.core('a').status().term === term).toBe(
        !disrupted,
      );
    },
  );

  it('a rejoining node with a smaller term can still complete an election', () => {
    const nt = Network.of(['a', 'b', 'c'], { preVote: true });
    nt.isolate('c');
    nt.campaign('a');
    nt.campaign('c');
    expect(nt.core('c').status()).toMatchObject({ role: 'preCandidate', term: 1 });
    nt.campaign('b');
    expect(nt.core('b').status()).toMatchObject({ role: 'leader', term: 3 });
    // b "crashes" (cut off); c, still in term 1, and a must elect a leader between them.
    nt.heal();
    nt.isolate('b');
    nt.campaign('c');
    // c learned term 3 from a's pre-vote rejection.
    expect(nt.core('c').status().term).toBe(3);
    nt.campaign('a');
    expect([nt.core('a').status().role, nt.core('c').status().role]).toContain('leader');
  });

  it('a leader cut off from the majority steps down after an election timeout', () => {
    const nt = Network.of(['a', 'b', 'c'], { checkQuorum: true });
    nt.campaign('a');
    nt.isolate('a');
    nt.tick('a', 10);
    expect(nt.core('a').status().role).toBe('leader');
    nt.tick('a', 10);
    expect(nt.core('a').status().role).toBe('follower');
  });

  it('followers in their leader lease ignore vote requests', () => {
    const nt = Network.of(['a', 'b', 'c'], { checkQuorum: true });
    nt.campaign('a');
    const term = nt.core('a').status().term;
    nt.campaign('c');
    expect(nt.core('a').status()).toMatchObject({ role: 'leader', term });
    expect(nt.core('b').status().term).toBe(term);
  });
});

describe('replication flow', () => {
  it('a follower refuses proposals and names the leader', () => {
    const nt = Network.of(['a', 'b', 'c']);
    nt.campaign('a');
    expect(nt.core('b').propose(enc('x'))).toEqual({ ok: false, code: 'not_leader', leader: 'a' });
  });

  it('reordered and duplicated appends leave the follower log intact', () => {
    const nt = Network.of(['a', 'b', 'c']);
    nt.campaign('a');
    const held: Message[] = [];
    nt.filter = (m) => {
      if (m.type === 'append' && m.to === 'b') {
        held.push(m);
        return null;
      }
      return m;
    };
    for (const s of ['x', 'y', 'z']) nt.propose('a', s);
    expect(held.length).toBeGreaterThanOrEqual(3);
    nt.filter = null;
    // Newest first, then the rest in order, then duplicates of the first two.
    nt.deliver([...held.slice().reverse(), held[0], held[1]]);
    nt.tickAll(2);
    expect(commands(nt.node('b'))).toEqual(['x', 'y', 'z']);
    expect(nt.core('b').status().lastIndex).toBe(nt.core('a').status().lastIndex);
    expect(nt.core('a').status().progress.get('b')?.match).toBe(nt.core('a').status().lastIndex);
  });

  it('bounds the appends in flight to a silent follower', () => {
    const nt = Network.of(['a', 'b', 'c'], { maxInflightAppends: 2 });
    nt.campaign('a');
    let toB = 0;
    nt.filter = (m) => {
      if (m.type === 'append' && m.to === 'b') {
        if (m.entries.length > 0) toB++;
        return null;
      }
      return m;
    };
    for (let i = 0; i < 10; i++) nt.propose('a', `p${i}`);
    expect(toB).toBe(2);
    expect(commands(nt.node('c')).length).toBeGreaterThan(0);
    nt.filter = null;
    nt.tickAll(3);
    expect(commands(nt.node('b')).length).toBe(10);
  });

  it('rejects proposals past the uncommitted bound', () => {
    const n = makeNode('a', ['a', 'b', 'c']);
    const nt = new Network([n, makeNode('b', ['a', 'b', 'c']), makeNode('c', ['a', 'b', 'c'])]);
    nt.campaign('a');
    nt.isolate('a');
    let refused = 0;
    for (let i = 0; i < 5000; i++) {
      const r = n.core.propose(enc('x'));
      if (!r.ok) {
        expect(r.code).toBe('overloaded');
        refused++;
      }
      drain(n);
    }
    // The bound counts entries past the commit index (the no-op committed before the cut).
    expect(refused).toBe(5000 - 4096);
  });
});

describe('ReadIndex', () => {
  function freshLeader(options: NodeOptions): Network {
    const nt = Network.of(['a', 'b', 'c'], options);
    // Elected, but the no-op of its term is not acknowledged yet.
    nt.filter = (m) => (m.type === 'appendResp' ? null : m);
    nt.campaign('a');
    expect(nt.core('a').status().role).toBe('leader');
    return nt;
  }

  it('is refused until the leader committed an entry of its term', () => {
    const nt = freshLeader({});
    expect(nt.core('a').readIndex('r1')).toEqual({
      ok: false,
      code: 'read_not_ready',
      leader: 'a',
    });
    nt.filter = null;
    nt.tickAll(1);
    expect(nt.core('a').readIndex('r2')).toEqual({ ok: true });
    nt.settle();
    expect(nt.node('a').readStates).toEqual([{ ctx: 'r2', index: nt.core('a').status().commit }]);
  });

  it('the early-read-index bug serves it at once, with a stale index', () => {
    const nt = freshLeader({ bugs: ['early-read-index'] });
    expect(nt.core('a').readIndex('r1')).toEqual({ ok: true });
    nt.settle();
    expect(nt.node('a').readStates[0].index).toBeLessThan(nt.core('a').status().lastIndex);
  });

  it('waits for a quorum of heartbeat acknowledgements', () => {
    const nt = Network.of(['a', 'b', 'c']);
    nt.campaign('a');
    nt.isolate('b');
    nt.isolate('c');
    expect(nt.core('a').readIndex('r')).toEqual({ ok: true });
    nt.settle();
    expect(nt.node('a').readStates).toEqual([]);
    nt.heal();
    nt.tick('a');
    expect(nt.node('a').readStates).toEqual([]);
    expect(nt.core('a').readIndex('r2')).toEqual({ ok: true });
    nt.settle();
    expect(nt.node('a').readStates.map((r) => r.ctx)).toEqual(['r', 'r2']);
  });

  it('is refused on followers with the leader named', () => {
    const nt = Network.of(['a', 'b', 'c']);
    nt.campaign('a');
    expect(nt.core('b').readIndex('r')).toEqual({ ok: false, code: 'not_leader', leader: 'a' });
  });
});

describe('leadership transfer', () => {
  it('brings a lagging follower up to date, then hands over', () => {
    const nt = Network.of(['a', 'b', 'c']);
    nt.campaign('a');
    nt.isolate('c');
    for (const s of ['x', 'y']) nt.propose('a', s);
    nt.heal();
    const term = nt.core('a').status().term;
    expect(nt.core('a').transferLeader('c')).toEqual({ ok: true });
    nt.settle();
    expect(nt.core('c').status()).toMatchObject({ role: 'leader', term: term + 1 });
    expect(nt.core('a').status().role).toBe('follower');
    nt.tickAll(1);
    expect(commands(nt.node('c'))).toEqual(['x', 'y']);
  });

  it('works through check-quorum leases', () => {
    const nt = Network.of(['a', 'b', 'c'], { checkQuorum: true, preVote: true });
    nt.campaign('a');
    nt.core('a').transferLeader('b');
    nt.settle();
    expect(leaderOf(nt)).toBe('b');
  });

  it('times out after an election timeout when the target does not answer', () => {
    const nt = Network.of(['a', 'b', 'c']);
    nt.campaign('a');
    nt.isolate('c');
    nt.propose('a', 'x');
    nt.core('a').transferLeader('c');
    nt.settle();
    expect(nt.core('a').status().transferee).toBe('c');
    expect(nt.core('a').propose(enc('y'))).toMatchObject({ ok: false, code: 'transferring' });
    nt.tick('a', 10);
    expect(nt.core('a').status()).toMatchObject({ role: 'leader', transferee: null });
    expect(nt.core('a').propose(enc('y'))).toMatchObject({ ok: true });
  });

  it('refuses a target that is not a voter', () => {
    const nt = Network.of(['a', 'b', 'c']);
    nt.campaign('a');
    expect(nt.core('a').transferLeader('z')).toMatchObject({ ok: false, code: 'unknown_node' });
  });
});

describe('membership', () => {
  it('removing a node lowers the quorum and commits pending entries', () => {
    const nt = Network.of(['a', 'b', 'c', 'd']);
    nt.campaign('a');
    nt.isolate('c');
    nt.isolate('d');
    expect(
      nt.core('a').proposeConfChange({ type: 'removeNode', node: 'd', context: '' }),
    ).toMatchObject({ ok: true });
    const confIndex = nt.core('a').status().lastIndex;
    nt.propose('a', 'x');
    nt.settle();
    // a and b hold both entries: 2 of 4 voters, not a quorum.
    expect(nt.core('a').status().commit).toBeLessThan(confIndex);
    // c acknowledges the conf change only: it commits with 3 of 4, and once applied the
    // quorum is 2 of 3, which a and b already meet for 'x'.
    nt.core('a').step({
      type: 'appendResp',
      from: 'c',
      to: 'a',
      term: nt.core('a').status().term,
      reject: false,
      index: confIndex,
      hintIndex: 0,
      hintTerm: 0,
    });
    drain(nt.node('a'));
    expect(nt.core('a').status().conf.voters).toEqual(['a', 'b', 'c']);
    expect(commands(nt.node('a'))).toEqual(['x']);
  });

  it('new voters join as learners and are promoted once caught up', () => {
    const ids = ['a', 'b', 'c'];
    const nt = new Network([
      ...ids.map((id) => makeNode(id, ids)),
      makeNode(
        'd',
        [],
        {},
        {
          snapshot: {
            meta: { index: 0, term: 0, conf: { voters: [], learners: [] } },
            data: new Uint8Array(0),
          },
        },
      ),
    ]);
    nt.campaign('a');
    nt.propose('a', 'x');
    expect(
      nt.core('a').proposeConfChange({ type: 'addVoter', node: 'd', context: '' }),
    ).toMatchObject({ ok: false, code: 'invalid_conf_change' });
    nt.isolate('d');
    changeConf(nt, 'a', { type: 'addLearner', node: 'd', context: 'addr-d' });
    expect(nt.core('a').status().conf).toEqual({ voters: ['a', 'b', 'c'], learners: ['d'] });
    expect(
      nt.core('a').proposeConfChange({ type: 'addVoter', node: 'd', context: '' }),
    ).toMatchObject({ ok: false, code: 'learner_behind' });
    // The learner is not counted: the group commits while it is cut off.
    nt.propose('a', 'y');
    expect(commands(nt.node('a'))).toEqual(['x', 'y']);
    nt.heal();
    nt.tickAll(2);
    // d starts empty: the leader sends it the bootstrap snapshot, then the log.
    expect(nt.node('d').snapshotsApplied).toBe(1);
    expect(commands(nt.node('d'))).toEqual(['x', 'y']);
    // A learner never campaigns.
    nt.tick('d', 50);
    expect(nt.core('d').status().role).toBe('follower');
    changeConf(nt, 'a', { type: 'addVoter', node: 'd', context: '' });
    expect(nt.core('a').status().conf).toEqual({ voters: ['a', 'b', 'c', 'd'], learners: [] });
    expect(nt.core('d').status().conf).toEqual({ voters: ['a', 'b', 'c', 'd'], learners: [] });
  });

  it('allows one membership change at a time', () => {
    const nt = Network.of(['a', 'b', 'c']);
    nt.campaign('a');
    nt.isolate('b');
    nt.isolate('c');
    expect(
      nt.core('a').proposeConfChange({ type: 'addLearner', node: 'd', context: '' }),
    ).toMatchObject({ ok: true });
    expect(
      nt.core('a').proposeConfChange({ type: 'addLearner', node: 'e', context: '' }),
    ).toMatchObject({ ok: false, code: 'conf_change_pending' });
  });

  it('refuses membership changes before the leader committed its first entry', () => {
    const nt = Network.of(['a', 'b', 'c']);
    nt.filter = (m) => (m.type === 'appendResp' ? null : m);
    nt.campaign('a');
    expect(
      nt.core('a').proposeConfChange({ type: 'addLearner', node: 'd', context: '' }),
    ).toMatchObject({ ok: false, code: 'conf_change_pending' });
  });

  it('replaces the leader through a config change: the removed leader steps down', () => {
    const nt = Network.of(['a', 'b', 'c']);
    nt.campaign('a');
    changeConf(nt, 'a', { type: 'removeNode', node: 'a', context: '' });
    expect(nt.core('a').status().role).toBe('follower');
    // The removed leader handed over to an up-to-date voter.
    const leader = leaderOf(nt);
    expect(leader === 'b' || leader === 'c').toBe(true);
    nt.propose(leader!, 'after');
    nt.tickAll(1);
    expect(commands(nt.node(leader === 'b' ? 'c' : 'b'))).toEqual(['after']);
    // The removed node no longer campaigns.
    nt.tick('a', 50);
    expect(nt.core('a').status().role).toBe('follower');
    expect(leaderOf(nt)).toBe(leader);
  });

  it('does not campaign with a committed but unapplied membership change', () => {
    const n = makeNode('a', ['a', 'b', 'c'], {}, { terms: [2], hardState: { term: 2 } });
    n.store.appendEntries([
      {
        index: 3,
        term: 2,
        type: 'conf',
        data: encodeConfChange({ type: 'addLearner', node: 'd', context: '' }),
      },
    ]);
    n.store.applyUpdate({
      hardState: { term: 2, vote: null, commit: 3 },
      entries: [],
      snapshot: null,
    });
    const core = new RaftCore({ ...n.config, applied: 1 });
    core.campaign();
    expect(core.status().role).toBe('follower');
    const rd = core.ready();
    core.advance(rd);
    core.campaign();
    expect(core.status().role).toBe('candidate');
  });
});

describe('snapshots', () => {
  it('a lagging follower gets InstallSnapshot in chunks, surviving a lost chunk', () => {
    const ids = ['a', 'b', 'c'];
    const nt = new Network(ids.map((id) => makeNode(id, ids, { snapshotChunkBytes: 4 })));
    nt.campaign('a');
    nt.isolate('c');
    for (const s of ['x', 'y', 'z']) nt.propose('a', s);
    // The state machine snapshots at the commit index and the log is compacted.
    const a = nt.node('a');
    const commit = a.core.status().commit;
    const data = enc('state:x,y,z');
    a.store.applyCompact({
      meta: { index: commit, term: a.store.term(commit)!, conf: { voters: ids, learners: [] } },
      data,
    });
    nt.propose('a', 'w');
    let chunks = 0;
    let droppedOne = false;
    nt.heal();
    nt.filter = (m) => {
      if (m.type !== 'snapshot') return m;
      chunks++;
      if (m.offset === 4 && !droppedOne) {
        droppedOne = true;
        return null;
      }
      return m;
    };
    nt.tickAll(8);
    const c = nt.node('c');
    expect(c.snapshotsApplied).toBe(1);
    expect(c.store.snapshot().data).toEqual(data);
    expect(c.store.snapshot().meta.index).toBe(commit);
    expect(commands(c)).toEqual(['w']);
    expect(chunks).toBeGreaterThanOrEqual(4);
    expect(droppedOne).toBe(true);
  });
});

describe('message shape', () => {
  it.each([
    {
      name: 'entries not an array',
      m: {
        type: 'append',
        from: 'a',
        to: 'c',
        term: 5,
        prevIndex: 1,
        prevTerm: 1,
        commit: 1,
        entries: 'x',
      },
    },
    {
      name: 'entry without bytes',
      m: {
        type: 'append',
        from: 'a',
        to: 'c',
        term: 5,
        prevIndex: 1,
        prevTerm: 1,
        commit: 1,
        entries: [{ index: 2, term: 5, type: 'normal', data: 'x' }],
      },
    },
    {
      name: 'negative term',
      m: { type: 'heartbeat', from: 'a', to: 'c', term: -1, commit: 1, ctx: null },
    },
    {
      name: 'vote without lastTerm',
      m: { type: 'vote', from: 'a', to: 'c', term: 5, pre: false, lastIndex: 9, transfer: false },
    },
    {
      name: 'chunk past its total',
      m: {
        type: 'snapshot',
        from: 'a',
        to: 'c',
        term: 5,
        meta: { index: 9, term: 5, conf: { voters: ['a'], learners: [] } },
        offset: 4,
        total: 5,
        data: new Uint8Array(2),
      },
    },
    { name: 'unknown type', m: { type: 'gossip', from: 'a', to: 'c', term: 5 } },
  ])('drops a malformed message: $name', ({ m }) => {
    const n = makeNode('c', ['a', 'b', 'c']);
    const before = n.core.status();
    n.core.step(m as unknown as Message);
    expect(drain(n)).toEqual([]);
    expect(n.core.status()).toMatchObject({
      term: before.term,
      lastIndex: before.lastIndex,
      leader: null,
    });
  });

  it('accepts entry data as a Buffer (what msgpackr decodes)', () => {
    const n = makeNode('c', ['a', 'b', 'c']);
    n.core.step({
      type: 'append',
      from: 'a',
      to: 'c',
      term: 2,
      prevIndex: 1,
      prevTerm: 1,
      commit: 2,
      entries: [{ index: 2, term: 2, type: 'normal', data: Buffer.from('x') }],
    });
    drain(n);
    expect(commands(n)).toEqual(['x']);
  });
});

describe('invariants are asserted', () => {
  it('two leaders in one term are caught', () => {
    const n = makeNode('c', ['a', 'b', 'c']);
    const append = (from: string): AppendMessage => ({
      type: 'append',
      from,
      to: 'c',
      term: 2,
      prevIndex: 1,
      prevTerm: 1,
      entries: [],
      commit: 1,
    });
    n.core.step(append('a'));
    expect(() => n.core.step(append('b'))).toThrow(/two leaders in term 2/);
  });

  it('the log refuses to truncate a committed entry', () => {
    const n = makeNode(
      'c',
      ['a', 'b', 'c'],
      {},
      { terms: [2, 2], hardState: { term: 2, commit: 3 } },
    );
    const log = new RaftLog(n.store, 3, 1);
    const entry = { index: 3, term: 3, type: 'normal' as const, data: new Uint8Array(0) };
    expect(() => log.maybeAppend(2, 2, 3, [entry])).toThrow(
      /entry 3 conflicts with committed entry/,
    );
    expect(() => log.append([entry])).toThrow(/truncating committed entry/);
    expect(() => log.commitTo(9)).toThrow(/beyond the last index/);
  });
});
