import { bootstrapSnapshot } from '../../raft/bootstrap.js';
import { FileLogStore } from '../../raft/file-log-store.js';
import { RaftRuntime } from '../../raft/runtime.js';
import {
  type BugName,
  DEFAULT_RAFT_CONFIG,
  type Entry,
  type Message,
  type NodeId,
  type RaftTimers,
  type Snapshot,
  type StateMachine,
} from '../../raft/types.js';
import { MemoryVfs } from '../../src/storage/memory-vfs.js';
import { VirtualClock as SharedVirtualClock } from '../helpers/virtual-clock.js';

/**
 * Runtimes on virtual time: a timer queue advanced by the test, a lossless network with a 1 ms
 * hop that can be cut, and one MemoryVfs disk per node under a FileLogStore.
 * After each timer the clock settles microtasks only.
 */
export class VirtualClock extends SharedVirtualClock implements RaftTimers {
  constructor() {
    super(settle);
  }
}

export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

/** A string map: commands are "key=value"; apply returns the value. */
export class KvMachine implements StateMachine {
  map = new Map<string, string>();
  restores = 0;
  apply(entry: Entry): unknown {
    const [k, v] = new TextDecoder().decode(entry.data).split('=');
    this.map.set(k, v);
    return v;
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify([...this.map]));
  }
  restore(snapshot: Snapshot): void {
    this.restores++;
    this.map = new Map(JSON.parse(new TextDecoder().decode(snapshot.data) || '[]'));
  }
}

export interface ClusterOptions {
  bugs?: BugName[];
  snapshotEvery?: number;
  keepEntries?: number;
}

export class VirtualCluster {
  readonly clock = new VirtualClock();
  readonly disks = new Map<NodeId, MemoryVfs>();
  readonly nodes = new Map<NodeId, RaftRuntime>();
  readonly machines = new Map<NodeId, KvMachine>();
  readonly fatal: unknown[] = [];
  private readonly cut = new Set<NodeId>();
  private seed = 1;

  constructor(
    readonly ids: readonly NodeId[],
    readonly options: ClusterOptions = {},
  ) {}

  async start(): Promise<void> {
    for (const id of this.ids) {
      const vfs = new MemoryVfs();
      this.disks.set(id, vfs);
      const store = await FileLogStore.open(vfs.view(), 'raft');
      await store.save({
        hardState: null,
        entries: [],
        snapshot: bootstrapSnapshot(this.ids, new TextEncoder().encode('[]')),
      });
      await store.close();
      await this.boot(id);
    }
  }

  /** (Re)starts a node from what its disk holds. */
  async boot(id: NodeId): Promise<RaftRuntime> {
    const store = await FileLogStore.open(this.disks.get(id)!.view(), 'raft');
    const machine = new KvMachine();
    let s = this.seed++ * 7919;
    const rt = new RaftRuntime({
      config: {
        ...DEFAULT_RAFT_CONFIG,
        id,
        random: () => {
          s = (s * 16807) % 2147483647;
          return s / 2147483647;
        },
        bugs: new Set(this.options.bugs ?? []),
      },
      store,
      timers: this.clock,
      transport: { send: (m) => this.send(m) },
      stateMachine: machine,
      tickMs: 10,
      snapshotEvery: this.options.snapshotEvery ?? 0,
      keepEntries: this.options.keepEntries ?? 0,
      maxPending: 1000,
      onFatal: (e) => this.fatal.push(e),
    });
    this.nodes.set(id, rt);
    this.machines.set(id, machine);
    rt.start();
    return rt;
  }

  /** Power cut: the node stops and its disk loses what was not fsynced. */
  crash(id: NodeId): void {
    this.nodes.get(id)!.stop();
    this.disks.get(id)!.crash({ tear: true });
  }

  isolate(id: NodeId): void {
    this.cut.add(id);
  }

  heal(): void {
    this.cut.clear();
  }

  leader(): NodeId | null {
    for (const [id, n] of this.nodes) {
      if (!n.isStopped() && n.status().role === 'leader' && !this.cut.has(id)) return id;
    }
    return null;
  }

  async waitForLeader(maxMs = 5000): Promise<NodeId> {
    for (let t = 0; t < maxMs; t += 10) {
      const l = this.leader();
      if (l !== null && this.nodes.get(l)!.status().commit >= this.nodes.get(l)!.status().lastIndex)
        return l;
      await this.clock.advance(10);
    }
    throw new Error('no leader');
  }

  /** Advances virtual time until `p` settles (or fails the test after maxMs). */
  async until<T>(p: Promise<T>, maxMs = 5000): Promise<T> {
    let done = false;
    const tracked = p.finally(() => {
      done = true;
    });
    tracked.catch(() => {});
    for (let t = 0; t < maxMs && !done; t += 10) await this.clock.advance(10);
    return tracked;
  }

  private send(m: Message): void {
    if (this.cut.has(m.from) || this.cut.has(m.to)) return;
    this.clock.setTimer(1, () => {
      if (this.cut.has(m.from) || this.cut.has(m.to)) return;
      const target = this.nodes.get(m.to);
      if (target !== undefined && !target.isStopped()) target.receive(m);
    });
  }
}
