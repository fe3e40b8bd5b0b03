import { performance } from 'node:perf_hooks';
import { afterAll, describe, expect, it } from 'vitest';
import { type MetadataNode, startMetadataNode } from '../../src/cluster/metadata-node.js';
import { clusterEnvOf } from '../../src/env/cluster-env.js';
import type { Env } from '../../src/env/env.js';
import { PeerTransport } from '../../src/net/peer-transport.js';
import { MemoryVfs } from '../../src/storage/memory-vfs.js';

/**
 * The metadata layer over the real ws transport and real timers, in one process: a node
 * bootstraps, two join through it as seed (by address only), and one is decommissioned.
 */
const transports: PeerTransport[] = [];
const nodes: MetadataNode[] = [];

afterAll(async () => {
  for (const n of nodes) await n.stop();
  await Promise.all(transports.map((t) => t.close()));
});

function realEnv(vfs: MemoryVfs): Env {
  return {
    now: () => Date.now(),
    monotonic: () => performance.now(),
    setTimer: (ms, fn) => {
      const t = setTimeout(fn, Math.max(0, ms));
      return { cancel: () => clearTimeout(t) };
    },
    random: () => Math.random(),
    vfs,
  };
}

async function waitFor(cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function start(
  id: string,
  seeds: string[],
  vfs = new MemoryVfs(),
): Promise<{ node: MetadataNode; peer: string; transport: PeerTransport }> {
  const t = await PeerTransport.listen({
    nodeId: id,
    host: '127.0.0.1',
    port: 0,
    reconnectMinMs: 10,
  });
  transports.push(t);
  const peer = `127.0.0.1:${t.port}`;
  const env = clusterEnvOf(realEnv(vfs), id, t);
  const node = await startMetadataNode(env, {
    self: { id, httpAddress: `127.0.0.1:${8000 + transports.length}`, peerAddress: peer },
    bootstrap: seeds.length === 0,
    seeds,
    rf: 1,
    stream: async () => ({ series: 0, points: 0 }),
    metadata: { tickMs: 20 },
    joinDeadlineMs: 10_000,
  });
  nodes.push(node);
  await node.join();
  return { node, peer, transport: t };
}

describe('metadata over the ws transport', () => {
  it('bootstrap, two joins through a seed address, a decommission', async () => {
    const first = await start('n1', []);
    await waitFor(() => first.node.metadata.isLeader());
    const second = await start('n2', [first.peer]);
    await waitFor(() => first.node.metadata.state().operation === null);
    const third = await start('n3', [second.peer]);
    const all = [first, second, third].map((x) => x.node.metadata);
    await waitFor(
      () =>
        all.every((m) => m.state().operation === null && m.epoch() === all[0].epoch()) &&
        first.node.metadata.raftStatus().voters.length === 3,
    );
    expect(Object.values(all[2].state().nodes).map((n) => n.state)).toEqual([
      'normal',
      'normal',
      'normal',
    ]);
    await second.node.service.operate('decommission', 'n3');
    await waitFor(() => all.every((m) => m.state().nodes.n3?.state === 'left'));
    await waitFor(() => {
      const v = all[0].raftStatus().voters;
      return v.length === 2 && !v.includes('n3');
    });
    expect(all[1].ring().readReplicas('8000000000000000')).not.toContain('n3');
  }, 30_000);

  it('a node restarted on another port records its new address', async () => {
    const vfs = new MemoryVfs();
    const a = await start('m1', [], vfs);
    await waitFor(() => a.node.metadata.isLeader());
    const b = await start('m2', [a.peer]);
    await waitFor(() => a.node.metadata.state().nodes.m2?.state === 'normal');
    // m1 (the only voter) goes away and comes back from its disk on a new port.
    await a.node.stop();
    await a.transport.close();
    const again = await start('m1', [], vfs);
    expect(again.peer).not.toBe(a.peer);
    expect(again.node.metadata.hadLog).toBe(true);
    await waitFor(() => b.node.metadata.state().nodes.m1?.peerAddress === again.peer);
    expect(again.node.metadata.state().nodes.m1.peerAddress).toBe(again.peer);
  }, 30_000);
});
