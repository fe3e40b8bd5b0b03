import type { Token } from '../cluster/cluster-state.js';
import { CountError } from '../model/errors.js';

/**
 * Channels and payloads of the data plane between a coordinator and replicas. Every request and
 * answer carries its sender's metadata epoch (DESIGN.md): a replica that is ahead refuses a
 * stale coordinator with stale_epoch and its epoch; a node that sees a newer epoch catches up.
 * Points travel as bytes (samples-codec.ts).
 */
export const DATA_WRITE = 'data.write';
export const DATA_READ = 'data.read';
export const DATA_QUERY = 'data.query';
export const DATA_STREAM = 'data.stream';

export interface WriteMessage {
  epoch: number;
  /** encodeBatch */
  batch: Uint8Array;
  /** Hint replay or repair: old points allowed, no epoch refusal (the data belongs anyway). */
  repair: boolean;
}

export interface ReadMessage {
  epoch: number;
  series: string;
  start: number;
  end: number;
}

export interface ReadAnswer {
  epoch: number;
  found: boolean;
  /** encodeSamples */
  points: Uint8Array;
}

export interface QueryMessage {
  epoch: number;
  selector: unknown;
  start: number;
  end: number;
  /** Token ranges [start, end] this replica is asked for. */
  ranges: [Token, Token][];
  /** A mergeable function: answer partial aggregates (and digests) instead of points. */
  fn?: string;
  step?: number;
  maxSeries: number;
  maxPoints: number;
}

/** Per selected series: a digest of its points in the range, then points or a partial. */
export interface QueryAnswer {
  epoch: number;
  series: string[];
  /** Two lanes per series (order-independent digest of the points in [start, end)). */
  digests: number[];
  points?: Uint8Array[];
  partials?: Record<string, Uint8Array>[];
}

export interface StreamMessage {
  epoch: number;
  range: [Token, Token];
  /** Resume after this series (null: from the first) ... */
  afterSeries: string | null;
  /** ... at points with timestamp > afterTimestamp within afterSeries. */
  afterTimestamp: number;
  maxPoints: number;
}

export interface StreamAnswer {
  epoch: number;
  batch: Uint8Array;
  series: number;
  next: { series: string; after: number } | null;
}

export interface EpochAnswer {
  epoch: number;
}

export function staleEpoch(local: number, remote: number): CountError {
  return new CountError(
    'stale_epoch',
    `the request carries metadata epoch ${remote}; this node is at epoch ${local}`,
    { retryAfterSeconds: 1, details: { epoch: local } },
  );
}

/** The epoch a stale_epoch error names, or undefined for any other error. */
export function staleEpochOf(e: unknown): number | undefined {
  if (!(e instanceof CountError) || e.code !== 'stale_epoch') return undefined;
  const epoch = e.details?.epoch;
  return typeof epoch === 'number' ? epoch : undefined;
}

export function requireObject(payload: unknown, channel: string): Record<string, unknown> {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new CountError('invalid_body', `${channel}: the payload must be an object`);
  }
  return payload as Record<string, unknown>;
}

export function requireNumber(p: Record<string, unknown>, field: string, channel: string): number {
  const v = p[field];
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new CountError('invalid_body', `${channel}: ${field} must be a number`, { field });
  }
  return v;
}
