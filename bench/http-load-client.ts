import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { telegrafCpuBodies } from './line-protocol-bodies.js';

/**
 * Load generator for bench/http-load.ts, run as its own process so it does not share an event
 * loop with the server: posts line protocol (N points a request) over K keep-alive connections
 * for a fixed time and prints one JSON line with what was accepted and the request latencies.
 *
 * Bodies come from line-protocol-bodies.ts (Telegraf-like cpu lines, `fields` fields a line).
 */
const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '2' },
    points: { type: 'string', default: '10000' },
    fields: { type: 'string', default: '10' },
    hosts: { type: 'string', default: '1000' },
  },
});

const url = new URL(args.url ?? 'http://127.0.0.1:8080');
const seconds = Number(args.seconds);
const warmup = Number(args.warmup);
const connections = Number(args.connections);
const pointsPerRequest = Number(args.points);
const fields = Number(args.fields);
const hosts = Number(args.hosts);
const linesPerRequest = Math.ceil(pointsPerRequest / fields);

const body = telegrafCpuBodies({ hosts, fields, linesPerRequest, startTs: Date.now() - 3_600_000 });
let nextRequest = 0;

const agent = new Agent({ keepAlive: true, maxSockets: connections });

function post(text: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: '/write?precision=ms',
        method: 'POST',
        agent,
        headers: { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

async function main(): Promise<void> {
  const latencies: number[] = [];
  let accepted = 0;
  let acceptedAll = 0;
  let rejected = 0;
  let measuring = false;
  let stop = false;
  let measureStart = 0;

  const loop = async () => {
    let next = body(nextRequest++);
    while (!stop) {
      const t0 = performance.now();
      const status = await post(next);
      const ms = performance.now() - t0;
      if (status === 204) acceptedAll += pointsPerRequest;
      if (measuring && !stop) {
        latencies.push(ms);
        if (status === 204) accepted += pointsPerRequest;
        else rejected++;
      }
      next = body(nextRequest++);
    }
  };
  const loops = Array.from({ length: connections }, loop);
  await sleep(warmup * 1000);
  measuring = true;
  measureStart = performance.now();
  await sleep(seconds * 1000);
  stop = true;
  const elapsed = (performance.now() - measureStart) / 1000;
  await Promise.all(loops);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (q: number) =>
    latencies.length === 0
      ? Number.NaN
      : latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  process.stdout.write(
    `${JSON.stringify({
      pointsPerSecond: accepted / elapsed,
      pointsAccepted: acceptedAll,
      requests: latencies.length,
      rejected,
      p50Ms: pct(0.5),
      p99Ms: pct(0.99),
      seconds: elapsed,
      bytesPerRequest: Buffer.byteLength(body(0)),
    })}\n`,
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

main().catch((e: unknown) => {
  process.stderr.write(`http-load-client: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
