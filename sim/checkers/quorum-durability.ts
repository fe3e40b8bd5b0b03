import type { Samples } from '../../src/model/point.js';
import { type ClusterHistory, lackedPoint } from '../cluster-history.js';

/**
 * Quorum durability: every point acknowledged at quorum (or all) before a quorum read was
 * invoked is in that read's answer (with a value at least the acknowledged one, since the
 * convergence rule lets a larger later value replace it). W + R > RF makes this hold through
 * crashes, partitions, hints and staged ownership changes; a coordinator that acknowledges
 * early, or a replica that loses an acknowledged point, breaks it.
 */
export interface QuorumRead {
  readonly series: string;
  readonly start: number;
  readonly end: number;
  readonly invokedAt: number;
  readonly coordinator: string;
  readonly samples: Samples;
}

export function checkQuorumRead(history: ClusterHistory, read: QuorumRead): string | null {
  const why = lackedPoint(history, read.series, read.samples, read.start, read.end, read.invokedAt);
  if (why === null) return null;
  return `quorum read of ${read.series} invoked at ${read.invokedAt}ms via ${read.coordinator}: ${why}`;
}
