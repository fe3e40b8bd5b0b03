import type { ClusterState, NodeInfo } from '../../src/cluster/cluster-state.js';
import { writeRepair } from '../../src/cluster/repair-write.js';
import { Ring, tokenOf } from '../../src/cluster/ring.js';
import type {
  Liveness,
  LivenessSource,
  MetadataSource,
} from '../../src/distributed/cluster-view.js';
import { Coordinator, type CoordinatorOptions } from '../../src/distributed/coordinator.js';
import type { ClusterEnv } from '../../src/env/cluster-env.js';
import type { TimerHandle } from '../../src/env/env.js';
import { PointBatch } from '../../src/model/batch.js';
import { openEngine, type StorageEngine } from '../../src/storage/engine.js';
import { MemoryVfs } from '../../src/storage/memory-vfs.js';
import { MemoryNetwork } from './memory-network.js';

/** Wall clock of the test cluster: points near it are inside every engine's window. */
export const NOW = Date.now();

/** The cluster's committed state, shared; each node's metadata may lag behind it. */
export class MetadataTruth {
  constructor(public state: ClusterState) {}
}

/** A MetadataSource over a local copy of the state; catchUp copies the shared truth. */
export class TestMetadata implements MetadataSource {
  private cached: Ring | null = null;
  private readonly listeners: ((state: ClusterState) => void)[] = [];
  catchUps = 0;

  constructor(
    private readonly truth: MetadataTruth,
    public state: ClusterState,
  ) {}

  ring(): Ring {
    if (this.cached === null || this.cached.epoch !== this.state.epoch) {
      this.cached = Ring.from(this.state);
    }
    return this.cached;
  }

  epoch(): number {
    return this.state.epoch;
  }

  async catchUp(epoch: number): Promise<void> {
    this.catchUps++;
    if (this.truth.state.epoch >= epoch && this.truth.state.epoch > this.state.epoch) {
      this.apply(this.truth.state);
    }
  }

  onChange(listener: (state: ClusterState) => void): void {
    this.listeners.push(listener);
  }

  /** A committed state reaches this node. */
  apply(state: ClusterState): void {
    this.state = state;
    for (const l of this.listeners) l(state);
  }
}

/** Liveness as a test decides it, with change events like gossip's. */
export class TestLiveness implements LivenessSource {
  private readonly dead = new Set<string>();
  private readonly listeners: ((id: string, l: Liveness) => void)[] = [];

  isAlive(id: string): boolean {
    return !this.dead.has(id);
  }

  onLivenessChange(listener: (id: string, l: Liveness) => void): void {
    this.listeners.push(listener);
  }

  set(id: string, alive: boolean): void {
    if (alive) this.dead.delete(id);
    else this.dead.add(id);
    for (const l of this.listeners) l(id, alive ? 'alive' : 'dead');
  }
}

export interface TestNode {
  id: string;
  vfs: MemoryVfs;
  env: ClusterEnv;
  engine: StorageEngine;
  metadata: TestMetadata;
  liveness: TestLiveness;
  coordinator: Coordinator;
}

export function nodeInfo(id: string, tokensPerNode: number): NodeInfo {
  const tokens: string[] = [];
  for (let i = 0; i < tokensPerNode; i++) tokens.push(tokenOf(`${id}#token${i}`));
  return { id, httpAddress: `${id}:80`, peerAddress: `${id}:90`, state: 'normal', tokens };
}

export function clusterState(
  ids: string[],
  rf: number,
  tokensPerNode = 4,
  epoch = 1,
): ClusterState {
  const nodes: Record<string, NodeInfo> = {};
  for (const id of ids) nodes[id] = nodeInfo(id, tokensPerNode);
  return {
    epoch,
    rf,
    voterTarget: 3,
    tokensPerNode,
    nodes,
    operation: null,
    lastOperation: null,
  };
}

function testEnv(nodeId: string, net: MemoryNetwork, vfs: MemoryVfs): ClusterEnv {
  return {
    nodeId,
    net: net.endpoint(nodeId),
    now: () => Date.now(),
    monotonic: () => performance.now(),
    setTimer: (delayMs: number, fn: () => void): TimerHandle => {
      const t = setTimeout(fn, delayMs);
      t.unref?.();
      return { cancel: () => clearTimeout(t) };
    },
    random: () => Math.random(),
    vfs,
  };
}

/** N in-process nodes with real engines on MemoryVfs, over one MemoryNetwork. */
export class TestCluster {
  readonly net = new MemoryNetwork();
  readonly nodes = new Map<string, TestNode>();
  readonly truth: MetadataTruth;

  private constructor(state: ClusterState) {
    this.truth = new MetadataTruth(state);
  }

  static async start(
    n: number,
    rf: number,
    options: Partial<CoordinatorOptions> = {},
    tokensPerNode = 4,
  ): Promise<TestCluster> {
    const ids = Array.from({ length: n }, (_, i) => `n${i + 1}`);
    const c = new TestCluster(clusterState(ids, rf, tokensPerNode));
    for (const id of ids) await c.addNode(id, options);
    return c;
  }

  async addNode(
    id: string,
    options: Partial<CoordinatorOptions> = {},
    vfs = new MemoryVfs(),
  ): Promise<TestNode> {
    const env = testEnv(id, this.net, vfs);
    const engine = await openEngine(env, { maintenanceIntervalMs: 3600_000 });
    const metadata = new TestMetadata(this.truth, this.truth.state);
    const liveness = new TestLiveness();
    const coordinator = new Coordinator(env, {
      engine,
      metadata,
      gossip: liveness,
      options: {
        requestTimeoutMs: 300,
        handoff: { replayPauseMs: 1, checkIntervalMs: 3600_000, hintsPerRound: 1000 },
        antiEntropy: { intervalMs: 0 },
        ...options,
      },
    });
    await coordinator.ready();
    const node = { id, vfs, env, engine, metadata, liveness, coordinator };
    this.nodes.set(id, node);
    return node;
  }

  /**
   * Power cut and restart of a node's process: unsynced bytes are lost, the engine and the
   * coordinator (with its hint store) reopen from the disk.
   */
  async restart(id: string, options: Partial<CoordinatorOptions> = {}): Promise<TestNode> {
    const old = this.node(id);
    await old.coordinator.handoff.settle();
    old.coordinator.handoff.close();
    old.coordinator.antiEntropy.close();
    old.vfs.crash();
    return this.addNode(id, options, old.vfs);
  }

  node(id: string): TestNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  /** Takes a node off the network and tells every other node's gossip it is dead. */
  kill(id: string): void {
    this.net.setDown(id, true);
    for (const n of this.nodes.values()) if (n.id !== id) n.liveness.set(id, false);
  }

  revive(id: string): void {
    this.net.setDown(id, false);
    for (const n of this.nodes.values()) if (n.id !== id) n.liveness.set(id, true);
  }

  /** The replicas of a series in the committed ring. */
  replicasOf(series: string): string[] {
    return Ring.from(this.truth.state).readReplicas(tokenOf(series));
  }

  /** A series key whose replicas (in order) satisfy `pred`. */
  seriesWhere(pred: (replicas: string[]) => boolean, prefix = 'cpu'): string {
    for (let i = 0; i < 100_000; i++) {
      const key = `${prefix}{host="h${i}"}`;
      if (pred(this.replicasOf(key))) return key;
    }
    throw new Error('no series matches');
  }

  async settle(): Promise<void> {
    for (const n of this.nodes.values()) await n.coordinator.handoff.settle();
  }

  async close(): Promise<void> {
    for (const n of this.nodes.values()) await n.coordinator.close();
  }
}

export function batchOf(points: Array<[string, number, number]>): PointBatch {
  const b = new PointBatch(points.length);
  for (const [k, t, v] of points) b.add(k, t, v);
  return b;
}

/** Points of `series` in the local engine of a node, as [t, v] pairs. */
export async function localPoints(node: TestNode, series: string): Promise<[number, number][]> {
  const s = await node.engine.readRange(series, 0, 2 ** 53);
  return Array.from(s.timestamps, (t, i) => [t, s.values[i]]);
}

/** Polls `condition` until it holds (a readiness wait, not a sleep); fails after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/**
 * Of a series' replicas [n1, x, y] (n1's order: itself, then the others in ring order), y leaves
 * and the fourth node z takes its place: committed as `next` (the truth), applied on the nodes
 * `ahead` names (x, y or z). A write at `next` reached x and z; n1 still plans on the old ring.
 */
export async function leaveUnderReads(prefix: string, ahead: ('x' | 'y' | 'z')[]) {
  const c = await TestCluster.start(4, 3);
  const k = c.seriesWhere((r) => r.includes('n1'), prefix);
  const [x, y] = c.replicasOf(k).filter((id) => id !== 'n1');
  const z = ['n2', 'n3', 'n4'].find((id) => id !== x && id !== y)!;
  const ids = { x, y, z };
  const s = c.truth.state;
  const next = {
    ...s,
    epoch: s.epoch + 1,
    nodes: { ...s.nodes, [y]: { ...s.nodes[y], state: 'left' as const } },
  };
  c.truth.state = next;
  for (const a of ahead) c.node(ids[a]).metadata.apply(next);
  for (const id of [x, z]) await writeRepair(c.node(id).engine, batchOf([[k, NOW, 7]]));
  return { c, k, ...ids, next };
}

/** leaveUnderReads with only x ahead: x refuses n1's old plan, y must not stand in for it. */
export function staleReplanCluster(prefix: string) {
  return leaveUnderReads(prefix, ['x']);
}
