import type { LivenessSource } from './cluster-view.js';
import { staleEpochOf } from './data-messages.js';

/**
 * Asking "enough" replicas: the local replica first (no network), then those gossip sees
 * alive, then the rest (gossip may lag). A replica that fails is replaced by the next candidate
 * until `needed` answered or the candidates ran out.
 */
export function preferredOrder(
  replicas: readonly string[],
  self: string,
  liveness: LivenessSource,
): string[] {
  const local = replicas.filter((r) => r === self);
  const alive = replicas.filter((r) => r !== self && liveness.isAlive(r));
  const rest = replicas.filter((r) => r !== self && !liveness.isAlive(r));
  return [...local, ...alive, ...rest];
}

export interface FanoutResult<T> {
  /** Answers by replica, in the order they arrived. */
  answers: Map<string, T>;
  /** Replicas that failed, with their errors. */
  failed: Map<string, unknown>;
  /** The highest epoch a stale_epoch refusal named (0 when none). */
  staleEpoch: number;
}

export function askReplicas<T>(
  candidates: readonly string[],
  needed: number,
  ask: (replica: string) => Promise<T>,
): Promise<FanoutResult<T>> {
  const result: FanoutResult<T> = { answers: new Map(), failed: new Map(), staleEpoch: 0 };
  return new Promise((resolve) => {
    let next = 0;
    let inFlight = 0;
    const launch = () => {
      while (inFlight + result.answers.size < needed && next < candidates.length) {
        const r = candidates[next++];
        inFlight++;
        ask(r).then(
          (answer) => {
            inFlight--;
            result.answers.set(r, answer);
            finish();
          },
          (e: unknown) => {
            inFlight--;
            result.failed.set(r, e);
            const epoch = staleEpochOf(e);
            if (epoch !== undefined && epoch > result.staleEpoch) result.staleEpoch = epoch;
            finish();
          },
        );
      }
    };
    const finish = () => {
      if (result.answers.size >= needed || (inFlight === 0 && next >= candidates.length)) {
        resolve(result);
        return;
      }
      launch();
      if (inFlight === 0) resolve(result);
    };
    launch();
    if (inFlight === 0) resolve(result);
  });
}
