/**
 * `node dist/bench/gossip-detection.js [--nodes 3] [--runs 5]`: how long gossip takes, with its
 * default timings (probe every second), to see a killed node as suspect and then as dead at
 * every other node. Nodes run in this process on RealEnv and the ws PeerTransport over
 * loopback; killing one closes its transport (its peers see the connection drop and their
 * redials fail, as after a SIGKILL). Prints each run and the medians.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gossip } from '../src/cluster/gossip.js';
import { clusterEnvOf } from '../src/env/cluster-env.js';
import { createRealEnv } from '../src/env/real-env.js';
import { PeerTransport } from '../src/net/peer-transport.js';
import { numberArg } from './args.js';
import { median } from './median.js';

function arg(name: string, fallback: number): number {
  return numberArg(`--${name}`) ?? fallback;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(done: () => boolean, ms: number): Promise<number> {
  const start = performance.now();
  while (!done()) {
    if (performance.now() - start > ms) throw new Error('gossip-detection: timed out');
    await sleep(5);
  }
  return performance.now() - start;
}

async function oneRun(nodes: number, dir: string): Promise<{ suspect: number; dead: number }> {
  const ids = Array.from({ length: nodes }, (_, i) => `n${i + 1}`);
  const transports = new Map<string, PeerTransport>();
  for (const id of ids) {
    transports.set(id, await PeerTransport.listen({ nodeId: id, host: '127.0.0.1', port: 0 }));
  }
  const gossips = new Map<string, Gossip>();
  for (const id of ids) {
    const t = transports.get(id)!;
    const seeds = ids
      .filter((o) => o !== id)
      .map((o) => ({
        id: o,
        peerAddress: `127.0.0.1:${transports.get(o)!.port}`,
        httpAddress: '',
      }));
    const env = clusterEnvOf(createRealEnv(join(dir, id)), id, t);
    const g = new Gossip(env, { peerAddress: `127.0.0.1:${t.port}`, httpAddress: '', seeds });
    gossips.set(id, g);
    g.start();
  }
  // Let the cluster settle so the victim is at a random point of everyone's probe rounds.
  await sleep(3000 + Math.random() * 1000);
  const victim = ids[ids.length - 1];
  const others = ids.filter((id) => id !== victim);
  gossips.get(victim)!.stop();
  await transports.get(victim)!.close();
  const suspect = await waitFor(
    () => others.some((o) => gossips.get(o)!.liveness(victim) !== 'alive'),
    60_000,
  );
  const dead = await waitFor(
    () => others.every((o) => gossips.get(o)!.liveness(victim) === 'dead'),
    60_000,
  );
  for (const id of others) {
    gossips.get(id)!.stop();
    await transports.get(id)!.close();
  }
  return { suspect, dead: suspect + dead };
}

const nodes = arg('nodes', 3);
const runs = arg('runs', 5);
const dir = await mkdtemp(join(tmpdir(), 'count-gossip-bench-'));
const suspects: number[] = [];
const deads: number[] = [];
console.log(`gossip failure detection, ${nodes} nodes, default timings, ${runs} runs`);
console.log('run  first suspect (ms)  dead at all (ms)');
for (let r = 1; r <= runs; r++) {
  const { suspect, dead } = await oneRun(nodes, dir);
  suspects.push(suspect);
  deads.push(dead);
  console.log(
    `${String(r).padStart(3)}  ${suspect.toFixed(0).padStart(18)}  ${dead.toFixed(0).padStart(16)}`,
  );
}
console.log(
  `med  ${median(suspects).toFixed(0).padStart(18)}  ${median(deads).toFixed(0).padStart(16)}`,
);
await rm(dir, { recursive: true, force: true });
