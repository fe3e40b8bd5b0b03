/**
 * One Raft node as a process, for bench/raft.ts: FileLogStore on real files (NodeVfs, fsync),
 * real timers, the ws + msgpackr peer transport. The parent drives it over the IPC channel.
 *
 *   node dist/bench/raft-node.js --id n1 --dir D --port P --peers n1=127.0.0.1:P1,n2=...
 *     [--tick-ms 50] [--election-ticks 10]
 */
import { performance } from 'node:perf_hooks';
import { bootstrapSnapshot } from '../raft/bootstrap.js';
import { isRaftError } from '../raft/errors.js';
import { FileLogStore } from '../raft/file-log-store.js';
import { RaftRuntime } from '../raft/runtime.js';
import {
  DEFAULT_RAFT_CONFIG,
  type Entry,
  type Snapshot,
  type StateMachine,
} from '../raft/types.js';
import { createRealEnv } from '../src/env/real-env.js';
import { PeerTransport } from '../src/net/peer-transport.js';
import { RaftPeerTransport } from '../src/net/raft-transport.js';

export type NodeCommand =
  | { cmd: 'status' }
  | { cmd: 'propose'; bytes: number }
  | { cmd: 'load'; durationMs: number; concurrency: number; bytes: number };

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  if (fallback !== undefined) return fallback;
  throw new Error(`missing --${name}`);
}

/** Counts applied commands; its snapshot is the count. */
class CounterMachine implements StateMachine {
  count = 0;
  apply(_entry: Entry): unknown {
    return ++this.count;
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(String(this.count));
  }
  restore(snapshot: Snapshot): void {
    this.count = Number(new TextDecoder().decode(snapshot.data) || '0');
  }
}

async function main(): Promise<void> {
  const id = arg('id');
  const port = Number(arg('port'));
  const peers = Object.fromEntries(
    arg('peers')
      .split(',')
      .map((p) => p.split('=') as [string, string]),
  );
  const env = createRealEnv(arg('dir'));
  const store = await FileLogStore.open(env.vfs, 'raft');
  if (store.snapshot().meta.index === 0) {
    await store.save({
      hardState: null,
      entries: [],
      snapshot: bootstrapSnapshot(Object.keys(peers), new TextEncoder().encode('0')),
    });
  }
  const net = await PeerTransport.listen({ nodeId: id, host: '127.0.0.1', port, peers });
  const transport = new RaftPeerTransport(net);
  const runtime = new RaftRuntime({
    config: {
      ...DEFAULT_RAFT_CONFIG,
      id,
      electionTicks: Number(arg('election-ticks', '10')),
      random: env.random,
    },
    store,
    timers: env,
    transport,
    stateMachine: new CounterMachine(),
    tickMs: Number(arg('tick-ms', '50')),
    snapshotEvery: 10_000,
    keepEntries: 1000,
    maxPending: 10_000,
    onFatal: (e) => {
      console.error(`${id}: fatal`, e);
      process.exit(2);
    },
  });
  transport.listen((m) => runtime.receive(m));
  runtime.start();

  const proposeOnce = async (bytes: number) => {
    const t0 = performance.now();
    try {
      await runtime.propose(new Uint8Array(bytes));
      return { ok: true as const, ms: performance.now() - t0 };
    } catch (e) {
      return {
        ok: false as const,
        code: isRaftError(e) ? e.code : String(e),
        leader: isRaftError(e) ? e.leader : null,
      };
    }
  };

  process.on('message', async (msg: NodeCommand & { seq: number }) => {
    const reply = (body: object) => process.send?.({ seq: msg.seq, ...body });
    if (msg.cmd === 'status') {
      const s = runtime.status();
      reply({
        role: s.role,
        term: s.term,
        commit: s.commit,
        applied: s.applied,
        lastIndex: s.lastIndex,
        leader: s.leader,
      });
    } else if (msg.cmd === 'propose') {
      reply(await proposeOnce(msg.bytes));
    } else if (msg.cmd === 'load') {
      const latencies: number[] = [];
      let errors = 0;
      const end = performance.now() + msg.durationMs;
      const worker = async () => {
        while (performance.now() < end) {
          const r = await proposeOnce(msg.bytes);
          if (r.ok) latencies.push(r.ms);
          else errors++;
        }
      };
      const t0 = performance.now();
      await Promise.all(Array.from({ length: msg.concurrency }, worker));
      reply({ latencies, errors, elapsedMs: performance.now() - t0 });
    }
  });
  process.on('SIGTERM', async () => {
    runtime.stop();
    await net.close();
    await store.close();
    process.exit(0);
  });
  process.send?.({ seq: 0, ready: true });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
