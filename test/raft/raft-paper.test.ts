import { describe, expect, it } from 'vitest';
import type { AppendResponse, Message, Term, VoteResponse } from '../../raft/types.js';
import { commands, drain, makeNode, Network } from './harness.js';

/** Scenarios from the Raft paper, as etcd's raft_paper_test covers them. */

function votesFrom(msgs: Message[]): VoteResponse[] {
  return msgs.filter((m): m is VoteResponse => m.type === 'voteResp');
}

/** Terms of a node's log at indexes 1..last. */
function logTerms(nt: Network, id: string): (Term | null)[] {
  const store = nt.node(id).store;
  const out: (Term | null)[] = [];
  for (let i = 1; i <= store.lastIndex(); i++) out.push(store.term(i));
  return out;
}

describe('leader election (§5.2)', () => {
  it.each([
    { name: 'all up', down: [] as string[], role: 'leader', term: 2 },
    { name: 'one of three down', down: ['c'], role: 'leader', term: 2 },
    { name: 'two of three down', down: ['b', 'c'], role: 'candidate', term: 2 },
  ])('$name: a is $role in term $term', ({ down, role, term }) => {
    const nt = Network.of(['a', 'b', 'c']);
    for (const d of down) nt.isolate(d);
    nt.campaign('a');
    expect(nt.core('a').status().role).toBe(role);
    expect(nt.core('a').status().term).toBe(term);
  });

  it('a follower starts an election after its randomized timeout, not before', () => {
    const nt = Network.of(['a', 'b', 'c']);
    const a = nt.core('a');
    nt.tick('a', 9);
    expect(a.status().role).toBe('follower');
    nt.tick('a', 11);
    expect(a.status().role).toBe('leader');
  });

  it('a follower votes at most once per term (§5.2)', () => {
    const n = makeNode('c', ['a', 'b', 'c']);
    const vote = (from: string) =>
      n.core.step({
        type: 'vote',
        from,
        to: 'c',
        term: 2,
        pre: false,
        lastIndex: 1,
        lastTerm: 1,
        transfer: false,
      });
    vote('a');
    vote('b');
    vote('a');
    expect(votesFrom(drain(n)).map((v) => [v.to, v.granted])).toEqual([
      ['a', true],
      ['b', false],
      ['a', true],
    ]);
    expect(n.store.hardState()).toMatchObject({ term: 2, vote: 'a' });
  });
});

describe('vote restriction (§5.4.1)', () => {
  // The voter's log is given as the terms of entries 2..n (entry 1 is term 1).
  it.each([
    { log: [], lastTerm: 1, lastIndex: 1, grant: true },
    { log: [], lastTerm: 1, lastIndex: 2, grant: true },
    { log: [1], lastTerm: 1, lastIndex: 1, grant: false },
    { log: [1], lastTerm: 1, lastIndex: 2, grant: true },
    { log: [1], lastTerm: 1, lastIndex: 3, grant: true },
    { log: [2], lastTerm: 1, lastIndex: 3, grant: false },
    { log: [2], lastTerm: 2, lastIndex: 2, grant: true },
    { log: [2, 2], lastTerm: 2, lastIndex: 2, grant: false },
    { log: [2], lastTerm: 3, lastIndex: 1, grant: true },
  ])(
    'log $log, candidate (term $lastTerm, index $lastIndex): grant=$grant',
    ({ log, lastTerm, lastIndex, grant }) => {
      for (const bug of [false, true]) {
        const n = makeNode(
          'c',
          ['a', 'b', 'c'],
          { bugs: bug ? ['stale-vote'] : [] },
          { terms: log },
        );
        n.core.step({
          type: 'vote',
          from: 'a',
          to: 'c',
          term: 5,
          pre: false,
          lastIndex,
          lastTerm,
          transfer: false,
        });
        const [resp] = votesFrom(drain(n));
        // The stale-vote bug grants every vote: the row's refusal must turn into a grant.
        expect(resp.granted).toBe(bug ? true : grant);
      }
    },
  );
});

describe('a node with an empty log', () => {
  it('refuses votes: it may be a wiped node reusing its id, counted by a stale configuration', () => {
    const empty = {
      meta: { index: 0, term: 0, conf: { voters: [], learners: [] } },
      data: new Uint8Array(0),
    };
    const n = makeNode('d', [], {}, { snapshot: empty });
    for (const pre of [true, false]) {
      n.core.step({
        type: 'vote',
        from: 'a',
        to: 'd',
        term: 9,
        pre,
        lastIndex: 5,
        lastTerm: 3,
        transfer: false,
      });
    }
    expect(votesFrom(drain(n)).map((v) => v.granted)).toEqual([false, false]);
  });
});

describe('log replication (§5.3)', () => {
  it('commits an entry once a majority stores it, and followers learn the commit', () => {
    const nt = Network.of(['a', 'b', 'c', 'd', 'e']);
    nt.campaign('a');
    nt.isolate('d');
    nt.isolate('e');
    nt.propose('a', 'x');
    expect(commands(nt.node('a'))).toEqual(['x']);
    nt.tickAll(1);
    expect(commands(nt.node('b'))).toEqual(['x']);
    expect(commands(nt.node('d'))).toEqual([]);
  });

  it('does not commit without a majority', () => {
    const nt = Network.of(['a', 'b', 'c']);
    nt.campaign('a');
    nt.isolate('b');
    nt.isolate('c');
    const before = nt.core('a').status().commit;
    nt.propose('a', 'x');
    expect(nt.core('a').status().commit).toBe(before);
  });

  // Figure 7: the leader (term 8) brings each of these follower logs in line with its own.
  const leaderLog = [1, 1, 4, 4, 5, 5, 6, 6, 6];
  it.each([
    { name: '(a) missing entries', follower: [1, 1, 4, 4, 5, 5, 6, 6] },
    { name: '(b) missing many', follower: [1, 1, 4] },
    { name: '(c) extra uncommitted entry', follower: [1, 1, 4, 4, 5, 5, 6, 6, 6, 6] },
    { name: '(d) extra entries of a later term', follower: [1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7] },
    { name: '(e) divergent suffix', follower: [1, 1, 4, 4, 4, 4] },
    { name: '(f) long divergent suffix', follower: [1, 1, 2, 2, 2, 3, 3, 3, 3, 3] },
  ])('Figure 7 $name', ({ follower }) => {
    const ids = ['lead', 'f', 'voter'];
    const nt = new Network([
      makeNode('lead', ids, {}, { terms: leaderLog, hardState: { term: 7 } }),
      makeNode('f', ids, {}, { terms: follower, hardState: { term: 7 } }),
      // An empty third node grants the vote, as in etcd's test.
      makeNode('voter', ids, {}, { hardState: { term: 7 } }),
    ]);
    nt.campaign('lead');
    expect(nt.core('lead').status()).toMatchObject({ role: 'leader', term: 8 });
    nt.propose('lead', 'x');
    nt.tickAll(2);
    expect(logTerms(nt, 'f')).toEqual(logTerms(nt, 'lead'));
    expect(nt.core('f').status().commit).toBe(nt.core('lead').status().commit);
  });

  it('fast backtracking skips a whole term per round trip', () => {
    const ids = ['lead', 'f', 'voter'];
    const nt = new Network([
      makeNode('lead', ids, {}, { terms: [1, 1, 4, 4, 5, 5, 6, 6, 6], hardState: { term: 7 } }),
      makeNode('f', ids, {}, { terms: [1, 1, 2, 2, 2, 3, 3, 3, 3, 3], hardState: { term: 7 } }),
      makeNode('voter', ids, {}, { hardState: { term: 7 } }),
    ]);
    nt.isolate('f');
    nt.campaign('lead');
    nt.heal();
    nt.tick('lead');
    const rejects = nt.delivered.filter(
      (m): m is AppendResponse => m.type === 'appendResp' && m.from === 'f' && m.reject,
    );
    // Index by index the leader would need 9 rounds; by term it needs at most 3.
    expect(rejects.length).toBeGreaterThan(0);
    expect(rejects.length).toBeLessThanOrEqual(3);
    expect(logTerms(nt, 'f')).toEqual(logTerms(nt, 'lead'));
  });

  it('a new leader overwrites newer uncommitted entries on followers', () => {
    const ids = ['a', 'b', 'c'];
    const nt = new Network([
      makeNode('a', ids, {}, { terms: [3], hardState: { term: 3 } }),
      makeNode('b', ids, {}, { terms: [2, 2, 2], hardState: { term: 3 } }),
      makeNode('c', ids, {}, { hardState: { term: 3 } }),
    ]);
    nt.campaign('a');
    expect(nt.core('a').status().role).toBe('leader');
    nt.propose('a', 'x');
    nt.tickAll(1);
    // b's entries 2..4 of term 2 were never committed; the leader's log replaces them.
    expect(logTerms(nt, 'b')).toEqual([1, 3, 4, 4]);
    expect(commands(nt.node('b'))).toEqual([String.fromCharCode(0), 'x']);
  });
});

describe('Figure 8: only entries of the current term commit by counting (§5.4.2)', () => {
  // a holds entries 2 and 3 of term 2 (from an old leader); it becomes leader of term 3 and
  // appends its no-op at 4. b acknowledges up to `acked`.
  it.each([
    { acked: 2, commit: 1, commitWithBug: 2 },
    { acked: 3, commit: 1, commitWithBug: 3 },
    { acked: 4, commit: 4, commitWithBug: 4 },
  ])('b acknowledges $acked: commit $commit', ({ acked, commit, commitWithBug }) => {
    for (const bug of [false, true]) {
      const ids = ['a', 'b'];
      const nt = new Network([
        makeNode(
          'a',
          ids,
          { bugs: bug ? ['old-term-commit'] : [] },
          { terms: [2, 2], hardState: { term: 2 } },
        ),
        makeNode('b', ids, {}, { hardState: { term: 2 } }),
      ]);
      nt.filter = (m) => (m.type === 'append' ? null : m);
      nt.campaign('a');
      expect(nt.core('a').status()).toMatchObject({ role: 'leader', term: 3, lastIndex: 4 });
      nt.core('a').step({
        type: 'appendResp',
        from: 'b',
        to: 'a',
        term: 3,
        reject: false,
        index: acked,
        hintIndex: 0,
        hintTerm: 0,
      });
      drain(nt.node('a'));
      expect(nt.core('a').status().commit).toBe(bug ? commitWithBug : commit);
    }
  });

  /**
   * The full Figure 8 run on five nodes: s1 (term 2) gets entry 2 onto s2; s5 wins term 3 and
   * writes its own entry 2; s1 wins term 4 and copies its entry 2 to s3 (a majority). Counting
   * that old-term entry commits it, yet s5 can still win and overwrite it.
   */
  function figure8(bug: boolean): Network {
    const ids = ['s1', 's2', 's3', 's4', 's5'];
    const nt = new Network(
      ids.map((id) =>
        makeNode(id, ids, { bugs: bug ? ['old-term-commit'] : [], maxAppendBytes: 1 }),
      ),
    );
    // (a) s1 leads term 2 (its no-op, entry 2, commits everywhere); entry 3 reaches s2 only.
    nt.campaign('s1');
    expect(nt.core('s1').status()).toMatchObject({ role: 'leader', term: 2, commit: 2 });
    for (const id of ['s3', 's4', 's5']) nt.isolate(id);
    nt.propose('s1', 'old');
    expect(nt.node('s2').store.term(3)).toBe(2);
    // (b) s1 crashes; s5 wins term 3 with s3 and s4 and writes entries 3 and 4 locally only.
    nt.heal();
    nt.restart('s1');
    nt.isolate('s1');
    nt.isolate('s2');
    nt.filter = (m) => (m.type === 'append' && m.from === 's5' ? null : m);
    nt.campaign('s5');
    expect(nt.core('s5').status()).toMatchObject({ role: 'leader', term: 3 });
    nt.core('s5').propose(new TextEncoder().encode('new'));
    drain(nt.node('s5'));
    // (c) s5 crashes; s1 wins term 4 with s2 and s3 and copies entry 3 (term 2) to s3; its
    // term-4 no-op does not get out.
    nt.heal();
    nt.restart('s5');
    nt.isolate('s5');
    nt.isolate('s4');
    nt.filter = (m) =>
      m.type === 'append' && m.from === 's1'
        ? { ...m, entries: m.entries.filter((e) => e.term !== 4) }
        : m;
    // Term 3 is taken (s3 voted for s5): s1 loses that round and wins term 4.
    nt.campaign('s1');
    nt.campaign('s1');
    expect(nt.core('s1').status()).toMatchObject({ role: 'leader', term: 4 });
    nt.tick('s1', 3);
    expect(nt.node('s3').store.term(3)).toBe(2);
    return nt;
  }

  it('without the bug, the old-term entry stays uncommitted and s5 safely overwrites it', () => {
    const nt = figure8(false);
    expect(nt.core('s1').status().commit).toBe(2);
    // (d) s1 crashes; s5 wins term 5 with s2, s3, s4 and overwrites entry 3 everywhere.
    nt.heal();
    nt.restart('s5');
    nt.isolate('s1');
    // Term 4 is taken: s5 wins term 5.
    nt.campaign('s5');
    nt.campaign('s5');
    expect(nt.core('s5').status()).toMatchObject({ role: 'leader', term: 5 });
    nt.tickAll(2);
    for (const id of ['s2', 's3', 's4']) expect(commands(nt.node(id))).toEqual(['new']);
  });

  it('with old-term-commit, an entry is committed that a later leader does not hold', () => {
    const nt = figure8(true);
    // s1 counted s2 and s3 holding its term-2 entry 3 and committed it; s3 learned the commit.
    expect(nt.core('s1').status().commit).toBe(3);
    expect(nt.core('s3').status().commit).toBe(3);
    nt.heal();
    nt.restart('s5');
    nt.isolate('s1');
    nt.filter = (m) => (m.type === 'append' ? null : m);
    nt.campaign('s5');
    nt.campaign('s5');
    // Leader Completeness is broken: the new leader lacks a committed entry.
    expect(nt.core('s5').status()).toMatchObject({ role: 'leader', term: 5 });
    expect(nt.node('s5').store.term(3)).toBe(3);
    expect(nt.node('s1').store.term(3)).toBe(2);
  });
});

describe('stale-term messages are ignored (§5.1)', () => {
  const stale: Message[] = [
    {
      type: 'append',
      from: 'a',
      to: 'c',
      term: 2,
      prevIndex: 1,
      prevTerm: 1,
      commit: 2,
      entries: [{ index: 2, term: 2, type: 'normal', data: new Uint8Array(1) }],
    },
    { type: 'heartbeat', from: 'a', to: 'c', term: 2, commit: 1, ctx: null },
    {
      type: 'vote',
      from: 'a',
      to: 'c',
      term: 2,
      pre: false,
      lastIndex: 9,
      lastTerm: 9,
      transfer: false,
    },
    { type: 'voteResp', from: 'a', to: 'c', term: 2, pre: false, granted: true },
    {
      type: 'snapshot',
      from: 'a',
      to: 'c',
      term: 2,
      meta: { index: 9, term: 2, conf: { voters: ['a'], learners: [] } },
      offset: 0,
      total: 0,
      data: new Uint8Array(0),
    },
    { type: 'timeoutNow', from: 'a', to: 'c', term: 2 },
  ];
  it.each(stale.map((m) => ({ type: m.type, m })))(
    '$type from term 2 at a node in term 3',
    ({ m }) => {
      const n = makeNode('c', ['a', 'b', 'c'], { checkQuorum: true }, { hardState: { term: 3 } });
      const before = n.core.status();
      n.core.step(m);
      const out = drain(n);
      const after = n.core.status();
      expect(after).toMatchObject({
        term: 3,
        role: 'follower',
        leader: null,
        commit: before.commit,
        lastIndex: before.lastIndex,
      });
      // Only a stale leader hears back, so that it learns the newer term and steps down.
      for (const o of out) expect(o).toMatchObject({ type: 'appendResp', term: 3, to: 'a' });
      expect(out.length).toBe(m.type === 'append' || m.type === 'heartbeat' ? 1 : 0);
    },
  );
});
