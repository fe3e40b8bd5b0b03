import { describe, expect, it } from 'vitest';
import { type NetworkFaults, SimNetwork } from '../../sim/network.js';
import { SimRandom } from '../../sim/random.js';
import { Scheduler } from '../../sim/scheduler.js';
import { SimEnv } from '../../sim/sim-env.js';
import { describePeerPacket, type PeerPacket, SimPeerHub } from '../../sim/sim-peer-network.js';
import { Trace } from '../../sim/trace.js';
import { CountError } from '../../src/model/errors.js';
import { PeerError } from '../../src/net/peer-transport.js';
import { MemoryVfs } from '../../src/storage/memory-vfs.js';

const clean: NetworkFaults = {
  minDelayMs: 1,
  maxDelayMs: 5,
  dropRate: 0,
  duplicateRate: 0,
  longDelayRate: 0,
  longDelayMs: 5,
};

function setup(faults: NetworkFaults = clean) {
  const scheduler = new Scheduler();
  const trace = new Trace(false);
  const network = new SimNetwork<PeerPacket>(
    scheduler,
    ['a', 'b'],
    SimRandom.stream(1, 'net'),
    trace,
    describePeerPacket,
    faults,
  );
  const hub = new SimPeerHub(network);
  const env = (id: string) =>
    new SimEnv(id, scheduler, { rate: 0, offsetMs: 0 }, new SimRandom(1), new MemoryVfs(), null);
  const ea = env('a');
  const eb = env('b');
  const a = hub.connect('a', ea);
  const b = hub.connect('b', eb);
  return { scheduler, network, hub, a, b, ea, eb };
}

/** Runs the scheduler until `p` settles, returning its outcome. */
async function outcome<T>(s: Scheduler, p: Promise<T>, untilMs = 10_000) {
  let r: { ok: true; value: T } | { ok: false; error: unknown } | null = null;
  p.then(
    (value) => {
      r = { ok: true, value };
    },
    (error: unknown) => {
      r = { ok: false, error };
    },
  );
  await s.run(untilMs, () => r !== null);
  return { r: r as { ok: true; value: T } | { ok: false; error: unknown } | null, at: s.now };
}

describe('SimPeerHub', () => {
  it('answers requests with a copy of the handler result, on virtual time', async () => {
    const { scheduler, a, b } = setup();
    const sent = { xs: [1, 2], n: 1 };
    b.on('echo', (from, p) => ({ from, p }));
    const { r } = await outcome(scheduler, a.request('b', 'echo', sent, 1000));
    expect(r?.ok).toBe(true);
    const v = (r as { value: { from: string; p: typeof sent } }).value;
    expect(v.from).toBe('a');
    expect(v.p).not.toBe(sent);
    expect(v.p).toEqual(sent);
    expect(scheduler.now).toBeLessThan(20);
  });

  it('carries a CountError with its code and details; other errors are PeerError remote', async () => {
    const { scheduler, a, b } = setup();
    b.on('stale', () => {
      throw new CountError('stale_epoch', 'behind', { details: { epoch: 7 } });
    });
    b.on('broken', () => {
      throw new Error('boom');
    });
    const stale = await outcome(scheduler, a.request('b', 'stale', {}, 1000));
    const e = (stale.r as { error: CountError }).error;
    expect(e).toBeInstanceOf(CountError);
    expect(e.code).toBe('stale_epoch');
    expect(e.details).toEqual({ epoch: 7 });
    const broken = await outcome(scheduler, a.request('b', 'broken', {}, 1000));
    const pe = (broken.r as { error: PeerError }).error;
    expect(pe).toBeInstanceOf(PeerError);
    expect(pe.code).toBe('remote');
  });

  it('times out at the deadline in virtual time when the peer is cut off or down', async () => {
    const { scheduler, network, a, b, hub, eb } = setup();
    b.on('echo', () => 1);
    network.partition({ shape: 'x', description: 'a|b', blocked: [['a', 'b']] } as never);
    const cut = await outcome(scheduler, a.request('b', 'echo', {}, 300));
    expect((cut.r as { error: PeerError }).error.code).toBe('timeout');
    expect(cut.at).toBe(300);
    network.heal();
    b.close();
    const down = await outcome(scheduler, a.request('b', 'echo', {}, 200));
    expect((down.r as { error: PeerError }).error.code).toBe('timeout');
    // A new incarnation answers again.
    const b2 = hub.connect('b', eb);
    b2.on('echo', () => 2);
    const back = await outcome(scheduler, a.request('b', 'echo', {}, 200));
    expect((back.r as { value: number }).value).toBe(2);
  });

  it('a duplicated request runs the handler twice but settles once; unknown peers are refused', async () => {
    const { scheduler, a, b } = setup({ ...clean, duplicateRate: 1 });
    let calls = 0;
    b.on('count', () => ++calls);
    const { r } = await outcome(scheduler, a.request('b', 'count', {}, 1000));
    await scheduler.run(scheduler.now + 100);
    expect(calls).toBe(2);
    expect((r as { value: number }).value).toBe(1);
    expect(a.send('zz', 'count', {})).toBe(false);
    const unknown = await outcome(scheduler, a.request('zz', 'count', {}, 100));
    expect((unknown.r as { error: PeerError }).error.code).toBe('unreachable');
    // A seed's placeholder id reaches the node listening at its address.
    a.addPeer('~seed', 'b:9090');
    expect(a.send('~seed', 'count', {})).toBe(true);
    await scheduler.run(scheduler.now + 100);
    expect(calls).toBe(4);
  });
});
