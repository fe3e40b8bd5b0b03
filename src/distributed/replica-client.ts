import type { ClusterEnv } from '../env/cluster-env.js';
import type { MetadataSource } from './cluster-view.js';
import { staleEpochOf } from './data-messages.js';

/**
 * Requests from this node to replicas: stamps the local metadata epoch on every request, and
 * catches up when a replica answers with (or refuses because of) a newer epoch. A stale_epoch
 * refusal is rethrown after the catch-up, so the caller re-plans with the newer ring.
 */
export class ReplicaClient {
  constructor(
    private readonly env: ClusterEnv,
    private readonly metadata: MetadataSource,
    readonly timeoutMs: number,
  ) {}

  get self(): string {
    return this.env.nodeId;
  }

  async call<T extends { epoch: number }>(
    peer: string,
    channel: string,
    payload: Record<string, unknown>,
    timeoutMs = this.timeoutMs,
  ): Promise<T> {
    let answer: T;
    try {
      answer = (await this.env.net.request(
        peer,
        channel,
        // A payload planned on a ring carries that ring's epoch: a replica asked later (a
        // replacement) must judge the plan, not the newer epoch this node learned meanwhile.
        { epoch: this.metadata.epoch(), ...payload },
        timeoutMs,
      )) as T;
    } catch (e) {
      const epoch = staleEpochOf(e);
      if (epoch !== undefined) await this.catchUp(epoch, peer);
      throw e;
    }
    if (typeof answer?.epoch === 'number' && answer.epoch > this.metadata.epoch()) {
      // The answer is still good (the replica served it); catch up in the background.
      void this.catchUp(answer.epoch, peer);
    }
    return answer;
  }

  /** Catches up to `epoch`; a failure only means the next request will be refused again. */
  async catchUp(epoch: number, peer?: string): Promise<void> {
    if (epoch <= this.metadata.epoch()) return;
    try {
      await this.metadata.catchUp(epoch, peer);
    } catch {
      // Retries are bounded by the callers; a coordinator that cannot catch up fails the request.
    }
  }
}
