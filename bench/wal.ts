/**
 * WAL benchmark on real files (NodeVfs in os.tmpdir()): append throughput (records/s, MB/s) and
 * fsyncs/s for fsync=always and fsync=batch with 1, 4 and 16 concurrent writers, each writer
 * appending its next record as soon as the previous one is acknowledged. Medians of several
 * runs; prints a table.
 *
 *   node dist/bench/wal.js [--runs N] [--duration-ms N] [--record-bytes N]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createRealEnv } from '../src/env/real-env.js';
import type { FsyncMode } from '../src/storage/engine.js';
import { Wal } from '../src/storage/wal.js';
import { numberArg } from './args.js';
import { median } from './median.js';
import { printTable } from './table.js';

export interface WalBenchOptions {
  runs?: number;
  durationMs?: number;
  recordBytes?: number;
}

interface Sample {
  recordsPerSec: number;
  mbPerSec: number;
  fsyncsPerSec: number;
  fsyncP50Ms: number;
}

async function runOnce(
  mode: FsyncMode,
  writers: number,
  durationMs: number,
  recordBytes: number,
): Promise<Sample> {
  const dir = await mkdtemp(join(tmpdir(), 'count-wal-bench-'));
  try {
    const fsyncMs: number[] = [];
    const wal = await Wal.open(createRealEnv(dir), {
      dir: 'wal',
      fsync: mode,
      fsyncIntervalMs: 1000,
      segmentBytes: 64 * 1024 * 1024,
      onFsync: (ms) => fsyncMs.push(ms),
    });
    await wal.replay(1, () => {});
    const payload = new Uint8Array(recordBytes);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 131) & 0xff;
    let records = 0;
    const start = performance.now();
    const deadline = start + durationMs;
    async function writer(): Promise<void> {
      while (performance.now() < deadline) {
        await wal.append(payload);
        records++;
      }
    }
    await Promise.all(Array.from({ length: writers }, writer));
    const seconds = (performance.now() - start) / 1000;
    const fsyncs = fsyncMs.length;
    await wal.close();
    return {
      recordsPerSec: records / seconds,
      mbPerSec: (records * recordBytes) / seconds / 1e6,
      fsyncsPerSec: fsyncs / seconds,
      fsyncP50Ms: fsyncs > 0 ? median(fsyncMs) : 0,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function runWalBench(options: WalBenchOptions = {}): Promise<void> {
  const runs = options.runs ?? 3;
  const durationMs = options.durationMs ?? 1000;
  const recordBytes = options.recordBytes ?? 1024;
  console.log(
    `WAL append benchmark: ${recordBytes}-byte records, ${durationMs} ms per run, median of ${runs} runs, NodeVfs in ${tmpdir()}`,
  );
  const rows: string[][] = [
    ['fsync', 'writers', 'records/s', 'MB/s', 'fsyncs/s', 'records/fsync', 'fsync p50 ms'],
  ];
  for (const mode of ['always', 'batch'] as const) {
    for (const writers of [1, 4, 16]) {
      const samples: Sample[] = [];
      for (let r = 0; r < runs; r++)
        samples.push(await runOnce(mode, writers, durationMs, recordBytes));
      const rps = median(samples.map((s) => s.recordsPerSec));
      const fps = median(samples.map((s) => s.fsyncsPerSec));
      rows.push([
        mode,
        String(writers),
        rps.toFixed(0),
        median(samples.map((s) => s.mbPerSec)).toFixed(2),
        fps.toFixed(0),
        fps > 0 ? (rps / fps).toFixed(1) : '-',
        median(samples.map((s) => s.fsyncP50Ms)).toFixed(3),
      ]);
    }
  }
  printTable(rows, { align: 'right', rule: false });
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  await runWalBench({
    runs: numberArg('--runs', argv),
    durationMs: numberArg('--duration-ms', argv),
    recordBytes: numberArg('--record-bytes', argv),
  });
}
