/**
 * A seeded "devops" data set for benchmarks: many series at a 10 s interval, of three kinds,
 * plus the zero-order empirical entropy of the data under the model that generated it (the
 * bound the compression benchmark compares bytes per point against; see docs/compression.md).
 *
 * Kinds (by series index, i % 10): 0..6 gauge, 7..8 counter, 9 constant, so 70/20/10 %.
 * - gauge: a random walk with 2 decimals; the scaled level m (value = m / 100) moves by
 *   round(100 * N(0,1)) each step.
 * - counter: an integer that grows by a uniform increment in 0..50 each step.
 * - constant: one value for the whole series.
 * Timestamps are start + i * 10 s; 2 % of them are moved by 1..5 ms either way.
 */
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

export type SeriesKind = 'gauge' | 'counter' | 'constant';
export const SERIES_KINDS: readonly SeriesKind[] = ['gauge', 'counter', 'constant'];

export interface DevopsDataOptions {
  seed: number;
  /** Number of series (default 1,000). */
  series?: number;
  /** Points per series (default 8,640 = one day at 10 s). */
  points?: number;
  /** First timestamp in ms (default 2026-01-01T00:00:00Z). */
  startTime?: number;
  /** Interval between points in ms (default 10,000). */
  intervalMs?: number;
}

export interface DevopsData {
  keys: string[];
  kinds: SeriesKind[];
  timestamps: Float64Array[];
  values: Float64Array[];
}

export const DEVOPS_INTERVAL_MS = 10_000;
export const DEVOPS_JITTER_PROBABILITY = 0.02;
export const DEVOPS_MAX_JITTER_MS = 5;
/** Gauges have 2 decimals: value = level / GAUGE_SCALE. */
export const GAUGE_SCALE = 100;

const GAUGE_NAMES = ['cpu.usage_user', 'mem.used_percent', 'disk.io_util', 'net.latency_ms'];
const COUNTER_NAMES = ['net.bytes_recv', 'http.requests_total'];
const CONSTANT_NAMES = ['system.n_cpus'];

export function seriesKindOf(index: number): SeriesKind {
  const r = index % 10;
  return r < 7 ? 'gauge' : r < 9 ? 'counter' : 'constant';
}

export function generateDevopsData(options: DevopsDataOptions): DevopsData {
  const seriesCount = options.series ?? 1000;
  const points = options.points ?? 8640;
  const startTime = options.startTime ?? Date.UTC(2026, 0, 1);
  const interval = options.intervalMs ?? DEVOPS_INTERVAL_MS;
  if (interval <= 2 * DEVOPS_MAX_JITTER_MS) throw new Error('intervalMs too small for the jitter');
  const rng = xoroshiro128plus(options.seed);
  const keys: string[] = [];
  const kinds: SeriesKind[] = [];
  const timestamps: Float64Array[] = [];
  const values: Float64Array[] = [];
  for (let s = 0; s < seriesCount; s++) {
    const kind = seriesKindOf(s);
    const names =
      kind === 'gauge' ? GAUGE_NAMES : kind === 'counter' ? COUNTER_NAMES : CONSTANT_NAMES;
    const name = names[s % names.length];
    keys.push(`${name}{host="h${String(s).padStart(5, '0')}",region="r${s % 7}"}`);
    kinds.push(kind);
    const ts = new Float64Array(points);
    for (let i = 0; i < points; i++) {
      let t = startTime + i * interval;
      if (uniformFloat64(rng) < DEVOPS_JITTER_PROBABILITY) {
        const j = uniformInt(rng, 1, DEVOPS_MAX_JITTER_MS);
        t += uniformInt(rng, 0, 1) === 0 ? -j : j;
      }
      ts[i] = t;
    }
    const vs = new Float64Array(points);
    if (kind === 'gauge') {
      let level = uniformInt(rng, 0, 100_000);
      for (let i = 0; i < points; i++) {
        if (i > 0) level += Math.round(GAUGE_SCALE * standardNormal(rng));
        vs[i] = level / GAUGE_SCALE;
      }
    } else if (kind === 'counter') {
      let count = uniformInt(rng, 0, 1_000_000);
      for (let i = 0; i < points; i++) {
        if (i > 0) count += uniformInt(rng, 0, 50);
        vs[i] = count;
      }
    } else {
      vs.fill(uniformInt(rng, 1, 128));
    }
    timestamps.push(ts);
    values.push(vs);
  }
  return { keys, kinds, timestamps, values };
}

type Rng = ReturnType<typeof xoroshiro128plus>;

/** Box-Muller; one normal per call keeps the stream simple to reproduce. */
function standardNormal(rng: Rng): number {
  const u1 = 1 - uniformFloat64(rng); // (0, 1]: log(0) never happens
  const u2 = uniformFloat64(rng);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

export interface EntropyReport {
  /** Bits per point over all series: timestamps plus values. */
  overall: number;
  /** Bits per point of the series of each kind (timestamps plus values). */
  byKind: Record<SeriesKind, number>;
  /** Bits per point spent on timestamps alone, over all series. */
  timestamps: number;
  points: number;
}

/**
 * Zero-order empirical entropy of the residuals under the generating model, per series:
 * the delta-of-delta of timestamps (from the third point on), the scaled value deltas of
 * gauges (x100) and counters (from the second point on), and nothing for constants. For each
 * series and stream, sum over residuals of -log2(frequency / n); the first point(s) are free.
 * Every symbol counts as if an oracle knew the series' own histogram, so no codec that codes
 * residuals one at a time can beat it.
 */
export function empiricalEntropy(data: DevopsData): EntropyReport {
  const bits: Record<SeriesKind, number> = { gauge: 0, counter: 0, constant: 0 };
  const points: Record<SeriesKind, number> = { gauge: 0, counter: 0, constant: 0 };
  let timestampBits = 0;
  let total = 0;
  for (let s = 0; s < data.keys.length; s++) {
    const kind = data.kinds[s];
    const ts = data.timestamps[s];
    const vs = data.values[s];
    const n = ts.length;
    const dods: number[] = [];
    for (let i = 2; i < n; i++) dods.push(ts[i] - 2 * ts[i - 1] + ts[i - 2]);
    const tBits = entropyBits(dods);
    let vBits = 0;
    if (kind !== 'constant') {
      const scale = kind === 'gauge' ? GAUGE_SCALE : 1;
      const deltas: number[] = [];
      for (let i = 1; i < n; i++) {
        deltas.push(Math.round(vs[i] * scale) - Math.round(vs[i - 1] * scale));
      }
      vBits = entropyBits(deltas);
    }
    bits[kind] += tBits + vBits;
    points[kind] += n;
    timestampBits += tBits;
    total += n;
  }
  const perPoint = (b: number, p: number): number => (p === 0 ? 0 : b / p);
  return {
    overall: perPoint(bits.gauge + bits.counter + bits.constant, total),
    byKind: {
      gauge: perPoint(bits.gauge, points.gauge),
      counter: perPoint(bits.counter, points.counter),
      constant: perPoint(bits.constant, points.constant),
    },
    timestamps: perPoint(timestampBits, total),
    points: total,
  };
}

export function empiricalEntropyBitsPerPoint(data: DevopsData): number {
  return empiricalEntropy(data).overall;
}

/** Total bits of a sequence under its own zero-order histogram: sum of -log2(p(x)). */
function entropyBits(symbols: readonly number[]): number {
  const counts = new Map<number, number>();
  for (const x of symbols) counts.set(x, (counts.get(x) ?? 0) + 1);
  const n = symbols.length;
  let bits = 0;
  for (const c of counts.values()) bits += c * Math.log2(n / c);
  return bits;
}
