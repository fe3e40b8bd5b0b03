/**
 * Raft on real processes over loopback with fsync: a 3-node group of child processes
 * (bench/raft-node.ts: FileLogStore on NodeVfs, ws + msgpackr transport). Measures commits/s
 * and p50/p99 commit latency (propose on the leader until applied there) at several client
 * concurrencies, and the time from SIGKILL of the leader to the next successful commit
 * (median of 5; the goal is under 2x the maximum election timeout). Prints a table.
 *
 *   node dist/bench/raft.js [--runs 3] [--duration-ms 3000] [--failovers 5] [--tick-ms 50]
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { numberArg } from './args.js';
import { median } from './median.js';
import type { NodeCommand } from './raft-node.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const IDS = ['n1', 'n2', 'n3'];
const ELECTION_TICKS = 10;

function num(name: string, fallback: number): number {
  return numberArg(`--${name}`) ?? fallback;
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => res(port));
    });
  });
}

interface Status {
  role: string;
  term: number;
  commit: number;
  applied: number;
  lastIndex: number;
  leader: string | null;
}

class NodeProcess {
  private child: ChildProcess | null = null;
  private seq = 1;
  private readonly waiting = new Map<number, (v: Record<string, unknown>) => void>();

  constructor(
    readonly id: string,
    private readonly args: string[],
  ) {}

  async start(): Promise<void> {
    const child = fork(join(here, 'raft-node.js'), this.args, {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child = child;
    await new Promise<void>((res, rej) => {
      const onMsg = (m: { seq: number; ready?: boolean }) => {
        if (m.ready === true) {
          child.off('exit', onExit);
          res();
        }
      };
      const onExit = (code: number | null) => rej(new Error(`${this.id} exited early (${code})`));
      child.on('message', onMsg);
      child.once('exit', onExit);
    });
    child.on('message', (m: { seq: number }) => {
      const w = this.waiting.get(m.seq);
      if (w !== undefined) {
        this.waiting.delete(m.seq);
        w(m as Record<string, unknown>);
      }
    });
    child.on('exit', () => {
      for (const w of this.waiting.values()) w({ dead: true });
      this.waiting.clear();
    });
  }

  alive(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  call<T = Record<string, unknown>>(command: NodeCommand): Promise<T> {
    const child = this.child;
    if (child === null || !this.alive()) return Promise.resolve({ dead: true } as T);
    const seq = this.seq++;
    return new Promise((res) => {
      this.waiting.set(seq, res as (v: Record<string, unknown>) => void);
      child.send({ ...command, seq });
    });
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (child === null || !this.alive()) return;
    const exited = new Promise((res) => child.once('exit', res));
    child.kill(signal);
    await exited;
  }
}

async function leaderOf(nodes: NodeProcess[], timeoutMs = 10_000): Promise<NodeProcess> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    for (const n of nodes) {
      if (!n.alive()) continue;
      const s = await n.call<Status>({ cmd: 'status' });
      if (s.role === 'leader' && s.commit >= s.lastIndex) return n;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('no leader');
}

async function waitCaughtUp(nodes: NodeProcess[]): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const st = await Promise.all(nodes.map((n) => n.call<Status>({ cmd: 'status' })));
    const max = Math.max(...st.map((s) => s.commit));
    if (st.every((s) => s.applied >= max)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function runRaftBench(): Promise<void> {
  const runs = num('runs', 3);
  const durationMs = num('duration-ms', 3000);
  const failovers = num('failovers', 5);
  const tickMs = num('tick-ms', 50);
  const dir = await mkdtemp(join(tmpdir(), 'count-raft-bench-'));
  const ports = await Promise.all(IDS.map(() => freePort()));
  const peers = IDS.map((id, i) => `${id}=127.0.0.1:${ports[i]}`).join(',');
  const nodes = IDS.map(
    (id, i) =>
      new NodeProcess(id, [
        '--id',
        id,
        '--dir',
        join(dir, id),
        '--port',
        String(ports[i]),
        '--peers',
        peers,
        '--tick-ms',
        String(tickMs),
        '--election-ticks',
        String(ELECTION_TICKS),
      ]),
  );
  try {
    await Promise.all(nodes.map((n) => n.start()));
    await leaderOf(nodes);
    console.log(
      `raft bench: 3 processes, loopback, fsync on, tick ${tickMs} ms, election timeout ${ELECTION_TICKS * tickMs}-${2 * ELECTION_TICKS * tickMs} ms`,
    );
    console.log('| clients | commits/s | p50 ms | p99 ms | errors | (median of runs) |');
    console.log('| ---: | ---: | ---: | ---: | ---: | --- |');
    for (const concurrency of [1, 16, 64]) {
      const rates: number[] = [];
      const p50s: number[] = [];
      const p99s: number[] = [];
      let errors = 0;
      for (let r = 0; r < runs; r++) {
        const leader = await leaderOf(nodes);
        const res = await leader.call<{ latencies: number[]; errors: number; elapsedMs: number }>({
          cmd: 'load',
          durationMs,
          concurrency,
          bytes: 128,
        });
        const lat = [...res.latencies].sort((a, b) => a - b);
        errors += res.errors;
        rates.push((lat.length / res.elapsedMs) * 1000);
        p50s.push(percentile(lat, 0.5));
        p99s.push(percentile(lat, 0.99));
      }
      console.log(
        `| ${concurrency} | ${median(rates).toFixed(0)} | ${median(p50s).toFixed(2)} | ${median(p99s).toFixed(2)} | ${errors} | ${runs} runs of ${durationMs} ms |`,
      );
    }

    const times: number[] = [];
    for (let f = 0; f < failovers; f++) {
      const leader = await leaderOf(nodes);
      await waitCaughtUp(nodes);
      const t0 = performance.now();
      await leader.kill('SIGKILL');
      let done = false;
      while (!done && performance.now() - t0 < 20_000) {
        const answers = await Promise.all(
          nodes
            .filter((n) => n.alive())
            .map((n) => n.call<{ ok?: boolean }>({ cmd: 'propose', bytes: 16 })),
        );
        if (answers.some((a) => a.ok === true)) done = true;
        else await new Promise((r) => setTimeout(r, 5));
      }
      times.push(performance.now() - t0);
      await leader.start();
      await waitCaughtUp(nodes);
    }
    const maxElection = 2 * ELECTION_TICKS * tickMs;
    console.log('');
    console.log('| failover (SIGKILL leader -> next commit) | ms |');
    console.log('| --- | ---: |');
    console.log(`| median of ${failovers} | ${median(times).toFixed(0)} |`);
    console.log(`| all runs | ${times.map((t) => t.toFixed(0)).join(', ')} |`);
    console.log(`| goal: < 2 x max election timeout | ${2 * maxElection} |`);
  } finally {
    await Promise.all(nodes.map((n) => n.kill('SIGTERM')));
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runRaftBench().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
