import { describe, expect, it } from 'vitest';
import {
  applyCommand,
  type ClusterCommand,
  decodeCommand,
  encodeCommand,
  initialClusterState,
} from '../../src/cluster/cluster-commands.js';
import {
  type ClusterState,
  decodeClusterState,
  encodeClusterState,
} from '../../src/cluster/cluster-state.js';
import { Ring, tokenOf } from '../../src/cluster/ring.js';

const addr = (id: string) => ({ id, httpAddress: `h-${id}:1`, peerAddress: `p-${id}:2` });

function ok(state: ClusterState, cmd: ClusterCommand): ClusterState {
  const r = applyCommand(state, cmd);
  if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
  return r.state;
}

const base = () => initialClusterState({ nodes: ['n1', 'n2', 'n3'].map(addr), rf: 2 });
const keys = Array.from({ length: 300 }, (_, i) => tokenOf(`series-${i}`));

describe('cluster commands', () => {
  it('join: prepare locks ranges, start adds write replicas, finish switches ownership', () => {
    const s0 = base();
    expect(s0.epoch).toBe(1);
    const s1 = ok(s0, { type: 'prepare-join', node: addr('n4') });
    expect(s1.epoch).toBe(2);
    expect(s1.nodes.n4.state).toBe('joining');
    expect(s1.nodes.n4.tokens.length).toBe(16);
    const op = s1.operation!;
    expect(op).toMatchObject({ kind: 'join', node: 'n4', step: 'prepared', id: 2 });
    expect(op.ranges.length).toBeGreaterThan(0);
    // Prepared: nothing moves yet.
    const r1 = Ring.from(s1);
    const r0 = Ring.from(s0);
    for (const t of keys) expect(r1.writeReplicas(t)).toEqual(r0.readReplicas(t));
    const s2 = ok(s1, { type: 'start', opId: op.id });
    const r2 = Ring.from(s2);
    let pending = 0;
    for (const t of keys) {
      expect(r2.readReplicas(t)).toEqual(r0.readReplicas(t));
      const w = r2.writeReplicas(t);
      expect(w.slice(0, r0.readReplicas(t).length)).toEqual(r0.readReplicas(t));
      if (w.includes('n4')) pending++;
    }
    expect(pending).toBeGreaterThan(0);
    // Finishing straight from started would switch reads and writes in one step: refused.
    expect(applyCommand(s2, { type: 'finish', opId: op.id })).toMatchObject({
      ok: false,
      code: 'conflict',
    });
    const s2m = ok(s2, { type: 'mid', opId: op.id });
    expect(s2m.operation).toMatchObject({ step: 'mid', stepEpoch: 4 });
    const s3 = ok(s2m, { type: 'finish', opId: op.id });
    expect(s3.epoch).toBe(5);
    expect(s3.operation).toBeNull();
    expect(s3.nodes.n4.state).toBe('normal');
    expect(s3.lastOperation).toMatchObject({ kind: 'join', node: 'n4', outcome: 'finished' });
    const r3 = Ring.from(s3);
    // After the join every token's owners are what the started step wrote to.
    for (const t of keys)
      for (const id of r3.readReplicas(t)) expect(r2.writeReplicas(t)).toContain(id);
  });

  it('cancel at mid first moves reads back to the old owners, a second cancel ends it', () => {
    const s1 = ok(base(), { type: 'prepare-join', node: addr('n4') });
    const opId = s1.operation!.id;
    const s2 = ok(ok(s1, { type: 'start', opId }), { type: 'mid', opId });
    const back = ok(s2, { type: 'cancel', opId });
    expect(back.operation).toMatchObject({ step: 'started', stepEpoch: back.epoch });
    const r0 = Ring.from(base());
    const rb = Ring.from(back);
    for (const t of keys) {
      expect(rb.readReplicas(t)).toEqual(r0.readReplicas(t));
      // Writes still reach both rings until the second cancel.
      expect(new Set(rb.writeReplicas(t))).toEqual(new Set(Ring.from(s2).writeReplicas(t)));
    }
    const done = ok(back, { type: 'cancel', opId });
    expect(done.operation).toBeNull();
    expect(done.nodes.n4.state).toBe('left');
    expect(done.lastOperation).toMatchObject({ outcome: 'cancelled' });
  });

  it('refuses a conflicting operation with a clear conflict, and retries are no-ops', () => {
    const s1 = ok(base(), { type: 'prepare-join', node: addr('n4') });
    const again = applyCommand(s1, { type: 'prepare-join', node: addr('n4') });
    expect(again).toMatchObject({ ok: true, changed: false });
    const other = applyCommand(s1, { type: 'prepare-leave', node: 'n1', kind: 'decommission' });
    expect(other.ok).toBe(false);
    if (!other.ok) {
      expect(other.code).toBe('conflict');
      expect(other.message).toContain('join of n4');
      expect(other.state).toBe(s1);
    }
    const finishEarly = applyCommand(s1, { type: 'finish', opId: s1.operation!.id });
    expect(finishEarly).toMatchObject({ ok: false, code: 'conflict' });
    const wrongId = applyCommand(s1, { type: 'start', opId: 99 });
    expect(wrongId).toMatchObject({ ok: false, code: 'conflict' });
  });

  it('decommission mirrors join; rf is capped at the members left, the last node cannot leave', () => {
    const s0 = ok(
      ok(ok(ok(base(), { type: 'prepare-join', node: addr('n4') }), { type: 'start', opId: 2 }), {
        type: 'mid',
        opId: 2,
      }),
      { type: 'finish', opId: 2 },
    );
    const s1 = ok(s0, { type: 'prepare-leave', node: 'n2', kind: 'decommission' });
    expect(s1.nodes.n2.state).toBe('leaving');
    const s2 = ok(s1, { type: 'start', opId: s1.operation!.id });
    const r2 = Ring.from(s2);
    const r0 = Ring.from(s0);
    for (const t of keys) {
      const w = r2.writeReplicas(t);
      expect(w.length).toBeGreaterThanOrEqual(2);
      expect(r2.readReplicas(t)).toEqual(r0.readReplicas(t));
    }
    const s3 = ok(ok(s2, { type: 'mid', opId: s1.operation!.id }), {
      type: 'finish',
      opId: s1.operation!.id,
    });
    expect(s3.nodes.n2).toMatchObject({ state: 'left', tokens: [] });
    const r3 = Ring.from(s3);
    for (const t of keys) expect(r3.readReplicas(t)).not.toContain('n2');
    // Leaving fewer nodes than rf is allowed: rf is capped at the members that remain.
    const leave = (s: ClusterState, node: string) => {
      const p = ok(s, { type: 'prepare-leave', node, kind: 'decommission' });
      const opId = p.operation!.id;
      return ok(ok(ok(p, { type: 'start', opId }), { type: 'mid', opId }), {
        type: 'finish',
        opId,
      });
    };
    const s5 = leave(leave(s3, 'n3'), 'n1');
    const r5 = Ring.from(s5);
    for (const t of keys) expect(r5.readReplicas(t)).toEqual(['n4']);
    const refused = applyCommand(s5, { type: 'prepare-leave', node: 'n4', kind: 'decommission' });
    expect(refused).toMatchObject({ ok: false, code: 'conflict' });
    if (!refused.ok) expect(refused.message).toContain('no node');
    expect(applyCommand(s3, { type: 'prepare-leave', node: 'zz', kind: 'remove' })).toMatchObject({
      ok: false,
      code: 'not_found',
    });
  });

  it('cancel undoes a join or a leave and records the outcome', () => {
    const s1 = ok(ok(base(), { type: 'prepare-join', node: addr('n4') }), {
      type: 'start',
      opId: 2,
    });
    const c = ok(s1, { type: 'cancel', opId: null });
    expect(c.operation).toBeNull();
    expect(c.nodes.n4).toMatchObject({ state: 'left', tokens: [] });
    expect(c.lastOperation).toMatchObject({ outcome: 'cancelled', node: 'n4' });
    const rc = Ring.from(c);
    const rb = Ring.from(base());
    for (const t of keys) expect(rc.writeReplicas(t)).toEqual(rb.readReplicas(t));
    // A cancelled joiner may try again (a new operation).
    const re = ok(c, { type: 'prepare-join', node: addr('n4') });
    expect(re.operation!.id).toBe(c.epoch + 1);
    const l = ok(base(), { type: 'prepare-leave', node: 'n1', kind: 'decommission' });
    expect(ok(l, { type: 'cancel', opId: l.operation!.id }).nodes.n1.state).toBe('normal');
    expect(applyCommand(base(), { type: 'cancel', opId: null })).toMatchObject({
      ok: false,
      code: 'conflict',
    });
  });

  it('states and commands round-trip through their encodings', () => {
    const s = ok(base(), { type: 'prepare-join', node: addr('n4') });
    expect(decodeClusterState(encodeClusterState(s))).toEqual(s);
    const cmd: ClusterCommand = { type: 'prepare-leave', node: 'n1', kind: 'remove' };
    expect(decodeCommand(encodeCommand(cmd))).toEqual(cmd);
    expect(() => decodeClusterState(new TextEncoder().encode('{"epoch":-1}'))).toThrow();
  });

  it('refuses bad node ids', () => {
    expect(applyCommand(base(), { type: 'prepare-join', node: addr('bad id') })).toMatchObject({
      ok: false,
      code: 'invalid_parameter',
    });
  });
});
