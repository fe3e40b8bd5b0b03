import { describe, expect, it } from 'vitest';
import { type DeliveryResult, decodeHint, encodeHint, HintStore } from '../../src/cluster/hints.js';
import { MemoryVfs } from '../../src/storage/memory-vfs.js';
import { ManualEnv } from '../storage/engine-test-env.js';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

function collector(outcome: (s: string) => DeliveryResult = () => 'delivered') {
  const got: string[] = [];
  const deliver = async (p: Uint8Array): Promise<DeliveryResult> => {
    const s = text(p);
    const o = outcome(s);
    if (o === 'delivered') got.push(s);
    return o;
  };
  return { got, deliver };
}

describe('HintStore', () => {
  it('replays hints per target in write order and removes them', async () => {
    const env = new ManualEnv(new MemoryVfs());
    const store = await HintStore.open(env);
    for (const s of ['a1', 'a2', 'a3']) expect(await store.add('n2', bytes(s))).toBe(true);
    await store.add('n3', bytes('b1'));
    expect(store.targetsWithHints()).toEqual(['n2', 'n3']);
    const c = collector();
    expect(await store.replay('n2', c.deliver)).toBe(3);
    expect(c.got).toEqual(['a1', 'a2', 'a3']);
    expect(store.pending('n2')).toBe(0);
    expect(await env.vfs.list('hints/n2')).toEqual([]);
    expect(store.pending('n3')).toBe(1);
  });

  it('keeps accepted hints across a crash and removes a hint whose write never finished', async () => {
    const vfs = new MemoryVfs();
    const env = new ManualEnv(vfs);
    const store = await HintStore.open(env);
    await store.add('n2', bytes('durable'));
    // A hint half written when the power went: only its .tmp exists.
    const f = await vfs.open('hints/n2/0000000000000099.hint.tmp', 'create');
    await f.append(bytes('torn'));
    await f.sync();
    await vfs.syncDir('hints/n2');
    vfs.crash();
    const again = await HintStore.open(new ManualEnv(vfs));
    expect(again.pending('n2')).toBe(1);
    expect(await vfs.list('hints/n2')).toEqual(['0000000000000001.hint']);
    const c = collector();
    await again.replay('n2', c.deliver);
    expect(c.got).toEqual(['durable']);
    // New hints after a restart sort after the old ones.
    await again.add('n2', bytes('x'));
    await again.add('n2', bytes('y'));
    const d = collector();
    await again.replay('n2', d.deliver);
    expect(d.got).toEqual(['x', 'y']);
  });

  it('refuses hints past the per-target count and byte bounds', async () => {
    const env = new ManualEnv(new MemoryVfs());
    const store = await HintStore.open(env, { maxHintsPerTarget: 2, maxBytesPerTarget: 1000 });
    expect(await store.add('n2', bytes('1'))).toBe(true);
    expect(await store.add('n2', bytes('2'))).toBe(true);
    expect(await store.add('n2', bytes('3'))).toBe(false);
    expect(await store.add('n3', new Uint8Array(2000))).toBe(false);
    expect(await store.add('n3', new Uint8Array(900))).toBe(true);
    expect(store.stats.refused).toBe(2);
    expect(store.pendingBytes('n3')).toBeLessThanOrEqual(1000);
  });

  it('drops expired and damaged hints, keeps a hint whose delivery should be retried', async () => {
    const vfs = new MemoryVfs();
    const env = new ManualEnv(vfs);
    const store = await HintStore.open(env, { maxAgeMs: 60_000 });
    await store.add('n2', bytes('old'));
    env.advance(61_000);
    await store.add('n2', bytes('fresh'));
    await store.add('n2', bytes('damaged'));
    await store.add('n2', bytes('later'));
    // Flip a payload byte of the third hint.
    const path = 'hints/n2/0000000000000003.hint';
    const file = await vfs.readFile(path);
    file[file.length - 1] ^= 0xff;
    const w = await vfs.open(path, 'create');
    await w.append(file);
    await w.sync();
    const c = collector((s) => (s === 'later' ? 'retry' : 'delivered'));
    expect(await store.replay('n2', c.deliver)).toBe(1);
    expect(c.got).toEqual(['fresh']);
    expect(store.stats.dropped).toBe(2);
    expect(store.pending('n2')).toBe(1);
  });

  it('throttles a replay and runs one replay per target at a time', async () => {
    // Real timers: the throttle's pauses are real waits.
    const env = {
      vfs: new MemoryVfs(),
      now: () => Date.now(),
      monotonic: () => performance.now(),
      random: () => 0.5,
      setTimer: (ms: number, fn: () => void) => {
        const t = setTimeout(fn, ms);
        return { cancel: () => clearTimeout(t) };
      },
    };
    const store = await HintStore.open(env);
    for (let i = 0; i < 5; i++) await store.add('n2', bytes(`h${i}`));
    const c = collector();
    const t0 = performance.now();
    const first = store.replay('n2', c.deliver, { pauseMs: 20 });
    expect(await store.replay('n2', c.deliver)).toBe(0);
    expect(await first).toBe(5);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(4 * 20 - 5);
    expect(c.got).toEqual(['h0', 'h1', 'h2', 'h3', 'h4']);
  });

  it('keeps a hint whose write finishes after a replay of the same target emptied its list', async () => {
    const vfs = new MemoryVfs();
    const env = new ManualEnv(vfs);
    const store = await HintStore.open(env);
    await store.add('n2', bytes('old'));
    // Hold the new hint's fsync while a replay drains the target's list.
    let release = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    vfs.setSyncGate(() => held);
    const adding = store.add('n2', bytes('new'));
    vfs.setSyncGate(null);
    const c = collector();
    expect(await store.replay('n2', c.deliver)).toBe(1);
    release();
    expect(await adding).toBe(true);
    expect(store.pending('n2')).toBe(1);
    expect(store.targetsWithHints()).toEqual(['n2']);
    const d = collector();
    expect(await store.replay('n2', d.deliver)).toBe(1);
    expect(d.got).toEqual(['new']);
  });

  it('encodes hints with a checksum that catches truncation and damage', () => {
    const enc = encodeHint(bytes('payload'), 123);
    expect(decodeHint(enc)).toMatchObject({ createdAt: 123 });
    expect(text(decodeHint(enc)!.payload)).toBe('payload');
    expect(decodeHint(enc.subarray(0, enc.length - 1))).toBeUndefined();
    const bad = enc.slice();
    bad[bad.length - 2] ^= 1;
    expect(decodeHint(bad)).toBeUndefined();
  });
});
