import { assert } from '../model/assert.js';
import { CountError } from '../model/errors.js';
import type { Consistency } from '../server/data-service.js';

/**
 * How many replica answers a consistency level needs out of `owners` replicas: one, a majority,
 * or all. `pending` write replicas (a staged join or leave) are added on top, as Cassandra does,
 * so a quorum of the final owners holds the write whichever way the operation ends.
 */
export function requiredReplicas(level: Consistency, owners: number, pending = 0): number {
  assert(owners >= 1, 'requiredReplicas: a range without owners');
  const base = level === 'one' ? 1 : level === 'quorum' ? Math.floor(owners / 2) + 1 : owners;
  return base + pending;
}

/** 503 consistency_unavailable, saying how many replicas answered out of how many needed. */
export function consistencyUnavailable(
  what: string,
  level: Consistency,
  acknowledged: number,
  required: number,
  extra: Record<string, unknown> = {},
): CountError {
  return new CountError(
    'consistency_unavailable',
    `${what} at consistency ${level} needs ${required} replica(s); ${acknowledged} answered`,
    { retryAfterSeconds: 1, details: { consistency: level, acknowledged, required, ...extra } },
  );
}
