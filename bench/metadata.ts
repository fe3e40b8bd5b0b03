/**
 * `node dist/bench/metadata.js [--runs 3] [--commits 200]`: the metadata layer on RealEnv
 * (fsync on NodeVfs in os.tmpdir()) and the ws PeerTransport over loopback, 3 nodes in this
 * process with the production timings (tick 100 ms, election 1-2 s). Per run: time to form the
 * cluster (bootstrap, two joins through a seed address, until 3 voters), metadata commit
 * latency (sequential changes proposed on the leader), a join and a decommission of a fourth
 * node holding no data, and the token allocation for one node joining a 100-node ring.
 * Prints each run and the medians.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type MetadataNode, startMetadataNode } from '../src/cluster/metadata-node.js';
import { allocateTokens, type TokenHolder } from '../src/cluster/token-allocator.js';
import { clusterEnvOf } from '../src/env/cluster-env.js';
import { createRealEnv } from '../src/env/real-env.js';
import { PeerTransport } from '../src/net/peer-transport.js';
import { numberArg } from './args.js';
import { median } from './median.js';

function arg(name: string, fallback: number): number {
  return numberArg(`--${name}`) ?? fallback;
}

function percentile(xs: number[], p: number): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function waitFor(done: () => boolean, ms = 60_000): Promise<number> {
  const start = performance.now();
  while (!done()) {
    if (performance.now() - start > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now() - start;
}

interface Started {
  node: MetadataNode;
  transport: PeerTransport;
  peer: string;
}

async function startNode(root: string, id: string, seeds: string[]): Promise<Started> {
  const transport = await PeerTransport.listen({ nodeId: id, host: '127.0.0.1', port: 0 });
  const peer = `127.0.0.1:${transport.port}`;
  const env = clusterEnvOf(createRealEnv(join(root, id)), id, transport);
  const node = await startMetadataNode(env, {
    self: { id, httpAddress: `127.0.0.1:0`, peerAddress: peer },
    bootstrap: seeds.length === 0,
    seeds,
    rf: 3,
    stream: async () => ({ series: 0, points: 0 }),
  });
  await node.join();
  return { node, transport, peer };
}

interface RunFigures {
  formMs: number;
  commitP50: number;
  commitP99: number;
  commitsPerSec: number;
  joinMs: number;
  decommissionMs: number;
}

async function runOnce(commits: number): Promise<RunFigures> {
  const root = await mkdtemp(join(tmpdir(), 'count-meta-bench-'));
  const started: Started[] = [];
  try {
    const t0 = performance.now();
    const n1 = await startNode(root, 'n1', []);
    started.push(n1);
    await waitFor(() => n1.node.metadata.isLeader());
    for (const id of ['n2', 'n3']) {
      started.push(await startNode(root, id, [n1.peer]));
      await waitFor(() => n1.node.metadata.state().operation === null);
    }
    await waitFor(() => n1.node.metadata.raftStatus().voters.length === 3);
    const formMs = performance.now() - t0;

    const leader = started.find((s) => s.node.metadata.isLeader()) ?? n1;
    const lat: number[] = [];
    const c0 = performance.now();
    for (let i = 0; i < commits; i++) {
      const t = performance.now();
      await leader.node.metadata.propose({
        type: 'update-address',
        node: { id: 'n2', httpAddress: `127.0.0.1:${10_000 + i}`, peerAddress: started[1].peer },
      });
      lat.push(performance.now() - t);
    }
    const commitsPerSec = commits / ((performance.now() - c0) / 1000);

    const j0 = performance.now();
    const n4 = await startNode(root, 'n4', [n1.peer]);
    started.push(n4);
    await waitFor(() => n1.node.metadata.state().nodes.n4?.state === 'normal');
    const joinMs = performance.now() - j0;

    const d0 = performance.now();
    await n1.node.service.operate('decommission', 'n4');
    await waitFor(() => n1.node.metadata.state().nodes.n4?.state === 'left');
    const decommissionMs = performance.now() - d0;
    return {
      formMs,
      commitP50: percentile(lat, 50),
      commitP99: percentile(lat, 99),
      commitsPerSec,
      joinMs,
      decommissionMs,
    };
  } finally {
    for (const s of started) {
      await s.node.stop();
      await s.transport.close();
    }
    await rm(root, { recursive: true, force: true });
  }
}

function allocationMs(): number {
  const holders: TokenHolder[] = [];
  for (let n = 1; n <= 100; n++)
    holders.push({ id: `n${n}`, tokens: allocateTokens(holders, `n${n}`, 16) });
  const t = performance.now();
  allocateTokens(holders, 'n101', 16);
  return performance.now() - t;
}

const runs = arg('runs', 3);
const commits = arg('commits', 200);
const rows: RunFigures[] = [];
const fmt = (x: number) => x.toFixed(1).padStart(9);
console.log('run   form ms  commit p50  commit p99  commits/s   join ms  decomm ms  alloc ms');
for (let r = 0; r < runs; r++) {
  const f = await runOnce(commits);
  rows.push(f);
  console.log(
    `${String(r + 1).padStart(3)} ${fmt(f.formMs)} ${fmt(f.commitP50)}   ${fmt(f.commitP99)}  ${fmt(f.commitsPerSec)} ${fmt(f.joinMs)} ${fmt(f.decommissionMs)} ${fmt(allocationMs())}`,
  );
}
const m = (k: keyof RunFigures) => median(rows.map((x) => x[k]));
console.log(
  `med ${fmt(m('formMs'))} ${fmt(m('commitP50'))}   ${fmt(m('commitP99'))}  ${fmt(m('commitsPerSec'))} ${fmt(m('joinMs'))} ${fmt(m('decommissionMs'))}`,
);
