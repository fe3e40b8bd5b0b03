import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyCommand,
  type ClusterCommand,
  initialClusterState,
} from '../../src/cluster/cluster-commands.js';
import type { ClusterState } from '../../src/cluster/cluster-state.js';
import { Ring, tokenOf } from '../../src/cluster/ring.js';

const addr = (id: string) => ({ id, httpAddress: `h-${id}`, peerAddress: `p-${id}` });
const probes = Array.from({ length: 40 }, (_, i) => tokenOf(`probe-${i}`));
const ids = ['a', 'b', 'c', 'd', 'e', 'f'];

/** A command drawn against the current state (so most of them are meaningful). */
const step = fc.record({
  kind: fc.constantFrom(
    'join',
    'decommission',
    'remove',
    'start',
    'mid',
    'finish',
    'cancel',
    'stale',
  ),
  node: fc.constantFrom(...ids),
});

function commandFor(s: ClusterState, k: { kind: string; node: string }): ClusterCommand {
  const opId = s.operation?.id ?? s.epoch;
  switch (k.kind) {
    case 'join':
      return { type: 'prepare-join', node: addr(k.node) };
    case 'decommission':
    case 'remove':
      return { type: 'prepare-leave', node: k.node, kind: k.kind };
    case 'start':
      return { type: 'start', opId };
    case 'mid':
      return { type: 'mid', opId };
    case 'finish':
      return { type: 'finish', opId };
    case 'cancel':
      return { type: 'cancel', opId };
    default:
      return { type: 'finish', opId: opId + 1000 };
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

describe('staged operations, random sequences', () => {
  it('epochs rise by one per change; reads and writes never move in one step; reads only move to nodes receiving writes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.array(step, { maxLength: 30 }),
        (rf, steps) => {
          let s = initialClusterState({ nodes: ['a', 'b'].map(addr), rf });
          let ring = Ring.from(s);
          for (const k of steps) {
            const cmd = commandFor(s, k);
            const r = applyCommand(s, cmd);
            if (!r.ok) {
              expect(r.state).toBe(s);
              continue;
            }
            if (!r.changed) {
              expect(r.state).toBe(s);
              continue;
            }
            expect(r.state.epoch).toBe(s.epoch + 1);
            const next = Ring.from(r.state);
            for (const t of probes) {
              const owners = next.readReplicas(t);
              // Some owner always remains (the commands never empty the ring).
              expect(owners.length).toBeGreaterThan(0);
              const readsMoved = !sameSet(owners, ring.readReplicas(t));
              const writesMoved = !sameSet(next.writeReplicas(t), ring.writeReplicas(t));
              // Reads and writes never move in the same committed step: a coordinator one epoch
              // behind then still reads a set that every acknowledged write reached a quorum of.
              expect(readsMoved && writesMoved).toBe(false);
              if (readsMoved) {
                // Only mid (and a cancel at mid, going back) moves reads, and only to nodes
                // that were already receiving writes.
                expect(cmd.type === 'mid' || cmd.type === 'cancel').toBe(true);
                for (const id of owners) expect(ring.writeReplicas(t)).toContain(id);
              }
              // Writes always reach every owner.
              for (const id of owners) expect(next.writeReplicas(t)).toContain(id);
            }
            s = r.state;
            ring = next;
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
