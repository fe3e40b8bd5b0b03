import type { NodeAddress } from '../src/cluster/cluster-commands.js';
import type { ClusterState } from '../src/cluster/cluster-state.js';
import { Gossip } from '../src/cluster/gossip.js';
import { requestJoin } from '../src/cluster/join-client.js';
import { MetaService } from '../src/cluster/meta-service.js';
import { ClusterMetadata } from '../src/cluster/metadata.js';
import { linkMetadataToGossip } from '../src/cluster/metadata-gossip.js';
import { type OperationBug, OperationDriver } from '../src/cluster/operations.js';
import { RangeCleanup } from '../src/cluster/range-cleanup.js';
import { Coordinator, type DataPlaneBug } from '../src/distributed/coordinator.js';
import { type ClusterEnv, clusterEnvOf } from '../src/env/cluster-env.js';
import { openEngine } from '../src/storage/engine.js';
import { MemoryVfs } from '../src/storage/memory-vfs.js';
import { type PlantedViewBug, SimMetadataView } from './planted-view.js';
import { SimRandom } from './random.js';
import type { Scheduler } from './scheduler.js';
import { type ClockDrift, SimEnv } from './sim-env.js';
import type { SimPeerEndpoint, SimPeerHub } from './sim-peer-network.js';
import type { Trace } from './trace.js';

/** What every simulated cluster node of one run shares. */
export interface ClusterNodeContext {
  readonly seed: number;
  readonly scheduler: Scheduler;
  readonly hub: SimPeerHub;
  readonly trace: Trace;
  readonly dataBugs: readonly DataPlaneBug[];
  readonly operationBugs: ReadonlySet<OperationBug>;
  readonly viewBugs: ReadonlySet<PlantedViewBug>;
  /** Planted bug 'forget-adopted': metadata does not keep adopted states across restarts. */
  readonly forgetAdopted: boolean;
  readonly tickMs: number;
  readonly electionTicks: number;
  /** A node's code failed in a way no fault explains (boot failure on a healthy disk). */
  readonly onFailure: (node: string, error: Error) => void;
  /** Every state a node's metadata view adopts, in order (for the epoch checkers). */
  readonly onViewChange: (
    node: string,
    incarnation: number,
    state: ClusterState,
    view: SimMetadataView,
  ) => void;
}

/** The live parts of one incarnation. */
export interface ClusterNodeParts {
  readonly env: ClusterEnv;
  readonly metadata: ClusterMetadata;
  readonly view: SimMetadataView;
  readonly driver: OperationDriver;
  readonly service: MetaService;
  readonly gossip: Gossip;
  readonly coordinator: Coordinator;
  readonly cleanup: RangeCleanup;
}

export function simAddress(id: string): NodeAddress {
  return { id, httpAddress: `${id}:8080`, peerAddress: `${id}:9090` };
}

/**
 * One simulated cluster node across its incarnations: a MemoryVfs disk that outlives crashes,
 * and per incarnation the production pieces wired as count-server wires them (metadata on Raft,
 * operation driver, meta service, gossip, coordinator with its storage engine, range cleanup)
 * over a SimEnv and the simulated PeerNetwork.
 */
export class ClusterSimNode {
  state: 'up' | 'booting' | 'down' = 'down';
  incarnation = 0;
  /** The parts of the running incarnation, once booted. */
  parts: ClusterNodeParts | null = null;
  readonly disk: MemoryVfs;
  private env: SimEnv | null = null;
  private endpoint: SimPeerEndpoint | null = null;

  constructor(
    readonly id: string,
    private readonly ctx: ClusterNodeContext,
    private readonly drift: ClockDrift,
  ) {
    const diskRandom = SimRandom.stream(ctx.seed, `disk/${id}`);
    this.disk = new MemoryVfs({ random: () => diskRandom.next() });
  }

  get up(): boolean {
    return this.state === 'up';
  }

  /** Founds the cluster on this (fresh) disk, with every founding node already a member. */
  async bootstrap(founding: readonly string[], rf: number): Promise<void> {
    const env = clusterEnvOf(
      new SimEnv(this.id, this.ctx.scheduler, this.drift, new SimRandom(0), this.disk, null),
      this.id,
      {
        send: () => false,
        request: () => Promise.reject(new Error('bootstrap has no network')),
        on: () => {},
        addPeer: () => {},
        removePeer: () => {},
      },
    );
    // Few tokens per node: fewer ranges to stream, so staged operations finish within a run.
    await ClusterMetadata.bootstrap(env, { nodes: founding.map(simAddress), rf, tokensPerNode: 4 });
  }

  /**
   * Boots a new incarnation from the disk. With `joinVia`, the disk is empty and the node asks
   * that member to let it join (a staged join).
   */
  start(joinVia?: string): void {
    if (this.state !== 'down') return;
    const ctx = this.ctx;
    const inc = ++this.incarnation;
    const sim = new SimEnv(
      this.id,
      ctx.scheduler,
      this.drift,
      SimRandom.stream(ctx.seed, `node/${this.id}/${inc}`),
      this.disk,
      ctx.trace,
    );
    const endpoint = ctx.hub.connect(this.id, sim);
    this.env = sim;
    this.endpoint = endpoint;
    this.state = 'booting';
    ctx.trace.record(ctx.scheduler.now, 'start', `${this.id} #${inc}`);
    this.boot(sim, clusterEnvOf(sim, this.id, endpoint), inc, joinVia).then(
      (parts) => {
        if (!sim.isAlive) return;
        this.parts = parts;
        this.state = 'up';
        ctx.trace.record(ctx.scheduler.now, 'up', `${this.id} #${inc} epoch ${parts.view.epoch()}`);
      },
      (error: unknown) => {
        // A crash during boot fences the disk; anything else is a recovery failure.
        if (sim.isAlive) ctx.onFailure(this.id, error as Error);
      },
    );
  }

  private async boot(
    sim: SimEnv,
    env: ClusterEnv,
    inc: number,
    joinVia: string | undefined,
  ): Promise<ClusterNodeParts> {
    const ctx = this.ctx;
    const metadata = await ClusterMetadata.open(env, {
      tickMs: ctx.tickMs,
      electionTicks: ctx.electionTicks,
      snapshotEvery: 32,
      requestTimeoutMs: 1000,
      catchUpTimeoutMs: 3000,
      reconcileEveryMs: 300,
      bugForgetAdopted: ctx.forgetAdopted,
    });
    const view = new SimMetadataView(metadata, ctx.viewBugs, env);
    view.onChange((s) => ctx.onViewChange(this.id, inc, s, view));
    ctx.onViewChange(this.id, inc, view.state(), view);
    const engine = await openEngine(env, { maintenanceIntervalMs: 2000, fsyncIntervalMs: 5 });
    let coordinator: Coordinator | null = null;
    const driver = new OperationDriver(
      env,
      metadata,
      (range, from) => {
        if (coordinator === null) throw new Error('data plane not started yet');
        return coordinator.streamRange(range, from);
      },
      {
        epochWaitMs: 3000,
        streamTimeoutMs: 2000,
        watchEveryMs: 500,
        bugs: ctx.operationBugs,
      },
    );
    const service = new MetaService(env, metadata, driver, { requestTimeoutMs: 2000 });
    driver.listen();
    service.listen();
    metadata.start();
    driver.watch();
    const gossip = new Gossip(env, {
      peerAddress: simAddress(this.id).peerAddress,
      httpAddress: simAddress(this.id).httpAddress,
      epoch: view.epoch(),
      timing: { probeIntervalMs: 300, probeTimeoutMs: 120, gossipIntervalMs: 100 },
    });
    coordinator = new Coordinator(env, {
      engine,
      metadata: view,
      gossip,
      options: {
        requestTimeoutMs: 500,
        bugs: ctx.dataBugs,
        handoff: { replayPauseMs: 10, checkIntervalMs: 500, hintsPerRound: 200 },
        antiEntropy: { intervalMs: 2000 },
      },
    });
    linkMetadataToGossip(this.id, view, gossip);
    gossip.start();
    const cleanup = new RangeCleanup(env, view, engine, { delayMs: 1000 });
    cleanup.start();
    await coordinator.ready();
    if (joinVia !== undefined && !metadata.hadLog) {
      // The join runs in the background: the node serves (as a pending replica) meanwhile.
      requestJoin(env, metadata, [simAddress(joinVia).peerAddress], simAddress(this.id), {
        deadlineMs: 5000,
      }).catch((e: unknown) => {
        if (sim.isAlive) ctx.trace.record(ctx.scheduler.now, 'join-failed', `${this.id} ${e}`);
      });
    }
    return { env, metadata, view, driver, service, gossip, coordinator, cleanup };
  }

  /** Power cut: the process dies and what was not fsynced is lost. */
  crash(tear: boolean): void {
    if (this.state === 'down') return;
    this.ctx.trace.record(this.ctx.scheduler.now, 'crash', `${this.id}${tear ? ' torn' : ''}`);
    this.stop();
    this.disk.crash({ tear });
  }

  /** The process stops for good (a node that left); its disk is kept but never booted again. */
  stop(): void {
    if (this.state === 'down') return;
    // Fence first: the dying incarnation's leftover promise chains can no longer reach the disk
    // or the network, then stop its components so their timers are gone too.
    this.env?.kill();
    this.endpoint?.close();
    const parts = this.parts;
    if (parts !== null) {
      parts.gossip.stop();
      parts.driver.unwatch();
      void parts.metadata.stop().catch(() => {});
      parts.coordinator.antiEntropy.close();
      parts.coordinator.handoff.close();
    }
    this.env = null;
    this.endpoint = null;
    this.parts = null;
    this.state = 'down';
  }
}
