import type { Samples } from '../src/model/point.js';

/**
 * What the cluster workload's clients saw: every value written to each (series, timestamp),
 * whatever its outcome (convergence may surface any of them), and the writes acknowledged at
 * quorum or all with the virtual time of the acknowledgement. The durability checkers compare
 * reads and query answers against it.
 */
export interface AckedPoint {
  readonly timestamp: number;
  readonly value: number;
  readonly ackedAt: number;
}

/** Bound on points recorded per run (the workload stops writing past it). */
export const MAX_HISTORY_POINTS = 200_000;

export class ClusterHistory {
  private readonly acked = new Map<string, AckedPoint[]>();
  /** Every value ever sent for "series\u0000timestamp" (attempted writes included). */
  private readonly written = new Map<string, number[]>();
  /** Per series: distinct timestamps and largest value ever sent (bounds for aggregates). */
  private readonly sent = new Map<string, { timestamps: number; max: number }>();
  points = 0;

  /** A write was sent (before its outcome is known). */
  attempted(series: string, timestamp: number, value: number): void {
    const k = `${series}\u0000${timestamp}`;
    const vs = this.written.get(k);
    let sent = this.sent.get(series);
    if (sent === undefined) {
      sent = { timestamps: 0, max: Number.NEGATIVE_INFINITY };
      this.sent.set(series, sent);
    }
    sent.max = Math.max(sent.max, value);
    if (vs === undefined) {
      this.written.set(k, [value]);
      sent.timestamps++;
    } else vs.push(value);
    this.points++;
  }

  /** A write was acknowledged at quorum or all at virtual time `at`. */
  acknowledged(series: string, timestamp: number, value: number, at: number): void {
    let list = this.acked.get(series);
    if (list === undefined) {
      list = [];
      this.acked.set(series, list);
    }
    list.push({ timestamp, value, ackedAt: at });
  }

  ackedSeries(): string[] {
    return [...this.acked.keys()].sort();
  }

  ackedOf(series: string): readonly AckedPoint[] {
    return this.acked.get(series) ?? [];
  }

  /** Distinct timestamps and the largest value ever sent for `series`. */
  sentOf(series: string): { timestamps: number; max: number } {
    return this.sent.get(series) ?? { timestamps: 0, max: Number.NEGATIVE_INFINITY };
  }

  /** True when `value` is one of the values some client sent for (series, timestamp). */
  wasWritten(series: string, timestamp: number, value: number): boolean {
    const vs = this.written.get(`${series}\u0000${timestamp}`);
    return vs?.some((v) => Object.is(v, value)) === true;
  }
}

/** Index of `t` in sorted timestamps, or -1. */
export function indexOfTimestamp(s: Samples, t: number): number {
  const ts = s.timestamps;
  let lo = 0;
  let hi = ts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ts[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo < ts.length && ts[lo] === t ? lo : -1;
}

/**
 * Why an answer for `series` over [start, end), to a request invoked at `invokedAt`, lacks a
 * point acknowledged before it, or null. A later, larger value may have replaced the acked one
 * (the convergence rule keeps the larger), so the answer needs a value >= the acked one; and
 * every value returned must be one some client wrote.
 */
export function lackedPoint(
  history: ClusterHistory,
  series: string,
  samples: Samples,
  start: number,
  end: number,
  invokedAt: number,
): string | null {
  for (const p of history.ackedOf(series)) {
    if (p.ackedAt >= invokedAt || p.timestamp < start || p.timestamp >= end) continue;
    const i = indexOfTimestamp(samples, p.timestamp);
    if (i < 0) {
      return `${series} @${p.timestamp} (value ${p.value}, acked at ${p.ackedAt}ms) is missing`;
    }
    const got = samples.values[i];
    if (!(got >= p.value)) {
      return `${series} @${p.timestamp} has ${got}, below the value ${p.value} acked at ${p.ackedAt}ms`;
    }
  }
  for (let i = 0; i < samples.timestamps.length; i++) {
    const t = samples.timestamps[i];
    if (!history.wasWritten(series, t, samples.values[i])) {
      return `${series} @${t} has ${samples.values[i]}, which no client wrote`;
    }
  }
  return null;
}
