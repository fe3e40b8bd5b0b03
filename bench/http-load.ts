import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { medianAveraged } from './median.js';
import { printTable } from './table.js';

/**
 * HTTP ingest benchmark (npm run bench:http): a real count-server process and a separate
 * load-generator process (bench/http-load-client.ts) posting line protocol, 10,000 points a
 * request over 2 keep-alive connections, over loopback. Prints points/s accepted, p50/p99
 * request latency and the server's peak RSS per run, and the medians.
 *
 *   npm run bench:http -- --runs 3 --seconds 10 --fields 10
 *   npm run bench:http -- --profile      # server runs with --cpu-prof; prints the profile dir
 */
const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const SERVER = join(root, 'dist/src/cli/count-server.js');
const CLIENT = join(here, 'http-load-client.js');

interface RunResult {
  pointsPerSecond: number;
  requests: number;
  rejected: number;
  p50Ms: number;
  p99Ms: number;
  peakRssBytes: number;
  bytesPerRequest: number;
  /** Server CPU (user + system) per accepted point over the whole client run, warm-up included. */
  cpuMicrosPerPoint: number;
}

const OPTIONS = {
  runs: { type: 'string', default: '3' },
  seconds: { type: 'string', default: '10' },
  fields: { type: 'string', default: '10' },
  points: { type: 'string', default: '10000' },
  connections: { type: 'string', default: '2' },
  fsync: { type: 'string', default: 'batch' },
  profile: { type: 'boolean', default: false },
} as const;

let args = parseArgs({ args: [], options: OPTIONS }).values;

/** Runs the benchmark; `argv` takes the flags shown above (none: the defaults). */
export async function runHttpLoadBench(argv: string[] = []): Promise<void> {
  args = parseArgs({ args: argv, options: OPTIONS }).values;
  if (!existsSync(SERVER) || !existsSync(CLIENT)) {
    throw new Error('build first: npx tsc -p tsconfig.json (npm run bench:http does)');
  }
  const runs = Number(args.runs);
  const results: RunResult[] = [];
  for (let r = 0; r < runs; r++) results.push(await oneRun(r));
  console.log(
    `\nHTTP ingest: ${args.points} points/request, ${args.fields} fields/line, ${args.connections} keep-alive connections, fsync=${args.fsync}, ${args.seconds} s per run`,
  );
  const rows = results.map((x, i) => row(`run ${i + 1}`, x));
  rows.push(row('median', medianOf(results)));
  const table = [
    [
      '',
      'points/s',
      'p50 ms',
      'p99 ms',
      'requests',
      'rejected',
      'peak RSS MiB',
      'KiB/request',
      'server CPU µs/point',
    ],
    ...rows,
  ];
  printTable(table, { align: 'right' });
}

async function oneRun(run: number): Promise<RunResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'count-bench-http-'));
  const profileDir = join(tmpdir(), 'count-bench-profiles');
  const nodeArgs = args.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const server = spawn(
    process.execPath,
    [
      ...nodeArgs,
      SERVER,
      '--bind',
      '127.0.0.1:0',
      '--data-dir',
      dataDir,
      '--fsync',
      String(args.fsync),
      '--log-level',
      'info,http=warn',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    const port = await listeningPort(server);
    let peakRss = 0;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, rssOf(server.pid ?? 0));
    }, 200);
    const cpuBefore = cpuSecondsOf(server.pid ?? 0);
    const client = spawn(
      process.execPath,
      [
        CLIENT,
        '--url',
        `http://127.0.0.1:${port}`,
        '--seconds',
        String(args.seconds),
        '--points',
        String(args.points),
        '--fields',
        String(args.fields),
        '--connections',
        String(args.connections),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    client.stdout?.setEncoding('utf8');
    client.stdout?.on('data', (c: string) => {
      out += c;
    });
    const code = await new Promise<number | null>((res) => client.on('exit', res));
    const cpu = cpuSecondsOf(server.pid ?? 0) - cpuBefore;
    clearInterval(sampler);
    if (code !== 0) throw new Error(`load generator exited with ${code}`);
    const r = JSON.parse(out.trim()) as Omit<RunResult, 'peakRssBytes' | 'cpuMicrosPerPoint'> & {
      pointsAccepted: number;
    };
    process.stderr.write(`run ${run + 1}: ${Math.round(r.pointsPerSecond)} points/s\n`);
    return {
      pointsPerSecond: r.pointsPerSecond,
      requests: r.requests,
      rejected: r.rejected,
      p50Ms: r.p50Ms,
      p99Ms: r.p99Ms,
      bytesPerRequest: r.bytesPerRequest,
      peakRssBytes: peakRss,
      cpuMicrosPerPoint: r.pointsAccepted > 0 ? (cpu * 1e6) / r.pointsAccepted : Number.NaN,
    };
  } finally {
    server.kill('SIGTERM');
    await new Promise((res) => server.once('exit', res));
    if (args.profile) process.stderr.write(`server CPU profile written to ${profileDir}\n`);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function listeningPort(server: ChildProcess): Promise<number> {
  return new Promise((res, rej) => {
    let buf = '';
    const timer = setTimeout(() => rej(new Error('server did not start in 30 s')), 30_000);
    server.stdout?.setEncoding('utf8');
    server.stdout?.on('data', (c: string) => {
      buf += c;
      for (const line of buf.split('\n')) {
        if (!line.includes('"listening"')) continue;
        clearTimeout(timer);
        res((JSON.parse(line) as { port: number }).port);
      }
      buf = buf.slice(buf.lastIndexOf('\n') + 1);
    });
    server.on('exit', (c) => rej(new Error(`server exited with ${c}`)));
  });
}

/** User + system CPU seconds a process used so far (Linux /proc; 0 elsewhere). */
function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[11] and [12] are utime and stime (stat fields 14 and 15), in clock ticks.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** USER_HZ; 100 on Linux on every common architecture. */
const CLOCK_TICKS_PER_SECOND = 100;

/** Resident set size of a process in bytes (Linux /proc; 0 elsewhere). */
function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? 0 : Number(m[1]) * 1024;
  } catch {
    return 0;
  }
}

function medianOf(rs: RunResult[]): RunResult {
  const pick = (k: keyof RunResult) => medianAveraged(rs.map((r) => r[k]));
  return {
    pointsPerSecond: pick('pointsPerSecond'),
    requests: pick('requests'),
    rejected: pick('rejected'),
    p50Ms: pick('p50Ms'),
    p99Ms: pick('p99Ms'),
    peakRssBytes: pick('peakRssBytes'),
    bytesPerRequest: pick('bytesPerRequest'),
    cpuMicrosPerPoint: pick('cpuMicrosPerPoint'),
  };
}

function row(label: string, r: RunResult): string[] {
  return [
    label,
    Math.round(r.pointsPerSecond).toLocaleString('en-US'),
    r.p50Ms.toFixed(1),
    r.p99Ms.toFixed(1),
    String(Math.round(r.requests)),
    String(Math.round(r.rejected)),
    (r.peakRssBytes / 1024 / 1024).toFixed(0),
    (r.bytesPerRequest / 1024).toFixed(0),
    r.cpuMicrosPerPoint.toFixed(2),
  ];
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runHttpLoadBench(process.argv.slice(2)).catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
