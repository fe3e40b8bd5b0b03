/**
 * Storage engine benchmark on real files (NodeVfs in os.tmpdir()): ingest rate with
 * fsync=batch and 10,000-point batches, bytes per point on disk after flush (and after
 * compaction) beside the data's empirical entropy, latency of a one-day range read of one
 * series, and of a 1-hour-step max over 100 series. Medians of several runs; prints a table.
 *
 *   node dist/bench/engine.js [--series N] [--runs N]
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createRealEnv } from '../src/env/real-env.js';
import { PointBatch } from '../src/model/batch.js';
import { aggregate } from '../src/query/aggregate.js';
import { openEngine } from '../src/storage/engine.js';
import { numberArg } from './args.js';
import {
  type DevopsData,
  empiricalEntropyBitsPerPoint,
  generateDevopsData,
} from './devops-data.js';
import { median } from './median.js';
import { printTable } from './table.js';

const BATCH_POINTS = 10_000;
const DAY_MS = 86_400_000;

/** Batches in arrival order: every series' next points, time step by time step. */
function toBatches(data: DevopsData): PointBatch[] {
  const series = data.keys.length;
  const points = data.timestamps[0].length;
  const steps = Math.max(1, Math.floor(BATCH_POINTS / series));
  const batches: PointBatch[] = [];
  for (let from = 0; from < points; from += steps) {
    const to = Math.min(points, from + steps);
    const b = new PointBatch(series * (to - from));
    const ids = data.keys.map((k) => b.seriesId(k));
    for (let i = from; i < to; i++) {
      for (let s = 0; s < series; s++) b.addById(ids[s], data.timestamps[s][i], data.values[s][i]);
    }
    batches.push(b);
  }
  return batches;
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    total += st.isDirectory() ? dirBytes(p) : st.size;
  }
  return total;
}

interface RunResult {
  ingestPps: number;
  /** Points per CPU-second of this process (user + system) over the ingest: load-independent. */
  ingestPpcs: number;
  bytesPerPointFlushed: number;
  bytesPerPointCompacted: number;
  rangeReadMs: number;
  max100Ms: number;
  /** Longest event-loop stall during the ingest (head cuts run meanwhile), ms. */
  maxStallMs: number;
}

async function oneRun(
  data: DevopsData,
  batches: PointBatch[],
  writers: number,
): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'count-bench-engine-'));
  const totalPoints = data.keys.length * data.timestamps[0].length;
  const start = data.timestamps[0][0];
  try {
    // The clock sits at the end of the data day, as for live ingest.
    const real = createRealEnv(dir);
    const env = { ...real, now: () => start + DAY_MS, vfs: real.vfs };
    const engine = await openEngine(env, { fsync: 'batch', retentionMs: 0 });
    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    let next = 0;
    const writer = async () => {
      while (next < batches.length) await engine.write(batches[next++]);
    };
    await Promise.all(Array.from({ length: writers }, writer));
    const ingestMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    loop.disable();
    await engine.flush();
    const flushed = dirBytes(join(dir, 'blocks'));
    await engine.compact();
    const compacted = dirBytes(join(dir, 'blocks'));

    const reads: number[] = [];
    for (let i = 0; i < 30; i++) {
      const key = data.keys[(i * 37) % data.keys.length];
      const r0 = performance.now();
      const s = await engine.readRange(key, start, start + DAY_MS);
      reads.push(performance.now() - r0);
      if (s.timestamps.length !== data.timestamps[0].length)
        throw new Error(`range read of ${key} is short`);
    }
    const aggs: number[] = [];
    const hundred = data.keys.slice(0, Math.min(100, data.keys.length));
    for (let i = 0; i < 7; i++) {
      const a0 = performance.now();
      const series = await Promise.all(
        hundred.map((k) => engine.readRange(k, start, start + DAY_MS)),
      );
      const buckets = aggregate(series, { fn: 'max', start, end: start + DAY_MS, step: 3600_000 });
      aggs.push(performance.now() - a0);
      if (buckets.length !== 24 && buckets.length !== 25)
        throw new Error(`expected 24 buckets, got ${buckets.length}`);
    }
    await engine.close();
    return {
      ingestPps: totalPoints / (ingestMs / 1000),
      ingestPpcs: totalPoints / ((cpu.user + cpu.system) / 1e6),
      bytesPerPointFlushed: flushed / totalPoints,
      bytesPerPointCompacted: compacted / totalPoints,
      rangeReadMs: median(reads),
      max100Ms: median(aggs),
      maxStallMs: loop.max / 1e6,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runEngineBench(
  options: { series?: number; runs?: number } = {},
): Promise<void> {
  const series = options.series ?? 1000;
  const runs = options.runs ?? 3;
  // A day at 10 s starting on a 24 h boundary, so block windows align with the data.
  const data = generateDevopsData({
    seed: 1,
    series,
    points: 8640,
    startTime: Date.UTC(2026, 0, 1),
  });
  const batches = toBatches(data);
  const entropy = empiricalEntropyBitsPerPoint(data) / 8;
  const rows: string[][] = [
    ['measure', ...Array.from({ length: runs }, (_, i) => `run ${i + 1}`), 'median'],
  ];
  const results: Array<{ writers: number; r: RunResult }> = [];
  for (const writers of [1, 4]) {
    for (let i = 0; i < runs; i++)
      results.push({ writers, r: await oneRun(data, batches, writers) });
  }
  const row = (name: string, writers: number, pick: (r: RunResult) => number, digits: number) => {
    const xs = results.filter((x) => x.writers === writers).map((x) => pick(x.r));
    rows.push([name, ...xs.map((x) => x.toFixed(digits)), median(xs).toFixed(digits)]);
  };
  row('ingest, 1 writer (points/s)', 1, (r) => r.ingestPps, 0);
  row('ingest, 4 writers (points/s)', 4, (r) => r.ingestPps, 0);
  row('ingest, 1 writer (points/CPU-s)', 1, (r) => r.ingestPpcs, 0);
  row('ingest, 4 writers (points/CPU-s)', 4, (r) => r.ingestPpcs, 0);
  row('max event-loop stall, 1 writer (ms)', 1, (r) => r.maxStallMs, 0);
  row('max event-loop stall, 4 writers (ms)', 4, (r) => r.maxStallMs, 0);
  row('bytes/point after flush (2h blocks)', 1, (r) => r.bytesPerPointFlushed, 3);
  row('bytes/point after compaction (24h)', 1, (r) => r.bytesPerPointCompacted, 3);
  row('one-day range read, 1 series (ms)', 1, (r) => r.rangeReadMs, 3);
  row('1h-step max over 100 series, 1 day (ms)', 1, (r) => r.max100Ms, 2);
  console.log(
    `engine: devops data, ${series} series x 8640 points (1 day at 10 s), ${batches.length} batches of ` +
      `${batches[0].length} points, fsync=batch on NodeVfs in ${tmpdir()}; entropy bound ` +
      `${entropy.toFixed(3)} bytes/point`,
  );
  printTable(rows);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await runEngineBench({ series: numberArg('--series'), runs: numberArg('--runs') });
}
