import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyCommand,
  type ClusterCommand,
  initialClusterState,
} from '../../src/cluster/cluster-commands.js';
import type { ClusterState } from '../../src/cluster/cluster-state.js';
import { Ring, rangeContains, tokenOf } from '../../src/cluster/ring.js';

const addr = (id: string) => ({ id, httpAddress: `h-${id}:1`, peerAddress: `p-${id}:2` });

function threeNodes(rf = 3): ClusterState {
  return initialClusterState({ nodes: ['n1', 'n2', 'n3', 'n4'].map(addr), rf });
}

describe('tokenOf', () => {
  it('is the first 8 bytes of SHA-256 of the key, as 16 hex chars', () => {
    // Known SHA-256 prefixes of "" and "abc" (FIPS 180-2 test vectors).
    expect(tokenOf('')).toBe('e3b0c44298fc1c14');
    expect(tokenOf('abc')).toBe('ba7816bf8f01cfea');
    expect(tokenOf('x')).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('Ring', () => {
  it('replicas are the first rf distinct owners clockwise from the token', () => {
    const state = threeNodes(2);
    const ring = Ring.from(state);
    const owner = new Map<string, string>();
    for (const n of Object.values(state.nodes)) for (const t of n.tokens) owner.set(t, n.id);
    const sorted = [...owner.keys()].sort();
    fc.assert(
      fc.property(fc.string(), (key) => {
        const t = tokenOf(key);
        let i = sorted.findIndex((x) => x >= t);
        if (i < 0) i = 0;
        const expected: string[] = [];
        for (let j = 0; expected.length < 2; j++) {
          const o = owner.get(sorted[(i + j) % sorted.length])!;
          if (!expected.includes(o)) expected.push(o);
        }
        expect(ring.readReplicas(t)).toEqual(expected);
        expect(ring.writeReplicas(t)).toEqual(expected);
        const r = ring.rangeOf(t);
        expect(rangeContains(r, t)).toBe(true);
        expect(r.replicas).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('ranges cover the ring exactly once, in order', () => {
    const ring = Ring.from(threeNodes());
    const ranges = ring.ranges();
    expect(ranges.length).toBe(64);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i].start).toBe(ranges[i - 1].end);
    expect(ranges[0].start).toBe(ranges[ranges.length - 1].end);
    for (const t of ['0000000000000000', 'ffffffffffffffff', tokenOf('a')]) {
      expect(ranges.filter((r) => rangeContains(r, t)).length).toBe(1);
    }
  });

  it('rf is capped at the number of owners; an empty ring has no replicas', () => {
    const one = initialClusterState({ nodes: [addr('a')], rf: 3 });
    expect(one.rf).toBe(3);
    expect(Ring.from(one).readReplicas(tokenOf('k'))).toEqual(['a']);
    const empty: ClusterState = { ...one, nodes: {} };
    expect(Ring.from(empty).readReplicas(tokenOf('k'))).toEqual([]);
    expect(Ring.from(empty).ranges()).toEqual([]);
  });
});

describe('Ring at each step of a staged operation', () => {
  const keys = Array.from({ length: 200 }, (_, i) => tokenOf(`step-${i}`));
  const apply = (s: ClusterState, cmd: ClusterCommand): ClusterState => {
    const r = applyCommand(s, cmd);
    expect(r.ok).toBe(true);
    return r.state;
  };
  const sorted = (xs: readonly string[]) => [...xs].sort();

  for (const kind of ['join', 'decommission'] as const) {
    it(`${kind}: prepared = old, started = write both/read old, mid = write both/read new, finish = new`, () => {
      const s0 = threeNodes(3);
      const prepared =
        kind === 'join'
          ? apply(s0, { type: 'prepare-join', node: addr('n5') })
          : apply(s0, { type: 'prepare-leave', node: 'n2', kind: 'decommission' });
      const opId = prepared.operation!.id;
      const started = apply(prepared, { type: 'start', opId });
      const mid = apply(started, { type: 'mid', opId });
      const done = apply(mid, { type: 'finish', opId });
      const [r0, rp, rs, rm, rf] = [s0, prepared, started, mid, done].map((s) => Ring.from(s));
      let moved = 0;
      for (const t of keys) {
        const oldOwners = r0.readReplicas(t);
        const newOwners = rf.readReplicas(t);
        const both = sorted([...new Set([...oldOwners, ...newOwners])]);
        expect(rp.readReplicas(t)).toEqual(oldOwners);
        expect(rp.writeReplicas(t)).toEqual(oldOwners);
        expect(rs.readReplicas(t)).toEqual(oldOwners);
        expect(sorted(rs.writeReplicas(t))).toEqual(both);
        expect(rm.readReplicas(t)).toEqual(newOwners);
        expect(sorted(rm.writeReplicas(t))).toEqual(both);
        // Read replicas come first in the write list (the coordinator counts them as owners).
        expect(rm.writeReplicas(t).slice(0, newOwners.length)).toEqual(newOwners);
        expect(rm.rangeOf(t).replicas).toEqual(newOwners);
        expect(rf.writeReplicas(t)).toEqual(newOwners);
        if (!sameSet(oldOwners, newOwners)) moved++;
      }
      expect(moved).toBeGreaterThan(0);
    });
  }
});

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}
