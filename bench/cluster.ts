import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { LocalCluster, readRange, waitFor } from '../test/cluster-process/local-cluster.js';
import { REPO_ROOT, startServer, stopAllServers } from '../test/helpers/server-process.js';
import { telegrafCpuBodies } from './line-protocol-bodies.js';

/**
 * `node dist/bench/cluster.js` (build first): the cluster figures of issue 5, each the median
 * of several runs, on real count-server processes over loopback:
 * - ingest: line protocol at quorum into a 3-node RF=3 cluster against one single node, with
 *   the same load generator (bench/http-load-client.ts) aimed at n1, and the ratio;
 * - read latency: p50/p99 of GET /query/range at quorum (one series, 1,000 points) through n1;
 * - detection: kill -9 of a node until n1's /admin/cluster/status (what countctl status shows)
 *   says it is dead;
 * - join: a fourth node joining a cluster that holds --join-points points, until it is normal.
 */
const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    reads: { type: 'string', default: '500' },
    'join-points': { type: 'string', default: '1000000' },
    only: { type: 'string' },
  },
});
const RUNS = Number(args.runs);
const CLIENT = join(REPO_ROOT, 'dist/bench/http-load-client.js');

interface LoadResult {
  pointsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  rejected: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.floor((s.length - 1) / 2)];
}

function runClient(url: string): Promise<LoadResult> {
  const client = spawn(
    process.execPath,
    [CLIENT, '--url', url, '--seconds', String(args.seconds), '--points', '10000'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  client.stdout.setEncoding('utf8').on('data', (c: string) => {
    out += c;
  });
  return new Promise((res, rej) =>
    client.on('exit', (code) =>
      code === 0 ? res(JSON.parse(out.trim()) as LoadResult) : rej(new Error(`client ${code}`)),
    ),
  );
}

async function threeNodes(rf = 3): Promise<LocalCluster> {
  const c = new LocalCluster(['--log-level', 'info,http=warn']);
  await c.bootstrap('n1', rf);
  await c.join('n2', 'n1');
  await c.join('n3', 'n1');
  await c.waitForMembers(['n1', 'n2', 'n3']);
  return c;
}

async function ingest(): Promise<string[][]> {
  const single: LoadResult[] = [];
  const cluster: LoadResult[] = [];
  for (let r = 0; r < RUNS; r++) {
    const s = await startServer({ args: ['--log-level', 'info,http=warn'] });
    single.push(await runClient(s.url));
    await stopAllServers();
    const c = await threeNodes();
    cluster.push(await runClient(c.url('n1')));
    await stopAllServers();
    process.stderr.write(
      `ingest run ${r + 1}: single ${Math.round(single[r].pointsPerSecond)}, cluster ${Math.round(cluster[r].pointsPerSecond)} points/s\n`,
    );
  }
  const row = (name: string, xs: LoadResult[]) => [
    name,
    Math.round(median(xs.map((x) => x.pointsPerSecond))).toLocaleString('en-US'),
    xs.map((x) => Math.round(x.pointsPerSecond).toLocaleString('en-US')).join(' / '),
    median(xs.map((x) => x.p50Ms)).toFixed(1),
    median(xs.map((x) => x.p99Ms)).toFixed(1),
    String(xs.reduce((a, x) => a + x.rejected, 0)),
  ];
  const ratio =
    median(cluster.map((x) => x.pointsPerSecond)) / median(single.map((x) => x.pointsPerSecond));
  return [
    ['ingest', 'points/s (median)', 'runs', 'p50 ms', 'p99 ms', 'rejected'],
    row('single node', single),
    row('3 nodes, RF=3, quorum, via n1', cluster),
    ['cluster / single', ratio.toFixed(2), '', '', '', ''],
  ];
}

async function reads(): Promise<string[][]> {
  const rows: string[][] = [['quorum read (1,000 points)', 'p50 ms', 'p99 ms', 'reads']];
  const p50s: number[] = [];
  const p99s: number[] = [];
  const base = Date.now() - 3_600_000;
  for (let r = 0; r < RUNS; r++) {
    const c = await threeNodes();
    for (let s = 0; s < 20; s++) {
      const lines = Array.from({ length: 1000 }, (_, i) => `rd,s=${s} v=${i} ${base + i}`);
      const res = await fetch(`${c.url('n2')}/write?precision=ms`, {
        method: 'POST',
        body: lines.join('\n'),
      });
      if (res.status !== 204) throw new Error(`write ${res.status}`);
    }
    const lat: number[] = [];
    for (let i = 0; i < Number(args.reads); i++) {
      const t0 = performance.now();
      const a = await readRange(c.url('n1'), `rd.v{s="${i % 20}"}`, 'quorum');
      lat.push(performance.now() - t0);
      if (a.status !== 200) throw new Error(`read ${a.status}`);
    }
    lat.sort((a, b) => a - b);
    p50s.push(lat[Math.floor(lat.length * 0.5)]);
    p99s.push(lat[Math.floor(lat.length * 0.99)]);
    process.stderr.write(
      `read run ${r + 1}: p50 ${p50s[r].toFixed(2)} p99 ${p99s[r].toFixed(2)}\n`,
    );
    await stopAllServers();
  }
  rows.push([
    `median of ${RUNS} runs`,
    median(p50s).toFixed(2),
    median(p99s).toFixed(2),
    args.reads ?? '',
  ]);
  rows.push([
    'runs',
    p50s.map((x) => x.toFixed(2)).join(' / '),
    p99s.map((x) => x.toFixed(2)).join(' / '),
    '',
  ]);
  return rows;
}

async function detection(): Promise<string[][]> {
  const c = await threeNodes();
  const times: number[] = [];
  try {
    for (let r = 0; r < Math.max(RUNS, 3); r++) {
      await waitFor(
        async () => (await c.status(c.url('n1'))).members.every((m) => m.liveness === 'alive'),
        30_000,
        'all alive',
      );
      await c.kill('n3');
      const t0 = performance.now();
      await waitFor(
        async () => {
          const s = (await (await fetch(`${c.url('n1')}/admin/cluster/status`)).json()) as {
            members: { id: string; liveness: string }[];
          };
          return s.members.find((m) => m.id === 'n3')?.liveness === 'dead';
        },
        60_000,
        'n3 dead',
      );
      times.push(performance.now() - t0);
      process.stderr.write(`detection run ${r + 1}: ${(times[r] / 1000).toFixed(2)} s\n`);
      await c.restart('n3');
    }
  } finally {
    await stopAllServers();
  }
  return [
    ['kill -9 until status shows dead', 'median s', 'runs s'],
    [
      '3 nodes, n1 asked',
      (median(times) / 1000).toFixed(2),
      times.map((t) => (t / 1000).toFixed(2)).join(' / '),
    ],
  ];
}

async function join4(): Promise<string[][]> {
  const total = Number(args['join-points']);
  const times: number[] = [];
  for (let r = 0; r < Math.min(RUNS, 3); r++) {
    const c = await threeNodes();
    // Telegraf-like cpu lines: 1,000 hosts x 10 fields = 10,000 series, 10,000 points a request.
    const body = telegrafCpuBodies({
      hosts: 1000,
      fields: 10,
      linesPerRequest: 1000,
      startTs: Date.now() - 86_400_000,
    });
    for (let i = 0; i * 10_000 < total; i++) {
      const res = await fetch(`${c.url(['n1', 'n2', 'n3'][i % 3])}/write?precision=ms`, {
        method: 'POST',
        body: body(i),
      });
      if (res.status !== 204) throw new Error(`load write ${res.status}: ${await res.text()}`);
    }
    const t0 = performance.now();
    await c.join('n4', 'n1');
    await c.waitForMembers(['n1', 'n2', 'n3', 'n4'], 600_000);
    times.push(performance.now() - t0);
    process.stderr.write(`join run ${r + 1}: ${(times[r] / 1000).toFixed(1)} s\n`);
    await stopAllServers();
  }
  return [
    [
      `join a 4th node to 3 nodes holding ${total.toLocaleString('en-US')} points (RF=3)`,
      'median s',
      'runs s',
    ],
    [
      'start to normal',
      (median(times) / 1000).toFixed(1),
      times.map((t) => (t / 1000).toFixed(1)).join(' / '),
    ],
  ];
}

function printTable(rows: string[][]): void {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) console.log(r.map((c, i) => (c ?? '').padEnd(widths[i])).join('  '));
  console.log('');
}

const sections: Record<string, () => Promise<string[][]>> = {
  ingest,
  reads,
  detection,
  join: join4,
};
try {
  for (const name of args.only === undefined ? Object.keys(sections) : args.only.split(',')) {
    const fn = sections[name];
    if (fn === undefined)
      throw new Error(`unknown section ${name}; sections: ${Object.keys(sections).join(', ')}`);
    printTable(await fn());
  }
} finally {
  await stopAllServers();
}
