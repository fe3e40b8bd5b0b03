import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Gossip } from '../../src/cluster/gossip.js';
import type { GossipTiming } from '../../src/cluster/gossip-options.js';
import { clusterEnvOf } from '../../src/env/cluster-env.js';
import { createRealEnv } from '../../src/env/real-env.js';
import { PeerTransport } from '../../src/net/peer-transport.js';

/**
 * Gossip on the real stack: RealEnv timers and the ws PeerTransport on loopback, three nodes in
 * this process, with timings scaled down 5x so the test stays short. A closed transport plays a
 * killed node; a new transport and Gossip on the same port play its restart.
 */

const FAST: Partial<GossipTiming> = {
  probeIntervalMs: 200,
  probeTimeoutMs: 80,
  gossipIntervalMs: 40,
  syncIntervalMs: 2_000,
};

interface RunningNode {
  transport: PeerTransport;
  gossip: Gossip;
}

let dir = '';
const nodes = new Map<string, RunningNode>();
const ports = new Map<string, number>();

async function listen(id: string, port: number): Promise<PeerTransport> {
  const transport = await PeerTransport.listen({ nodeId: id, host: '127.0.0.1', port });
  ports.set(id, transport.port);
  return transport;
}

/** Gossip on `transport`, knowing every other node's address (as the metadata would give). */
function startGossip(id: string, transport: PeerTransport): RunningNode {
  const env = clusterEnvOf(createRealEnv(join(dir, id)), id, transport);
  const seeds = [...ports.entries()]
    .filter(([other]) => other !== id)
    .map(([other, p]) => ({ id: other, peerAddress: `127.0.0.1:${p}`, httpAddress: '' }));
  const gossip = new Gossip(env, {
    peerAddress: `127.0.0.1:${transport.port}`,
    httpAddress: '',
    seeds,
    timing: FAST,
  });
  const node = { transport, gossip };
  nodes.set(id, node);
  gossip.start();
  return node;
}

async function stopNode(id: string): Promise<void> {
  const node = nodes.get(id);
  if (node === undefined) return;
  node.gossip.stop();
  await node.transport.close();
  nodes.delete(id);
}

async function waitFor(what: string, done: () => boolean, ms: number): Promise<number> {
  const start = performance.now();
  while (!done()) {
    if (performance.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return performance.now() - start;
}

function allSee(member: string, liveness: string): boolean {
  return [...nodes.entries()].every(
    ([id, n]) => id === member || n.gossip.liveness(member) === liveness,
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'count-gossip-'));
});

afterAll(async () => {
  for (const id of [...nodes.keys()]) await stopNode(id);
  await rm(dir, { recursive: true, force: true });
});

test('over ws on loopback: a closed node is declared dead, and comes back when restarted', async () => {
  // The transport has the smaller id dial: every node must know the others' addresses, which
  // the cluster wiring takes from the metadata (gossip alone cannot open the first connection).
  const transports = new Map<string, PeerTransport>();
  for (const id of ['n1', 'n2', 'n3']) transports.set(id, await listen(id, 0));
  for (const [id, t] of transports) startGossip(id, t);
  await waitFor(
    'formation',
    () =>
      [...nodes.values()].every(
        (n) => n.gossip.members().filter((m) => m.liveness === 'alive').length === 3,
      ),
    10_000,
  );

  const port3 = ports.get('n3')!;
  await stopNode('n3');
  // 3 nodes: suspicion minimum 4 x 200 ms; at most two probe rounds before the first failure.
  const detected = await waitFor('n3 dead', () => allSee('n3', 'dead'), 10_000);
  expect(detected).toBeLessThan(6_000);

  const restarted = startGossip('n3', await listen('n3', port3));
  await waitFor('n3 alive again', () => allSee('n3', 'alive'), 10_000);
  expect(restarted.gossip.localIncarnation).toBeGreaterThan(0);
  expect(nodes.get('n1')!.gossip.isAlive('n3')).toBe(true);
});
