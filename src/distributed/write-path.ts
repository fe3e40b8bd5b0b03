import type { Ring, TokenRange } from '../cluster/ring.js';
import { encodeBatch } from '../cluster/samples-codec.js';
import { PointBatch } from '../model/batch.js';
import { CountError } from '../model/errors.js';
import type { Consistency, WriteOutcome } from '../server/data-service.js';
import type { StorageEngine } from '../storage/engine.js';
import type { MetadataSource } from './cluster-view.js';
import { consistencyUnavailable, requiredReplicas } from './consistency.js';
import { DATA_WRITE, type EpochAnswer, staleEpochOf } from './data-messages.js';
import type { HintedHandoff } from './hinted-handoff.js';
import type { ReplicaClient } from './replica-client.js';
import type { TokenCache } from './token-cache.js';

/** Re-plans after stale_epoch refusals before giving up. */
export const MAX_EPOCH_RETRIES = 3;

/** The points of a batch that share one write replica set. */
export interface WriteGroup {
  /** Read replicas (owners), primary first. */
  owners: string[];
  /** Write replicas that are not owners (pending owners of a staged join or leave). */
  pending: string[];
  batch: PointBatch;
}

/**
 * Splits a batch by write replica set. Per series (not per point) the token and replica set
 * are looked up once; the points are then copied column by column into their group's batch.
 */
export function groupByReplicas(batch: PointBatch, ring: Ring, tokens: TokenCache): WriteGroup[] {
  if (ring.isEmpty()) {
    throw new CountError('consistency_unavailable', 'the cluster has no data owners yet', {
      retryAfterSeconds: 1,
      details: { acknowledged: 0, required: 1 },
    });
  }
  const groups: WriteGroup[] = [];
  const byKey = new Map<string, number>();
  // Ranges are few (16 tokens a node) and shared by many series: the group of each range is
  // worked out once per batch, so a series costs a token lookup and one binary search.
  const groupOfRange = new Map<TokenRange, number>();
  const groupOfSeries = new Int32Array(batch.series.length);
  for (let s = 0; s < batch.series.length; s++) {
    const range = ring.rangeOf(tokens.tokenOf(batch.series[s]));
    let g = groupOfRange.get(range);
    if (g === undefined) {
      const owners = [...range.replicas];
      const pending = range.writeReplicas.filter((id) => !owners.includes(id));
      // The set matters, not the order (every replica gets the write): sorted, series with the
      // same replicas in another ring order share a group.
      const key = `${[...owners].sort().join(',')}|${[...pending].sort().join(',')}`;
      g = byKey.get(key);
      if (g === undefined) {
        g = groups.length;
        byKey.set(key, g);
        groups.push({ owners, pending, batch });
      }
      groupOfRange.set(range, g);
    }
    groupOfSeries[s] = g;
  }
  // The common case (every series on the same replicas, e.g. 3 nodes at RF=3): no copy.
  if (groups.length === 1) return groups;
  for (const group of groups) group.batch = new PointBatch(Math.min(batch.length, 1024));
  const idInGroup = new Int32Array(batch.series.length);
  for (let s = 0; s < batch.series.length; s++) {
    idInGroup[s] = groups[groupOfSeries[s]].batch.seriesId(batch.series[s]);
  }
  const si = batch.seriesIndex;
  for (let i = 0; i < batch.length; i++) {
    const s = si[i];
    groups[groupOfSeries[s]].batch.addById(idInGroup[s], batch.timestamps[i], batch.values[i]);
  }
  return groups;
}

interface GroupResult {
  acks: number;
  required: number;
  stale: boolean;
  /** A 4xx CountError a replica gave: the batch itself is refused (e.g. out of window). */
  refusal: CountError | undefined;
}

/**
 * The coordinator's write path: send each group to all its write replicas (the local one
 * written directly), answer once the consistency level's acks arrived, hint the replicas that
 * failed or timed out (also after the answer went out), and re-plan on stale_epoch.
 */
export class WritePath {
  constructor(
    private readonly engine: StorageEngine,
    private readonly metadata: MetadataSource,
    private readonly client: ReplicaClient,
    private readonly handoff: HintedHandoff,
    private readonly tokens: TokenCache,
    /** Planted bug 'quorum-of-one' (tests only). */
    private readonly bugQuorumOfOne = false,
  ) {}

  async write(batch: PointBatch, level: Consistency): Promise<WriteOutcome> {
    if (batch.length === 0) return { written: 0, acknowledged: 0, required: 0 };
    for (let attempt = 0; ; attempt++) {
      const groups = groupByReplicas(batch, this.metadata.ring(), this.tokens);
      const results = await Promise.all(
        groups.map((g) => this.writeGroup(g, level, attempt < MAX_EPOCH_RETRIES)),
      );
      if (results.some((r) => r.stale) && attempt < MAX_EPOCH_RETRIES) continue;
      let acknowledged = Number.POSITIVE_INFINITY;
      let required = 0;
      for (const r of results) {
        if (r.acks < r.required) {
          if (r.refusal !== undefined) throw r.refusal;
          throw consistencyUnavailable(
            `a write of ${batch.length} point(s)`,
            level,
            r.acks,
            r.required,
          );
        }
        acknowledged = Math.min(acknowledged, r.acks);
        required = Math.max(required, r.required);
      }
      return { written: batch.length, acknowledged, required };
    }
  }

  /**
   * Resolves once `required` replicas acknowledged or every replica answered. `retryStale`:
   * a stale_epoch refusal before that makes the caller re-plan (no hint); on the last attempt,
   * or after the group was answered, it counts as a failure and is hinted.
   */
  private writeGroup(g: WriteGroup, level: Consistency, retryStale: boolean): Promise<GroupResult> {
    const replicas = [...g.owners, ...g.pending];
    const required = this.bugQuorumOfOne
      ? 1
      : requiredReplicas(level, g.owners.length, g.pending.length);
    const result: GroupResult = { acks: 0, required, stale: false, refusal: undefined };
    let bytes: Uint8Array | undefined;
    const encoded = () => {
      bytes ??= encodeBatch(g.batch);
      return bytes;
    };
    return new Promise((resolve) => {
      let settled = 0;
      let answered = false;
      const done = () => {
        if (result.acks >= required || settled === replicas.length) {
          answered = true;
          resolve(result);
        }
      };
      for (const r of replicas) {
        const send =
          r === this.client.self
            ? this.engine.write(g.batch)
            : this.client.call<EpochAnswer>(r, DATA_WRITE, { batch: encoded(), repair: false });
        send
          .then(
            () => {
              result.acks++;
            },
            (e: unknown) => {
              if (retryStale && !answered && staleEpochOf(e) !== undefined) {
                // Re-planned by the caller. (After the answer went out nobody re-plans: the
                // refusing replica is hinted below like any other.)
                result.stale = true;
              } else if (
                e instanceof CountError &&
                e.status >= 400 &&
                e.status < 500 &&
                e.code !== 'overloaded'
              ) {
                result.refusal ??= e;
              } else {
                // Down, timed out, overloaded, out of memory (the local engine too): the
                // replica gets the write later.
                void this.handoff.hint(r, encoded());
              }
            },
          )
          .finally(() => {
            settled++;
            done();
          });
      }
    });
  }
}
