import { describe, expect, it } from 'vitest';
import { type ClusterEnv, clusterEnvOf, type PeerNetwork } from '../../src/env/cluster-env.js';
import type { Env } from '../../src/env/env.js';
import type { PeerTransport } from '../../src/net/peer-transport.js';
import { MemoryVfs } from '../../src/storage/memory-vfs.js';

// Compile-time: the ws transport is a PeerNetwork as it is, so the wiring needs no adapter.
const asNetwork = (t: PeerTransport): PeerNetwork => t;

describe('clusterEnvOf', () => {
  it('delegates time, timers, randomness and disk to the node env', () => {
    let now = 1000;
    const fired: number[] = [];
    const vfs = new MemoryVfs();
    const env: Env = {
      now: () => now,
      monotonic: () => now + 1,
      setTimer: (delayMs, fn) => {
        fired.push(delayMs);
        fn();
        return { cancel: () => {} };
      },
      random: () => 0.25,
      vfs,
    };
    const net = { send: () => true } as unknown as PeerNetwork;
    const cenv: ClusterEnv = clusterEnvOf(env, 'n1', net);
    now = 2000;
    expect(cenv.now()).toBe(2000);
    expect(cenv.monotonic()).toBe(2001);
    expect(cenv.random()).toBe(0.25);
    let ran = false;
    cenv.setTimer(7, () => {
      ran = true;
    });
    expect(ran).toBe(true);
    expect(fired).toEqual([7]);
    expect(cenv.vfs).toBe(vfs);
    expect(cenv.nodeId).toBe('n1');
    expect(cenv.net).toBe(net);
    expect(typeof asNetwork).toBe('function');
  });
});
