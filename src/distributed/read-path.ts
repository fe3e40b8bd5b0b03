import { pointsLacking } from '../cluster/points-lacking.js';
import { writeRepair } from '../cluster/repair-write.js';
import { decodeSamples, encodeBatch } from '../cluster/samples-codec.js';
import type { Samples } from '../model/point.js';
import { mergeSamples } from '../query/merge.js';
import type { Consistency, RangeRead } from '../server/data-service.js';
import type { StorageEngine } from '../storage/engine.js';
import type { LivenessSource, MetadataSource } from './cluster-view.js';
import { consistencyUnavailable, requiredReplicas } from './consistency.js';
import { DATA_READ, DATA_WRITE, type EpochAnswer, type ReadAnswer } from './data-messages.js';
import type { HintedHandoff } from './hinted-handoff.js';
import type { ReplicaClient } from './replica-client.js';
import { askReplicas, preferredOrder } from './replica-fanout.js';
import { seriesExists } from './replica-service.js';
import type { TokenCache } from './token-cache.js';
import { MAX_EPOCH_RETRIES } from './write-path.js';

export interface ReadStats {
  reads: number;
  repairs: number;
  repairedPoints: number;
  repairFailures: number;
}

/**
 * The coordinator's read path: ask enough replicas for the level (local first, then live
 * ones, replacing failures), merge their points by the convergence rule, and write back to each
 * queried replica what it lacked before answering (blocking read repair).
 */
export class ReadPath {
  readonly stats: ReadStats = { reads: 0, repairs: 0, repairedPoints: 0, repairFailures: 0 };

  constructor(
    private readonly engine: StorageEngine,
    private readonly metadata: MetadataSource,
    private readonly client: ReplicaClient,
    private readonly liveness: LivenessSource,
    private readonly handoff: HintedHandoff,
    private readonly tokens: TokenCache,
    /** Planted bug 'no-read-repair' (tests only). */
    private readonly bugNoReadRepair = false,
  ) {}

  async readRange(
    series: string,
    start: number,
    end: number,
    level: Consistency,
  ): Promise<RangeRead> {
    this.stats.reads++;
    const token = this.tokens.tokenOf(series);
    for (let attempt = 0; ; attempt++) {
      const ring = this.metadata.ring();
      const owners = ring.readReplicas(token);
      if (owners.length === 0) throw consistencyUnavailable('a read', level, 0, 1);
      const required = requiredReplicas(level, owners.length);
      const candidates = preferredOrder(owners, this.client.self, this.liveness);
      const got = await askReplicas(candidates, required, (r) =>
        this.readOne(r, series, start, end, ring.epoch),
      );
      // A stale refusal means the plan is old: a replica that stood in for the refusing one
      // under it may no longer own the series (and lack its newest points). Re-plan.
      if (got.staleEpoch > 0 && attempt < MAX_EPOCH_RETRIES) continue;
      if (got.answers.size < required) {
        throw consistencyUnavailable(`a read of ${series}`, level, got.answers.size, required);
      }
      const answers = [...got.answers];
      const merged = mergeSamples(answers.map(([, a]) => a.points));
      if (answers.length > 1 && !this.bugNoReadRepair) await this.repair(series, merged, answers);
      return { found: answers.some(([, a]) => a.found), points: merged, partial: false };
    }
  }

  /** Points one replica holds (the local engine directly), asked under the plan's `epoch`. */
  async readOne(
    replica: string,
    series: string,
    start: number,
    end: number,
    epoch: number,
  ): Promise<{ found: boolean; points: Samples }> {
    if (replica === this.client.self) {
      const points = await this.engine.readRange(series, start, end);
      const found = points.timestamps.length > 0 || (await seriesExists(this.engine, series));
      return { found, points };
    }
    const a = await this.client.call<ReadAnswer>(replica, DATA_READ, { series, start, end, epoch });
    return { found: a.found === true, points: decodeSamples(a.points) };
  }

  /** Writes to each replica what it lacked; a replica the repair cannot reach gets a hint. */
  async repair(
    series: string,
    merged: Samples,
    answers: [string, { points: Samples }][],
  ): Promise<void> {
    await Promise.all(
      answers.map(async ([replica, a]) => {
        const lacking = pointsLacking(series, merged, a.points);
        if (lacking.length === 0) return;
        this.stats.repairs++;
        this.stats.repairedPoints += lacking.length;
        try {
          if (replica === this.client.self) await writeRepair(this.engine, lacking);
          else {
            await this.client.call<EpochAnswer>(replica, DATA_WRITE, {
              batch: encodeBatch(lacking),
              repair: true,
            });
          }
        } catch {
          this.stats.repairFailures++;
          await this.handoff.hint(replica, encodeBatch(lacking));
        }
      }),
    );
  }
}
