/**
 * Data-plane benchmark in one process: three nodes (real engines on files in os.tmpdir(),
 * fsync=batch) joined by the real ws + msgpackr PeerTransport over loopback, RF=3. Measures
 * ingest through the Coordinator at quorum against the same batches written to one engine
 * directly, and the latency of quorum reads of one series (local replica + one remote). The
 * network hop and the replication are what the figures show; HTTP parsing is not included
 * (bench/http-load.ts measures that). Medians of several runs; prints a table.
 *
 *   node dist/bench/data-plane.js [--points N] [--runs N]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { ClusterState, NodeInfo } from '../src/cluster/cluster-state.js';
import { Ring, tokenOf } from '../src/cluster/ring.js';
import { Coordinator } from '../src/distributed/coordinator.js';
import { clusterEnvOf } from '../src/env/cluster-env.js';
import { createRealEnv } from '../src/env/real-env.js';
import { PointBatch } from '../src/model/batch.js';
import { PeerTransport } from '../src/net/peer-transport.js';
import { openEngine, type StorageEngine } from '../src/storage/engine.js';
import { numberArg } from './args.js';
import { median } from './median.js';

const SERIES = 100;
const BATCH_POINTS = 10_000;
const IN_FLIGHT = 4;

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

function batches(points: number, t0: number): PointBatch[] {
  const out: PointBatch[] = [];
  const keys = Array.from({ length: SERIES }, (_, i) => `cpu.usage{host="h${i}"}`);
  let t = t0;
  for (let done = 0; done < points; done += BATCH_POINTS) {
    const b = new PointBatch(BATCH_POINTS);
    const ids = keys.map((k) => b.seriesId(k));
    for (let i = 0; i < BATCH_POINTS; i += SERIES) {
      for (let s = 0; s < SERIES; s++) b.addById(ids[s], t, 20 + ((s * 7 + i) % 50) / 4);
      t += 1000;
    }
    out.push(b);
  }
  return out;
}

async function drive(
  work: PointBatch[],
  write: (b: PointBatch) => Promise<unknown>,
): Promise<number> {
  const start = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < work.length) await write(work[next++]);
    }),
  );
  const points = work.reduce((n, b) => n + b.length, 0);
  return points / ((performance.now() - start) / 1000);
}

interface Node {
  id: string;
  transport: PeerTransport;
  engine: StorageEngine;
  coordinator: Coordinator;
}

async function startCluster(dir: string): Promise<Node[]> {
  const ids = ['n1', 'n2', 'n3'];
  const transports = await Promise.all(
    ids.map((id) => PeerTransport.listen({ nodeId: id, host: '127.0.0.1', port: 0 })),
  );
  const nodes: Record<string, NodeInfo> = {};
  ids.forEach((id, i) => {
    const tokens = Array.from({ length: 16 }, (_, k) => tokenOf(`${id}#${k}`));
    const peerAddress = `127.0.0.1:${transports[i].port}`;
    nodes[id] = { id, httpAddress: '', peerAddress, state: 'normal', tokens };
  });
  for (const t of transports) {
    for (const id of ids) t.addPeer(id, nodes[id].peerAddress);
  }
  const state: ClusterState = {
    epoch: 1,
    rf: 3,
    voterTarget: 3,
    tokensPerNode: 16,
    nodes,
    operation: null,
    lastOperation: null,
  };
  const ring = Ring.from(state);
  const metadata = { ring: () => ring, epoch: () => 1, catchUp: async () => {} };
  const gossip = { isAlive: () => true, onLivenessChange: () => {} };
  return Promise.all(
    ids.map(async (id, i) => {
      const env = clusterEnvOf(createRealEnv(join(dir, id)), id, transports[i]);
      const engine = await openEngine(env);
      const coordinator = new Coordinator(env, {
        engine,
        metadata,
        gossip,
        options: { antiEntropy: { intervalMs: 0 } },
      });
      await coordinator.ready();
      return { id, transport: transports[i], engine, coordinator };
    }),
  );
}

export async function runDataPlaneBench(points = 1_000_000, runs = 3): Promise<void> {
  const single: number[] = [];
  const quorum: number[] = [];
  const p50: number[] = [];
  const p99: number[] = [];
  for (let run = 0; run < runs; run++) {
    const t0 = Date.now() - 3600_000;
    const dir = mkdtempSync(join(tmpdir(), 'count-data-plane-'));
    try {
      const alone = await openEngine(createRealEnv(join(dir, 'single')));
      single.push(await drive(batches(points, t0), (b) => alone.write(b)));
      await alone.close();

      const cluster = await startCluster(dir);
      try {
        const c = cluster[0].coordinator;
        quorum.push(await drive(batches(points, t0), (b) => c.write(b, 'quorum')));
        const lat: number[] = [];
        for (let i = 0; i < 500; i++) {
          const key = `cpu.usage{host="h${i % SERIES}"}`;
          const start = performance.now();
          await c.readRange(key, t0, t0 + 600_000, 'quorum');
          lat.push(performance.now() - start);
        }
        p50.push(quantile(lat, 0.5));
        p99.push(quantile(lat, 0.99));
      } finally {
        for (const n of cluster) {
          await n.coordinator.close();
          await n.transport.close();
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const s = median(single);
  const q = median(quorum);
  console.log(`data plane, ${points} points per run, ${runs} runs (medians)`);
  console.log('figure                                      value');
  console.log(`single engine ingest (points/s)             ${Math.round(s)}`);
  console.log(`3 nodes RF=3 quorum ingest (points/s)       ${Math.round(q)}`);
  console.log(`ratio cluster / single                      ${(q / s).toFixed(2)}`);
  console.log(`quorum read of 10 min, p50 (ms)             ${median(p50).toFixed(2)}`);
  console.log(`quorum read of 10 min, p99 (ms)             ${median(p99).toFixed(2)}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await runDataPlaneBench(numberArg('--points') ?? 1_000_000, numberArg('--runs') ?? 3);
}
