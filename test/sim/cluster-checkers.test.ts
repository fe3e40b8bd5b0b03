import { describe, expect, it } from 'vitest';
import { EpochMonotonic } from '../../sim/checkers/epoch-monotonic.js';
import { checkAggregateAnswer, checkQueryAnswer } from '../../sim/checkers/query-honesty.js';
import { checkQuorumRead } from '../../sim/checkers/quorum-durability.js';
import { SingleOwnership } from '../../sim/checkers/single-ownership.js';
import { ClusterHistory } from '../../sim/cluster-history.js';
import { initialClusterState } from '../../src/cluster/cluster-commands.js';
import type { ClusterState, NodeInfo } from '../../src/cluster/cluster-state.js';
import { Ring, tokenOf } from '../../src/cluster/ring.js';
import type { Samples } from '../../src/model/point.js';

const samples = (pts: [number, number][]): Samples => ({
  timestamps: Float64Array.from(pts.map((p) => p[0])),
  values: Float64Array.from(pts.map((p) => p[1])),
});

function history(): ClusterHistory {
  const h = new ClusterHistory();
  for (const [s, t, v, at] of [
    ['a', 10, 1, 100],
    ['a', 20, 2, 200],
    ['b', 10, 5, 100],
  ] as const) {
    h.attempted(s, t, v);
    h.acknowledged(s, t, v, at);
  }
  h.attempted('a', 10, 9); // a later, larger rewrite (outcome unknown)
  return h;
}

const read = (s: Samples, invokedAt = 1000) => ({
  series: 'a',
  start: 0,
  end: 100,
  invokedAt,
  coordinator: 'n1',
  samples: s,
});

describe('quorum-durability', () => {
  it('accepts a read with every acked point, or a larger written value in its place', () => {
    const h = history();
    expect(
      checkQuorumRead(
        h,
        read(
          samples([
            [10, 1],
            [20, 2],
          ]),
        ),
      ),
    ).toBeNull();
    expect(
      checkQuorumRead(
        h,
        read(
          samples([
            [10, 9],
            [20, 2],
          ]),
        ),
      ),
    ).toBeNull();
    // Acked after the read was invoked: not required.
    expect(checkQuorumRead(h, read(samples([[10, 1]]), 150))).toBeNull();
  });

  it('flags a missing point, a smaller value and a value nobody wrote', () => {
    const h = history();
    expect(checkQuorumRead(h, read(samples([[10, 1]])))).toMatch(/@20 .* is missing/);
    expect(
      checkQuorumRead(
        h,
        read(
          samples([
            [10, 0],
            [20, 2],
          ]),
        ),
      ),
    ).toMatch(/below the value 1/);
    expect(
      checkQuorumRead(
        h,
        read(
          samples([
            [10, 1],
            [20, 2],
            [30, 4],
          ]),
        ),
      ),
    ).toMatch(/no client wrote/);
  });
});

describe('query-honesty', () => {
  const base = {
    invokedAt: 1000,
    coordinator: 'n1',
    start: 0,
    end: 100,
    selected: ['a', 'b'],
  };
  const full = new Map([
    [
      'a',
      samples([
        [10, 1],
        [20, 2],
      ]),
    ],
    ['b', samples([[10, 5]])],
  ]);
  const onlyA = new Map([['a', full.get('a')!]]);
  const around = (t: string) => {
    // A range (start, end] holding token t.
    const start = (BigInt(`0x${t}`) - 1n).toString(16).padStart(16, '0');
    return `${start}..${t}`;
  };

  it('accepts a complete answer and an honest partial one', () => {
    const h = history();
    expect(checkQueryAnswer(h, { ...base, results: full, partial: false, missing: [] })).toBeNull();
    const missing = [around(tokenOf('b'))];
    expect(checkQueryAnswer(h, { ...base, results: onlyA, partial: true, missing })).toBeNull();
  });

  it('flags a silently incomplete answer and a partial one whose ranges miss the series', () => {
    const h = history();
    expect(checkQueryAnswer(h, { ...base, results: onlyA, partial: false, missing: [] })).toMatch(
      /not partial, but b @10/,
    );
    const wrong = [around(tokenOf('a'))];
    expect(checkQueryAnswer(h, { ...base, results: onlyA, partial: true, missing: wrong })).toMatch(
      /outside the missing ranges/,
    );
    expect(checkQueryAnswer(h, { ...base, results: full, partial: true, missing: [] })).toMatch(
      /names no missing range/,
    );
  });
});

describe('query-honesty of pushed-down aggregates', () => {
  const base = {
    invokedAt: 1000,
    coordinator: 'n1',
    start: 0,
    end: 100,
    selected: ['a', 'b'],
    partial: false,
    missing: [],
  };

  it('accepts counts and maxima between what was acknowledged and what was sent', () => {
    const h = history();
    const counts = new Map([
      ['a', 2],
      ['b', 1],
    ]);
    expect(checkAggregateAnswer(h, { ...base, fn: 'count', values: counts })).toBeNull();
    const maxima = new Map([
      ['a', 9],
      ['b', 5],
    ]);
    expect(checkAggregateAnswer(h, { ...base, fn: 'max', values: maxima })).toBeNull();
  });

  it('flags a short count, a low max and a series left out of a complete answer', () => {
    const h = history();
    const short = new Map([
      ['a', 1],
      ['b', 1],
    ]);
    expect(checkAggregateAnswer(h, { ...base, fn: 'count', values: short })).toMatch(
      /a count 1 outside \[2, 2\]/,
    );
    const low = new Map([
      ['a', 2],
      ['b', 4],
    ]);
    expect(checkAggregateAnswer(h, { ...base, fn: 'max', values: low })).toMatch(/b max 4/);
    const none = new Map([['a', 2]]);
    expect(checkAggregateAnswer(h, { ...base, fn: 'count', values: none })).toMatch(
      /b has no result/,
    );
  });
});

describe('epoch-monotonic', () => {
  it('flags a node whose epoch goes back, within an incarnation and across a restart', () => {
    const c = new EpochMonotonic();
    expect(c.observe('n1', 1, 3, 0)).toBeNull();
    expect(c.observe('n1', 1, 4, 1)).toBeNull();
    expect(c.observe('n2', 1, 1, 1)).toBeNull();
    expect(c.observe('n1', 1, 3, 2)).toMatch(/\(incarnation 1\) went back from epoch 4 to 3/);
    expect(c.observe('n1', 2, 4, 3)).toBeNull();
    expect(c.observe('n1', 3, 2, 4)).toMatch(
      /incarnation 3 restarted lower\) went back from epoch 4 to 2/,
    );
  });
});

describe('single-ownership', () => {
  const addr = (id: string) => ({ id, httpAddress: `${id}:1`, peerAddress: `${id}:2` });
  const founded = initialClusterState({
    nodes: ['n1', 'n2', 'n3', 'n4'].map(addr),
    rf: 3,
    tokensPerNode: 4,
  });
  const at = (state: ClusterState, epoch: number): ClusterState => ({ ...state, epoch });
  const withNode = (s: ClusterState, n: NodeInfo): ClusterState => ({
    ...s,
    nodes: { ...s.nodes, [n.id]: n },
  });
  const n4 = founded.nodes.n4;

  const leavingAt = (s1: ClusterState, epoch: number, step: 'started' | 'mid'): ClusterState => ({
    ...withNode(s1, { ...n4, state: 'leaving' }),
    epoch,
    operation: { id: 2, kind: 'decommission', node: 'n4', step, stepEpoch: epoch, ranges: [] },
  });

  it('accepts the same ring everywhere and an owner change at a mid step', () => {
    const c = new SingleOwnership();
    const s1 = at(founded, 1);
    expect(c.observe('n1', s1, Ring.from(s1), 0)).toBeNull();
    expect(c.observe('n2', s1, Ring.from(s1), 0)).toBeNull();
    const started = leavingAt(s1, 2, 'started');
    expect(c.observe('n1', started, Ring.from(started), 1)).toBeNull();
    const mid = leavingAt(s1, 3, 'mid');
    expect(c.observe('n1', mid, Ring.from(mid), 2)).toBeNull();
    const left = { ...withNode(s1, { ...n4, state: 'left' }), epoch: 4 };
    expect(c.observe('n1', left, Ring.from(left), 3)).toBeNull();
  });

  it('flags a finish that moves reads and writes in one step (no mid step)', () => {
    const c = new SingleOwnership();
    const s1 = at(founded, 1);
    const started = leavingAt(s1, 2, 'started');
    expect(c.observe('n1', started, Ring.from(started), 1)).toBeNull();
    const left = { ...withNode(s1, { ...n4, state: 'left' }), epoch: 3 };
    expect(c.observe('n1', left, Ring.from(left), 2)).toMatch(/outside a mid step/);
  });

  it('flags two rings at one epoch and owners changed outside a mid step', () => {
    const c = new SingleOwnership();
    const s1 = at(founded, 1);
    const gone = { ...withNode(s1, { ...n4, state: 'left' }), epoch: 1 };
    expect(c.observe('n1', s1, Ring.from(s1), 0)).toBeNull();
    expect(c.observe('n2', gone, Ring.from(gone), 0)).toMatch(
      /different replicas at the same epoch/,
    );
    const jump = { ...gone, epoch: 2 };
    expect(c.observe('n3', jump, Ring.from(jump), 1)).toMatch(/owners changed from epoch 1/);
  });
});
