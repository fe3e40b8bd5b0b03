import { bootstrapSnapshot } from '../../raft/bootstrap.js';
import { MemoryLogStore } from '../../raft/memory-log-store.js';
import { RaftCore } from '../../raft/raft.js';
import {
  type BugName,
  DEFAULT_RAFT_CONFIG,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type RaftConfig,
  type ReadState,
  type Snapshot,
  type Term,
} from '../../raft/types.js';

/**
 * A synchronous network of pure cores for table-driven tests (like etcd's raft_test network):
 * every Ready is persisted into a MemoryLogStore at once and its messages are delivered in
 * FIFO order, unless a filter drops or holds them.
 */
export interface TestNode {
  core: RaftCore;
  readonly config: RaftConfig;
  readonly store: MemoryLogStore;
  /** Committed entries applied, in order (including no-ops and conf entries). */
  readonly applied: Entry[];
  readonly readStates: ReadState[];
  snapshotsApplied: number;
}

export interface NodeOptions {
  bugs?: BugName[];
  preVote?: boolean;
  checkQuorum?: boolean;
  electionTicks?: number;
  maxInflightAppends?: number;
  maxAppendBytes?: number;
  snapshotChunkBytes?: number;
  /** Deterministic source for the randomized election timeout. */
  random?: () => number;
}

/** A log given as the terms of entries 2..n (entry 1 is the bootstrap snapshot, term 1). */
export function entriesOfTerms(terms: readonly Term[], startIndex = 2): Entry[] {
  return terms.map((term, i) => ({
    index: startIndex + i,
    term,
    type: 'normal' as const,
    data: new Uint8Array([i & 0xff]),
  }));
}

export function makeNode(
  id: NodeId,
  voters: readonly NodeId[],
  options: NodeOptions = {},
  log: { terms?: readonly Term[]; hardState?: Partial<HardState>; snapshot?: Snapshot } = {},
): TestNode {
  const snapshot = log.snapshot ?? bootstrapSnapshot(voters, new Uint8Array(0));
  const store = new MemoryLogStore(snapshot);
  if (log.terms !== undefined && log.terms.length > 0) {
    store.appendEntries(entriesOfTerms(log.terms, snapshot.meta.index + 1));
  }
  const lastTerm = store.term(store.lastIndex()) ?? 0;
  store.applyUpdate({
    hardState: {
      term: log.hardState?.term ?? lastTerm,
      vote: log.hardState?.vote ?? null,
      commit: log.hardState?.commit ?? snapshot.meta.index,
    },
    entries: [],
    snapshot: null,
  });
  let seed = 0;
  const config: RaftConfig = {
    ...DEFAULT_RAFT_CONFIG,
    id,
    storage: store,
    random: options.random ?? (() => ((seed++ * 7) % 10) / 10),
    preVote: options.preVote ?? false,
    checkQuorum: options.checkQuorum ?? false,
    electionTicks: options.electionTicks ?? 10,
    maxInflightAppends: options.maxInflightAppends ?? DEFAULT_RAFT_CONFIG.maxInflightAppends,
    maxAppendBytes: options.maxAppendBytes ?? DEFAULT_RAFT_CONFIG.maxAppendBytes,
    snapshotChunkBytes: options.snapshotChunkBytes ?? DEFAULT_RAFT_CONFIG.snapshotChunkBytes,
    applied: snapshot.meta.index,
    bugs: new Set(options.bugs ?? []),
  };
  return {
    core: new RaftCore(config),
    config,
    store,
    applied: [],
    readStates: [],
    snapshotsApplied: 0,
  };
}

/** A crash and restart: a new core from what the store persisted; the state machine replays. */
export function restart(n: TestNode): void {
  const applied = n.store.snapshot().meta.index;
  n.applied.length = 0;
  n.core = new RaftCore({ ...n.config, applied });
}

/** Persists, applies and advances every pending Ready of `node`; returns the messages. */
export function drain(node: TestNode): Message[] {
  const out: Message[] = [];
  for (let guard = 0; node.core.hasReady(); guard++) {
    if (guard > 1000) throw new Error('drain: Ready never settles');
    const rd = node.core.ready();
    node.store.applyUpdate({ hardState: rd.hardState, entries: rd.entries, snapshot: rd.snapshot });
    if (rd.snapshot !== null) node.snapshotsApplied++;
    out.push(...rd.messages);
    node.applied.push(...rd.committedEntries);
    node.readStates.push(...rd.readStates);
    node.core.advance(rd);
  }
  return out;
}

/** Decides each message's fate: deliver it (possibly changed) or drop it (null). */
export type Filter = (m: Message) => Message | null;

export class Network {
  readonly nodes = new Map<NodeId, TestNode>();
  private readonly cut = new Set<string>();
  filter: Filter | null = null;
  /** Every message delivered, for assertions. */
  readonly delivered: Message[] = [];

  constructor(nodes: readonly TestNode[]) {
    for (const n of nodes) this.nodes.set(n.core.id, n);
  }

  static of(ids: readonly NodeId[], options: NodeOptions = {}): Network {
    return new Network(ids.map((id) => makeNode(id, ids, options)));
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  core(id: NodeId): RaftCore {
    return this.node(id).core;
  }

  /** Cuts the link between a and b in both directions. */
  cutLink(a: NodeId, b: NodeId): void {
    this.cut.add(`${a}>${b}`);
    this.cut.add(`${b}>${a}`);
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cutLink(id, other);
  }

  heal(): void {
    this.cut.clear();
    this.filter = null;
  }

  /** Delivers `msgs` and everything they cause, until the network is quiet. */
  deliver(msgs: Message[]): void {
    const queue = [...msgs];
    for (let steps = 0; queue.length > 0; steps++) {
      if (steps > 100_000) throw new Error('network: message storm');
      const sent = queue.shift()!;
      if (this.cut.has(`${sent.from}>${sent.to}`)) continue;
      const m = this.filter === null ? sent : this.filter(sent);
      if (m === null) continue;
      const target = this.nodes.get(m.to);
      if (target === undefined) continue;
      this.delivered.push(m);
      target.core.step(m);
      queue.push(...drain(target));
    }
  }

  /** Drains every node's pending Ready and delivers the result. */
  settle(): void {
    const msgs: Message[] = [];
    for (const n of this.nodes.values()) msgs.push(...drain(n));
    this.deliver(msgs);
  }

  restart(id: NodeId): void {
    restart(this.node(id));
  }

  campaign(id: NodeId): void {
    this.core(id).campaign();
    this.settle();
  }

  propose(id: NodeId, text: string): ReturnType<RaftCore['propose']> {
    const r = this.core(id).propose(new TextEncoder().encode(text));
    this.settle();
    return r;
  }

  /** Ticks one node n times, delivering after each tick. */
  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.core(id).tick();
      this.settle();
    }
  }

  /** Ticks every node n times. */
  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const node of this.nodes.values()) node.core.tick();
      this.settle();
    }
  }
}

export function text(e: Entry): string {
  return new TextDecoder().decode(e.data);
}

/** The applied normal, non-empty commands of a node, decoded. */
export function commands(n: TestNode): string[] {
  return n.applied.filter((e) => e.type === 'normal' && e.data.length > 0).map(text);
}
