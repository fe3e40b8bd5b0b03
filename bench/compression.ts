/**
 * Compression benchmark: bytes per point of the chunk format on the devops data set beside the
 * data's empirical entropy, and encode/decode speed (median of 5 runs).
 *
 *   npx tsc -p tsconfig.json && node dist/bench/compression.js [--series N] [--seed S]
 */
import { pathToFileURL } from 'node:url';
import { chunkValueCodec, decodeChunkInto, encodeChunk } from '../src/compression/chunk.js';
import { numberArg } from './args.js';
import {
  type DevopsData,
  empiricalEntropy,
  generateDevopsData,
  SERIES_KINDS,
  type SeriesKind,
} from './devops-data.js';
import { medianAveraged } from './median.js';
import { formatTable } from './table.js';

const POINTS_PER_DAY = 8640;
const CHUNK_SIZES = [720, POINTS_PER_DAY];
const RUNS = 5;

interface Row {
  chunk: number;
  kind: string;
  bytesPerPoint: number;
  entropyBits: number;
  codecs: string;
  encodeMps: number;
  decodeMps: number;
}

/**
 * CPU milliseconds of this process: on a machine shared with other work, wall time measures the
 * neighbours as much as the code, while CPU time measures what one core spent on it.
 */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function measure(
  timestamps: Float64Array[],
  values: Float64Array[],
  chunk: number,
): { bytes: number; points: number; codecs: string; encodeMps: number; decodeMps: number } {
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  let points = 0;
  const codecCount = new Map<string, number>();
  for (let s = 0; s < timestamps.length; s++) {
    for (let a = 0; a < timestamps[s].length; a += chunk) {
      const end = Math.min(a + chunk, timestamps[s].length);
      const c = encodeChunk(timestamps[s], values[s], a, end);
      chunks.push(c);
      bytes += c.length;
      points += end - a;
      const name = chunkValueCodec(c);
      codecCount.set(name, (codecCount.get(name) ?? 0) + 1);
    }
  }
  const encodeTimes: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const t0 = cpuMs();
    for (let s = 0; s < timestamps.length; s++) {
      for (let a = 0; a < timestamps[s].length; a += chunk) {
        encodeChunk(timestamps[s], values[s], a, Math.min(a + chunk, timestamps[s].length));
      }
    }
    encodeTimes.push(cpuMs() - t0);
  }
  const outT = new Float64Array(chunk);
  const outV = new Float64Array(chunk);
  const decodeTimes: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const t0 = cpuMs();
    let decoded = 0;
    for (const c of chunks) decoded += decodeChunkInto(c, outT, outV, 0);
    decodeTimes.push(cpuMs() - t0);
    if (decoded !== points) throw new Error('decoded point count differs');
  }
  const total = chunks.length;
  const codecs = [...codecCount]
    .map(([name, n]) => `${name} ${Math.round((100 * n) / total)}%`)
    .join(', ');
  return {
    bytes,
    points,
    codecs,
    encodeMps: points / medianAveraged(encodeTimes) / 1000,
    decodeMps: points / medianAveraged(decodeTimes) / 1000,
  };
}

function pick(data: DevopsData, kind: SeriesKind): { ts: Float64Array[]; vs: Float64Array[] } {
  const ts: Float64Array[] = [];
  const vs: Float64Array[] = [];
  data.kinds.forEach((k, i) => {
    if (k === kind) {
      ts.push(data.timestamps[i]);
      vs.push(data.values[i]);
    }
  });
  return { ts, vs };
}

/** Floats that are not short decimals (gauge levels times pi): what the XOR codec gets. */
function xorFloats(data: DevopsData): { ts: Float64Array[]; vs: Float64Array[] } {
  const { ts, vs } = pick(data, 'gauge');
  return { ts, vs: vs.map((col) => col.map((v) => v * Math.PI)) };
}

function format(rows: Row[]): string {
  const header = [
    'chunk',
    'kind',
    'bytes/pt',
    'bits/pt',
    'entropy bits/pt',
    'ratio',
    'encode Mpt/s',
    'decode Mpt/s',
    'codecs',
  ];
  const lines = rows.map((r) => [
    String(r.chunk),
    r.kind,
    r.bytesPerPoint.toFixed(3),
    (r.bytesPerPoint * 8).toFixed(2),
    Number.isNaN(r.entropyBits) ? '-' : r.entropyBits.toFixed(2),
    Number.isNaN(r.entropyBits) ? '-' : ((r.bytesPerPoint * 8) / r.entropyBits).toFixed(3),
    r.encodeMps.toFixed(1),
    r.decodeMps.toFixed(1),
    r.codecs,
  ]);
  return formatTable([header, ...lines], { align: 'left' });
}

export async function runCompressionBench(options: { series?: number; seed?: number } = {}) {
  const series = options.series ?? 1000;
  const seed = options.seed ?? 42;
  const data = generateDevopsData({ seed, series, points: POINTS_PER_DAY });
  const entropy = empiricalEntropy(data);
  const rows: Row[] = [];
  for (const chunk of CHUNK_SIZES) {
    for (const kind of SERIES_KINDS) {
      const { ts, vs } = pick(data, kind);
      const m = measure(ts, vs, chunk);
      rows.push({
        chunk,
        kind,
        bytesPerPoint: m.bytes / m.points,
        entropyBits: entropy.byKind[kind],
        codecs: m.codecs,
        encodeMps: m.encodeMps,
        decodeMps: m.decodeMps,
      });
    }
    const all = measure(data.timestamps, data.values, chunk);
    rows.push({
      chunk,
      kind: 'all',
      bytesPerPoint: all.bytes / all.points,
      entropyBits: entropy.overall,
      codecs: all.codecs,
      encodeMps: all.encodeMps,
      decodeMps: all.decodeMps,
    });
    const floats = xorFloats(data);
    const x = measure(floats.ts, floats.vs, chunk);
    rows.push({
      chunk,
      kind: 'floats*',
      bytesPerPoint: x.bytes / x.points,
      entropyBits: Number.NaN,
      codecs: x.codecs,
      encodeMps: x.encodeMps,
      decodeMps: x.decodeMps,
    });
  }
  console.log(
    `compression: devops data, ${series} series x ${POINTS_PER_DAY} points (seed ${seed}), ` +
      `timestamps alone ${entropy.timestamps.toFixed(3)} bits/pt of entropy; ` +
      `speeds are medians of ${RUNS} runs, points per CPU second of one core`,
  );
  console.log(format(rows));
  console.log('* floats: the gauges times pi (not short decimals), for the XOR codec; no bound');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runCompressionBench({ series: numberArg('--series'), seed: numberArg('--seed') });
}
