import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { Awareness } from '../../src/cluster/awareness.js';
import { BroadcastQueue } from '../../src/cluster/gossip-broadcasts.js';
import {
  decodeAck,
  decodePing,
  decodePingReq,
  decodeRecord,
  decodeSync,
  encodeAck,
  encodePing,
  encodePingReq,
  encodeRecord,
  encodeSync,
  type MemberRecord,
} from '../../src/cluster/gossip-messages.js';
import {
  DEFAULT_GOSSIP_TIMING,
  resolveGossipOptions,
  retransmitLimit,
  suspicionBounds,
} from '../../src/cluster/gossip-options.js';
import { Suspicion } from '../../src/cluster/suspicion.js';
import type { Env, TimerHandle } from '../../src/env/env.js';
import { CountError } from '../../src/model/errors.js';
import { MemoryVfs } from '../../src/storage/memory-vfs.js';

/** The pieces gossip is built from, each on its own: wire format, queue, timers, formulas. */

const arbRecord: fc.Arbitrary<MemberRecord> = fc.record({
  id: fc.string({ minLength: 1, maxLength: 128 }),
  incarnation: fc.nat(),
  liveness: fc.constantFrom('alive' as const, 'suspect' as const, 'dead' as const),
  epoch: fc.nat(),
  peerAddress: fc.string({ maxLength: 256 }),
  httpAddress: fc.string({ maxLength: 256 }),
  from: fc.string({ maxLength: 128 }),
});

function rec(id: string, incarnation = 0): MemberRecord {
  return {
    id,
    incarnation,
    liveness: 'alive',
    epoch: 0,
    peerAddress: `${id}:1`,
    httpAddress: `${id}:2`,
    from: '',
  };
}

describe('gossip messages', () => {
  test('records and messages round-trip', () => {
    fc.assert(
      fc.property(arbRecord, fc.array(arbRecord, { maxLength: 20 }), fc.nat(), (r, rs, seq) => {
        expect(decodeRecord(encodeRecord(r))).toEqual(r);
        expect(decodePing(encodePing({ seq, target: 'n1', updates: rs }), 20)).toEqual({
          seq,
          target: 'n1',
          updates: rs,
        });
        expect(decodeAck(encodeAck({ seq, updates: rs }), 20)).toEqual({ seq, updates: rs });
        expect(
          decodePingReq(encodePingReq({ seq, target: 'x', windowMs: 5, updates: rs }), 20),
        ).toEqual({ seq, target: 'x', windowMs: 5, updates: rs });
        expect(decodeSync(encodeSync({ reply: true, members: rs }), 20)).toEqual({
          reply: true,
          members: rs,
        });
      }),
      { numRuns: 200 },
    );
  });

  test('bad records are refused', () => {
    const good = encodeRecord(rec('n1'));
    const bad: unknown[] = [
      null,
      'n1',
      good.slice(0, 6),
      ['', 0, 0, 0, '', '', ''],
      ['x'.repeat(129), 0, 0, 0, '', '', ''],
      ['n1', -1, 0, 0, '', '', ''],
      ['n1', 1.5, 0, 0, '', '', ''],
      ['n1', 0, 3, 0, '', '', ''],
      ['n1', 0, 0, Number.MAX_SAFE_INTEGER + 2, '', '', ''],
      ['n1', 0, 0, 0, 'a'.repeat(257), '', ''],
      ['n1', 0, 0, 0, '', 5, ''],
    ];
    for (const b of bad) expect(decodeRecord(b)).toBeNull();
  });

  test('a message with more records than allowed, or one bad record, is refused whole', () => {
    const rs = [rec('a'), rec('b'), rec('c')];
    expect(decodeAck(encodeAck({ seq: 1, updates: rs }), 2)).toBeNull();
    expect(decodeAck({ s: 1, u: [encodeRecord(rs[0]), 'junk'] }, 10)).toBeNull();
    expect(decodeSync({ r: 2, m: [] }, 10)).toBeNull();
    expect(decodePing({ s: 1, u: [] }, 10)).toBeNull();
  });
});

describe('BroadcastQueue', () => {
  test('keeps one record per member, the newest', () => {
    const q = new BroadcastQueue(10);
    q.enqueue(rec('a', 1));
    q.enqueue(rec('a', 2));
    expect(q.size).toBe(1);
    expect(q.take(5, 3)).toEqual([rec('a', 2)]);
  });

  test('sends each record exactly `limit` times, least sent and newest first', () => {
    const q = new BroadcastQueue(10);
    q.enqueue(rec('a'));
    q.enqueue(rec('b'));
    expect(q.take(1, 2).map((r) => r.id)).toEqual(['b']);
    expect(q.take(1, 2).map((r) => r.id)).toEqual(['a']);
    q.enqueue(rec('c'));
    expect(q.take(3, 2).map((r) => r.id)).toEqual(['c', 'b', 'a']);
    // a and b reached the limit; c has one send left.
    expect(q.take(3, 2).map((r) => r.id)).toEqual(['c']);
    expect(q.size).toBe(0);
    expect(q.take(3, 2)).toEqual([]);
  });

  test('is bounded: past capacity the most-sent record goes', () => {
    const q = new BroadcastQueue(2);
    q.enqueue(rec('a'));
    q.take(1, 10); // b does not exist yet; a sent once
    q.enqueue(rec('b'));
    q.enqueue(rec('c'));
    expect(q.size).toBe(2);
    expect(q.dropped).toBe(1);
    expect(
      q
        .take(5, 10)
        .map((r) => r.id)
        .sort(),
    ).toEqual(['b', 'c']);
  });
});

/** A manual clock: timers fire when `advance` passes them. */
class ManualEnv implements Env {
  readonly vfs = new MemoryVfs();
  private t = 0;
  private timers: { at: number; fn: () => void; cancelled: boolean }[] = [];
  now(): number {
    return this.t;
  }
  monotonic(): number {
    return this.t;
  }
  random(): number {
    return 0.5;
  }
  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const timer = { at: this.t + delayMs, fn, cancelled: false };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers
        .filter((x) => !x.cancelled && x.at <= end)
        .sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      due.cancelled = true;
      this.t = due.at;
      due.fn();
    }
    this.t = end;
  }
}

describe('Suspicion', () => {
  test('the timeout falls from max to min as confirmations arrive', () => {
    expect(Suspicion.timeoutMs(0, 3, 1000, 6000)).toBe(6000);
    expect(Suspicion.timeoutMs(1, 3, 1000, 6000)).toBe(3500);
    expect(Suspicion.timeoutMs(3, 3, 1000, 6000)).toBe(1000);
    expect(Suspicion.timeoutMs(9, 3, 1000, 6000)).toBe(1000);
    expect(Suspicion.timeoutMs(0, 0, 1000, 6000)).toBe(1000);
    fc.assert(
      fc.property(fc.nat(10), fc.nat(10), (c, k) => {
        const a = Suspicion.timeoutMs(c, k, 1000, 6000);
        const b = Suspicion.timeoutMs(c + 1, k, 1000, 6000);
        expect(b).toBeLessThanOrEqual(a);
        expect(a).toBeGreaterThanOrEqual(1000);
        expect(a).toBeLessThanOrEqual(6000);
      }),
    );
  });

  test('fires at the maximum without confirmations', () => {
    const env = new ManualEnv();
    let fired = 0;
    new Suspicion(env, 'a', 2, 1000, 6000, () => fired++);
    env.advance(5999);
    expect(fired).toBe(0);
    env.advance(1);
    expect(fired).toBe(1);
  });

  test('only new, independent confirmations count, and they shorten the remaining time', () => {
    const env = new ManualEnv();
    let fired = 0;
    const s = new Suspicion(env, 'a', 2, 1000, 6000, () => fired++);
    env.advance(1000);
    expect(s.confirm('a')).toBe(false); // the originator
    expect(s.confirm('b')).toBe(true);
    expect(s.confirm('b')).toBe(false); // the same node twice
    expect(s.timeoutMs()).toBe(Suspicion.timeoutMs(1, 2, 1000, 6000));
    expect(s.confirm('c')).toBe(true);
    expect(s.confirm('d')).toBe(false); // enough already
    env.advance(1);
    // 1001 ms elapsed of a 1000 ms timeout: it fires on the next turn.
    expect(fired).toBe(1);
    s.cancel();
    env.advance(10_000);
    expect(fired).toBe(1);
  });

  test('a cancelled suspicion never fires', () => {
    const env = new ManualEnv();
    let fired = 0;
    const s = new Suspicion(env, 'a', 0, 1000, 6000, () => fired++);
    s.cancel();
    env.advance(10_000);
    expect(fired).toBe(0);
  });
});

describe('Awareness', () => {
  test('clamps to [0, max - 1] and scales timeouts by score + 1', () => {
    const a = new Awareness(8);
    a.apply(-3);
    expect(a.score).toBe(0);
    expect(a.scale(1000)).toBe(1000);
    a.apply(3);
    expect(a.scale(1000)).toBe(4000);
    a.apply(100);
    expect(a.score).toBe(7);
    a.apply(-1);
    expect(a.score).toBe(6);
  });
});

describe('gossip options', () => {
  test('defaults and formulas', () => {
    const o = resolveGossipOptions({ peerAddress: 'a:1', httpAddress: 'a:2' });
    expect(o.timing).toEqual(DEFAULT_GOSSIP_TIMING);
    expect(retransmitLimit(4, 3)).toBe(4);
    expect(retransmitLimit(4, 10)).toBe(8);
    expect(retransmitLimit(4, 100)).toBe(12);
    // Small clusters cannot supply 2 confirmations: they use the minimum, 4 s.
    expect(suspicionBounds(DEFAULT_GOSSIP_TIMING, 3)).toEqual({
      minMs: 4000,
      maxMs: 24000,
      expected: 0,
    });
    expect(suspicionBounds(DEFAULT_GOSSIP_TIMING, 5).expected).toBe(2);
    expect(suspicionBounds(DEFAULT_GOSSIP_TIMING, 100).minMs).toBe(8000);
  });

  test('settings that break the protocol are refused with invalid_parameter', () => {
    const bad = [
      { timing: { probeTimeoutMs: 1000, probeIntervalMs: 1000 } },
      { timing: { indirectChecks: 0 } },
      { timing: { gossipFanout: 1.5 } },
      { limits: { maxMembers: -1 } },
      { epoch: -1 },
    ];
    for (const b of bad) {
      try {
        resolveGossipOptions({ peerAddress: 'a:1', httpAddress: 'a:2', ...b });
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(CountError);
        expect((e as CountError).code).toBe('invalid_parameter');
      }
    }
  });
});
