import { AntiEntropy, type AntiEntropyOptions, type RepairStats } from '../cluster/anti-entropy.js';
import type { RangeBounds } from '../cluster/cluster-state.js';
import { type HintStats, HintStore, type HintStoreOptions } from '../cluster/hints.js';
import { writeRepair } from '../cluster/repair-write.js';
import { decodeBatch } from '../cluster/samples-codec.js';
import type { ClusterEnv } from '../env/cluster-env.js';
import type { PointBatch } from '../model/batch.js';
import type { QueryRequest } from '../query/execute.js';
import type {
  Consistency,
  DataService,
  QueryOutcome,
  RangeRead,
  WriteOutcome,
} from '../server/data-service.js';
import type { EngineStats, StorageEngine } from '../storage/engine.js';
import { InFlightLimit } from './admission.js';
import type { LivenessSource, MetadataSource } from './cluster-view.js';
import { HintedHandoff, type HintedHandoffOptions } from './hinted-handoff.js';
import { QueryRouter } from './query-router.js';
import { type StreamOptions, streamRange } from './range-streamer.js';
import { ReadPath, type ReadStats } from './read-path.js';
import { ReplicaClient } from './replica-client.js';
import { ReplicaService } from './replica-service.js';
import { TokenCache } from './token-cache.js';
import { WritePath } from './write-path.js';

export interface CoordinatorOptions {
  /** Deadline of one replica request. */
  requestTimeoutMs: number;
  /** Client requests (writes, reads, queries) this node coordinates at once; past it, 429. */
  maxInFlight: number;
  /** 'data.*' requests this node serves as a replica at once; past it, 'overloaded'. */
  replicaMaxInFlight: number;
  hints: Partial<HintStoreOptions>;
  handoff: HintedHandoffOptions;
  stream: Partial<StreamOptions>;
  antiEntropy: Partial<AntiEntropyOptions>;
  /** Bugs planted on purpose, to show the tests' checks catch them. Never set in production. */
  bugs: readonly DataPlaneBug[];
  maxSeries?: number;
  maxPoints?: number;
}

export const DEFAULT_COORDINATOR_OPTIONS: CoordinatorOptions = {
  requestTimeoutMs: 2000,
  maxInFlight: 256,
  replicaMaxInFlight: 512,
  hints: {},
  handoff: { replayPauseMs: 10, checkIntervalMs: 10_000, hintsPerRound: 1000 },
  stream: {},
  antiEntropy: { intervalMs: 600_000 },
  bugs: [],
};

/**
 * Planted bugs: 'quorum-of-one' acknowledges a write after one replica whatever the level;
 * 'no-read-repair' skips the write-back of a read.
 */
export type DataPlaneBug = 'quorum-of-one' | 'no-read-repair';

export interface DataPlaneStats {
  hints: HintStats & { pending: number };
  reads: ReadStats;
  antiEntropy: RepairStats;
  /** Requests refused with 'overloaded', as coordinator and as replica. */
  overloaded: { coordinator: number; replica: number };
}

export interface CoordinatorDeps {
  engine: StorageEngine;
  metadata: MetadataSource;
  gossip: LivenessSource;
  options?: Partial<CoordinatorOptions>;
}

/**
 * The DataService of a cluster node: any node coordinates any request. It writes to every
 * write replica of each series and answers at the requested consistency, hinting replicas that
 * missed the write; it reads from enough replicas and repairs them; it routes multi-series
 * queries to the owners of every token range and says which ranges are missing. It also serves
 * the replica side ('data.*') for other coordinators, and streams ranges for join/decommission.
 */
export class Coordinator implements DataService {
  readonly handoff: HintedHandoff;
  readonly replica: ReplicaService;
  readonly writes: WritePath;
  readonly reads: ReadPath;
  readonly router: QueryRouter;
  readonly limit: InFlightLimit;
  readonly antiEntropy: AntiEntropy;
  private readonly client: ReplicaClient;
  private readonly engine: StorageEngine;
  private readonly metadata: MetadataSource;
  private readonly tokens = new TokenCache();
  private readonly nodeId: string;
  private readonly options: CoordinatorOptions;

  constructor(env: ClusterEnv, deps: CoordinatorDeps) {
    const options = { ...DEFAULT_COORDINATOR_OPTIONS, ...deps.options };
    this.options = options;
    this.engine = deps.engine;
    this.metadata = deps.metadata;
    this.nodeId = env.nodeId;
    const tokens = this.tokens;
    this.client = new ReplicaClient(env, deps.metadata, options.requestTimeoutMs);
    this.limit = new InFlightLimit(options.maxInFlight, `coordinator ${env.nodeId}`);
    this.replica = new ReplicaService(env, deps.engine, deps.metadata, tokens, {
      maxInFlight: options.replicaMaxInFlight,
    });
    this.handoff = new HintedHandoff(
      env,
      HintStore.open(env, options.hints),
      this.client,
      deps.gossip,
      options.handoff,
      (bytes) => writeRepair(deps.engine, decodeBatch(bytes)),
    );
    deps.metadata.onChange?.((state) => {
      for (const node of Object.values(state.nodes)) {
        if (node.state === 'left') void this.handoff.discard(node.id).catch(() => undefined);
      }
    });
    this.writes = new WritePath(
      deps.engine,
      deps.metadata,
      this.client,
      this.handoff,
      tokens,
      options.bugs.includes('quorum-of-one'),
    );
    this.reads = new ReadPath(
      deps.engine,
      deps.metadata,
      this.client,
      deps.gossip,
      this.handoff,
      tokens,
      options.bugs.includes('no-read-repair'),
    );
    this.antiEntropy = new AntiEntropy(
      env,
      deps.engine,
      deps.metadata,
      (id) => deps.gossip.isAlive(id),
      options.antiEntropy,
    );
    this.router = new QueryRouter(
      deps.metadata,
      this.client,
      deps.gossip,
      this.replica,
      this.reads,
      tokens,
      { maxSeries: options.maxSeries, maxPoints: options.maxPoints },
    );
  }

  /** Resolves once the hint store has loaded (writes before that still work). */
  async ready(): Promise<void> {
    await this.handoff.ready();
  }

  write(batch: PointBatch, consistency: Consistency): Promise<WriteOutcome> {
    return this.limit.run(() => this.writes.write(batch, consistency));
  }

  readRange(
    series: string,
    start: number,
    end: number,
    consistency: Consistency,
  ): Promise<RangeRead> {
    return this.limit.run(() => this.reads.readRange(series, start, end, consistency));
  }

  query(request: QueryRequest, consistency: Consistency): Promise<QueryOutcome> {
    return this.limit.run(() => this.router.query(request, consistency));
  }

  /** Pulls every series and point of `range` from `fromPeer` into this node (join, leave). */
  streamRange(range: RangeBounds, fromPeer: string): Promise<{ series: number; points: number }> {
    return streamRange(this.engine, this.client, range, fromPeer, this.options.stream);
  }

  /**
   * Anti-entropy now (countctl repair): Merkle comparison of each range this node initiates
   * with its other live replicas. Resolves with what this run repaired.
   */
  async repair(): Promise<RepairStats> {
    const before = { ...this.antiEntropy.totals };
    await this.antiEntropy.runOnce();
    const after = this.antiEntropy.totals;
    return {
      slots: after.slots - before.slots,
      entries: after.entries - before.entries,
      pulled: after.pulled - before.pulled,
      pushed: after.pushed - before.pushed,
    };
  }

  /** Counters of the data plane on this node, for metrics and status pages. */
  dataStats(): DataPlaneStats {
    return {
      hints: this.handoff.stats(),
      reads: { ...this.reads.stats },
      antiEntropy: { ...this.antiEntropy.totals },
      overloaded: { coordinator: this.limit.refused, replica: this.replica.limit.refused },
    };
  }

  flush(): Promise<void> {
    return this.engine.flush();
  }

  stats(): EngineStats {
    return this.engine.stats();
  }

  async close(): Promise<void> {
    this.antiEntropy.close();
    this.handoff.close();
    await this.handoff.settle();
    await this.engine.close();
  }
}
